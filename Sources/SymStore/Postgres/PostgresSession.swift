import Foundation
import SymModel

/// Positional parameters `$1…` for one statement, as text (nil is NULL).
struct PGArgs {
    var values: [String?] = []
    mutating func add(_ v: String?) -> String { values.append(v); return "$\(values.count)" }
    mutating func add(_ v: Int64) -> String { add(String(v)) }
    mutating func add(_ d: Date?) -> String { add(d.map { String(Store.millis($0)) }) }
    /// `$a,$b,…` for a list, or `NULL` for none ("x IN (NULL)" is never true).
    mutating func list(_ vs: [String]) -> String { vs.isEmpty ? "NULL" : vs.map { add($0) }.joined(separator: ",") }
}

/// One connection to the PostgreSQL store and every query of the store contract on it (the SQLite store's, in
/// PostgreSQL's dialect). Inside `transaction` it is the transaction: reads of requests by id lock them and due
/// work is claimed with SKIP LOCKED. Outside a transaction, a broken connection is opened again before a query.
final class PostgresSession: StoreWriting {
    let conninfo: String
    let hostName: String
    var signer: HMACSHA256?
    private var conn: PostgresConnection
    private(set) var inTransaction = false
    private var touched = false
    /// The requests the open transaction inserted or changed, or whose events it appended (what its notice names).
    private(set) var changedRequests = Set<Int64>()
    /// What the rows the open transaction wrote leave for a grant loop, by request (what its notice says of the work).
    /// A request it only appended events for, or re-routed, has no new work: its row's deadlines are as they were.
    private var changedWork: [Int64: LoopWork] = [:]
    /// The most urgent work the open transaction's rows leave (`.none` when they leave none).
    var work: LoopWork { changedWork.values.reduce(LoopWork.none, LoopWork.sooner) }
    /// The requests the open transaction holds locked (read `FOR UPDATE`, claimed, inserted or updated by it), with
    /// the state each has now: nobody else can change them before it ends, so an update that expects that state
    /// cannot miss and is queued (`queue`) instead of waited for.
    private var lockedStates: [Int64: RequestState] = [:]
    /// A request id taken from the sequence with the requester's pending count (which is read just before a new
    /// request is recorded), so that `insert` knows its id and need not wait for the server to say it.
    private var reservedID: Int64?
    /// The events the open transaction appended and has not written yet, in order, with their ids and times but no
    /// place in the chain: `flushEvents` takes the chain head and writes them at commit, or before a read of events.
    private var unchained: [AuditEvent] = []
    /// Statements of the open transaction whose results nobody reads (its BEGIN, locks, approval rows, cursor moves):
    /// they go out with the next statement whose rows are read, or with COMMIT, in one round trip (`executePipeline`).
    /// A failure among them fails that statement, and the transaction with it.
    private var queued: [PostgresStatement] = []
    static let begin = "BEGIN", commit = PostgresStatement("COMMIT")
    static let headStatement = PostgresStatement("SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE")
    /// The chain head as this transaction holds it (locked to its end), once taken: the seq and hash of the newest event.
    private var head: (seq: Int64, hash: String)?
    /// `willAppendEvents` was called: the head goes with the next statement sent (after it).
    private var headWanted = false
    /// At most this many events in one INSERT (14 parameters each; a statement takes up to 65535).
    static let eventsPerInsert = 1000

    init(conninfo: String, hostName: String) throws {
        self.conninfo = conninfo; self.hostName = hostName
        conn = try PostgresSession.connect(conninfo)
    }

    static func connect(_ conninfo: String) throws -> PostgresConnection {
        do { return try PostgresConnection(conninfo: conninfo, applicationName: "symtui daemon", preparing: true) } catch {
            throw StoreError("store unavailable: \(PostgresStore.redacted("\(error)"))")
        }
    }

    // MARK: connection and transactions

    /// Runs one statement (a script of several when it has no parameters).
    @discardableResult
    func rows(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        if inTransaction && !queued.isEmpty { return try sendQueued(PostgresStatement(sql, parameters)) }
        func run() throws -> [[String?]] {
            try parameters.isEmpty ? conn.executeScript(sql) : conn.executePipeline([PostgresStatement(sql, parameters)])[0]
        }
        do { return try run() } catch let e as PostgresError where e.isConnectionFailure || !conn.isHealthy {
            // Outside a transaction nothing was half done: a connection the server dropped (a restart, a failover) is
            // opened again and the statement tried once more. Inside one, the transaction is lost: the caller hears it.
            if !inTransaction, (try? reconnect()) != nil, let rows = try? run() { return rows }
            throw StoreError("store unavailable: \(e.message)")
        }
    }

    /// Adds a statement whose result is not read to the open transaction: sent with the next one that is.
    func queue(_ sql: String, _ parameters: [String?] = []) {
        requireTransaction()
        queued.append(PostgresStatement(sql, parameters))
    }

    /// Sends the queued statements and `last` in one round trip; returns `last`'s rows.
    @discardableResult
    private func sendQueued(_ last: PostgresStatement? = nil) throws -> [[String?]] {
        var statements = queued
        queued = []
        if let last { statements.append(last) }
        let takingHead = headWanted && last != nil && last?.sql != Self.commit.sql
        if takingHead {
            headWanted = false
            statements.append(Self.headStatement)
        }
        guard !statements.isEmpty else { return [] }
        // A transaction's first round trip (its BEGIN with it) on a connection the server dropped meanwhile left
        // nothing behind: it is sent once more on a new connection, as a statement outside a transaction is.
        var retry = statements[0].sql == Self.begin
        while true {
            do {
                let results = try conn.executePipeline(statements)
                guard takingHead else { return results.last ?? [] }
                head = try Self.chainHead(results[results.count - 1])
                return results[results.count - 2]
            } catch let e as PostgresError where e.isConnectionFailure || !conn.isHealthy {
                guard retry, (try? reconnect()) != nil else { throw StoreError("store unavailable: \(e.message)") }
                retry = false
            }
        }
    }

