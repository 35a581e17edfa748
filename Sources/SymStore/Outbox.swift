import Foundation
import SymModel

/// One queued notification for one channel (and one recipient, for channels that deliver to each person).
public struct OutboxItem: Sendable, Equatable {
    public var id: Int64
    public var requestId: Int64?
    public var kind: String
    /// Tells apart repeats of one kind for one request ('' for kinds that happen once).
    public var dedup: String
    public var channel: String
    /// '' when the channel gets one copy for all recipients.
    public var recipient: String
    /// The notification JSON (what a `command` or `json` channel receives).
    public var payload: String
    public var createdAt: Date
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastError: String?
    public var deliveredAt: Date?

    public init(id: Int64 = 0, requestId: Int64?, kind: String, dedup: String = "", channel: String, recipient: String, payload: String,
                createdAt: Date, attempts: Int = 0, nextAttemptAt: Date? = nil, lastError: String? = nil, deliveredAt: Date? = nil) {
        self.id = id; self.requestId = requestId; self.kind = kind; self.dedup = dedup; self.channel = channel; self.recipient = recipient
        self.payload = payload; self.createdAt = createdAt; self.attempts = attempts; self.nextAttemptAt = nextAttemptAt ?? createdAt
        self.lastError = lastError; self.deliveredAt = deliveredAt
    }
}

/// Where one channel's deliveries stand, for `audit status` and the console.
public struct ChannelBacklog: Sendable, Equatable {
    public var channel: String
    /// Notifications not yet delivered.
    public var backlog: Int64
    /// The most recent failure of a notification still waiting (nil when the channel is keeping up).
    public var lastError: String?
    public var lastErrorAt: Date?
    /// Age of the oldest waiting notification, in seconds.
    public var oldestSeconds: Double?
    public var delivered: Int64

    public init(channel: String, backlog: Int64 = 0, lastError: String? = nil, lastErrorAt: Date? = nil,
                oldestSeconds: Double? = nil, delivered: Int64 = 0) {
        self.channel = channel; self.backlog = backlog; self.lastError = lastError; self.lastErrorAt = lastErrorAt
        self.oldestSeconds = oldestSeconds; self.delivered = delivered
    }

    public var isFailing: Bool { backlog > 0 && lastError != nil }

    public var json: JSONValue {
        .obj([("channel", .string(channel)), ("backlog", .int(backlog)), ("delivered", .int(delivered)),
              ("oldest_seconds", oldestSeconds.map { .double(($0 * 1000).rounded() / 1000) } ?? .null),
              ("last_error", .str(lastError)), ("last_error_at", lastErrorAt.map { .string(Timestamp.format($0)) } ?? .null)])
    }

    public init?(json j: JSONValue) {
        guard let c = j["channel"]?.stringValue else { return nil }
        let oldest: Double? = { if case let .double(d)? = j["oldest_seconds"] { return d }; return j["oldest_seconds"]?.intValue.map(Double.init) }()
        self.init(channel: c, backlog: j["backlog"]?.intValue ?? 0, lastError: j["last_error"]?.stringValue,
                  lastErrorAt: j["last_error_at"]?.stringValue.flatMap(Timestamp.parse), oldestSeconds: oldest,
                  delivered: j["delivered"]?.intValue ?? 0)
    }
}

extension Store {
    static let outboxColumns = "id, request_id, kind, channel, recipient, payload, created_at, attempts, next_attempt_at, last_error, delivered_at, dedup"

    static func decodeOutbox(_ s: Statement) -> OutboxItem {
        OutboxItem(id: s.int(0), requestId: s.optInt(1), kind: s.text(2), dedup: s.text(11), channel: s.text(3), recipient: s.text(4),
                   payload: s.text(5), createdAt: Store.date(s.int(6)), attempts: Int(s.int(7)), nextAttemptAt: Store.date(s.int(8)),
                   lastError: s.optText(9), deliveredAt: Store.date(s.optInt(10)))
    }

    /// Whether a notification of this kind (and repeat) was ever queued for the request, on any channel.
    public func hasNotification(requestId: Int64, kind: String, dedup: String) throws -> Bool {
        try db.scalarInt("SELECT 1 FROM notifications WHERE request_id = ? AND kind = ? AND dedup = ? LIMIT 1",
                         [.int(requestId), .text(kind), .text(dedup)]) != nil
    }

    /// Undelivered notifications of `channel` due at `now`, oldest first.
    public func dueNotifications(channel: String, now: Date, limit: Int) throws -> [OutboxItem] {
        var out: [OutboxItem] = []
        try db.query("""
            SELECT \(Store.outboxColumns) FROM notifications INDEXED BY notifications_due
            WHERE channel = ? AND delivered_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
            """, [.text(channel), .int(Store.millis(now)), .int(Int64(limit))]) { out.append(Store.decodeOutbox($0)) }
        return out
    }

