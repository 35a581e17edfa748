import Foundation
import SymModel

/// When a pending request reaches an age that makes a notice due: the sweep's question, asked as a window of time so
/// that each sweep reads only the requests that crossed a threshold since the last one (docs/store.md, "Due notices").
public struct PendingAgeQuery: Sendable, Equatable {
    public var flow: String
    /// The first threshold, in seconds after the request was made (a tier's `after`, a reminder's period).
    public var age: Int
    /// Thresholds repeat every `every` seconds after `age` (reminders); nil: `age` alone (escalation tiers).
    public var every: Int?
    /// The previous sweep's time: only requests that crossed a threshold after it; nil: every request past `age`.
    public var since: Date?
    /// This sweep's time: thresholds at or before it.
    public var now: Date
    /// Keyset cursor: requests with a greater id only (pages in id order).
    public var afterID: Int64 = 0
    public var limit = 1000

    public init(flow: String, age: Int, every: Int? = nil, since: Date?, now: Date, afterID: Int64 = 0, limit: Int = 1000) {
        self.flow = flow; self.age = age; self.every = every; self.since = since; self.now = now
        self.afterID = afterID; self.limit = limit
    }

    /// Milliseconds rounded down: a request the query returns has `now − createdAt ≥ age` in Swift's arithmetic too.
    static func floorMillis(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// The values the SQL condition uses: now, since (nil), age and period in ms.
    var millis: (now: Int64, since: Int64?, age: Int64, every: Int64?) {
        (Self.floorMillis(now), since.map(Self.floorMillis), Int64(age) * 1000, every.map { Int64(max(1, $0)) * 1000 })
    }
}

extension Store {
    /// Pending requests of `q.flow` not past their TTL that crossed one of `q`'s thresholds in (`since`, `now`], in id
    /// order after `q.afterID`. Integer division counts the thresholds passed at each end of the window.
    public func pendingReachingAge(_ q: PendingAgeQuery) throws -> [AccessRequest] {
        let m = q.millis
        var sql = "WHERE state = 'pending' AND flow = ? AND id > ? AND request_expires_at > ? AND created_at <= ?"
        var values: [SQLValue] = [.text(q.flow), .int(q.afterID), .int(m.now), .int(m.now - m.age)]
        if let since = m.since {
            if let every = m.every {
                sql += " AND (created_at > ? OR (? - created_at - ?) / ? > (? - created_at - ?) / ?)"
                values += [.int(since - m.age), .int(m.now), .int(m.age), .int(every), .int(since), .int(m.age), .int(every)]
            } else {
                sql += " AND created_at > ?"
                values.append(.int(since - m.age))
            }
        }
        sql += " ORDER BY id LIMIT ?"
        values.append(.int(Int64(q.limit)))
        return try select(sql, values)
    }

    /// How many requests of `requester` are pending: the partial index holds only pending rows (migration 11).
    public func pendingCount(requester: String) throws -> Int {
        Int(try db.scalarInt("SELECT count(*) FROM requests INDEXED BY requests_pending_requester WHERE state = 'pending' AND requester = ?",
                             [.text(requester)]) ?? 0)
    }
}
