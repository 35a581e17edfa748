import Foundation
import SymModel

/// What is wrong with the audit chain at one seq.
public struct AuditProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The stored hash does not match the event's content: a field was changed.
        case edited
        /// The seq is not in the store (a deleted row, or a store shorter than the reference).
        case missing
        /// Neither the hash nor the link fit this place: the row was moved here from elsewhere.
        case reordered
        /// The event is self-consistent but does not link to the one before it.
        case brokenLink = "broken link"
        /// The event differs from the reference export (`verify --against`).
        case differs
        /// `verify --key`: the event has no hmac although events before it are signed (or none is signed at all).
        case unsigned
        /// `verify --key`: the hmac does not match the event's hash under the key: rewritten, or another key.
        case badSignature = "bad signature"
        /// The stored checkpoint of the verified prefix is damaged, unsigned though a key was given, or not signed
        /// with the key (docs/audit.md, "Checkpoints").
        case badCheckpoint = "bad checkpoint"
    }

    public var seq: Int64
    public var kind: Kind
    public var detail: String

    public init(seq: Int64, kind: Kind, detail: String) { self.seq = seq; self.kind = kind; self.detail = detail }

    /// `seq 57: edited (stored hash 1f2e…, content hashes to 9a0b…)`
    public var description: String { "seq \(seq): \(kind.rawValue) (\(detail))" }
}

/// The outcome of a verification.
public struct AuditVerification: Sendable, Equatable {
    /// Events read before stopping (all of them when there is no problem).
    public var checked: Int64
    /// The seq and hash of the last good event: the chain head when there is no problem.
    public var headSeq: Int64
    public var headHash: String
    /// The first problem found, if any.
    public var problem: AuditProblem?
    public var ok: Bool { problem == nil }
    /// With a key: the first signed seq (events before it were written before signing was turned on).
    public var signedFrom: Int64?
}

/// Streams the events table in pages and checks the chain: gapless seq from 1, each event's hash over
/// its content, and each `prev_hash` link. Never holds more than one page in memory.
public struct AuditVerifier {
    /// Where the events come from: the store file, or the daemon's read API for users who may not open the file.
    public let store: any AuditChainSource
    public var pageSize: Int
    /// The daemon's HMAC key: also check every event's `hmac` (from the first signed event on, all must be signed).
    public var key: HMACSHA256?

    /// A store file with at least this many events is checked in seq ranges on `workers` threads (see
    /// AuditParallel.swift); smaller ones, and chains read through the daemon, page by page.
    public var parallelFrom: Int64
    public var workers: Int

    public init(store: any AuditChainSource, pageSize: Int = 2_000, key: HMACSHA256? = nil, parallelFrom: Int64 = 20_000,
                workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.store = store; self.pageSize = pageSize; self.key = key; self.parallelFrom = parallelFrom; self.workers = max(1, workers)
    }

    /// Where a verification stands: the next seq expected, the hash it must link to, events checked, first signed seq.
    struct ChainState {
        var expected: Int64 = 1
        var prevHash = AuditEvent.genesisHash
        var checked: Int64 = 0
        var signedFrom: Int64?
    }

    /// Verifies the whole chain; stops at the first problem.
    public func verify() throws -> AuditVerification { try verify(since: 1) }

    /// Verifies the events from seq `since` on (`audit verify --since`): they must link to the stored hash of event
    /// `since - 1`, which is taken as it is (the events before it were verified earlier). `checked` counts the events
    /// from `since` on. `since` = head + 1 checks nothing (ok); a `since - 1` that is not in the store is `missing`.
    public func verify(since: Int64) throws -> AuditVerification {
        var start = ChainState()
        if since > 1 {
            guard let before = try store.event(seq: since - 1) else {
                return AuditVerification(checked: 0, headSeq: 0, headHash: AuditEvent.genesisHash, problem: AuditProblem(
                    seq: since - 1, kind: .missing, detail: "--since \(since): seq \(since - 1), which it links to, is not in the store"))
            }
            start = ChainState(expected: since, prevHash: before.hash, checked: 0)
        }
        if let file = store as? Store, let result = try verifyInRanges(file, from: start) { return result }
        return try verifySequentially(from: start)
    }