    static func chainHead(_ rows: [[String?]]) throws -> (seq: Int64, hash: String) {
        guard let c = rows.first, let seq = int(c[0]), let hash = c[1] else { throw StoreError("the store has no chain head row") }
        return (seq, hash)
    }

    /// This write will append events: the chain head is locked and read with the next statement sent, after it, so
    /// that at commit the events go with COMMIT at once (one round trip fewer). The head is then held from that
    /// statement to the commit: call it just before the write's last read, so that the rows its reads lock are
    /// taken first, as they are when the head is taken at commit.
    func willAppendEvents() {
        requireTransaction()
        if head == nil { headWanted = true }
    }

    /// Whether the open transaction has sent nothing yet (its BEGIN still waits in `queued`).
    private var nothingSent: Bool { queued.first?.sql == Self.begin }

    func executeFormatted(_ template: String, identifiers: [String]) throws {
        do { try conn.executeFormatted(template, identifiers: identifiers) } catch let e as PostgresError {
            throw StoreError(e.message)
        }
    }

    private func reconnectIfBroken() throws {
        if !conn.isHealthy { try reconnect() }
    }

    private func reconnect() throws {
        conn.close()
        conn = try PostgresSession.connect(conninfo)
    }

    func autocommit<T>(_ body: () throws -> T) throws -> T {
        precondition(!inTransaction, "a store read inside a write on the same thread: use the transaction's reads")
        try reconnectIfBroken()
        return try body()
    }

    /// Runs `body` in one transaction; returns its value and whether it changed requests or events. Changes notify
    /// every daemon's change feed (`NOTIFY symtui_changes` with a `PostgresChangeNotice` payload: the sender and the
    /// changed requests; delivered at commit, and not at all on rollback).
    func transaction<T>(_ body: () throws -> T) throws -> (T, Bool) {
        precondition(!inTransaction, "StoreWriter.read/write called inside read/write on the same thread")
        try reconnectIfBroken()
        inTransaction = true
        // BEGIN goes out with the transaction's first statement, in the same round trip; a transaction that sends no
        // statement costs none.
        queued = [PostgresStatement(Self.begin)]
        touched = false
        changedRequests = []
        changedWork = [:]
        head = nil
        headWanted = false
        lockedStates = [:]
        reservedID = nil
        // A transaction run again (a deadlock retry) or after a failed one starts with no events of its own.
        unchained = []
        defer { inTransaction = false; unchained = []; queued = [] }
        do {
            let value = try body()
            headWanted = false
            // The chain head last (or with the body's last read, `willAppendEvents`): the fleet's transactions hold it
            // only until one statement (the events and the head) sent with COMMIT. The change notice follows the
            // commit (`PostgresNotifier`).
            if try !flushEvents(commit: true) {
                if !(nothingSent && queued.count == 1) { try sendQueued(Self.commit) }
            }
            return (value, touched)
        } catch {
            if !nothingSent { _ = try? conn.execute("ROLLBACK") }
            throw error
        }
    }

    private func requireTransaction() {
        precondition(inTransaction, "a store change outside a write transaction")
    }

    // MARK: schema

    func migrate() throws {
        // A current schema needs nothing more; a daemon's own role may not even create tables (docs/deployment.md).
        if try schemaVersion() == PostgresSchema.version { return }
        _ = try transaction { () -> Void in
            // One daemon migrates at a time; the others wait, then find the schema current.
            try rows("SELECT pg_advisory_xact_lock(73657475)")
            try rows("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)")
            let current = try schemaVersion()
            if current > PostgresSchema.version {
                throw StoreError("store \(PostgresStore.redacted(conninfo)) has schema \(current); this symtui knows up to "
                                 + "\(PostgresSchema.version) (a newer symtui made it)")
            }
            guard current < PostgresSchema.version else { return }
            for v in current..<PostgresSchema.version { try rows(PostgresSchema.migrations[v]) }
            try rows("DELETE FROM schema_version")
            try rows("INSERT INTO schema_version(version) VALUES ($1)", [String(PostgresSchema.version)])
        }
    }

    func checkSchema() throws {
        let version = try schemaVersion()
        guard version == PostgresSchema.version else {
            throw StoreError("store \(PostgresStore.redacted(conninfo)) has schema \(version); this symtui needs \(PostgresSchema.version) "
                             + "(run the daemon once with a role that may migrate it)")
        }
    }

    func schemaVersion() throws -> Int {
        let exists = try rows("SELECT to_regclass('schema_version') IS NOT NULL").first?.first ?? nil
        guard exists == "t" else { return 0 }
        return Int(try rows("SELECT max(version) FROM schema_version").first?.first.flatMap { $0 } ?? "0") ?? 0
    }

    // MARK: decoding

    static let requestColumns = """
        id, flow, target, target_label, requester, state, end_reason, fields, duration_seconds, created_at,
        request_expires_at, decided_at, access_starts_at, access_expires_at, ended_at, denial, required_approvals,
        stuck, error, extends, attempts, next_attempt_at, step_output, routing, host, runs_on,
        (SELECT json_agg(json_build_array(p.approver, p.at, p.reason, p.is_self, p.step) ORDER BY p.at, p.approver COLLATE "C")
         FROM approvals p WHERE p.request_id = requests.id)
        """
    static let eventColumns = "seq, id, event_time, type, request_id, flow, target, requester, actor, reason, data, prev_hash, hash, hmac"
    static let outboxColumns = "id, request_id, kind, channel, recipient, payload, created_at, attempts, next_attempt_at, last_error, delivered_at, dedup"

    static func int(_ v: String?) -> Int64? { v.flatMap { Int64($0) } }
    static func date(_ v: String?) -> Date? { int(v).map(Store.date) }

