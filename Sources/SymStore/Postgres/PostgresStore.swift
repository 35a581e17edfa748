import Foundation
import SymModel

/// The store on PostgreSQL, shared by every daemon of a fleet (docs/store.md, "The PostgreSQL backend"). It plays
/// the same three roles as the SQLite store: `read {}` and `write {}` run one at a time on this daemon's connection,
/// and `openReader()` gives a thread its own connection. Across daemons, PostgreSQL itself serialises what must be:
/// a transaction's events are kept until its commit, which locks the chain head row (`FOR UPDATE`) and writes them
/// after it, so `seq` stays gapless, the hash chain unbroken, and the head is held only for the commit's last steps; requests read by id inside a write are locked until it commits, so two deciders take turns; due
/// work is claimed with `FOR UPDATE SKIP LOCKED`, so two daemons never run the same step.
public final class PostgresStore: RequestStore, @unchecked Sendable {
    public let conninfo: String
    /// The bastion this daemon serves (`host_name`): written on the requests it makes.
    public let hostName: String
    /// Signs each new event's hash (from `reporting.hmac_key_file`).
    public var signer: HMACSHA256? {
        get { lock.withLock { session.signer } }
        set { lock.withLock { session.signer = newValue } }
    }
    /// Called after every committed write that changed requests or events (on this daemon), with the ids of the
    /// requests it changed. Other daemons' commits reach a `PostgresListener` instead.
    public var afterCommit: (@Sendable (Set<Int64>) -> Void)?
    /// This store object's identity in the fleet's change notices (random per process): its listener skips them.
    public let instance = UUID().uuidString.lowercased()
    let lock = NSLock()
    let session: PostgresSession
    /// Sends this store's change notices after its commits (nothing waits for them).
    let notifier: PostgresNotifier

    /// Connects and brings the schema to the current version (`migrate`), or only checks that it is current.
    public init(conninfo: String, hostName: String = ProcessInfo.processInfo.hostName, migrate: Bool = true) throws {
        self.conninfo = conninfo
        self.hostName = hostName
        session = try PostgresSession(conninfo: conninfo, hostName: hostName)
        notifier = PostgresNotifier(conninfo: conninfo, sender: instance)
        if migrate { try session.migrate() } else { try session.checkSchema() }
    }

    /// The connection URI without any password, for messages.
    public var location: String { PostgresStore.redacted(conninfo) }

    public func read<T>(_ body: (any StoreReading) throws -> T) throws -> T {
        try lock.withLock { try session.autocommit { try body(session) } }
    }

    public func write<T>(_ body: (any StoreWriting) throws -> T) throws -> T {
        var attempt = 0
        while true {
            do {
                let (value, touched, changed, work) = try lock.withLock { () throws -> (T, Bool, Set<Int64>, LoopWork) in
                    let (value, touched) = try session.transaction { try body(session) }
                    return (value, touched, session.changedRequests, session.work)
                }
                if touched {
                    notifier.post(changed, work: work)
                    afterCommit?(changed)
                }
                return value
            } catch let e as PostgresError where (e.sqlState == "40P01" || e.sqlState == "40001") && attempt < 3 {
                // Two daemons' transactions waited on each other (a request row and the chain head taken in opposite
                // orders): PostgreSQL rolled this one back whole, events kept for the chain included. Running it again
                // sees the other's commit.
                attempt += 1
                usleep(useconds_t(UInt32.random(in: 1_000...20_000)))
            }
        }
    }

    /// Sends the change notices still waiting, then sends no more (a daemon that is stopping): up to `timeout`.
    public func finishNotices(timeout: TimeInterval = 2) { notifier.stop(timeout: timeout) }

    /// A listener for the other daemons' commits to this store (this store's own are left out: `afterCommit` has
    /// them). Call `start()` on it.
    public func makeListener(onChange: @escaping @Sendable (_ ids: Set<Int64>?, _ work: LoopWork?) -> Void) -> PostgresListener {
        PostgresListener(conninfo: conninfo, ignoring: instance, onChange: onChange)
    }

    /// A connection of its own for one thread (it reconnects by itself after the server comes back).
    public func openReader() throws -> any StoreReading {
        let reader = try PostgresSession(conninfo: conninfo, hostName: hostName)
        return PostgresReader(reader)
    }

    /// Runs raw SQL on the daemon's connection, outside any transaction (store tools and tests).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        try lock.withLock { try session.autocommit { try session.rows(sql, parameters) } }
    }

    /// `postgresql://user:secret@host/db` → `postgresql://user@host/db`; key=value strings lose `password=…`.
    public static func redacted(_ conninfo: String) -> String {
        var s = conninfo
        if let scheme = s.range(of: "://"), let at = s[scheme.upperBound...].firstIndex(of: "@") {
            let userinfo = s[scheme.upperBound..<at]
            if let colon = userinfo.firstIndex(of: ":") { s.removeSubrange(colon..<at) }
        }
        return s.replacingOccurrences(of: #"password\s*=\s*('[^']*'|\S+)"#, with: "password=…", options: .regularExpression)
    }

    /// Whether a `store` setting names a PostgreSQL database rather than a SQLite file.
    public static func isPostgresURI(_ store: String) -> Bool {
        store.hasPrefix("postgresql://") || store.hasPrefix("postgres://")
    }
}

