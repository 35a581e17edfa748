import Foundation
import SymModel

// What the engine, its loops and the daemon's readers need from a store, whatever keeps it. SQLite implements it
// today (`Store` for reads, `StoreTransaction` for one transaction's changes, `StoreWriter` for the daemon's
// serialised connection); a second backend (PostgreSQL) implements the same three roles.

/// The questions asked of a store: requests, the audit chain, the grant loop's due work, review queues, delivery cursors.
public protocol StoreReading {
    // requests
    func request(id: Int64) throws -> AccessRequest?
    func requests(ids: [Int64]) throws -> [AccessRequest]
    func requests(_ query: RequestQuery) throws -> [AccessRequest]
    func count(_ query: RequestQuery) throws -> Int

    // the audit chain
    func event(seq: Int64) throws -> AuditEvent?
    func events(requestId: Int64) throws -> [AuditEvent]
    /// Events with seq > `afterSeq`, oldest first.
    func events(afterSeq: Int64, limit: Int) throws -> [AuditEvent]
    /// A page of events, newest first, only those mentioning `search` when it is given.
    func eventsNewestFirst(offset: Int, limit: Int, search: String?) throws -> [AuditEvent]
    func countEvents(search: String?) throws -> Int
    func lastSeq() throws -> Int64
    func eventTime(seq: Int64) throws -> Date?

    // the grant loop's due work
    /// Pending requests past their TTL, oldest first.
    func pendingPastTTL(now: Date, limit: Int) throws -> [AccessRequest]
    /// Active grants whose time ran out.
    func activePastExpiry(now: Date, limit: Int) throws -> [AccessRequest]
    /// Approved access requests (not extensions) waiting to be escalated.
    func approvedAwaitingEscalation(now: Date, limit: Int) throws -> [AccessRequest]
    /// Escalations and deescalations due to run (new, resumed after a crash, or due for a retry); with `host`, only
    /// those that host's daemon runs (`runs_on` NULL or `host`), nil: all of them.
    func strategyWorkDue(now: Date, limit: Int, host: String?) throws -> [AccessRequest]
    /// The earliest moment something becomes due, if any (with `host`: of the strategy steps, only that host's).
    func nextDueTime(host: String?) throws -> Date?
    /// True when `requester` holds (or is being given) another grant of `target` through one of `flows`.
    func holdsOtherGrant(requester: String, flows: [String], target: String, excluding id: Int64) throws -> Bool
    /// Pending requests that crossed an age threshold within a window of time (reminders, escalation tiers).
    func pendingReachingAge(_ query: PendingAgeQuery) throws -> [AccessRequest]
    /// Active grants whose `ending` warning is due and not queued yet (`EndingQuery`).
    func activeEndingUnwarned(_ query: EndingQuery) throws -> [AccessRequest]
    /// How many requests of `requester` are pending (the `limits.pending_per_user` check, inside a request's write).
    func pendingCount(requester: String) throws -> Int

    // review queues
    /// Pending requests that may be in `user`'s review queue, newest first (see `Store.reviewCandidates`).
    func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                          eligibleFlows: [String], stepFlows: [String]) throws -> [ReviewCandidate]

    // reporting
    /// Where one reporting destination stands.
    func delivery(_ destination: String) throws -> DeliveryRecord

    // notifications (the outbox)
    /// Undelivered notifications of `channel` due at `now`, oldest first.
    func dueNotifications(channel: String, now: Date, limit: Int) throws -> [OutboxItem]
    /// When `channel` next has something due (nil when nothing waits).
    func nextNotificationDue(channel: String) throws -> Date?
    /// Every notification of a request (all when nil), in the order queued.
    func notifications(requestId: Int64?) throws -> [OutboxItem]
    /// Backlog and last error per channel.
    func channelBacklogs(channels: [String], now: Date) throws -> [ChannelBacklog]
    /// Deliveries made to `recipient` on `channel` since `since` (the per-recipient rate limit).
    func deliveredCount(channel: String, recipient: String, since: Date) throws -> Int
    /// Whether a notification of this kind (and repeat) was ever queued for the request.
    func hasNotification(requestId: Int64, kind: String, dedup: String) throws -> Bool

    // the fleet
    /// Every daemon's last heartbeat, by host name.
    func fleetHosts() throws -> [HostRecord]
    /// Strategy steps due at `now` (escalations, deescalations, retries), counted by the host they wait for (nil: any).
    func strategyWorkWaiting(now: Date) throws -> [HostWork]
}