    static func decodeRequest(_ c: [String?]) throws -> AccessRequest {
        let id = int(c[0]) ?? 0
        guard let state = RequestState(rawValue: c[5] ?? "") else { throw StoreError("request \(id) has unknown state \(c[5] ?? "")") }
        var r = AccessRequest(id: id, flow: c[1] ?? "", target: c[2], targetLabel: c[3], requester: c[4] ?? "", state: state,
                              fields: Store.decodeFields(c[7] ?? "{}"), durationSeconds: int(c[8]).map(Int.init),
                              createdAt: date(c[9]) ?? Date(timeIntervalSince1970: 0), requestExpiresAt: date(c[10]) ?? Date(timeIntervalSince1970: 0),
                              requiredApprovals: Int(int(c[16]) ?? 1), extends: int(c[19]))
        r.endReason = c[6].flatMap(EndReason.init(rawValue:))
        r.decidedAt = date(c[11]); r.accessStartsAt = date(c[12]); r.accessExpiresAt = date(c[13]); r.endedAt = date(c[14])
        if let d = c[15], let j = try? JSONValue.parse(d) {
            r.denial = Denial(user: j["user"]?.stringValue ?? "", at: Store.date(j["at"]?.intValue ?? 0), reason: j["reason"]?.stringValue ?? "")
        }
        r.stuck = (int(c[17]) ?? 0) != 0
        r.error = c[18]
        r.attempts = Int(int(c[20]) ?? 0)
        r.nextAttemptAt = date(c[21])
        r.stepOutput = c[22]
        r.routing = c[23].flatMap { try? JSONValue.parse($0) }.flatMap(Routing.init(json:))
        r.host = c[24]
        r.runsOn = c[25]
        // The approvals come with the row, as a JSON array of [approver, at, reason, is_self, step] (no second query).
        if let text = c[26], case let .array(list)? = try? JSONValue.parse(text) {
            r.approvals = list.compactMap { item -> Approval? in
                guard case let .array(f) = item, f.count == 5 else { return nil }
                return Approval(user: f[0].stringValue ?? "", at: Store.date(f[1].intValue ?? 0), reason: f[2].stringValue,
                                isSelf: (f[3].intValue ?? 0) != 0, step: f[4].stringValue)
            }
        }
        return r
    }

    static func decodeEvent(_ c: [String?]) -> AuditEvent {
        let data = c[10] ?? ""
        let draft = EventDraft(type: EventType(rawValue: c[3] ?? "") ?? .handler, requestId: int(c[4]), flow: c[5], target: c[6],
                               requester: c[7], actor: c[8] ?? "", reason: c[9], data: (try? JSONValue.parse(data)) ?? .string(data))
        var e = AuditEvent(seq: int(c[0]) ?? 0, id: c[1] ?? "", time: date(c[2]) ?? Date(timeIntervalSince1970: 0), draft: draft,
                           prevHash: c[11] ?? "", hash: c[12] ?? "")
        e.hmac = c[13]
        return e
    }

    static func decodeOutbox(_ c: [String?]) -> OutboxItem {
        OutboxItem(id: int(c[0]) ?? 0, requestId: int(c[1]), kind: c[2] ?? "", dedup: c[11] ?? "", channel: c[3] ?? "", recipient: c[4] ?? "",
                   payload: c[5] ?? "", createdAt: date(c[6]) ?? Date(timeIntervalSince1970: 0), attempts: Int(int(c[7]) ?? 0),
                   nextAttemptAt: date(c[8]), lastError: c[9], deliveredAt: date(c[10]))
    }

    /// `%text%` for LIKE (whose escape character is the backslash), with LIKE's own wildcards escaped.
    static func like(_ text: String) -> String {
        "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
    }

    // MARK: requests

    func request(id: Int64) throws -> AccessRequest? { try requests(ids: [id]).first }

    /// Without `LIMIT` and `OFFSET` (what a query by ids would bind): their parameters made PostgreSQL plan this
    /// statement again on every call (a custom plan, ~0.1 ms: four times its execution), as a generic plan cannot know
    /// how many rows a `LIMIT $n` keeps. By ids alone, the generic plan is the primary key's, and it is kept.
    func requests(ids: [Int64]) throws -> [AccessRequest] {
        guard !ids.isEmpty else { return [] }
        var a = PGArgs()
        let lock = inTransaction ? " FOR UPDATE" : ""
        // Newest first, as a query's default order.
        let sql = "SELECT \(Self.requestColumns) FROM requests WHERE id IN (\(ids.map { a.add($0) }.joined(separator: ","))) "
            + "ORDER BY id DESC\(lock)"
        return try selectRequests(sql, a.values, locking: !lock.isEmpty)
    }

    func requests(_ q: RequestQuery) throws -> [AccessRequest] {
        var a = PGArgs()
        let whereSQL = filter(q, &a)
        // Inside a write, requests read by id are locked until it commits: a decision on them waits for another's.
        let lock = inTransaction && q.ids != nil ? " FOR UPDATE" : ""
        let sql = "SELECT \(Self.requestColumns) FROM requests\(whereSQL) ORDER BY id \(q.newestFirst ? "DESC" : "ASC") "
            + "LIMIT \(a.add(Int64(q.limit))) OFFSET \(a.add(Int64(q.offset)))\(lock)"
        return try selectRequests(sql, a.values, locking: !lock.isEmpty)
    }

    func count(_ q: RequestQuery) throws -> Int {
        var a = PGArgs()
        let whereSQL = filter(q, &a)
        return Int(Self.int(try rows("SELECT count(*) FROM requests\(whereSQL)", a.values).first?[0]) ?? 0)
    }

