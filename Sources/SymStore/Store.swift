import Foundation
import SymModel

/// What a store could not do, with the exit code the CLI gives for it.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// The SQLite store: requests, approvals and the audit chain. Only the daemon opens it (one writer connection and
/// read-only connections for its read API); trusted readers (root, `store_group`) may open it read-only.
public final class Store {
    public let path: String
    public let db: Database
    public let readOnly: Bool
    /// Signs each new event's hash (the daemon sets it from `reporting.hmac_key_file`).
    public var signer: HMACSHA256?
    /// Called after every committed write that changed requests or events (the daemon pushes it to subscribers).
    public var afterCommit: (@Sendable () -> Void)?

    private init(path: String, db: Database, readOnly: Bool) {
        self.path = path; self.db = db; self.readOnly = readOnly
    }

    /// Opens (creating it if needed) the store for the single writer: WAL, synchronous=FULL, migrations,
    /// file mode and group applied to the db and its -wal/-shm, which are kept in place for readers.
    public static func openForWriting(path: String, mode: Int = 0o600, group: gid_t? = nil) throws -> Store {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        let previous = umask(0o077)   // nothing is ever readable by others, not even between create and chmod
        defer { umask(previous) }
        let db = try Database(path: path, readOnly: false, create: true)
        db.persistWAL()
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=FULL")
        try db.execute("PRAGMA foreign_keys=ON")
        let store = Store(path: path, db: db, readOnly: false)
        try store.migrate()
        // Touch -wal/-shm into existence so their modes can be set now.
        _ = try db.scalarInt("SELECT count(*) FROM meta")
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            if let group { _ = chown(file, getuid(), group) }
            _ = chmod(file, mode_t(mode))
        }
        return store
    }

    /// Opens an existing store read-only (any user who can read the file).
    public static func openReadOnly(path: String) throws -> Store {
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError("no store at \(path)") }
        let db = try Database(path: "file:\(path)?mode=ro", readOnly: true)
        let store = Store(path: path, db: db, readOnly: true)
        let version = try db.scalarInt("PRAGMA user_version") ?? 0
        if version > Schema.version { throw StoreError("store \(path) has schema \(version); this symtui knows up to \(Schema.version)") }
        return store
    }

    public var schemaVersion: Int { Int(((try? db.scalarInt("PRAGMA user_version")) ?? nil) ?? 0) }

    /// Puts back the events table's append-only triggers if someone dropped them (only a writer of the file can);
    /// returns the names put back, for the daemon to report: the log may have been edited meanwhile.
    public func restoreAppendOnlyTriggers() throws -> [String] {
        try db.transaction(.immediate) {
            var present = Set<String>()
            try db.query("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'") { present.insert($0.text(0)) }
            let missing = Schema.appendOnlyTriggers.filter { !present.contains($0.name) }
            for t in missing { try db.execute(t.sql) }
            return missing.map(\.name)
        }
    }

    func migrate() throws {
        try db.transaction(.immediate) {
            let current = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
            if current > Schema.version {
                throw StoreError("store \(path) has schema \(current); this symtui knows up to \(Schema.version) (a newer symtui made it)")
            }
            guard current < Schema.version else { return }
            for v in current..<Schema.version {
                try db.execute(Schema.migrations[v])
            }
            try db.execute("PRAGMA user_version = \(Schema.version)")
        }
    }

    // MARK: reads

    static let requestColumns = """
        id, flow, target, target_label, requester, state, end_reason, fields, duration_seconds, created_at,
        request_expires_at, decided_at, access_starts_at, access_expires_at, ended_at, denial, required_approvals,
        stuck, error, extends, attempts, next_attempt_at, step_output, routing
        """

    public func request(id: Int64) throws -> AccessRequest? {
        try requests(ids: [id]).first
    }

    public func requests(ids: [Int64]) throws -> [AccessRequest] {
        guard !ids.isEmpty else { return [] }
        var q = RequestQuery(limit: ids.count)
        q.ids = ids
        return try requests(q)
    }

    public func requests(_ q: RequestQuery) throws -> [AccessRequest] {
        let (whereSQL, values) = Store.filter(q)
        let sql = "SELECT \(Store.requestColumns) FROM requests\(whereSQL) ORDER BY id \(q.newestFirst ? "DESC" : "ASC") LIMIT ? OFFSET ?"
        var out: [AccessRequest] = []
        try db.query(sql, values + [.int(Int64(q.limit)), .int(Int64(q.offset))]) { out.append(try Store.decodeRequest($0)) }
        try attachApprovals(&out)
        return out
    }

    public func count(_ q: RequestQuery) throws -> Int {
        let (whereSQL, values) = Store.filter(q)
        return Int(try db.scalarInt("SELECT count(*) FROM requests\(whereSQL)", values) ?? 0)
    }

    static func filter(_ q: RequestQuery) -> (String, [SQLValue]) {
        var clauses: [String] = []
        var values: [SQLValue] = []
        if !q.states.isEmpty {
            clauses.append("state IN (\(q.states.map { _ in "?" }.joined(separator: ",")))")
            values += q.states.map { .text($0.rawValue) }
        }
        if let r = q.requester { clauses.append("requester = ?"); values.append(.text(r)) }
        if let f = q.flow { clauses.append("flow = ?"); values.append(.text(f)) }
        if let t = q.target { clauses.append("target = ?"); values.append(.text(t)) }
        if let ids = q.ids {
            clauses.append("id IN (\(ids.map { _ in "?" }.joined(separator: ",")))")
            values += ids.map { .int($0) }
        }
        if let text = q.search, !text.isEmpty {
            clauses.append("(flow LIKE ? ESCAPE '\\' OR coalesce(target, '') LIKE ? ESCAPE '\\' OR requester LIKE ? ESCAPE '\\' "
                           + "OR state LIKE ? ESCAPE '\\' OR fields LIKE ? ESCAPE '\\' OR CAST(id AS TEXT) = ?)")
            let pattern = likePattern(text)
            values += Array(repeating: pattern, count: 5) + [.text(text)]
        }
        return (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "), values)
    }

    func attachApprovals(_ requests: inout [AccessRequest]) throws {
        guard !requests.isEmpty else { return }
        var index: [Int64: Int] = [:]
        for (i, r) in requests.enumerated() { index[r.id] = i }
        let placeholders = requests.map { _ in "?" }.joined(separator: ",")
        try db.query("SELECT request_id, user, at, reason, self, step FROM approvals WHERE request_id IN (\(placeholders)) ORDER BY at, user",
                     requests.map { .int($0.id) }) { s in
            guard let i = index[s.int(0)] else { return }
            requests[i].approvals.append(Approval(user: s.text(1), at: Store.date(s.int(2)), reason: s.optText(3),
                                                  isSelf: s.int(4) != 0, step: s.optText(5)))
        }
    }

    static func millis(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
    static func millis(_ d: Date?) -> SQLValue { d.map { .int(millis($0)) } ?? .null }
    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
    static func date(_ ms: Int64?) -> Date? { ms.map(date) }

    static func decodeRequest(_ s: Statement) throws -> AccessRequest {
        guard let state = RequestState(rawValue: s.text(5)) else { throw StoreError("request \(s.int(0)) has unknown state \(s.text(5))") }
        var r = AccessRequest(id: s.int(0), flow: s.text(1), target: s.optText(2), targetLabel: s.optText(3), requester: s.text(4),
                              state: state, fields: decodeFields(s.text(7)), durationSeconds: s.optInt(8).map(Int.init),
                              createdAt: date(s.int(9)), requestExpiresAt: date(s.int(10)),
                              requiredApprovals: Int(s.int(16)), extends: s.optInt(19))
        r.endReason = s.optText(6).flatMap(EndReason.init(rawValue:))
        r.decidedAt = date(s.optInt(11))
        r.accessStartsAt = date(s.optInt(12))
        r.accessExpiresAt = date(s.optInt(13))
        r.endedAt = date(s.optInt(14))
        if let d = s.optText(15), let j = try? JSONValue.parse(d) {
            r.denial = Denial(user: j["user"]?.stringValue ?? "", at: date(j["at"]?.intValue ?? 0), reason: j["reason"]?.stringValue ?? "")
        }
        r.stuck = s.int(17) != 0
        r.error = s.optText(18)
        r.attempts = Int(s.int(20))
        r.nextAttemptAt = date(s.optInt(21))
        r.stepOutput = s.optText(22)
        r.routing = s.optText(23).flatMap { try? JSONValue.parse($0) }.flatMap(Routing.init(json:))
        return r
    }

    /// Fields are stored with their types: `{"reason": {"type": "string", "value": "…"}}`.
    static func encodeFields(_ fields: [String: FieldValue]) -> String {
        JSONValue.object(fields.keys.sorted().map { k in
            let v = fields[k]!
            return (k, .object([("type", .string(v.typeName)), ("value", v.json)]))
        }).compact
    }

    static func decodeFields(_ text: String) -> [String: FieldValue] {
        guard let pairs = (try? JSONValue.parse(text))?.objectValue else { return [:] }
        var out: [String: FieldValue] = [:]
        for (k, v) in pairs {
            if let t = v["type"]?.stringValue, let type = FieldType(rawValue: t), let value = v["value"], let fv = FieldValue(type: type, json: value) {
                out[k] = fv
            }
        }
        return out
    }

    // MARK: events

    static let eventColumns = "seq, id, time, type, request_id, flow, target, requester, actor, reason, data, prev_hash, hash, hmac"

    static func decodeEvent(_ s: Statement) -> AuditEvent {
        let draft = EventDraft(type: EventType(rawValue: s.text(3)) ?? .handler, requestId: s.optInt(4), flow: s.optText(5),
                               target: s.optText(6), requester: s.optText(7), actor: s.text(8), reason: s.optText(9),
                               data: (try? JSONValue.parse(s.text(10))) ?? .string(s.text(10)))
        var event = AuditEvent(seq: s.int(0), id: s.text(1), time: date(s.int(2)), draft: draft, prevHash: s.text(11), hash: s.text(12))
        event.hmac = s.optText(13)
        return event
    }

    public func events(requestId: Int64) throws -> [AuditEvent] {
        var out: [AuditEvent] = []
        try db.query("SELECT \(Store.eventColumns) FROM events WHERE request_id = ? ORDER BY seq", [.int(requestId)]) { out.append(Store.decodeEvent($0)) }
        return out
    }

    /// Events with seq > `afterSeq`, oldest first.
    public func events(afterSeq: Int64, limit: Int) throws -> [AuditEvent] {
        var out: [AuditEvent] = []
        try db.query("SELECT \(Store.eventColumns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?", [.int(afterSeq), .int(Int64(limit))]) {
            out.append(Store.decodeEvent($0))
        }
        return out
    }

    /// A page of events, newest first, optionally only those mentioning `search`.
    public func eventsNewestFirst(offset: Int, limit: Int, search: String? = nil) throws -> [AuditEvent] {
        var out: [AuditEvent] = []
        let (whereSQL, values) = Store.eventFilter(search)
        try db.query("SELECT \(Store.eventColumns) FROM events\(whereSQL) ORDER BY seq DESC LIMIT ? OFFSET ?",
                     values + [.int(Int64(limit)), .int(Int64(offset))]) { out.append(Store.decodeEvent($0)) }
        return out
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

    // MARK: writes

    /// Runs `body` in one BEGIN IMMEDIATE transaction: the change and its audit events commit together.
    @discardableResult
    public func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        precondition(!readOnly, "the read-only store cannot write")
        var touched = false
        let result = try db.transaction(.immediate) {
            let tx = StoreTransaction(store: self)
            defer { touched = tx.touched }
            return try body(tx)
        }
        if touched { afterCommit?() }
        return result
    }

    /// Copies the WAL's commits into the database file and empties the WAL (a clean stop leaves a whole `.db`).
    /// Waits at most a second for readers: a stop must not hang behind one (the WAL then stays, still consistent).
    public func checkpoint() throws {
        try db.execute("PRAGMA busy_timeout = 1000")
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

/// The writes allowed inside one transaction.
public final class StoreTransaction {
    let store: Store
    var db: Database { store.db }
    private var head: (seq: Int64, hash: String)?
    /// Whether this transaction changed a request or appended an event (what readers are told about).
    var touched = false

    init(store: Store) { self.store = store }

    /// Inserts a new request (its id is assigned) and returns it.
    public func insert(_ request: AccessRequest) throws -> AccessRequest {
        touched = true
        var r = request
        try db.run("""
            INSERT INTO requests(flow, target, target_label, requester, state, end_reason, fields, duration_seconds, created_at,
              request_expires_at, decided_at, access_starts_at, access_expires_at, ended_at, denial, required_approvals, stuck,
              error, extends, attempts, next_attempt_at, step_output, routing, approver_keys)
            VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """, columns(r) + [t(r.routing?.json.compact), t(r.routing.map(Store.approverKeys))])
        r.id = db.lastInsertRowID
        try writeApprovals(r)
        return r
    }

    /// Writes a request's new state; `expectedState` makes it a compare-and-set (returns false when it lost).
    @discardableResult
    public func update(_ request: AccessRequest, expectedState: RequestState? = nil) throws -> Bool {
        touched = true
        let r = request
        var sql = """
            UPDATE requests SET flow=?, target=?, target_label=?, requester=?, state=?, end_reason=?, fields=?, duration_seconds=?,
              created_at=?, request_expires_at=?, decided_at=?, access_starts_at=?, access_expires_at=?, ended_at=?, denial=?,
              required_approvals=?, stuck=?, error=?, extends=?, attempts=?, next_attempt_at=?, step_output=?
            WHERE id=?
            """
        var values = columns(r) + [.int(r.id)]
        if let expectedState { sql += " AND state=?"; values.append(.text(expectedState.rawValue)) }
        try db.run(sql, values)
        guard db.changes == 1 else { return false }
        try writeApprovals(r)
        return true
    }

    private func writeApprovals(_ r: AccessRequest) throws {
        for a in r.approvals {
            try db.run("INSERT OR IGNORE INTO approvals(request_id, user, at, reason, self, step) VALUES(?,?,?,?,?,?)",
                       [.int(r.id), .text(a.user), .int(Store.millis(a.at)), a.reason.map(SQLValue.text) ?? .null,
                        .int(a.isSelf ? 1 : 0), a.step.map(SQLValue.text) ?? .null])
        }
    }

    private func t(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }

    /// Every column `update` writes. A request's routing (and its `approver_keys`) is fixed when it is made, so only
    /// `insert` writes those: a decision does not re-encode them.
    private func columns(_ r: AccessRequest) -> [SQLValue] {
        let denial: SQLValue = r.denial.map { d in
            .text(JSONValue.obj([("user", .string(d.user)), ("at", .int(Store.millis(d.at))), ("reason", .string(d.reason))]).compact)
        } ?? .null
        return [.text(r.flow), t(r.target), t(r.targetLabel), .text(r.requester), .text(r.state.rawValue), t(r.endReason?.rawValue),
                .text(Store.encodeFields(r.fields)), r.durationSeconds.map { .int(Int64($0)) } ?? .null,
                .int(Store.millis(r.createdAt)), .int(Store.millis(r.requestExpiresAt)), Store.millis(r.decidedAt),
                Store.millis(r.accessStartsAt), Store.millis(r.accessExpiresAt), Store.millis(r.endedAt), denial,
                .int(Int64(r.requiredApprovals)), .int(r.stuck ? 1 : 0), t(r.error), r.extends.map(SQLValue.int) ?? .null,
                .int(Int64(r.attempts)), Store.millis(r.nextAttemptAt), t(r.stepOutput)]
    }

    /// Appends an audit event at the head of the chain, in this transaction.
    @discardableResult
    public func append(_ draft: EventDraft, at time: Date) throws -> AuditEvent {
        touched = true
        if head == nil {
            var h: (Int64, String) = (0, AuditEvent.genesisHash)
            try db.query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1") { h = ($0.int(0), $0.text(1)) }
            head = h
        }
        let (seq, prev) = head!
        // Times are stored in whole milliseconds; hash what will be read back.
        let t = Store.date(Store.millis(time))
        var event = AuditEvent(seq: seq + 1, id: UUID().uuidString.lowercased(), time: t, draft: draft, prevHash: prev)
        event.hash = event.computedHash
        event.hmac = store.signer?.hex(event.hash)
        try db.run("INSERT INTO events(\(Store.eventColumns)) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
            .int(event.seq), .text(event.id), .int(Store.millis(t)), .text(event.type.rawValue),
            event.requestId.map(SQLValue.int) ?? .null, event.flow.map(SQLValue.text) ?? .null,
            event.target.map(SQLValue.text) ?? .null, event.requester.map(SQLValue.text) ?? .null, .text(event.actor),
            event.reason.map(SQLValue.text) ?? .null, .text(event.data.canonical), .text(event.prevHash), .text(event.hash),
            event.hmac.map(SQLValue.text) ?? .null,
        ])
        head = (event.seq, event.hash)
        return event
    }
}

/// `%text%` for LIKE, with LIKE's own wildcards escaped.
func likePattern(_ text: String) -> SQLValue {
    .text("%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%")
}

// MARK: what the engine's loop needs

extension Store {
    /// Pending requests past their TTL, oldest first.
    public func pendingPastTTL(now: Date, limit: Int) throws -> [AccessRequest] {
        try select("INDEXED BY requests_ttl WHERE state = 'pending' AND request_expires_at <= ? ORDER BY request_expires_at LIMIT ?",
                   [.int(Store.millis(now)), .int(Int64(limit))])
    }

    /// Active grants whose time ran out.
    public func activePastExpiry(now: Date, limit: Int) throws -> [AccessRequest] {
        try select("INDEXED BY requests_expiry WHERE state = 'active' AND access_expires_at <= ? ORDER BY access_expires_at LIMIT ?",
                   [.int(Store.millis(now)), .int(Int64(limit))])
    }

    /// Approved access requests (not extensions) waiting to be escalated.
    public func approvedAwaitingEscalation(limit: Int) throws -> [AccessRequest] {
        // The partial index holds only grants to escalate; approved approval-only requests (final) never pile up in this scan.
        try select("INDEXED BY requests_to_escalate WHERE state = 'approved' AND target IS NOT NULL AND extends IS NULL ORDER BY id LIMIT ?",
                   [.int(Int64(limit))])
    }

    /// Escalations and deescalations due to run (new, resumed after a crash, or due for a retry).
    public func strategyWorkDue(now: Date, limit: Int) throws -> [AccessRequest] {
        try select("""
            INDEXED BY requests_retry WHERE state IN ('escalating', 'deescalating') AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
            ORDER BY coalesce(next_attempt_at, 0), id LIMIT ?
            """, [.int(Store.millis(now)), .int(Int64(limit))])
    }

    /// The earliest future moment something becomes due, if any.
    public func nextDueTime() throws -> Date? {
        let ms = try db.scalarInt("""
            SELECT min(t) FROM (
              SELECT min(request_expires_at) AS t FROM requests INDEXED BY requests_ttl WHERE state = 'pending'
              UNION ALL SELECT min(access_expires_at) FROM requests INDEXED BY requests_expiry WHERE state = 'active'
              UNION ALL SELECT min(next_attempt_at) FROM requests INDEXED BY requests_retry WHERE state IN ('escalating', 'deescalating'))
            """)
        return ms.map(Store.date)
    }

    /// True when `requester` holds (or is being given) another grant of `target` through one of `flows`.
    public func holdsOtherGrant(requester: String, flows: [String], target: String, excluding id: Int64) throws -> Bool {
        guard !flows.isEmpty else { return false }
        let found = try db.scalarInt("""
            SELECT 1 FROM requests INDEXED BY requests_holder WHERE requester = ? AND target = ? AND state IN ('active', 'escalating') AND id != ?
              AND flow IN (\(flows.map { _ in "?" }.joined(separator: ","))) LIMIT 1
            """, [.text(requester), .text(target), .int(id)] + flows.map { .text($0) })
        return found != nil
    }

    func select(_ tail: String, _ values: [SQLValue]) throws -> [AccessRequest] {
        var out: [AccessRequest] = []
        try db.query("SELECT \(Store.requestColumns) FROM requests \(tail)", values) { out.append(try Store.decodeRequest($0)) }
        try attachApprovals(&out)
        return out
    }
}

// MARK: the review queue

/// A pending request that may be in someone's review queue; `exact` when the SQL filter already decided it.
public struct ReviewCandidate: Sendable, Equatable {
    public var id: Int64
    /// False when approval steps (or a missing routing) need the full policy check on the decoded request.
    public var exact: Bool
}

extension Store {
    /// The `approver_keys` column: every user (`u:NAME`) and group (`g:NAME`) a routing names, at the top or in a
    /// step, and `!steps` when it has steps, each between unit separators (U+001F), so that the review queue finds
    /// a user's requests with `instr` instead of parsing each routing's JSON (a 100,000-request queue: ~45 ms, not
    /// ~130 ms). A name holding U+001F (no Unix user or group can) is left out. Migration 4 computes the same in SQL,
    /// in the same order.
    public static func approverKeys(_ routing: Routing) -> String {
        let stepped = routing.steps.map(\.approvers)
        var keys = routing.approvers.users.map { "u:" + $0 } + routing.approvers.groups.map { "g:" + $0 }
            + stepped.flatMap { $0.users.map { "u:" + $0 } } + stepped.flatMap { $0.groups.map { "g:" + $0 } }
        if !routing.steps.isEmpty { keys.append("!steps") }
        keys.removeAll { $0.contains(keySeparator) }
        return keys.isEmpty ? "" : keySeparator + keys.joined(separator: keySeparator) + keySeparator
    }

    static let keySeparator = "\u{1F}"

    /// Pending requests of `flows` routed to `user` (by name or through `groups`, directly or in an approval step),
    /// not their own unless the flow is in `selfFlows`, and not yet approved by them; newest first. Only ids are
    /// read, so a queue of 100,000 costs 1 MB, not the decoded requests.
    /// A request stored without a routing is decided by its flow's configured approvers: exactly when the flow has
    /// no steps and they include the user (`eligibleFlows`), by the full check when the flow has steps (`stepFlows`).
    /// Requests with steps, and any routing without `approver_keys`, are candidates for the full check (`exact` false).
    public func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                                 eligibleFlows: [String] = [], stepFlows: [String] = []) throws -> [ReviewCandidate] {
        guard !flows.isEmpty else { return [] }
        // "x IN (NULL)" is never true, so an empty list still reads as "none of these".
        func list(_ n: Int) -> String { n == 0 ? "NULL" : Array(repeating: "?", count: n).joined(separator: ",") }
        func key(_ k: String) -> SQLValue { .text(Store.keySeparator + k + Store.keySeparator) }
        let mine = [key("u:" + user)] + groups.map { key("g:" + $0) }
        let sql = """
            SELECT id, CASE WHEN routing IS NULL THEN flow IN (\(list(stepFlows.count)))
                            ELSE approver_keys IS NULL OR instr(approver_keys, ?) > 0 END
            FROM requests r
            WHERE state = 'pending' AND flow IN (\(list(flows.count)))
              AND (requester != ? OR flow IN (\(list(selfFlows.count))))
              AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND a.user = ?)
              AND ((routing IS NULL AND (flow IN (\(list(eligibleFlows.count))) OR flow IN (\(list(stepFlows.count)))))
                   OR (routing IS NOT NULL AND approver_keys IS NULL)
                   OR \(Array(repeating: "instr(approver_keys, ?) > 0", count: mine.count).joined(separator: " OR ")))
            ORDER BY id DESC
            """
        let texts = { (names: [String]) in names.map { SQLValue.text($0) } }
        let values: [SQLValue] = texts(stepFlows) + [key("!steps")] + texts(flows) + [.text(user)] + texts(selfFlows) + [.text(user)]
            + texts(eligibleFlows) + texts(stepFlows) + mine
        var out: [ReviewCandidate] = []
        try db.query(sql, values) { out.append(ReviewCandidate(id: $0.int(0), exact: $0.int(1) == 0)) }
        return out
    }
}