    /// Verifies from `start` on, page by page. Hashing a page runs on all cores while the next page is read (each
    /// event's hash depends only on its own row and the stored hash before it).
    func verifySequentially(from start: ChainState) throws -> AuditVerification {
        var expected = start.expected
        var prevHash = start.prevHash
        var checked = start.checked
        var signedFrom = start.signedFrom
        var page = try store.chainRows(afterSeq: expected - 1, limit: pageSize)
        while !page.isEmpty {
            let hashing = DispatchGroup()
            let computed = HashPage()
            let current = page
            DispatchQueue.global().async(group: hashing) { computed.hashes = AuditVerifier.hashes(of: current) }
            let next = page.count == pageSize ? try store.chainRows(afterSeq: page[page.count - 1].seq, limit: pageSize) : []
            hashing.wait()
            for (row, hash) in zip(page, computed.hashes) {
                if let problem = AuditVerifier.check(seq: row.seq, hash: row.hash, storedPrev: row.prevHash, computedHash: hash,
                                                     expectedSeq: expected, prevHash: prevHash)
                    ?? key.flatMap({ AuditVerifier.checkSignature(row, key: $0, signedFrom: &signedFrom) }) {
                    return AuditVerification(checked: checked, headSeq: expected - 1, headHash: prevHash, problem: problem,
                                             signedFrom: signedFrom)
                }
                checked += 1
                expected = row.seq + 1
                prevHash = row.hash
            }
            page = next
        }
        if key != nil, checked > 0, signedFrom == nil {
            return AuditVerification(checked: checked, headSeq: expected - 1, headHash: prevHash, problem: AuditProblem(
                seq: expected - 1, kind: .unsigned, detail: "no event carries an hmac: never signed, or the signatures were removed"))
        }
        return AuditVerification(checked: checked, headSeq: expected - 1, headHash: prevHash, problem: nil, signedFrom: signedFrom)
    }

    /// The problem with a row's `hmac` under `key`, if any; `signedFrom` is the first signed seq seen so far.
    static func checkSignature(_ row: ChainRow, key: HMACSHA256, signedFrom: inout Int64?) -> AuditProblem? {
        guard let hmac = row.hmac else {
            guard let first = signedFrom else { return nil }
            return AuditProblem(seq: row.seq, kind: .unsigned, detail: "no hmac, though seq \(first) and later are signed")
        }
        let expected = key.hex(row.hash)
        guard hmac == expected else {
            return AuditProblem(seq: row.seq, kind: .badSignature,
                                detail: "hmac \(short(hmac)) does not match the key (\(short(expected))): rewritten, or signed with another key")
        }
        if signedFrom == nil { signedFrom = row.seq }
        return nil
    }

    /// The hash of every row, spread over the available cores.
    static func hashes(of page: [ChainRow]) -> [String] {
        let workers = min(ProcessInfo.processInfo.activeProcessorCount, 8)
        guard workers > 1, page.count >= 64 else { return page.map(\.computedHash) }
        let out = HashPage()
        out.hashes = [String](repeating: "", count: page.count)
        let chunk = (page.count + workers - 1) / workers
        out.hashes.withUnsafeMutableBufferPointer { buffer in
            let slots = SendableBuffer(buffer: buffer)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for i in (w * chunk)..<min(page.count, (w + 1) * chunk) { slots.buffer[i] = page[i].computedHash }
            }
        }
        return out.hashes
    }

    /// The problem with `e` at its place in the chain, if any.
    public static func check(_ e: AuditEvent, expectedSeq: Int64, prevHash: String) -> AuditProblem? {
        check(e, computedHash: e.computedHash, expectedSeq: expectedSeq, prevHash: prevHash)
    }

    static func check(_ e: AuditEvent, computedHash computed: String, expectedSeq: Int64, prevHash: String) -> AuditProblem? {
        check(seq: e.seq, hash: e.hash, storedPrev: e.prevHash, computedHash: computed, expectedSeq: expectedSeq, prevHash: prevHash)
    }

    static func check(seq: Int64, hash: String, storedPrev: String, computedHash computed: String, expectedSeq: Int64,
                      prevHash: String) -> AuditProblem? {
        if seq != expectedSeq {
            let gap = seq - expectedSeq
            let what = gap == 1 ? "seq \(expectedSeq) is not in the store" : "seq \(expectedSeq)…\(seq - 1) are not in the store"
            return AuditProblem(seq: expectedSeq, kind: .missing, detail: what)
        }
        let linked = storedPrev == prevHash
        switch (computed == hash, linked) {
        case (true, true):
            return nil
        case (false, true):
            return AuditProblem(seq: seq, kind: .edited, detail: "stored hash \(short(hash)), content hashes to \(short(computed))")
        case (false, false):
            return AuditProblem(seq: seq, kind: .reordered,
                                detail: "neither its hash nor its prev_hash \(short(storedPrev)) fit after \(short(prevHash))")
        case (true, false):
            return AuditProblem(seq: seq, kind: .brokenLink,
                                detail: "prev_hash \(short(storedPrev)) but the event before hashes to \(short(prevHash))")
        }
    }

    /// Compares the store with a JSON Lines export made earlier (or by a destination): every event in
    /// the file must be in the store at its seq with the same id and hash. This catches a store that was
    /// rewritten from scratch with a consistent chain, and a store cut short.
    public func verify(against lines: some Sequence<String>, source: String) throws -> AuditVerification {
        var checked: Int64 = 0
        var head: (Int64, String) = (0, AuditEvent.genesisHash)
        var lineNumber = 0
        for line in lines {
            lineNumber += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            guard let json = try? JSONValue.parse(line), let seq = json["seq"]?.intValue,
                  let id = json["id"]?.stringValue, let hash = json["hash"]?.stringValue else {
                throw StoreError("\(source):\(lineNumber): not an audit event (a JSON object with seq, id and hash)")
            }
            guard AuditExport.hashMatches(json) else {
                throw StoreError("\(source):\(lineNumber): seq \(seq) does not match its own hash: this copy was changed")
            }
            guard let stored = try store.event(seq: seq) else {
                return AuditVerification(checked: checked, headSeq: head.0, headHash: head.1,
                                         problem: AuditProblem(seq: seq, kind: .missing, detail: "in \(source) but not in the store"))
            }
            if stored.id != id || stored.hash != hash {
                let what = stored.id != id ? "id \(stored.id) in the store, \(id) in \(source)"
                                           : "hash \(AuditVerifier.short(stored.hash)) in the store, \(AuditVerifier.short(hash)) in \(source)"
                return AuditVerification(checked: checked, headSeq: head.0, headHash: head.1,
                                         problem: AuditProblem(seq: seq, kind: .differs, detail: what))
            }
            checked += 1
            head = (seq, hash)
        }
        return AuditVerification(checked: checked, headSeq: head.0, headHash: head.1, problem: nil)
    }

    static func short(_ hash: String) -> String { hash.count > 12 ? String(hash.prefix(12)) + "…" : hash }
}