    func filter(_ q: RequestQuery, _ a: inout PGArgs) -> String {
        var clauses: [String] = []
        if !q.states.isEmpty { clauses.append("state IN (\(a.list(q.states.map(\.rawValue))))") }
        if let r = q.requester { clauses.append("requester = \(a.add(r))") }
        if let f = q.flow { clauses.append("flow = \(a.add(f))") }
        if let t = q.target { clauses.append("target = \(a.add(t))") }
        if let ids = q.ids { clauses.append("id IN (\(ids.isEmpty ? "NULL" : ids.map { a.add($0) }.joined(separator: ",")))") }
        if let text = q.search, !text.isEmpty {
            let p = a.add(Self.like(text))
            clauses.append("(flow LIKE \(p) OR coalesce(target, '') LIKE \(p) OR requester LIKE \(p) OR state LIKE \(p) "
                           + "OR fields LIKE \(p) OR CAST(id AS TEXT) = \(a.add(text)))")
        }
        return clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
    }

    /// `locking`: the statement locks the rows it returns (`FOR UPDATE`, a claim) until the transaction ends.
    func selectRequests(_ sql: String, _ values: [String?], locking: Bool = false) throws -> [AccessRequest] {
        let found = try rows(sql, values).map(Self.decodeRequest)
        if locking && inTransaction { for r in found { lockedStates[r.id] = r.state } }
        return found
    }

    func insert(_ request: AccessRequest) throws -> AccessRequest {
        requireTransaction()
        touched = true
        var r = request
        var a = PGArgs()
        let values = columns(r, &a)
        let routing = a.add(r.routing?.json.compact), keys = a.add(r.routing.map(Store.approverKeys)), host = a.add(r.host ?? hostName)
        let runsOn = a.add(r.runsOn)
        let columns = """
            flow, target, target_label, requester, state, end_reason, fields, duration_seconds, created_at,
              request_expires_at, decided_at, access_starts_at, access_expires_at, ended_at, denial, required_approvals, stuck,
              error, extends, attempts, next_attempt_at, step_output, routing, approver_keys, host, runs_on
            """
        let tuple = "\(values.joined(separator: ",")), \(routing), \(keys), \(host), \(runsOn)"
        if let id = reservedID {
            // Its id is known: the row goes with the transaction's next statement.
            reservedID = nil
            queue("INSERT INTO requests(id, \(columns)) VALUES(\(a.add(id)), \(tuple))", a.values)
            r.id = id
        } else {
            let row = try rows("INSERT INTO requests(\(columns)) VALUES(\(tuple)) RETURNING id", a.values)
            r.id = Self.int(row.first?[0]) ?? 0
        }
        r.host = r.host ?? hostName
        changedRequests.insert(r.id)
        changedWork[r.id] = LoopWork.after(r)
        lockedStates[r.id] = r.state
        try writeApprovals(r)
        return r
    }

    @discardableResult
    func update(_ request: AccessRequest, expectedState: RequestState?) throws -> Bool {
        requireTransaction()
        touched = true
        let r = request
        var a = PGArgs()
        let v = columns(r, &a)
        let names = ["flow", "target", "target_label", "requester", "state", "end_reason", "fields", "duration_seconds", "created_at",
                     "request_expires_at", "decided_at", "access_starts_at", "access_expires_at", "ended_at", "denial",
                     "required_approvals", "stuck", "error", "extends", "attempts", "next_attempt_at", "step_output"]
        var sql = "UPDATE requests SET " + zip(names, v).map { "\($0) = \($1)" }.joined(separator: ", ") + " WHERE id = \(a.add(r.id))"
        if let expectedState { sql += " AND state = \(a.add(expectedState.rawValue))" }
        if let held = lockedStates[r.id], expectedState == nil || expectedState == held {
            // This transaction holds the row and knows its state: the update matches, and goes with the next statement.
            queue(sql, a.values)
        } else {
            // READ COMMITTED re-checks the WHERE on the row as the winner left it: of two deciders, one changes it.
            guard try rows(sql + " RETURNING id", a.values).count == 1 else { return false }
        }
        lockedStates[r.id] = r.state
        changedRequests.insert(r.id)
        changedWork[r.id] = LoopWork.after(r)
        try writeApprovals(r)
        return true
    }

    private func writeApprovals(_ r: AccessRequest) throws {
        for ap in r.approvals {
            var a = PGArgs()
            queue("""
                INSERT INTO approvals(request_id, approver, at, reason, is_self, step)
                VALUES(\(a.add(r.id)), \(a.add(ap.user)), \(a.add(ap.at)), \(a.add(ap.reason)), \(a.add(ap.isSelf ? 1 : 0)), \(a.add(ap.step)))
                ON CONFLICT DO NOTHING
                """, a.values)
        }
    }

    /// The placeholders of every column `update` writes, in `update`'s order.
    private func columns(_ r: AccessRequest, _ a: inout PGArgs) -> [String] {
        let denial = r.denial.map { d in
            JSONValue.obj([("user", .string(d.user)), ("at", .int(Store.millis(d.at))), ("reason", .string(d.reason))]).compact
        }
        return [a.add(r.flow), a.add(r.target), a.add(r.targetLabel), a.add(r.requester), a.add(r.state.rawValue), a.add(r.endReason?.rawValue),
                a.add(Store.encodeFields(r.fields)), a.add(r.durationSeconds.map { String($0) }), a.add(r.createdAt), a.add(r.requestExpiresAt),
                a.add(r.decidedAt), a.add(r.accessStartsAt), a.add(r.accessExpiresAt), a.add(r.endedAt), a.add(denial),
                a.add(Int64(r.requiredApprovals)), a.add(r.stuck ? 1 : 0), a.add(r.error), a.add(r.extends.map { String($0) }),
                a.add(Int64(r.attempts)), a.add(r.nextAttemptAt), a.add(r.stepOutput)]
    }

