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
    /// the first `limit` rows of the index and sorts nothing.
    public func strategyWorkDue(now: Date, limit: Int) throws -> [AccessRequest] {
        try select("""
            INDEXED BY requests_retry WHERE state IN ('escalating', 'deescalating') AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
            ORDER BY next_attempt_at, id LIMIT ?
            """, [.int(Store.millis(now)), .int(Int64(limit))])
    }

    /// The earliest future moment something becomes due, if any.
    public func nextDueTime() throws -> Date? {
        let ms = try db.scalarInt("""
            SELECT min(t) FROM (
              SELECT min(request_expires_at) AS t FROM requests INDEXED BY requests_ttl WHERE state = 'pending'
              UNION ALL SELECT min(access_expires_at) FROM requests INDEXED BY requests_expiry WHERE state = 'active'
              UNION ALL SELECT min(access_starts_at) FROM requests INDEXED BY requests_to_escalate
                WHERE state = 'approved' AND target IS NOT NULL AND extends IS NULL
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
        try db.query("SELECT \(Store.requestColumns) FROM requests \(tail)", values, layout: RequestColumns.self) {
            out.append(try Store.decodeRequest($0, $1))
        }
        try attachApprovals(&out)
        return out
    }
}