/// Hashes handed from the hashing workers back to the verifier (written before the group is left).
private final class HashPage: @unchecked Sendable { var hashes: [String] = [] }

/// Lets concurrentPerform's workers fill disjoint slots of one buffer.
private struct SendableBuffer: @unchecked Sendable { let buffer: UnsafeMutableBufferPointer<String> }

extension Store {
    /// The event at `seq`, if the store has it.
    public func event(seq: Int64) throws -> AuditEvent? {
        try selectEvents("SELECT \(Store.eventColumns) FROM events WHERE seq = ?", [.int(seq)]).first
    }

    /// Calls `body` with every event that passes `filter`, oldest first, one page at a time.
    public func forEachEvent(_ filter: AuditFilter = AuditFilter(), pageSize: Int = 1_000,
                             _ body: (AuditEvent) throws -> Void) throws {
        var after: Int64 = 0
        while true {
            var count = 0
            var last: Int64?
            try forEachEvent(filter, afterSeq: after, limit: pageSize) { e in
                count += 1
                last = e.seq
                try body(e)
            }
            guard count == pageSize, let last else { return }
            after = last
        }
    }

    /// One page: at most `limit` events with seq > `afterSeq` that pass `filter`, oldest first.
    public func forEachEvent(_ filter: AuditFilter, afterSeq: Int64, limit: Int, _ body: (AuditEvent) throws -> Void) throws {
        var clauses = ["seq > ?"]
        var values: [SQLValue] = []
        if let since = filter.since { clauses.append("time >= ?"); values.append(.int(Store.millis(since))) }
        if let until = filter.until { clauses.append("time < ?"); values.append(.int(Store.millis(until))) }
        if let r = filter.requestId { clauses.append("request_id = ?"); values.append(.int(r)) }
        let sql = "SELECT \(Store.eventColumns) FROM events WHERE \(clauses.joined(separator: " AND ")) ORDER BY seq LIMIT ?"
        for e in try selectEvents(sql, [.int(afterSeq)] + values + [.int(Int64(limit))]) { try body(e) }
    }

    /// The last `count` events, oldest first.
    public func lastEvents(_ count: Int) throws -> [AuditEvent] {
        try eventsNewestFirst(offset: 0, limit: count).reversed()
    }
}

/// Which events an export or a listing covers: `since` inclusive, `until` exclusive, one request.
public struct AuditFilter: Sendable, Equatable {
    public var since: Date?
    public var until: Date?
    public var requestId: Int64?
    public init(since: Date? = nil, until: Date? = nil, requestId: Int64? = nil) {
        self.since = since; self.until = until; self.requestId = requestId
    }
}

/// The export formats of `audit export`.
public enum AuditExport {
    public enum Format: String, Sendable, CaseIterable { case jsonl, csv }

    /// One event as one line of JSON (contract §7 keys in their stable order), without the newline.
    /// Control characters are escaped by the JSON writer, so a line never contains a raw line break.
    public static func jsonlLine(_ e: AuditEvent) -> String { e.json.compact }