    func updateRouting(_ id: Int64, _ routing: Routing) throws {
        requireTransaction()
        touched = true
        changedRequests.insert(id)
        var a = PGArgs()
        queue("UPDATE requests SET routing = \(a.add(routing.json.compact)), approver_keys = \(a.add(Store.approverKeys(routing))) "
                 + "WHERE id = \(a.add(id)) AND state = 'pending'", a.values)
    }

    // MARK: the audit chain

    func selectEvents(_ sql: String, _ values: [String?]) throws -> [AuditEvent] {
        try rows(sql, values).map(Self.decodeEvent)
    }

    func event(seq: Int64) throws -> AuditEvent? {
        try flushEvents()
        return try selectEvents("SELECT \(Self.eventColumns) FROM events WHERE seq = $1", [String(seq)]).first
    }

    func events(requestId: Int64) throws -> [AuditEvent] {
        try flushEvents()
        return try selectEvents("SELECT \(Self.eventColumns) FROM events WHERE request_id = $1 ORDER BY seq", [String(requestId)])
    }

    func events(afterSeq: Int64, limit: Int) throws -> [AuditEvent] {
        try flushEvents()
        return try selectEvents("SELECT \(Self.eventColumns) FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", [String(afterSeq), String(limit)])
    }

    func eventsNewestFirst(offset: Int, limit: Int, search: String?) throws -> [AuditEvent] {
        try flushEvents()
        var a = PGArgs()
        let whereSQL = eventFilter(search, &a)
        return try selectEvents("SELECT \(Self.eventColumns) FROM events\(whereSQL) ORDER BY seq DESC LIMIT \(a.add(Int64(limit))) "
                                + "OFFSET \(a.add(Int64(offset)))", a.values)
    }

    func countEvents(search: String?) throws -> Int {
        try flushEvents()
        guard let search, !search.isEmpty else { return Int(try lastSeq()) }
        var a = PGArgs()
        let whereSQL = eventFilter(search, &a)
        return Int(Self.int(try rows("SELECT count(*) FROM events\(whereSQL)", a.values).first?[0]) ?? 0)
    }

    private func eventFilter(_ search: String?, _ a: inout PGArgs) -> String {
        guard let text = search, !text.isEmpty else { return "" }
        let p = a.add(Self.like(text))
        let columns = ["type", "actor", "coalesce(requester, '')", "coalesce(flow, '')", "coalesce(target, '')", "coalesce(reason, '')"]
        return " WHERE " + columns.map { "\($0) LIKE \(p)" }.joined(separator: " OR ") + " OR CAST(request_id AS TEXT) = \(a.add(text))"
    }

    func lastSeq() throws -> Int64 {
        try flushEvents()
        return Self.int(try rows("SELECT max(seq) FROM events").first?[0]) ?? 0
    }

    func eventTime(seq: Int64) throws -> Date? {
        try flushEvents()
        return Self.date(try rows("SELECT event_time FROM events WHERE seq = $1", [String(seq)]).first?[0])
    }

    /// Appends an event to the open transaction. Its id and time (to the millisecond) are final; its place in the
    /// chain is not taken yet: the event returned has `seq` 0 and no `prevHash`, `hash` or `hmac`. They are assigned
    /// when the transaction commits, or earlier when it reads events (read the event back for them).
    func append(_ draft: EventDraft, at time: Date) throws -> AuditEvent {
        requireTransaction()
        touched = true
        let event = AuditEvent(seq: 0, id: EventID.make(), time: Store.date(Store.millis(time)), draft: draft, prevHash: "")
        unchained.append(event)
        if let id = event.requestId { changedRequests.insert(id) }
        return event
    }

    /// Gives the transaction's appended events their places at the head of the chain and writes them. The head row is
    /// locked (`FOR UPDATE`) until the transaction ends, so every daemon's events take their turns and `seq` stays
    /// gapless; reads of events in the transaction call this first, so they see its own events.
    /// With `commit`, COMMIT goes with the last statement. False when there was nothing to write (and nothing was
    /// sent or committed).
    @discardableResult
    func flushEvents(commit: Bool = false) throws -> Bool {
        guard inTransaction, !unchained.isEmpty else { return false }
        if head == nil {
            headWanted = false
            head = try Self.chainHead(rows(Self.headStatement.sql))
        }
        guard var (seq, prev) = head else { throw StoreError("the store has no chain head row") }
        var chained: [AuditEvent] = []
        var canonicalData: [String] = []
        chained.reserveCapacity(unchained.count)
        canonicalData.reserveCapacity(unchained.count)
        for var e in unchained {
            seq += 1
            e.seq = seq
            e.prevHash = prev
            let data = e.data.canonical
            e.hash = e.computedHash(dataCanonical: data)
            e.hmac = signer?.hex(e.hash)
            prev = e.hash
            chained.append(e)
            canonicalData.append(data)
        }
        var start = 0
        while start < chained.count {
            let end = min(start + Self.eventsPerInsert, chained.count)
            var a = PGArgs()
            let tuples = (start..<end).map { i in
                let e = chained[i]
                return "(" + [a.add(e.seq), a.add(e.id), a.add(e.time), a.add(e.type.rawValue), a.add(e.requestId.map { String($0) }), a.add(e.flow),
                       a.add(e.target), a.add(e.requester), a.add(e.actor), a.add(e.reason), a.add(canonicalData[i]), a.add(e.prevHash),
                       a.add(e.hash), a.add(e.hmac)].joined(separator: ",") + ")"
            }
            var sql = "INSERT INTO events(\(Self.eventColumns)) VALUES " + tuples.joined(separator: ",")
            if end == chained.count {
                // The last batch moves the head in the same statement: fewer round trips while the head is held.
                sql = "WITH appended AS (\(sql)) UPDATE chain_head SET seq = \(a.add(seq)), hash = \(a.add(prev)) WHERE id = 1"
            }
            if commit && end == chained.count {
                queue(sql, a.values)
                try sendQueued(Self.commit)
            } else {
                try rows(sql, a.values)
            }
            start = end
        }
        head = (seq, prev)
        unchained = []
        return true
    }