    /// When `channel` next has something due (nil when nothing waits).
    public func nextNotificationDue(channel: String) throws -> Date? {
        try db.scalarInt("SELECT min(next_attempt_at) FROM notifications INDEXED BY notifications_due WHERE channel = ? AND delivered_at IS NULL",
                         [.text(channel)]).map(Store.date)
    }

    /// Every notification of a request (or all, newest last), for tests and `show`.
    public func notifications(requestId: Int64?) throws -> [OutboxItem] {
        var out: [OutboxItem] = []
        let (filter, values): (String, [SQLValue]) = requestId.map { ("WHERE request_id = ?", [.int($0)]) } ?? ("", [])
        try db.query("SELECT \(Store.outboxColumns) FROM notifications \(filter) ORDER BY id", values) { out.append(Store.decodeOutbox($0)) }
        return out
    }

    /// Backlog and last error per channel; `channels` are listed even when nothing was ever queued for them.
    public func channelBacklogs(channels: [String], now: Date) throws -> [ChannelBacklog] {
        var byName: [String: ChannelBacklog] = [:]
        for c in channels { byName[c] = ChannelBacklog(channel: c) }
        try db.query("""
            SELECT channel, sum(delivered_at IS NULL), sum(delivered_at IS NOT NULL), min(CASE WHEN delivered_at IS NULL THEN created_at END)
            FROM notifications GROUP BY channel
            """) { s in
            var b = byName[s.text(0)] ?? ChannelBacklog(channel: s.text(0))
            b.backlog = s.int(1); b.delivered = s.int(2)
            b.oldestSeconds = s.optInt(3).map { max(0, now.timeIntervalSince(Store.date($0))) }
            byName[b.channel] = b
        }
        try db.query("""
            SELECT n.channel, n.last_error, n.last_attempt_at FROM notifications n
            WHERE n.delivered_at IS NULL AND n.last_error IS NOT NULL
              AND n.id = (SELECT m.id FROM notifications m WHERE m.channel = n.channel AND m.delivered_at IS NULL
                          AND m.last_error IS NOT NULL ORDER BY m.last_attempt_at DESC, m.id DESC LIMIT 1)
            """) { s in
            byName[s.text(0)]?.lastError = s.optText(1)
            byName[s.text(0)]?.lastErrorAt = Store.date(s.optInt(2))
        }
        let order = channels + byName.keys.filter { !channels.contains($0) }.sorted()
        return order.compactMap { byName[$0] }
    }

    /// Deliveries made to `recipient` on `channel` since `since` (for the per-recipient rate limit).
    public func deliveredCount(channel: String, recipient: String, since: Date) throws -> Int {
        Int(try db.scalarInt("SELECT count(*) FROM notifications WHERE channel = ? AND recipient = ? AND delivered_at >= ?",
                             [.text(channel), .text(recipient), .int(Store.millis(since))]) ?? 0)
    }
}

extension StoreTransaction {
    /// Queues a notification; false when the same request, kind, channel and recipient was already queued (de-duplicated).
    @discardableResult
    public func enqueue(_ n: OutboxItem) throws -> Bool {
        try begin()
        try db.run("""
            INSERT OR IGNORE INTO notifications(request_id, kind, dedup, channel, recipient, payload, created_at, attempts, next_attempt_at)
            VALUES(?,?,?,?,?,?,?,0,?)
            """, [n.requestId.map(SQLValue.int) ?? .null, .text(n.kind), .text(n.dedup), .text(n.channel), .text(n.recipient), .text(n.payload),
                  .int(Store.millis(n.createdAt)), .int(Store.millis(n.nextAttemptAt))])
        return db.changes == 1
    }

    /// Marks a notification delivered.
    public func markDelivered(_ id: Int64, at time: Date) throws {
        try begin()
        try db.run("UPDATE notifications SET delivered_at = ?, last_attempt_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                   [.int(Store.millis(time)), .int(Store.millis(time)), .int(id)])
    }

    /// Records a failed attempt and when to try again.
    public func recordNotificationFailure(_ id: Int64, error: String, at time: Date, retryAt: Date) throws {
        try begin()
        try db.run("UPDATE notifications SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?, next_attempt_at = ? WHERE id = ?",
                   [.text(error), .int(Store.millis(time)), .int(Store.millis(retryAt)), .int(id)])
    }

    /// Puts a notification off without counting an attempt (the recipient's rate limit).
    public func postpone(_ id: Int64, until time: Date) throws {
        try begin()
        try db.run("UPDATE notifications SET next_attempt_at = ? WHERE id = ?", [.int(Store.millis(time)), .int(id)])
    }
}

extension StoreTransaction {
    /// Replaces a pending request's routing (an escalation tier joined it), with the `approver_keys` the review
    /// queue searches.
    public func updateRouting(_ id: Int64, _ routing: Routing) throws {
        try begin()
        touched = true
        changedRequests.insert(id)
        try db.run("UPDATE requests SET routing = ?, approver_keys = ? WHERE id = ? AND state = 'pending'",
                   [.text(routing.json.compact), .text(Store.approverKeys(routing)), .int(id)])
    }
}