extension StoreReading {
    /// Every escalation and deescalation due, whichever host runs it.
    public func strategyWorkDue(now: Date, limit: Int) throws -> [AccessRequest] { try strategyWorkDue(now: now, limit: limit, host: nil) }
    public func nextDueTime() throws -> Date? { try nextDueTime(host: nil) }
    public func eventsNewestFirst(offset: Int, limit: Int) throws -> [AuditEvent] {
        try eventsNewestFirst(offset: offset, limit: limit, search: nil)
    }
    public func countEvents() throws -> Int { try countEvents(search: nil) }
}

/// The changes one transaction makes, which commit together or not at all, and reads that see them.
public protocol StoreWriting: StoreReading {
    /// Inserts a new request (its id is assigned) and returns it.
    func insert(_ request: AccessRequest) throws -> AccessRequest
    /// Writes a request's new state; `expectedState` makes it a compare-and-set (returns false when it lost).
    @discardableResult func update(_ request: AccessRequest, expectedState: RequestState?) throws -> Bool
    /// Appends an audit event at the head of the chain. The event returned has its final id, time and fields; its
    /// place in the chain (`seq`, `prevHash`, `hash`, `hmac`) is final on SQLite but given only at commit on
    /// PostgreSQL (seq 0 until then: read the event back for it). Reads of events in the transaction see it.
    @discardableResult func append(_ draft: EventDraft, at time: Date) throws -> AuditEvent
    /// Moves a reporting destination's cursor after it acknowledged events through `seq`.
    func recordDelivered(_ destination: String, through seq: Int64, at time: Date) throws
    /// Records a reporting destination's failed attempt; its cursor does not move.
    func recordDeliveryFailure(_ destination: String, error: String, at time: Date) throws
    /// Queues a notification; false when the same one was queued before (de-duplicated).
    @discardableResult func enqueue(_ n: OutboxItem) throws -> Bool
    /// Queues several notifications at once; how many were new (the others were queued before).
    func enqueue(all items: [OutboxItem]) throws -> Int
    func markDelivered(_ id: Int64, at time: Date) throws
    func recordNotificationFailure(_ id: Int64, error: String, at time: Date, retryAt: Date) throws
    /// Puts a notification off without counting an attempt.
    func postpone(_ id: Int64, until time: Date) throws
    /// Replaces a pending request's routing (an escalation tier joined it).
    func updateRouting(_ id: Int64, _ routing: Routing) throws
    /// Writes this daemon's heartbeat row; it tells no reader of a change (it is not one).
    func recordHeartbeat(_ host: HostRecord) throws
    /// Makes the other writers' transactions that lock the same requester wait until this one ends, so that a count
    /// of their requests read after it stays true until commit (`limits.pending_per_user` across daemons). A store
    /// with a single writer has nothing to wait for.
    func lockRequester(_ name: String) throws
    /// Says that this write will append events, before its last read: a store whose chain is shared by several
    /// writers may take the chain head with that read and so commit with one round trip fewer (PostgreSQL); SQLite
    /// begins its transaction here, so that the reads that follow run in it rather than each in a read transaction
    /// of its own.
    func willAppendEvents() throws
}

extension StoreWriting {
    /// One writer at a time already (SQLite's StoreWriter): nothing to lock.
    public func lockRequester(_ name: String) throws {}
    /// One at a time (SQLite's statements are calls, not round trips).
    public func enqueue(all items: [OutboxItem]) throws -> Int { try items.reduce(0) { try $0 + (enqueue($1) ? 1 : 0) } }
    /// Writes a request's new state unconditionally.
    @discardableResult public func update(_ request: AccessRequest) throws -> Bool { try update(request, expectedState: nil) }
}

/// A store the daemon reads and writes through: `read {}` and `write {}` are serialised by the store itself, so no
/// caller has to remember a lock. A `write` commits when its body returns and rolls back when it throws.
public protocol RequestStore: AnyObject, Sendable {
    /// Where the store is, for messages (a path for SQLite).
    var location: String { get }
    func read<T>(_ body: (any StoreReading) throws -> T) throws -> T
    func write<T>(_ body: (any StoreWriting) throws -> T) throws -> T
    /// Runs `body` as `write` does and calls `then` with its outcome once it committed (or failed), but may return
    /// before that: `then` may run on another thread. A store that cannot defer its commit does it all in the call.
    func submit<T>(_ body: @escaping (any StoreWriting) throws -> T, then: @escaping (Result<T, any Error>) -> Void)
    /// A separate reader for one thread that must not wait behind the writer (it may see a slightly older state).
    func openReader() throws -> any StoreReading
}