    /// The advisory lock key space of requesters (the two-key form: apart from the migration's one-key lock).
    static let requesterLockSpace: Int32 = 0x7379_6d72

    /// Waits for, then holds until the transaction ends, the requester's advisory lock: two daemons recording
    /// requests for the same user take turns between counting the user's pending requests and committing.
    func lockRequester(_ name: String) throws {
        requireTransaction()
        queue("SELECT pg_advisory_xact_lock($1, hashtext($2))", [String(Self.requesterLockSpace), name])
    }

    // MARK: the grant loop's due work (claimed with SKIP LOCKED inside a write)

    private var claim: String { inTransaction ? " FOR UPDATE SKIP LOCKED" : "" }

    func pendingPastTTL(now: Date, limit: Int) throws -> [AccessRequest] {
        try selectRequests("SELECT \(Self.requestColumns) FROM requests WHERE state = 'pending' AND request_expires_at <= $1 "
                           + "ORDER BY request_expires_at LIMIT $2\(claim)", [String(Store.millis(now)), String(limit)], locking: true)
    }

    func activePastExpiry(now: Date, limit: Int) throws -> [AccessRequest] {
        try selectRequests("SELECT \(Self.requestColumns) FROM requests WHERE state = 'active' AND access_expires_at <= $1 "
                           + "ORDER BY access_expires_at LIMIT $2\(claim)", [String(Store.millis(now)), String(limit)], locking: true)
    }

    func approvedAwaitingEscalation(now: Date, limit: Int) throws -> [AccessRequest] {
        try selectRequests("""
            SELECT \(Self.requestColumns) FROM requests WHERE state = 'approved' AND target IS NOT NULL AND extends IS NULL
              AND (access_starts_at IS NULL OR access_starts_at <= $1) ORDER BY id LIMIT $2\(claim)
            """, [String(Store.millis(now)), String(limit)], locking: true)
    }

    /// Claimed with SKIP LOCKED inside a write; with `host`, only that host's steps are even looked at, so a daemon
    /// never locks (and so never keeps from its owner) a step it will not run.
    func strategyWorkDue(now: Date, limit: Int, host: String?) throws -> [AccessRequest] {
        var a = PGArgs()
        let due = a.add(Date?.some(now)), mine = host.map { " AND (runs_on IS NULL OR runs_on = \(a.add($0)))" } ?? ""
        return try selectRequests("""
            SELECT \(Self.requestColumns) FROM requests WHERE state IN ('escalating', 'deescalating')
              AND (next_attempt_at IS NULL OR next_attempt_at <= \(due))\(mine) ORDER BY coalesce(next_attempt_at, 0), id LIMIT \(a.add(Int64(limit)))\(claim)
            """, a.values, locking: true)
    }

    func nextDueTime(host: String?) throws -> Date? {
        var a = PGArgs()
        let mine = host.map { " AND (runs_on IS NULL OR runs_on = \(a.add($0)))" } ?? ""
        return Self.date(try rows("""
            SELECT min(t) FROM (
              SELECT min(request_expires_at) AS t FROM requests WHERE state = 'pending'
              UNION ALL SELECT min(access_expires_at) FROM requests WHERE state = 'active'
              UNION ALL SELECT min(access_starts_at) FROM requests WHERE state = 'approved' AND target IS NOT NULL AND extends IS NULL
              UNION ALL SELECT min(next_attempt_at) FROM requests WHERE state IN ('escalating', 'deescalating')\(mine)) due
            """, a.values).first?[0])
    }

    // MARK: the fleet

    func fleetHosts() throws -> [HostRecord] {
        try rows("SELECT host, version, pid, started_at, seen_at FROM hosts ORDER BY host COLLATE \"C\"").map { c in
            HostRecord(host: c[0] ?? "", version: c[1] ?? "", pid: Self.int(c[2]) ?? 0, startedAt: Self.date(c[3]) ?? Date(timeIntervalSince1970: 0),
                       seenAt: Self.date(c[4]) ?? Date(timeIntervalSince1970: 0))
        }
    }

    func strategyWorkWaiting(now: Date) throws -> [HostWork] {
        try rows("""
            SELECT runs_on, count(*) FROM requests WHERE state IN ('escalating', 'deescalating')
              AND (next_attempt_at IS NULL OR next_attempt_at <= $1) GROUP BY runs_on ORDER BY runs_on COLLATE "C" NULLS FIRST
            """, [String(Store.millis(now))]).map { HostWork(host: $0[0], count: Int(Self.int($0[1]) ?? 0)) }
    }

    func recordHeartbeat(_ h: HostRecord) throws {
        requireTransaction()
        // Not `touched`: a heartbeat changes no request and no event, so nobody is told of a change.
        var a = PGArgs()
        queue("""
            INSERT INTO hosts(host, version, pid, started_at, seen_at)
            VALUES(\(a.add(h.host)), \(a.add(h.version)), \(a.add(h.pid)), \(a.add(Date?.some(h.startedAt))), \(a.add(Date?.some(h.seenAt))))
            ON CONFLICT(host) DO UPDATE SET version = excluded.version, pid = excluded.pid, started_at = excluded.started_at,
              seen_at = excluded.seen_at
            """, a.values)
    }

    func holdsOtherGrant(requester: String, flows: [String], target: String, excluding id: Int64) throws -> Bool {
        guard !flows.isEmpty else { return false }
        var a = PGArgs()
        let sql = "SELECT 1 FROM requests WHERE requester = \(a.add(requester)) AND target = \(a.add(target)) "
            + "AND state IN ('active', 'escalating') AND id <> \(a.add(id)) AND flow IN (\(a.list(flows))) LIMIT 1"
        return try !rows(sql, a.values).isEmpty
    }