    /// True when an exported event's content hashes to its `hash` (checked without a store, as docs/audit.md does).
    /// The `hmac` of a signed store is a signature of that hash, not part of what is hashed.
    public static func hashMatches(_ json: JSONValue) -> Bool {
        guard case let .object(pairs) = json, let hash = json["hash"]?.stringValue, let prev = json["prev_hash"]?.stringValue else {
            return false
        }
        let unhashed = JSONValue.object(pairs.filter { $0.0 != "hash" && $0.0 != "hmac" })
        return SHA256.hex(Array((prev + "\n" + unhashed.canonical).utf8)) == hash
    }

    public static let csvColumns = ["seq", "id", "time", "type", "request_id", "flow", "target", "requester", "actor",
                                    "reason", "data", "prev_hash", "hash"]

    /// The CSV header record, with its CRLF.
    public static var csvHeader: String { csvColumns.joined(separator: ",") + "\r\n" }

    /// One event as one CSV record (RFC 4180, CRLF-terminated); every cell is made inert for spreadsheets.
    public static func csvRecord(_ e: AuditEvent) -> String {
        let cells: [String] = [String(e.seq), e.id, Timestamp.format(e.time), e.type.rawValue, e.requestId.map(String.init) ?? "",
                               e.flow ?? "", e.target ?? "", e.requester ?? "", e.actor, e.reason ?? "", e.data.compact,
                               e.prevHash, e.hash]
        return cells.map(csvCell).joined(separator: ",") + "\r\n"
    }

    /// A cell neutralised for terminals (SafeText), kept from being read as a formula (leading `= + - @`,
    /// tab or CR get a `'`), and quoted per RFC 4180 when it holds a comma, quote or line break.
    public static func csvCell(_ raw: String) -> String {
        var text = SafeText.display(raw)
        let risky = "=+-@\t\r".unicodeScalars
        if [raw.unicodeScalars.first, text.unicodeScalars.first].contains(where: { $0.map(risky.contains) ?? false }) {
            text = "'" + text
        }
        if text.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) {
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return text
    }
}

/// What the verifier reads: pages of events in seq order, and one event by seq.
public protocol AuditChainSource {
    func chainRows(afterSeq: Int64, limit: Int) throws -> [ChainRow]
    func event(seq: Int64) throws -> AuditEvent?
}

extension Store: AuditChainSource {}

/// One event's stored columns, as text: what the chain hash is computed from, without parsing `data`.
public struct ChainRow: Sendable {
    var seq: Int64, id: String, timeMs: Int64, type: String, requestId: Int64?, flow: String?, target: String?
    var requester: String?, actor: String, reason: String?, data: String, prevHash: String, hash: String, hmac: String?

    /// The row of an event received whole (through the daemon): its `data` in canonical form, as the store keeps it.
    public init(_ e: AuditEvent) {
        self.init(seq: e.seq, id: e.id, timeMs: Store.millis(e.time), type: e.type.rawValue, requestId: e.requestId, flow: e.flow,
                  target: e.target, requester: e.requester, actor: e.actor, reason: e.reason, data: e.data.canonical,
                  prevHash: e.prevHash, hash: e.hash, hmac: e.hmac)
    }

    init(seq: Int64, id: String, timeMs: Int64, type: String, requestId: Int64?, flow: String?, target: String?, requester: String?,
         actor: String, reason: String?, data: String, prevHash: String, hash: String, hmac: String?) {
        self.seq = seq; self.id = id; self.timeMs = timeMs; self.type = type; self.requestId = requestId; self.flow = flow
        self.target = target; self.requester = requester; self.actor = actor; self.reason = reason; self.data = data
        self.prevHash = prevHash; self.hash = hash; self.hmac = hmac
    }

    var computedHash: String {
        AuditEvent.hash(seq: seq, id: id, time: Timestamp.format(millis: timeMs), type: type, requestId: requestId, flow: flow,
                        target: target, requester: requester, actor: actor, reason: reason, dataCanonical: data, prevHash: prevHash)
    }
}

extension Store {
    public func chainRows(afterSeq: Int64, limit: Int) throws -> [ChainRow] {
        var out: [ChainRow] = []
        out.reserveCapacity(limit)
        try db.query("SELECT \(Store.eventColumns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?", [.int(afterSeq), .int(Int64(limit))],
                     layout: EventColumns.self) { s, c in
            out.append(ChainRow(seq: s.int(c.seq), id: s.text(c.id), timeMs: s.int(c.time), type: s.text(c.type),
                                requestId: s.optInt(c.requestId), flow: s.optText(c.flow), target: s.optText(c.target),
                                requester: s.optText(c.requester), actor: s.text(c.actor), reason: s.optText(c.reason),
                                data: s.text(c.data), prevHash: s.text(c.prevHash), hash: s.text(c.hash), hmac: s.optText(c.hmac)))
        }
        return out
    }
}
