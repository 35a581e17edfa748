import Foundation
import SymModel

// What the grant loop asks: the due work, read through partial indexes so that an idle store costs nothing.

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
    public func approvedAwaitingEscalation(now: Date, limit: Int) throws -> [AccessRequest] {
        // The partial index holds only grants to escalate; approved approval-only requests (final) never pile up in this scan.
        // A scheduled window (access_starts_at set before the escalation) waits for its start.
        try select("""
            INDEXED BY requests_to_escalate WHERE state = 'approved' AND target IS NOT NULL AND extends IS NULL
              AND (access_starts_at IS NULL OR access_starts_at <= ?) ORDER BY id LIMIT ?
            """, [.int(Store.millis(now)), .int(Int64(limit))])
    }

    /// Escalations and deescalations due to run (new, resumed after a crash, or due for a retry): new ones first (no
    /// `next_attempt_at`: NULL sorts first), then by due time — the order of `requests_retry`, so SQLite reads only
    /// the first `limit` rows of the index and sorts nothing. With `host`, only those that host's daemon may run
    /// (`runs_on` NULL or that host): a daemon never takes up another bastion's work.
    public func strategyWorkDue(now: Date, limit: Int, host: String?) throws -> [AccessRequest] {
        let (mine, values) = Store.runsOnFilter(host)
        return try select("""
            INDEXED BY requests_retry WHERE state IN ('escalating', 'deescalating') AND (next_attempt_at IS NULL OR next_attempt_at <= ?)\(mine)
            ORDER BY next_attempt_at, id LIMIT ?
            """, [.int(Store.millis(now))] + values + [.int(Int64(limit))])
    }

    /// The earliest future moment something becomes due, if any; with `host`, of the strategy steps only those that
    /// host runs (another bastion's retry, overdue while it is down, must not keep this daemon awake).
    public func nextDueTime(host: String?) throws -> Date? {
        let (mine, values) = Store.runsOnFilter(host)
        let ms = try db.scalarInt("""
            SELECT min(t) FROM (
              SELECT min(request_expires_at) AS t FROM requests INDEXED BY requests_ttl WHERE state = 'pending'
              UNION ALL SELECT min(access_expires_at) FROM requests INDEXED BY requests_expiry WHERE state = 'active'
              UNION ALL SELECT min(access_starts_at) FROM requests INDEXED BY requests_to_escalate
                WHERE state = 'approved' AND target IS NOT NULL AND extends IS NULL
              UNION ALL SELECT * FROM (SELECT next_attempt_at FROM requests INDEXED BY requests_retry
                WHERE state IN ('escalating', 'deescalating') AND next_attempt_at IS NOT NULL\(mine) ORDER BY next_attempt_at LIMIT 1))
            """, values)
        return ms.map(Store.date)
    }

    /// ` AND (runs_on IS NULL OR runs_on = ?)` for one host's work, nothing for everyone's.
    static func runsOnFilter(_ host: String?) -> (String, [SQLValue]) {
        guard let host else { return ("", []) }
        return (" AND (runs_on IS NULL OR runs_on = ?)", [.text(host)])
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
        try db.query("SELECT \(Store.requestColumns) FROM requests \(tail)", values, layout: RequestColumns.self) {
            out.append(try Store.decodeRequest($0, $1))
        }
        try attachApprovals(&out)
        return out
    }
}
