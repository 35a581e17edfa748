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

/// Active grants of one flow whose `ending` warning is due now and was not queued yet (`activeEndingUnwarned`).
public struct EndingQuery: Sendable, Equatable {
    public var flow: String
    /// The flow's `expiry_warning`, in seconds: grants that end within it, and last longer than it.
    public var warning: Int
    public var now: Date
    /// Keyset cursor: grants with a greater id only (pages in id order).
    public var afterID: Int64 = 0
    public var limit = 1000

    public init(flow: String, warning: Int, now: Date, afterID: Int64 = 0, limit: Int = 1000) {
        self.flow = flow; self.warning = warning; self.now = now; self.afterID = afterID; self.limit = limit
    }

    /// The values the SQL condition uses, in ms: now (rounded down) and the warning.
    var millis: (now: Int64, warning: Int64) { (PendingAgeQuery.floorMillis(now), Int64(warning) * 1000) }

    /// The notice kind and the dedup key of a grant's warning (its expiry in ms, as `Notices.due` makes it): the
    /// warning queued for one expiry is not queued again, and an extension's new expiry gets its own.
    static let kind = NoticeKind.ending.rawValue
}

extension Store {
    /// Active grants of `q.flow` that end within the warning, after `now`, last longer than the warning, and have
    /// no `ending` notice for their current expiry, in id order after `q.afterID`: what was warned drops out, so
    /// pages never fill with grants already told (every grant in the window gets its turn).
    public func activeEndingUnwarned(_ q: EndingQuery) throws -> [AccessRequest] {
        let m = q.millis
        return try select("""
            WHERE state = 'active' AND flow = ? AND id > ? AND target IS NOT NULL AND access_expires_at > ? AND access_expires_at <= ?
              AND access_expires_at - access_starts_at > ?
              AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.request_id = requests.id AND n.kind = ?
                              AND n.dedup = CAST(requests.access_expires_at AS TEXT))
            ORDER BY id LIMIT ?
            """, [.text(q.flow), .int(q.afterID), .int(m.now), .int(m.now + m.warning), .int(m.warning), .text(EndingQuery.kind),
                  .int(Int64(q.limit))])
    }

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
