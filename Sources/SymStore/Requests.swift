import Foundation
import SymModel

// Requests and their approvals: reading, decoding by column name, inserting and updating.

extension Store {
    /// The columns a request is decoded from (`RequestColumns` finds them by name, in any order).
    static let requestColumns = """
        id, flow, target, target_label, requester, state, end_reason, fields, duration_seconds, created_at,
        request_expires_at, decided_at, access_starts_at, access_expires_at, ended_at, denial, required_approvals,
        stuck, error, extends, attempts, next_attempt_at, step_output, routing, host, runs_on
        """

    /// One request by id, through SQL written once (every decision reads its request: the general query built its
    /// text, and its `IN (…)`, per call).
    public func request(id: Int64) throws -> AccessRequest? {
        var found: [AccessRequest] = []
        try db.query(Store.requestByIDSQL, [.int(id)], layout: RequestColumns.self) { found.append(try Store.decodeRequest($0, $1)) }
        try attachApprovals(&found)
        return found.first
    }

    static let requestByIDSQL = "SELECT \(requestColumns) FROM requests WHERE id = ?"
    static let approvalColumns = "SELECT request_id, user, at, reason, self, step FROM approvals"
    static let approvalsOfOneSQL = approvalColumns + " WHERE request_id = ? ORDER BY at, user"

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
        try db.query(sql, values + [.int(Int64(q.limit)), .int(Int64(q.offset))], layout: RequestColumns.self) {
            out.append(try Store.decodeRequest($0, $1))
        }
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
        let sql = requests.count == 1 ? Store.approvalsOfOneSQL
            : Store.approvalColumns + " WHERE request_id IN (\(requests.map { _ in "?" }.joined(separator: ","))) ORDER BY at, user"
        try db.query(sql, requests.map { .int($0.id) }, layout: ApprovalColumns.self) { s, c in
            guard let i = index[s.int(c.requestId)] else { return }
            requests[i].approvals.append(Approval(user: s.text(c.user), at: Store.date(s.int(c.at)), reason: s.optText(c.reason),
                                                  isSelf: s.int(c.isSelf) != 0, step: s.optText(c.step)))
        }
    }

    static func decodeRequest(_ s: Statement, _ c: RequestColumns) throws -> AccessRequest {
        guard let state = RequestState(rawValue: s.text(c.state)) else {
            throw StoreError("request \(s.int(c.id)) has unknown state \(s.text(c.state))")
        }
        var r = AccessRequest(id: s.int(c.id), flow: s.text(c.flow), target: s.optText(c.target), targetLabel: s.optText(c.targetLabel),
                              requester: s.text(c.requester), state: state, fields: decodeFields(s.text(c.fields)),
                              durationSeconds: s.optInt(c.durationSeconds).map(Int.init),
                              createdAt: date(s.int(c.createdAt)), requestExpiresAt: date(s.int(c.requestExpiresAt)),
                              requiredApprovals: Int(s.int(c.requiredApprovals)), extends: s.optInt(c.extends))
        r.endReason = s.optText(c.endReason).flatMap(EndReason.init(rawValue:))
        r.decidedAt = date(s.optInt(c.decidedAt))
        r.accessStartsAt = date(s.optInt(c.accessStartsAt))
        r.accessExpiresAt = date(s.optInt(c.accessExpiresAt))
        r.endedAt = date(s.optInt(c.endedAt))
        if let d = s.optText(c.denial), let j = try? JSONValue.parse(d) {
            r.denial = Denial(user: j["user"]?.stringValue ?? "", at: date(j["at"]?.intValue ?? 0), reason: j["reason"]?.stringValue ?? "")
        }
        r.stuck = s.int(c.stuck) != 0
        r.error = s.optText(c.error)
        r.attempts = Int(s.int(c.attempts))
        r.nextAttemptAt = date(s.optInt(c.nextAttemptAt))
        r.stepOutput = s.optText(c.stepOutput)
        r.routing = s.optText(c.routing).flatMap { try? JSONValue.parse($0) }.flatMap(Routing.init(json:))
        r.host = s.optText(c.host)
        r.runsOn = s.optText(c.runsOn)
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
}

/// Where a request's columns are in a statement's result, found by name.
struct RequestColumns: RowLayout {
    let id, flow, target, targetLabel, requester, state, endReason, fields, durationSeconds, createdAt, requestExpiresAt: Int32
    let decidedAt, accessStartsAt, accessExpiresAt, endedAt, denial, requiredApprovals, stuck, error, extends, attempts: Int32
    let nextAttemptAt, stepOutput, routing, host, runsOn: Int32

