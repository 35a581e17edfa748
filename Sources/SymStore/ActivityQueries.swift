import Foundation
import SymModel

extension Store {
    /// The figures of `symtui report` and the console's Stats view for requests created in `since ... until`.
    ///
    /// Bounded by the window, not by the store: requests are numbered in creation order (one writer stamps
    /// `created_at` as it inserts), so the window is an id range found by a binary search over the primary key,
    /// and every query below reads that range only (a clock stepped back can move its first row by the step).
    /// Grants active in the window come from the `requests_grant_span` index (migration 9), which holds only rows
    /// that became grants, by end time: a grant that began before the window still counts on the days it was active.
    public func activityReport(since: Date, until: Date) throws -> ActivityReport {
        var firstId: Int64?
        func first(_ s: Int64) throws -> Int64 {
            if let firstId { return firstId }
            let id = try firstRequestId(createdAtOrAfter: s)
            firstId = id
            return id
        }
        return try ActivityReport.build(since: since, until: until, rows: { s, u, day0, emit in
            let first = try first(s)
            // One pass over the window's rows: counts by flow, state and day, and each approval's time.
            try db.query("""
                SELECT flow, state, decided_at IS NOT NULL AND denial IS NULL, (created_at - ?) / 86400000, decided_at - created_at
                FROM requests WHERE id >= ? AND created_at >= ? AND created_at <= ?
                """, [.int(day0), .int(first), .int(s), .int(u)]) { row in
                emit(row.text(0), RequestState(rawValue: row.text(1)), row.int(2) != 0, row.int(3), row.optInt(4) ?? 0)
            }
        }, breakGlass: { s, u, emit in
            // Break-glass: requests approved by their own requester; the approvals of the window, by request id.
            let first = try first(s)
            try db.query("""
                SELECT r.flow, count(DISTINCT a.request_id) FROM approvals a JOIN requests r ON r.id = a.request_id
                WHERE a.request_id >= ? AND a.self != 0 AND r.created_at >= ? AND r.created_at <= ? GROUP BY r.flow
                """, [.int(first), .int(s), .int(u)]) { row in emit(row.text(0), row.int(1)) }
        }, grants: { s, u, live, ended in
            // Two index ranges (live grants; grants that ended in or after the window) rather than one OR, which scans.
            let grants = "requests INDEXED BY requests_grant_span WHERE access_starts_at IS NOT NULL AND access_starts_at <= ?"
            try db.query("SELECT access_starts_at FROM \(grants) AND ended_at IS NULL", [.int(u)]) { live($0.int(0)) }
            try db.query("SELECT access_starts_at, ended_at FROM \(grants) AND ended_at >= ? ORDER BY ended_at", [.int(u), .int(s)]) { row in
                ended(row.int(0), row.int(1))
            }
        })
    }

    /// The smallest request id created at or after `millis` (one past the last id when none is), by binary search
    /// over the primary key: ids grow with `created_at`.
    public func firstRequestId(createdAtOrAfter millis: Int64) throws -> Int64 {
        guard let last = try db.scalarInt("SELECT max(id) FROM requests") else { return 1 }
        var lo = try db.scalarInt("SELECT min(id) FROM requests") ?? 1, hi = last + 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            var created: Int64?
            var id: Int64 = hi
            try db.query("SELECT id, created_at FROM requests WHERE id >= ? ORDER BY id LIMIT 1", [.int(mid)]) { row in
                id = row.int(0); created = row.int(1)
            }
            guard let c = created else { hi = mid; continue }
            if c >= millis { hi = mid } else { lo = id + 1 }
        }
        return lo
    }
}