extension RequestStore {
    /// `write`, then `then`, before returning.
    public func submit<T>(_ body: @escaping (any StoreWriting) throws -> T, then: @escaping (Result<T, any Error>) -> Void) {
        then(Result { try write(body) })
    }
}

extension Store: StoreReading {}

extension StoreTransaction: StoreWriting {
    /// A command's body will write: its transaction begins now (BEGIN IMMEDIATE, or its savepoint in the writer's batch),
    /// and the reads before its first change run inside it. Each of those reads would otherwise be a read transaction
    /// of its own, with the WAL-index and file locks (`fcntl`) each one takes and gives back.
    public func willAppendEvents() throws { try begin() }
    public func request(id: Int64) throws -> AccessRequest? { try store.request(id: id) }
    public func requests(ids: [Int64]) throws -> [AccessRequest] { try store.requests(ids: ids) }
    public func requests(_ query: RequestQuery) throws -> [AccessRequest] { try store.requests(query) }
    public func count(_ query: RequestQuery) throws -> Int { try store.count(query) }
    public func event(seq: Int64) throws -> AuditEvent? { try store.event(seq: seq) }
    public func events(requestId: Int64) throws -> [AuditEvent] { try store.events(requestId: requestId) }
    public func events(afterSeq: Int64, limit: Int) throws -> [AuditEvent] { try store.events(afterSeq: afterSeq, limit: limit) }
    public func eventsNewestFirst(offset: Int, limit: Int, search: String?) throws -> [AuditEvent] {
        try store.eventsNewestFirst(offset: offset, limit: limit, search: search)
    }
    public func countEvents(search: String?) throws -> Int { try store.countEvents(search: search) }
    public func lastSeq() throws -> Int64 { try store.lastSeq() }
    public func eventTime(seq: Int64) throws -> Date? { try store.eventTime(seq: seq) }
    public func pendingPastTTL(now: Date, limit: Int) throws -> [AccessRequest] { try store.pendingPastTTL(now: now, limit: limit) }
    public func activePastExpiry(now: Date, limit: Int) throws -> [AccessRequest] { try store.activePastExpiry(now: now, limit: limit) }
    public func approvedAwaitingEscalation(now: Date, limit: Int) throws -> [AccessRequest] { try store.approvedAwaitingEscalation(now: now, limit: limit) }
    public func strategyWorkDue(now: Date, limit: Int, host: String?) throws -> [AccessRequest] {
        try store.strategyWorkDue(now: now, limit: limit, host: host)
    }
    public func nextDueTime(host: String?) throws -> Date? { try store.nextDueTime(host: host) }
    public func fleetHosts() throws -> [HostRecord] { try store.fleetHosts() }
    public func strategyWorkWaiting(now: Date) throws -> [HostWork] { try store.strategyWorkWaiting(now: now) }
    public func holdsOtherGrant(requester: String, flows: [String], target: String, excluding id: Int64) throws -> Bool {
        try store.holdsOtherGrant(requester: requester, flows: flows, target: target, excluding: id)
    }
    public func pendingReachingAge(_ query: PendingAgeQuery) throws -> [AccessRequest] { try store.pendingReachingAge(query) }
    public func activeEndingUnwarned(_ query: EndingQuery) throws -> [AccessRequest] { try store.activeEndingUnwarned(query) }
    public func pendingCount(requester: String) throws -> Int { try store.pendingCount(requester: requester) }
    public func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                                 eligibleFlows: [String], stepFlows: [String]) throws -> [ReviewCandidate] {
        try store.reviewCandidates(user: user, groups: groups, flows: flows, selfFlows: selfFlows,
                                   eligibleFlows: eligibleFlows, stepFlows: stepFlows)
    }
    public func delivery(_ destination: String) throws -> DeliveryRecord { try store.delivery(destination) }
    public func dueNotifications(channel: String, now: Date, limit: Int) throws -> [OutboxItem] {
        try store.dueNotifications(channel: channel, now: now, limit: limit)
    }
    public func nextNotificationDue(channel: String) throws -> Date? { try store.nextNotificationDue(channel: channel) }
    public func notifications(requestId: Int64?) throws -> [OutboxItem] { try store.notifications(requestId: requestId) }
    public func channelBacklogs(channels: [String], now: Date) throws -> [ChannelBacklog] {
        try store.channelBacklogs(channels: channels, now: now)
    }
    public func deliveredCount(channel: String, recipient: String, since: Date) throws -> Int {
        try store.deliveredCount(channel: channel, recipient: recipient, since: since)
    }
    public func hasNotification(requestId: Int64, kind: String, dedup: String) throws -> Bool {
        try store.hasNotification(requestId: requestId, kind: kind, dedup: dedup)
    }
}