    func pendingCount(requester: String) throws -> Int {
        if inTransaction {
            // Inside a write it is asked just before a request is recorded: the request's id comes in the same round
            // trip. A transaction that records none leaves a gap in the ids, as a rolled-back insert does.
            let row = try rows("""
                SELECT (SELECT count(*) FROM requests WHERE state = 'pending' AND requester = $1),
                  nextval(pg_get_serial_sequence('requests', 'id'))
                """, [requester]).first
            reservedID = Self.int(row?[1])
            return Int(Self.int(row?[0]) ?? 0)
        }
        var a = PGArgs()
        return Int(Self.int(try rows("SELECT count(*) FROM requests WHERE state = 'pending' AND requester = \(a.add(requester))", a.values)
            .first?[0]) ?? 0)
    }

    /// As `Store.activeEndingUnwarned`.
    func activeEndingUnwarned(_ q: EndingQuery) throws -> [AccessRequest] {
        let m = q.millis
        var a = PGArgs()
        let sql = """
            SELECT \(Self.requestColumns) FROM requests WHERE state = 'active' AND flow = \(a.add(q.flow)) AND id > \(a.add(q.afterID))
              AND target IS NOT NULL AND access_expires_at > \(a.add(m.now)) AND access_expires_at <= \(a.add(m.now + m.warning))
              AND access_expires_at - access_starts_at > \(a.add(m.warning))
              AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.request_id = requests.id AND n.kind = \(a.add(EndingQuery.kind))
                              AND n.dedup = requests.access_expires_at::text)
            ORDER BY id LIMIT \(a.add(Int64(q.limit)))
            """
        return try selectRequests(sql, a.values)
    }

    /// As `Store.pendingReachingAge`: bigint division truncates as SQLite's does.
    func pendingReachingAge(_ q: PendingAgeQuery) throws -> [AccessRequest] {
        let m = q.millis
        var a = PGArgs()
        var sql = "SELECT \(Self.requestColumns) FROM requests WHERE state = 'pending' AND flow = \(a.add(q.flow)) "
            + "AND id > \(a.add(q.afterID)) AND request_expires_at > \(a.add(m.now)) AND created_at <= \(a.add(m.now - m.age))"
        if let since = m.since {
            if let every = m.every {
                let (n, s, age, e) = (a.add(m.now), a.add(since), a.add(m.age), a.add(every))
                sql += " AND (created_at > \(a.add(since - m.age)) OR (\(n)::bigint - created_at - \(age)::bigint) / \(e)::bigint "
                    + "> (\(s)::bigint - created_at - \(age)::bigint) / \(e)::bigint)"
            } else {
                sql += " AND created_at > \(a.add(since - m.age))"
            }
        }
        sql += " ORDER BY id LIMIT \(a.add(Int64(q.limit)))"
        return try selectRequests(sql, a.values)
    }

    // MARK: review queues

