import Foundation
import SymModel

// The daemon's read API on PostgreSQL (`StoreQueries`): the same answers as the SQLite store's, from the same rows.
// Shaping (sort, regex, invert) is done in Swift over light rows, as on SQLite, within the same bounds.

extension PostgresSession {
    // MARK: shaped lists

    func shapedRequests(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int) {
        var scan = q
        scan.offset = 0
        scan.limit = ListShape.scanLimit
        scan.shape = ListShape()
        scan.newestFirst = true
        var a = PGArgs()
        let whereSQL = filter(scan, &a)
        let light = try lightRows(whereSQL: whereSQL, args: a, limit: ListShape.scanLimit, withFields: q.shape.regex != nil)
        return try ShapedLists.whole(q.shape, light, store: self, offset: q.offset, limit: q.limit)
    }

    func shapedReview(_ ids: [Int64], shape: ListShape, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int) {
        let window = Array(ids.prefix(ListShape.scanLimit))
        var light: [(AccessRequest, String)] = []
        for start in stride(from: 0, to: window.count, by: 500) {
            var a = PGArgs()
            let inList = " WHERE id IN (" + window[start..<min(window.count, start + 500)].map { a.add($0) }.joined(separator: ",") + ")"
            light += try lightRows(whereSQL: inList, args: a, limit: 500, withFields: shape.regex != nil)
        }
        light.sort { $0.0.id > $1.0.id }
        return try ShapedLists.whole(shape, light, store: self, offset: offset, limit: limit)
    }

    /// Requests with only what sorting and matching look at, newest first, with their field values (when asked) as
    /// `FieldValue.description` writes them, one per line in key order (what the SQLite store computes in SQL).
    private func lightRows(whereSQL: String, args: PGArgs, limit: Int, withFields: Bool) throws -> [(AccessRequest, String)] {
        var a = args
        let sql = "SELECT id, flow, target, target_label, requester, state, created_at, request_expires_at, access_expires_at"
            + (withFields ? ", fields" : "") + " FROM requests\(whereSQL) ORDER BY id DESC LIMIT \(a.add(Int64(limit)))"
        return try rows(sql, a.values).map { c in
            var r = AccessRequest(id: Self.int(c[0]) ?? 0, flow: c[1] ?? "", target: c[2], targetLabel: c[3], requester: c[4] ?? "",
                                  state: RequestState(rawValue: c[5] ?? "") ?? .pending, durationSeconds: nil,
                                  createdAt: Self.date(c[6]) ?? Date(timeIntervalSince1970: 0),
                                  requestExpiresAt: Self.date(c[7]) ?? Date(timeIntervalSince1970: 0), requiredApprovals: 1, extends: nil)
            r.accessExpiresAt = Self.date(c[8])
            guard withFields else { return (r, "") }
            let fields = Store.decodeFields(c[9] ?? "{}")
            return (r, fields.keys.sorted().map { fields[$0]!.description }.joined(separator: "\n"))
        }
    }

    // MARK: the audit log

    func forEachEvent(_ filter: AuditFilter, afterSeq: Int64, limit: Int, _ body: (AuditEvent) throws -> Void) throws {
        try flushEvents()
        var a = PGArgs()
        var clauses = ["seq > \(a.add(afterSeq))"]
        if let since = filter.since { clauses.append("event_time >= \(a.add(since))") }
        if let until = filter.until { clauses.append("event_time < \(a.add(until))") }
        if let r = filter.requestId { clauses.append("request_id = \(a.add(r))") }
        let sql = "SELECT \(Self.eventColumns) FROM events WHERE \(clauses.joined(separator: " AND ")) ORDER BY seq LIMIT \(a.add(Int64(limit)))"
        for e in try selectEvents(sql, a.values) { try body(e) }
    }

    func lastEvents(_ count: Int) throws -> [AuditEvent] {
        try eventsNewestFirst(offset: 0, limit: count, search: nil).reversed()
    }

    // MARK: figures

