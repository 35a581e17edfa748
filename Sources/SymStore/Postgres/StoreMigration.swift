import Foundation
import SymModel

/// `symtui store migrate`: copies a SQLite store into an empty PostgreSQL store, row for row (ids, seqs, hashes and
/// signatures unchanged, so that the audit chain verifies on the target), in one PostgreSQL transaction read from one
/// SQLite read transaction: the target gets the whole store as of one commit, or nothing.
public enum StoreMigration {
    public struct Counts: Sendable, Equatable {
        public var requests = 0, approvals = 0, events = 0, cursors = 0, notifications = 0
        public init() {}
    }

    /// A table copied: its SQLite columns and the PostgreSQL columns they go to, in the same order.
    struct Table {
        var name: String
        var from: [String]
        var to: [String]
        var order: String
    }

    static let tables: [Table] = [
        Table(name: "requests", from: requestColumns, to: requestColumns, order: "id"),
        Table(name: "approvals", from: ["request_id", "user", "at", "reason", "self", "step"],
              to: ["request_id", "approver", "at", "reason", "is_self", "step"], order: "request_id, user"),
        Table(name: "events", from: ["seq", "id", "time", "type", "request_id", "flow", "target", "requester", "actor", "reason", "data",
                                     "prev_hash", "hash", "hmac"],
              to: ["seq", "id", "event_time", "type", "request_id", "flow", "target", "requester", "actor", "reason", "data",
                   "prev_hash", "hash", "hmac"], order: "seq"),
        Table(name: "delivery", from: ["destination", "seq", "attempts", "last_error", "last_attempt_at", "delivered_at"],
              to: ["destination", "seq", "attempts", "last_error", "last_attempt_at", "delivered_at"], order: "destination"),
        Table(name: "notifications", from: notificationColumns, to: notificationColumns, order: "id"),
    ]

    static let requestColumns = ["id", "flow", "target", "target_label", "requester", "state", "end_reason", "fields", "duration_seconds",
                                 "created_at", "request_expires_at", "decided_at", "access_starts_at", "access_expires_at", "ended_at",
                                 "denial", "required_approvals", "stuck", "error", "extends", "attempts", "next_attempt_at",
                                 "step_output", "routing", "approver_keys", "host", "runs_on"]
    static let notificationColumns = ["id", "request_id", "kind", "dedup", "channel", "recipient", "payload", "created_at", "attempts",
                                      "next_attempt_at", "last_attempt_at", "last_error", "delivered_at"]

    /// Refuses a target that holds any request, event, cursor or notification; `progress` hears each table's count.
    @discardableResult
    public static func copy(from source: Store, to target: PostgresStore, progress: (String, Int) -> Void = { _, _ in }) throws -> Counts {
        let held = try target.execute("""
            SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM events) + (SELECT count(*) FROM delivery)
                 + (SELECT count(*) FROM notifications)
            """).first?.first ?? nil
        guard held == "0" else {
            throw StoreError("the target store \(target.location) is not empty (\(held ?? "?") rows): migrate only into an empty database")
        }
        guard source.schemaVersion == Schema.version else {
            throw StoreError("the store \(source.path) has schema \(source.schemaVersion), this symtui copies schema \(Schema.version): "
                             + "start this version's daemon on it once (it migrates the store), stop it, then migrate")
        }
        var counts = Counts()
        try source.db.transaction(.deferred) {
            try target.withSession { pg in
                _ = try pg.transaction { () -> Void in
                    // The chain head row is taken first: no daemon can append to the target while it fills.
                    try pg.rows("SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE")
                    for table in tables {
                        let n = try copyTable(table, source.db, pg)
                        progress(table.name, n)
                        switch table.name {
                        case "requests": counts.requests = n
                        case "approvals": counts.approvals = n
                        case "events": counts.events = n
                        case "delivery": counts.cursors = n
                        default: counts.notifications = n
                        }
                    }
                    try pg.rows("""
                        UPDATE chain_head SET seq = coalesce((SELECT max(seq) FROM events), 0),
                          hash = coalesce((SELECT hash FROM events ORDER BY seq DESC LIMIT 1), '\(PostgresSchema.genesisHash)') WHERE id = 1
                        """)
                    // New ids continue after the copied ones.
                    try pg.rows("SELECT setval(pg_get_serial_sequence('requests', 'id'), greatest((SELECT max(id) FROM requests), 1))")
                    try pg.rows("SELECT setval(pg_get_serial_sequence('notifications', 'id'), greatest((SELECT max(id) FROM notifications), 1))")
                    try pg.rows("SELECT pg_notify('symtui_changes', '')")
                }
            }
        }
        return counts
    }

    /// Copies one table in statements of up to 500 rows; returns how many rows it copied.
    private static func copyTable(_ t: Table, _ db: Database, _ pg: PostgresSession) throws -> Int {
        let batch = 500
        var values: [String?] = []
        var rows = 0, total = 0
        let width = Int32(t.from.count)
        func flush() throws {
            guard rows > 0 else { return }
            var n = 0
            let tuples = (0..<rows).map { _ in "(" + (0..<t.to.count).map { _ in n += 1; return "$\(n)" }.joined(separator: ",") + ")" }
            try pg.rows("INSERT INTO \(t.name)(\(t.to.joined(separator: ", "))) VALUES " + tuples.joined(separator: ","), values)
            values.removeAll(keepingCapacity: true)
            rows = 0
        }
        try db.query("SELECT \(t.from.joined(separator: ", ")) FROM \(t.name) ORDER BY \(t.order)") { s in
            for i in 0..<width { values.append(s.optText(i)) }
            rows += 1
            total += 1
            if rows == batch { try flush() }
        }
        try flush()
        return total
    }
}

extension PostgresStore {
    /// Runs `body` alone on this store's connection (store tools).
    func withSession<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try lock.withLock { try body(session) }
    }
}