/// A reader's own connection, serialised for the one thread that is meant to use it.
final class PostgresReader: StoreReading, @unchecked Sendable {
    let session: PostgresSession
    private let lock = NSLock()
    init(_ session: PostgresSession) { self.session = session }
    func r<T>(_ body: (PostgresSession) throws -> T) throws -> T { try lock.withLock { try session.autocommit { try body(session) } } }

    func request(id: Int64) throws -> AccessRequest? { try r { try $0.request(id: id) } }
    func requests(ids: [Int64]) throws -> [AccessRequest] { try r { try $0.requests(ids: ids) } }
    func requests(_ query: RequestQuery) throws -> [AccessRequest] { try r { try $0.requests(query) } }
    func count(_ query: RequestQuery) throws -> Int { try r { try $0.count(query) } }
    func event(seq: Int64) throws -> AuditEvent? { try r { try $0.event(seq: seq) } }
    func events(requestId: Int64) throws -> [AuditEvent] { try r { try $0.events(requestId: requestId) } }
    func events(afterSeq: Int64, limit: Int) throws -> [AuditEvent] { try r { try $0.events(afterSeq: afterSeq, limit: limit) } }
    func eventsNewestFirst(offset: Int, limit: Int, search: String?) throws -> [AuditEvent] {
        try r { try $0.eventsNewestFirst(offset: offset, limit: limit, search: search) }
    }
    func countEvents(search: String?) throws -> Int { try r { try $0.countEvents(search: search) } }
    func lastSeq() throws -> Int64 { try r { try $0.lastSeq() } }
    func eventTime(seq: Int64) throws -> Date? { try r { try $0.eventTime(seq: seq) } }
    func pendingPastTTL(now: Date, limit: Int) throws -> [AccessRequest] { try r { try $0.pendingPastTTL(now: now, limit: limit) } }
    func activePastExpiry(now: Date, limit: Int) throws -> [AccessRequest] { try r { try $0.activePastExpiry(now: now, limit: limit) } }
    func approvedAwaitingEscalation(now: Date, limit: Int) throws -> [AccessRequest] {
        try r { try $0.approvedAwaitingEscalation(now: now, limit: limit) }
    }
    func strategyWorkDue(now: Date, limit: Int, host: String?) throws -> [AccessRequest] {
        try r { try $0.strategyWorkDue(now: now, limit: limit, host: host) }
    }
    func nextDueTime(host: String?) throws -> Date? { try r { try $0.nextDueTime(host: host) } }
    func fleetHosts() throws -> [HostRecord] { try r { try $0.fleetHosts() } }
    func strategyWorkWaiting(now: Date) throws -> [HostWork] { try r { try $0.strategyWorkWaiting(now: now) } }
    func holdsOtherGrant(requester: String, flows: [String], target: String, excluding id: Int64) throws -> Bool {
        try r { try $0.holdsOtherGrant(requester: requester, flows: flows, target: target, excluding: id) }
    }
    func pendingReachingAge(_ query: PendingAgeQuery) throws -> [AccessRequest] { try r { try $0.pendingReachingAge(query) } }
    func activeEndingUnwarned(_ query: EndingQuery) throws -> [AccessRequest] { try r { try $0.activeEndingUnwarned(query) } }
    func pendingCount(requester: String) throws -> Int { try r { try $0.pendingCount(requester: requester) } }
    func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                          eligibleFlows: [String], stepFlows: [String]) throws -> [ReviewCandidate] {
        try r { try $0.reviewCandidates(user: user, groups: groups, flows: flows, selfFlows: selfFlows,
                                        eligibleFlows: eligibleFlows, stepFlows: stepFlows) }
    }
    func delivery(_ destination: String) throws -> DeliveryRecord { try r { try $0.delivery(destination) } }
    func dueNotifications(channel: String, now: Date, limit: Int) throws -> [OutboxItem] {
        try r { try $0.dueNotifications(channel: channel, now: now, limit: limit) }
    }
    func nextNotificationDue(channel: String) throws -> Date? { try r { try $0.nextNotificationDue(channel: channel) } }
    func notifications(requestId: Int64?) throws -> [OutboxItem] { try r { try $0.notifications(requestId: requestId) } }
    func channelBacklogs(channels: [String], now: Date) throws -> [ChannelBacklog] { try r { try $0.channelBacklogs(channels: channels, now: now) } }
    func deliveredCount(channel: String, recipient: String, since: Date) throws -> Int {
        try r { try $0.deliveredCount(channel: channel, recipient: recipient, since: since) }
    }
    func hasNotification(requestId: Int64, kind: String, dedup: String) throws -> Bool {
        try r { try $0.hasNotification(requestId: requestId, kind: kind, dedup: dedup) }
    }
}
