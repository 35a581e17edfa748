import Foundation
import SymModel

// The audit chain's events: reading them (decoded by column name) and appending at the head.

/// Where an event's columns are in a statement's result, found by name.
struct EventColumns: RowLayout {
    let seq, id, time, type, requestId, flow, target, requester, actor, reason, data, prevHash, hash, hmac: Int32
    init(_ c: ColumnMap) throws {
        seq = try c("seq"); id = try c("id"); time = try c("time"); type = try c("type"); requestId = try c("request_id")
        flow = try c("flow"); target = try c("target"); requester = try c("requester"); actor = try c("actor")
        reason = try c("reason"); data = try c("data"); prevHash = try c("prev_hash"); hash = try c("hash"); hmac = try c("hmac")
    }
}

extension Store {
    /// The columns an event is decoded from (`EventColumns` finds them by name, in any order).
    static let eventColumns = "seq, id, time, type, request_id, flow, target, requester, actor, reason, data, prev_hash, hash, hmac"

    static func decodeEvent(_ s: Statement, _ c: EventColumns) -> AuditEvent {
        let data = s.text(c.data)
        let draft = EventDraft(type: EventType(rawValue: s.text(c.type)) ?? .handler, requestId: s.optInt(c.requestId),
                               flow: s.optText(c.flow), target: s.optText(c.target), requester: s.optText(c.requester),
                               actor: s.text(c.actor), reason: s.optText(c.reason), data: (try? JSONValue.parse(data)) ?? .string(data))
        var event = AuditEvent(seq: s.int(c.seq), id: s.text(c.id), time: date(s.int(c.time)), draft: draft,
                               prevHash: s.text(c.prevHash), hash: s.text(c.hash))
        event.hmac = s.optText(c.hmac)
        return event
    }

    /// The events `sql` selects (it selects `eventColumns`), decoded.
    func selectEvents(_ sql: String, _ values: [SQLValue]) throws -> [AuditEvent] {
        var out: [AuditEvent] = []
        try db.query(sql, values, layout: EventColumns.self) { out.append(Store.decodeEvent($0, $1)) }
        return out
    }

    public func events(requestId: Int64) throws -> [AuditEvent] {
        try selectEvents("SELECT \(Store.eventColumns) FROM events WHERE request_id = ? ORDER BY seq", [.int(requestId)])
    }

    /// Events with seq > `afterSeq`, oldest first.
    public func events(afterSeq: Int64, limit: Int) throws -> [AuditEvent] {
        try selectEvents("SELECT \(Store.eventColumns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?", [.int(afterSeq), .int(Int64(limit))])
    }

    /// A page of events, newest first, optionally only those mentioning `search`.
    public func eventsNewestFirst(offset: Int, limit: Int, search: String? = nil) throws -> [AuditEvent] {
        let (whereSQL, values) = Store.eventFilter(search)
        return try selectEvents("SELECT \(Store.eventColumns) FROM events\(whereSQL) ORDER BY seq DESC LIMIT ? OFFSET ?",
                                values + [.int(Int64(limit)), .int(Int64(offset))])
    }

    /// How many events there are (mentioning `search`, when given).
    public func countEvents(search: String? = nil) throws -> Int {
        guard let search, !search.isEmpty else { return Int(try lastSeq()) }
        let (whereSQL, values) = Store.eventFilter(search)
        return Int(try db.scalarInt("SELECT count(*) FROM events\(whereSQL)", values) ?? 0)
    }

    static func eventFilter(_ search: String?) -> (String, [SQLValue]) {
        guard let text = search, !text.isEmpty else { return ("", []) }
        let columns = ["type", "actor", "coalesce(requester, '')", "coalesce(flow, '')", "coalesce(target, '')", "coalesce(reason, '')"]
        let sql = " WHERE " + columns.map { "\($0) LIKE ? ESCAPE '\\'" }.joined(separator: " OR ") + " OR CAST(request_id AS TEXT) = ?"
        return (sql, Array(repeating: likePattern(text), count: columns.count) + [.text(text)])
    }

    public func lastSeq() throws -> Int64 { try db.scalarInt("SELECT max(seq) FROM events") ?? 0 }
}

extension StoreTransaction {
    /// Appends an audit event at the head of the chain, in this transaction.
    @discardableResult
    public func append(_ draft: EventDraft, at time: Date) throws -> AuditEvent {
        try begin()
        touched = true
        if head == nil {
            var h: (Int64, String) = (0, AuditEvent.genesisHash)
            try db.query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1") { s in
                let c = s.columns
                h = (s.int(try c("seq")), s.text(try c("hash")))
            }
            head = h
        }
        let (seq, prev) = head!
        // Times are stored in whole milliseconds; hash what will be read back.
        let t = Store.date(Store.millis(time))
        var event = AuditEvent(seq: seq + 1, id: EventID.make(), time: t, draft: draft, prevHash: prev)
        let data = event.data.canonical
        event.hash = event.computedHash(dataCanonical: data)
        event.hmac = store.signer?.hex(event.hash)
        try db.run("INSERT INTO events(\(Store.eventColumns)) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
            .int(event.seq), .text(event.id), .int(Store.millis(t)), .text(event.type.rawValue),
            event.requestId.map(SQLValue.int) ?? .null, event.flow.map(SQLValue.text) ?? .null,
            event.target.map(SQLValue.text) ?? .null, event.requester.map(SQLValue.text) ?? .null, .text(event.actor),
            event.reason.map(SQLValue.text) ?? .null, .text(data), .text(event.prevHash), .text(event.hash),
            event.hmac.map(SQLValue.text) ?? .null,
        ])
        head = (event.seq, event.hash)
        if let id = event.requestId { changedRequests.insert(id) }
        return event
    }
}