    init(_ c: ColumnMap) throws {
        id = try c("id"); flow = try c("flow"); target = try c("target"); targetLabel = try c("target_label")
        requester = try c("requester"); state = try c("state"); endReason = try c("end_reason"); fields = try c("fields")
        durationSeconds = try c("duration_seconds"); createdAt = try c("created_at"); requestExpiresAt = try c("request_expires_at")
        decidedAt = try c("decided_at"); accessStartsAt = try c("access_starts_at"); accessExpiresAt = try c("access_expires_at")
        endedAt = try c("ended_at"); denial = try c("denial"); requiredApprovals = try c("required_approvals"); stuck = try c("stuck")
        error = try c("error"); extends = try c("extends"); attempts = try c("attempts"); nextAttemptAt = try c("next_attempt_at")
        stepOutput = try c("step_output"); routing = try c("routing"); host = try c("host"); runsOn = try c("runs_on")
    }
}

/// Where an approval's columns are, found by name.
struct ApprovalColumns: RowLayout {
    let requestId, user, at, reason, isSelf, step: Int32
    init(_ c: ColumnMap) throws {
        requestId = try c("request_id"); user = try c("user"); at = try c("at"); reason = try c("reason"); isSelf = try c("self")
        step = try c("step")
    }
}

extension StoreTransaction {
    /// Inserts a new request (its id is assigned) and returns it.
    public func insert(_ request: AccessRequest) throws -> AccessRequest {
        try begin()
        touched = true
        var r = request
        try db.run("""
            INSERT INTO requests(flow, target, target_label, requester, state, end_reason, fields, duration_seconds, created_at,
              request_expires_at, decided_at, access_starts_at, access_expires_at, ended_at, denial, required_approvals, stuck,
              error, extends, attempts, next_attempt_at, step_output, routing, approver_keys, host, runs_on)
            VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """, columns(r) + [t(r.routing?.json.compact), t(r.routing.map(Store.approverKeys)), t(r.host), t(r.runsOn)])
        r.id = db.lastInsertRowID
        changedRequests.insert(r.id)
        try writeApprovals(r)
        return r
    }

    /// Writes a request's new state; `expectedState` makes it a compare-and-set (returns false when it lost).
    ///
    /// Only the columns whose value differs from the stored row are written: SQLite rewrites every index that names
    /// a column of the SET list, changed or not, and each such index dirties a page that goes to the WAL and its
    /// fsync (setting every column cost a WAL frame per command more, and a sixth of the store's time in an expiry
    /// burst).
    @discardableResult
    public func update(_ request: AccessRequest, expectedState: RequestState? = nil) throws -> Bool {
        try begin()
        touched = true
        let r = request
        let new = columns(r)
        var old: [SQLValue]?
        try db.query(StoreTransaction.selectUpdated, [.int(r.id)]) { s in
            old = (0..<Int32(new.count)).map { s.value($0) }
        }
        guard let old else { return false }
        if let expectedState, old[StoreTransaction.stateColumn] != .text(expectedState.rawValue) { return false }
        let changed = new.indices.filter { old[$0] != new[$0] }
        // The row was read in this write transaction: nothing can change it before the UPDATE.
        if !changed.isEmpty {
            let set = changed.map { StoreTransaction.updatedColumns[$0] + "=?" }.joined(separator: ", ")
            try db.run("UPDATE requests SET \(set) WHERE id=?", changed.map { new[$0] } + [.int(r.id)])
        }
        changedRequests.insert(r.id)
        try writeApprovals(r)
        return true
    }

    /// The columns `columns(_:)` gives values for, in its order.
    static let updatedColumns = ["flow", "target", "target_label", "requester", "state", "end_reason", "fields", "duration_seconds",
                                 "created_at", "request_expires_at", "decided_at", "access_starts_at", "access_expires_at", "ended_at",
                                 "denial", "required_approvals", "stuck", "error", "extends", "attempts", "next_attempt_at", "step_output"]
    static let stateColumn = 4
    static let selectUpdated = "SELECT \(updatedColumns.joined(separator: ", ")) FROM requests WHERE id=?"

    private func writeApprovals(_ r: AccessRequest) throws {
        for a in r.approvals {
            try db.run("INSERT OR IGNORE INTO approvals(request_id, user, at, reason, self, step) VALUES(?,?,?,?,?,?)",
                       [.int(r.id), .text(a.user), .int(Store.millis(a.at)), a.reason.map(SQLValue.text) ?? .null,
                        .int(a.isSelf ? 1 : 0), a.step.map(SQLValue.text) ?? .null])
        }
    }

    private func t(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }

    /// Every column `update` may write, in `updatedColumns` order. A request's routing (and its `approver_keys`),
    /// `host` and `runs_on` are fixed when it is made, so only `insert` writes those: a decision does not re-encode them.
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

}