    func metrics() throws -> StoreMetrics {
        try flushEvents()
        let bounds = StoreMetrics.latencyBounds
        var m = StoreMetrics(approvalLatency: .init(bounds: bounds, counts: Array(repeating: 0, count: bounds.count), count: 0, sumSeconds: 0))
        for s in RequestState.allCases { m.requestsByState[s] = 0 }
        for c in try rows("SELECT state, count(*) FROM requests GROUP BY state") {
            if let s = RequestState(rawValue: c[0] ?? "") { m.requestsByState[s] = Self.int(c[1]) ?? 0 }
        }
        m.grantsActive = m.requestsByState[.active] ?? 0
        func scalar(_ sql: String, _ values: [String?] = []) throws -> Int64 { Self.int(try rows(sql, values).first?[0]) ?? 0 }
        m.grantsStuck = try scalar("SELECT count(*) FROM requests WHERE state IN ('active', 'escalating', 'deescalating') AND stuck <> 0")
        m.handlerFailures = try scalar("SELECT count(*) FROM events WHERE type = 'handler' AND reason IS NOT NULL")
        // One pass: the approved requests' decision times, counted into cumulative buckets here.
        var lower = Int64.min
        let approved = "FROM requests WHERE decided_at IS NOT NULL AND denial IS NULL"
        var byBucket = [Int64](repeating: 0, count: bounds.count)
        let uppers = bounds.map { Int64($0 * 1000) }
        var cases: [String] = []
        var a = PGArgs()
        for (i, upper) in uppers.enumerated() {
            cases.append("WHEN decided_at - created_at > \(a.add(lower)) AND decided_at - created_at <= \(a.add(upper)) THEN \(i)")
            lower = upper
        }
        for c in try rows("SELECT CASE \(cases.joined(separator: " ")) END AS b, count(*) \(approved) GROUP BY b", a.values) {
            guard let b = Self.int(c[0]) else { continue }
            byBucket[Int(b)] = Self.int(c[1]) ?? 0
        }
        var running: Int64 = 0
        for i in bounds.indices {
            running += byBucket[i]
            m.approvalLatency.counts[i] = running
        }
        if let c = try rows("SELECT count(*), coalesce(sum(decided_at - created_at), 0) \(approved)").first {
            m.approvalLatency.count = Self.int(c[0]) ?? 0
            m.approvalLatency.sumSeconds = Double(Self.int(c[1]) ?? 0) / 1000
        }
        m.headSeq = try lastSeq()
        return m
    }

    /// The window is a `created_at` range (requests of several daemons are not numbered in creation order).
    func activityReport(since: Date, until: Date) throws -> ActivityReport {
        try ActivityReport.build(since: since, until: until, rows: { s, u, day0, emit in
            for c in try rows("""
                SELECT flow, state, decided_at IS NOT NULL AND denial IS NULL, (created_at - $1) / 86400000, decided_at - created_at
                FROM requests WHERE created_at >= $2 AND created_at <= $3
                """, [String(day0), String(s), String(u)]) {
                emit(c[0] ?? "", RequestState(rawValue: c[1] ?? ""), c[2] == "t", Self.int(c[3]) ?? -1, Self.int(c[4]) ?? 0)
            }
        }, breakGlass: { s, u, emit in
            for c in try rows("""
                SELECT r.flow, count(DISTINCT a.request_id) FROM approvals a JOIN requests r ON r.id = a.request_id
                WHERE a.is_self <> 0 AND r.created_at >= $1 AND r.created_at <= $2 GROUP BY r.flow
                """, [String(s), String(u)]) { emit(c[0] ?? "", Self.int(c[1]) ?? 0) }
        }, grants: { s, u, live, ended in
            let grants = "FROM requests WHERE access_starts_at IS NOT NULL AND access_starts_at <= $1"
            for c in try rows("SELECT access_starts_at \(grants) AND ended_at IS NULL", [String(u)]) { live(Self.int(c[0]) ?? 0) }
            for c in try rows("SELECT access_starts_at, ended_at \(grants) AND ended_at >= $2 ORDER BY ended_at", [String(u), String(s)]) {
                ended(Self.int(c[0]) ?? 0, Self.int(c[1]) ?? 0)
            }
        })
    }
}

extension PostgresReader: StoreQueries {
    func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                          eligibleFlows: [String], stepFlows: [String], only: [Int64]?) throws -> [ReviewCandidate] {
        try r { try $0.reviewCandidates(user: user, groups: groups, flows: flows, selfFlows: selfFlows,
                                        eligibleFlows: eligibleFlows, stepFlows: stepFlows, only: only) }
    }
    func shapedRequests(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int) { try r { try $0.shapedRequests(q) } }
    func shapedReview(_ ids: [Int64], shape: ListShape, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int) {
        try r { try $0.shapedReview(ids, shape: shape, offset: offset, limit: limit) }
    }
    func forEachEvent(_ filter: AuditFilter, afterSeq: Int64, limit: Int, _ body: (AuditEvent) throws -> Void) throws {
        let events = try r { s in
            var out: [AuditEvent] = []
            try s.forEachEvent(filter, afterSeq: afterSeq, limit: limit) { out.append($0) }
            return out
        }
        for e in events { try body(e) }
    }
    func lastEvents(_ count: Int) throws -> [AuditEvent] { try r { try $0.lastEvents(count) } }
    func metrics() throws -> StoreMetrics { try r { try $0.metrics() } }
    func activityReport(since: Date, until: Date) throws -> ActivityReport { try r { try $0.activityReport(since: since, until: until) } }
}

extension PostgresStore {
    /// A connection of its own answering the daemon's read API (one per reading thread, like `openReader`).
    public func openQueries() throws -> any StoreQueries {
        PostgresReader(try PostgresSession(conninfo: conninfo, hostName: hostName))
    }
}