    func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                          eligibleFlows: [String], stepFlows: [String]) throws -> [ReviewCandidate] {
        try reviewCandidates(user: user, groups: groups, flows: flows, selfFlows: selfFlows, eligibleFlows: eligibleFlows,
                             stepFlows: stepFlows, only: nil)
    }

    /// The same, among the requests `only` alone when given (a review queue brought up to date after a commit).
    func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                          eligibleFlows: [String], stepFlows: [String], only: [Int64]?) throws -> [ReviewCandidate] {
        guard !flows.isEmpty, only.map({ !$0.isEmpty }) ?? true else { return [] }
        func key(_ k: String) -> String { Store.keySeparator + k + Store.keySeparator }
        var a = PGArgs()
        let steps = a.add(key("!steps"))
        let mine = ([key("u:" + user)] + groups.map { key("g:" + $0) }).map { "strpos(approver_keys, \(a.add($0))) > 0" }
        let sql = """
            SELECT id, CASE WHEN routing IS NULL THEN flow IN (\(a.list(stepFlows)))
                            ELSE approver_keys IS NULL OR strpos(approver_keys, \(steps)) > 0 END AS needs_policy_check
            FROM requests r
            WHERE state = 'pending'\(only.map { " AND id IN (\($0.map { a.add($0) }.joined(separator: ",")))" } ?? "") AND flow IN (\(a.list(flows)))
              AND (requester <> \(a.add(user)) OR flow IN (\(a.list(selfFlows))))
              AND NOT EXISTS (SELECT 1 FROM approvals p WHERE p.request_id = r.id AND p.approver = \(a.add(user)))
              AND ((routing IS NULL AND (flow IN (\(a.list(eligibleFlows))) OR flow IN (\(a.list(stepFlows)))))
                   OR (routing IS NOT NULL AND approver_keys IS NULL)
                   OR \(mine.joined(separator: " OR ")))
            ORDER BY id DESC
            """
        return try rows(sql, a.values).map { ReviewCandidate(id: Self.int($0[0]) ?? 0, exact: $0[1] != "t") }
    }

    // MARK: reporting cursors

    func delivery(_ destination: String) throws -> DeliveryRecord {
        guard let c = try rows("SELECT seq, attempts, last_error, last_attempt_at, delivered_at FROM delivery WHERE destination = $1",
                               [destination]).first else { return DeliveryRecord(destination: destination) }
        return DeliveryRecord(destination: destination, seq: Self.int(c[0]) ?? 0, attempts: Int(Self.int(c[1]) ?? 0), lastError: c[2],
                              lastAttemptAt: Self.date(c[3]), deliveredAt: Self.date(c[4]))
    }

    func recordDelivered(_ destination: String, through seq: Int64, at time: Date) throws {
        requireTransaction()
        queue("""
            INSERT INTO delivery(destination, seq, attempts, last_error, last_attempt_at, delivered_at) VALUES($1, $2, 0, NULL, $3, $3)
            ON CONFLICT(destination) DO UPDATE SET seq = greatest(delivery.seq, excluded.seq), attempts = 0, last_error = NULL,
              last_attempt_at = excluded.last_attempt_at, delivered_at = excluded.delivered_at
            """, [destination, String(seq), String(Store.millis(time))])
    }

    func recordDeliveryFailure(_ destination: String, error: String, at time: Date) throws {
        requireTransaction()
        queue("""
            INSERT INTO delivery(destination, seq, attempts, last_error, last_attempt_at) VALUES($1, 0, 1, $2, $3)
            ON CONFLICT(destination) DO UPDATE SET attempts = delivery.attempts + 1, last_error = excluded.last_error,
              last_attempt_at = excluded.last_attempt_at
            """, [destination, error, String(Store.millis(time))])
    }

    // MARK: the notification outbox

    func hasNotification(requestId: Int64, kind: String, dedup: String) throws -> Bool {
        try !rows("SELECT 1 FROM notifications WHERE request_id = $1 AND kind = $2 AND dedup = $3 LIMIT 1",
                  [String(requestId), kind, dedup]).isEmpty
    }

    func dueNotifications(channel: String, now: Date, limit: Int) throws -> [OutboxItem] {
        try rows("""
            SELECT \(Self.outboxColumns) FROM notifications WHERE channel = $1 AND delivered_at IS NULL AND next_attempt_at <= $2
            ORDER BY next_attempt_at, id LIMIT $3\(claim)
            """, [channel, String(Store.millis(now)), String(limit)]).map(Self.decodeOutbox)
    }

    func nextNotificationDue(channel: String) throws -> Date? {
        Self.date(try rows("SELECT min(next_attempt_at) FROM notifications WHERE channel = $1 AND delivered_at IS NULL", [channel]).first?[0])
    }

    func notifications(requestId: Int64?) throws -> [OutboxItem] {
        if let requestId {
            return try rows("SELECT \(Self.outboxColumns) FROM notifications WHERE request_id = $1 ORDER BY id", [String(requestId)])
                .map(Self.decodeOutbox)
        }
        return try rows("SELECT \(Self.outboxColumns) FROM notifications ORDER BY id").map(Self.decodeOutbox)
    }

    func channelBacklogs(channels: [String], now: Date) throws -> [ChannelBacklog] {
        var byName: [String: ChannelBacklog] = [:]
        for c in channels { byName[c] = ChannelBacklog(channel: c) }
        for c in try rows("""
            SELECT channel, sum(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END), sum(CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END),
              min(CASE WHEN delivered_at IS NULL THEN created_at END)
            FROM notifications GROUP BY channel
            """) {
            let name = c[0] ?? ""
            var b = byName[name] ?? ChannelBacklog(channel: name)
            b.backlog = Self.int(c[1]) ?? 0; b.delivered = Self.int(c[2]) ?? 0
            b.oldestSeconds = Self.date(c[3]).map { max(0, now.timeIntervalSince($0)) }
            byName[name] = b
        }
        for c in try rows("""
            SELECT n.channel, n.last_error, n.last_attempt_at FROM notifications n
            WHERE n.delivered_at IS NULL AND n.last_error IS NOT NULL
              AND n.id = (SELECT m.id FROM notifications m WHERE m.channel = n.channel AND m.delivered_at IS NULL
                          AND m.last_error IS NOT NULL ORDER BY m.last_attempt_at DESC, m.id DESC LIMIT 1)
            """) {
            byName[c[0] ?? ""]?.lastError = c[1]
            byName[c[0] ?? ""]?.lastErrorAt = Self.date(c[2])
        }
        let order = channels + byName.keys.filter { !channels.contains($0) }.sorted()
        return order.compactMap { byName[$0] }
    }

    func deliveredCount(channel: String, recipient: String, since: Date) throws -> Int {
        Int(Self.int(try rows("SELECT count(*) FROM notifications WHERE channel = $1 AND recipient = $2 AND delivered_at >= $3",
                              [channel, recipient, String(Store.millis(since))]).first?[0]) ?? 0)
    }

    func enqueue(_ n: OutboxItem) throws -> Bool { try enqueue(all: [n]) == 1 }

    /// One INSERT for all of them (one round trip), in chunks that keep under the statement's parameter limit.
    func enqueue(all items: [OutboxItem]) throws -> Int {
        requireTransaction()
        var added = 0
        var start = 0
        while start < items.count {
            let end = min(start + 1000, items.count)
            var a = PGArgs()
            let tuples = items[start..<end].map { n in
                "(" + [a.add(n.requestId.map { String($0) }), a.add(n.kind), a.add(n.dedup), a.add(n.channel), a.add(n.recipient),
                       a.add(n.payload), a.add(n.createdAt), "0", a.add(n.nextAttemptAt)].joined(separator: ",") + ")"
            }
            added += try rows("""
                INSERT INTO notifications(request_id, kind, dedup, channel, recipient, payload, created_at, attempts, next_attempt_at)
                VALUES \(tuples.joined(separator: ",")) ON CONFLICT DO NOTHING RETURNING id
                """, a.values).count
            start = end
        }
        return added
    }

    func markDelivered(_ id: Int64, at time: Date) throws {
        requireTransaction()
        queue("UPDATE notifications SET delivered_at = $1, last_attempt_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
                 [String(Store.millis(time)), String(id)])
    }

    func recordNotificationFailure(_ id: Int64, error: String, at time: Date, retryAt: Date) throws {
        requireTransaction()
        queue("UPDATE notifications SET attempts = attempts + 1, last_error = $1, last_attempt_at = $2, next_attempt_at = $3 WHERE id = $4",
                 [error, String(Store.millis(time)), String(Store.millis(retryAt)), String(id)])
    }

    func postpone(_ id: Int64, until time: Date) throws {
        requireTransaction()
        queue("UPDATE notifications SET next_attempt_at = $1 WHERE id = $2", [String(Store.millis(time)), String(id)])
    }
}
