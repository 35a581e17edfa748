import Foundation
import SymModel
import SymStore

/// Appends chained audit events straight into a fixture store, for the big bench stores: one prepared INSERT per row in
/// transactions of `batch`, no journal and no fsync while building (a fixture is built again if the machine stops),
/// hashes made by `AuditEvent.hash` (SHA-NI when the CPU has it), and ids made from the seq
/// (`00000000-0000-4000-8000-<seq in hex>`, shaped like the daemon's UUIDs): the unique index on `id` then grows at its
/// end instead of taking each random UUID somewhere in a tree of millions, which is what made the build slow down as the
/// store grew (45–100 s per million events through `StoreTransaction.append`). Every row is what the daemon would have
/// written but for the id; the bench verifies the chain before measuring anything on it.
final class FixtureChain {
    private let store: Store
    private(set) var seq: Int64
    private var prev: String
    private var pending = 0
    let batch: Int

    init(store: Store, batch: Int = 200_000) throws {
        self.store = store
        self.batch = batch
        seq = 0
        prev = AuditEvent.genesisHash
        try store.db.query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1") { s in seq = s.int(0); prev = s.text(1) }
        try store.db.execute("PRAGMA journal_mode=OFF")
        try store.db.execute("PRAGMA synchronous=OFF")
        try store.db.execute("PRAGMA cache_size=-262144")
    }

    /// A time as the store keeps it: whole milliseconds since 1970.
    static func millis(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }

    static func id(seq: Int64) -> String {
        let hex = String(seq, radix: 16)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: max(0, 12 - hex.count)) + hex
    }

    /// Appends one event; `data` is its canonical JSON text (keys sorted, no spaces: what `JSONValue.canonical` writes).
    func append(type: EventType, requestId: Int64?, flow: String?, target: String?, requester: String?, actor: String,
                reason: String?, data: String, timeMs: Int64) throws {
        if pending == 0 { try store.db.execute("BEGIN") }
        let next = seq + 1
        let id = FixtureChain.id(seq: next)
        let hash = AuditEvent.hash(seq: next, id: id, time: Timestamp.format(millis: timeMs), type: type.rawValue, requestId: requestId,
                                   flow: flow, target: target, requester: requester, actor: actor, reason: reason, dataCanonical: data,
                                   prevHash: prev)
        try store.db.run("INSERT INTO events(seq, id, time, type, request_id, flow, target, requester, actor, reason, data, prev_hash, hash) "
                         + "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", [
            .int(next), .text(id), .int(timeMs), .text(type.rawValue), requestId.map(SQLValue.int) ?? .null,
            flow.map(SQLValue.text) ?? .null, target.map(SQLValue.text) ?? .null, requester.map(SQLValue.text) ?? .null,
            .text(actor), reason.map(SQLValue.text) ?? .null, .text(data), .text(prev), .text(hash),
        ])
        seq = next
        prev = hash
        pending += 1
        if pending >= batch { try commit() }
    }

    func commit() throws {
        guard pending > 0 else { return }
        try store.db.execute("COMMIT")
        pending = 0
    }

    /// Commits what is left and puts the store back in the daemon's WAL mode.
    func finish() throws {
        try commit()
        try store.db.execute("PRAGMA journal_mode=WAL")
        try store.db.execute("PRAGMA synchronous=FULL")
    }
}
