import Foundation
import SymModel
import SymProtocol
import SymStore

/// Answers the read API for consoles and the CLI from the daemon's own reading connections, which never wait behind
/// the writer nor block it: read-only WAL connections to a SQLite store, connections of their own to a PostgreSQL
/// one (`StoreQueries` is what both answer). What depends on who asks uses the caller's kernel identity.
final class ReadService: @unchecked Sendable {
    private let openReader: @Sendable () throws -> any StoreQueries
    private let config: @Sendable () -> Config
    private let feed: ChangeFeed
    /// The clock a report's window ends at (the engine's, in tests).
    private let now: @Sendable () -> Date
    /// This daemon's `host_name` on a store shared by a fleet (whose reporting cursors `delivery` shows); nil on SQLite.
    /// Set before the first read.
    var fleetHost: String?
    /// Whether every commit that can change a review queue passes through `feed` (one daemon writes the store).
    /// When others write it too (PostgreSQL, a fleet) and their commits do not reach the feed, queues are computed
    /// afresh for every read.
    private let cacheReviews: Bool
    private let lock = NSLock()
    private var idle: [any StoreQueries] = []
    private var open = 0
    private var closed = false
    /// Review queues by caller (newest first) as of a feed version; brought up to date from the requests the commits
    /// since then changed (`ChangeFeed.changes`), so a commit costs each queue the changed rows, not the queue.
    private var reviewCache: [String: (version: Int64, ids: [Int64])] = [:]

    /// Reads a SQLite store through read-only connections of its own.
    convenience init(storePath: String, feed: ChangeFeed, config: @escaping @Sendable () -> Config, now: @escaping @Sendable () -> Date = { Date() }) {
        self.init(openReader: { try Store.openReadOnly(path: storePath) }, cacheReviews: true, feed: feed, config: config, now: now)
    }

    init(openReader: @escaping @Sendable () throws -> any StoreQueries, cacheReviews: Bool, feed: ChangeFeed,
         config: @escaping @Sendable () -> Config, now: @escaping @Sendable () -> Date = { Date() }) {
        self.openReader = openReader; self.cacheReviews = cacheReviews; self.feed = feed; self.config = config; self.now = now
    }

    /// Runs `body` on a reading connection of the pool (one per concurrently reading thread).
    func reading<T>(_ body: (any StoreQueries) throws -> T) throws -> T {
        let store: any StoreQueries = try lock.withLock {
            if closed { throw CommandError(ExitCode.unavailable, "the daemon is stopping") }
            if let s = idle.popLast() { return s }
            open += 1
            do { return try openReader() } catch { open -= 1; throw error }
        }
        defer { lock.withLock { if closed { open -= 1 } else { idle.append(store) } } }
        return try body(store)
    }

    /// Closes every idle connection and refuses new reads (before the clean stop's checkpoint).
    func close() {
        lock.withLock {
            closed = true
            open -= idle.count
            idle.removeAll()
        }
    }

    /// The answer to one read, as the pairs after `"ok": true`.
    func answer(_ call: ReadCall, caller: Identity) throws -> [(String, JSONValue?)] {
        // A regex that ran out of its match budget is the caller's input, not the store failing: 65, not 69.
        do { return try answerRead(call, caller: caller) } catch let e as ListShapeError { throw CommandError.invalid(e.message) }
    }

    private func answerRead(_ call: ReadCall, caller: Identity) throws -> [(String, JSONValue?)] {
        try reading { store in
            switch call {
            case let .requests(query, count) where !query.shape.isDefault:
                let page = try store.shapedRequests(query)
                var pairs: [(String, JSONValue?)] = [("requests", .array(page.rows.map(Wire.encode)))]
                if count { pairs.append(("total", .num(page.total))) }
                return pairs
            case let .requests(query, count):
                var pairs: [(String, JSONValue?)] = [("requests", .array(try store.requests(query).map(Wire.encode)))]
                if count { pairs.append(("total", .num(try store.count(query)))) }
                return pairs
            case let .review(search, offset, limit, shape):
                var ids = try reviewIDs(store: store, caller: caller)
                if let search, !search.isEmpty { ids = try ReviewQueue.filter(ids, store: store, search: search) }
                if !shape.isDefault {
                    let page = try store.shapedReview(ids, shape: shape, offset: offset, limit: limit)
                    return [("requests", .array(page.rows.map(Wire.encode))), ("total", .num(page.total))]
                }
                let page = try ReviewQueue.page(ids, store: store, offset: offset, limit: limit)
                return [("requests", .array(page.map(Wire.encode))), ("total", .num(ids.count))]
            case let .request(id):
                guard let r = try store.request(id: id) else { throw CommandError.invalid("no request \(id)") }
                return [("request", Wire.encode(r)), ("events", .array(try store.events(requestId: id).map(Wire.encode)))]
            case let .events(after, limit, requestId, since, until):
                var filter = AuditFilter(since: since, until: until)
                filter.requestId = requestId
                var out: [JSONValue] = []
                try store.forEachEvent(filter, afterSeq: after, limit: limit) { out.append(Wire.encode($0)) }
                return [("events", .array(out))]
            case let .audit(search, offset, limit, shape):
                let s = search.flatMap { $0.isEmpty ? nil : $0 }
                if !shape.isDefault {
                    let page = try store.shapedAudit(search: s, shape: shape, offset: offset, limit: limit)
                    return [("events", .array(page.rows.map(Wire.encode))), ("total", .num(page.total))]
                }
                return [("events", .array(try store.eventsNewestFirst(offset: offset, limit: limit, search: s).map(Wire.encode))),
                        ("total", .num(try store.countEvents(search: s)))]
            case let .lastEvents(count):
                return [("events", .array(try store.lastEvents(count).map(Wire.encode)))]
            case .status:
                let review = try reviewIDs(store: store, caller: caller).count
                var q = RequestQuery(states: [.approved, .escalating, .active, .deescalating], requester: caller.name, limit: 50)
                q.newestFirst = false
                let grants = try store.requests(q).filter { $0.target != nil }
                let pending = try store.count(RequestQuery(states: [.pending], requester: caller.name))
                return [("user", .string(caller.name)), ("review", .num(review)), ("pending", .num(pending)),
                        ("grants", .array(grants.map(Wire.encode))), ("last_seq", .int(try store.lastSeq()))]
            case .delivery:
                return [("head_seq", .int(try store.lastSeq())),
                        ("destinations", .array(try deliveryStatus(store: store, config: config(), fleetHost: fleetHost).map(\.json))),
                        ("channels", .array(try store.channelBacklogs(channels: config().notifications.channels.map(\.name), now: Date()).map(\.json)))]
            case .metrics:
                let m = try store.metrics()
                let h = m.approvalLatency
                let backlog = try deliveryStatus(store: store, config: config(), fleetHost: fleetHost).map { d in
                    JSONValue.obj([("destination", .string(d.key)), ("backlog", .int(d.backlog))])
                }
                return [("requests", .object(RequestState.allCases.map { ($0.rawValue, .int(m.requestsByState[$0] ?? 0)) })),
                        ("grants_active", .int(m.grantsActive)), ("grants_stuck", .int(m.grantsStuck)),
                        ("handler_failures_total", .int(m.handlerFailures)), ("reporting_backlog", .array(backlog)),
                        ("notification_backlog", .array(try store.channelBacklogs(channels: config().notifications.channels.map(\.name), now: Date())
                            .map { .obj([("channel", .string($0.channel)), ("backlog", .int($0.backlog))]) })),
                        ("approval_latency", .obj([("bounds", .array(h.bounds.map(JSONValue.double))), ("counts", .array(h.counts.map(JSONValue.int))),
                                                   ("count", .int(h.count)), ("sum_seconds", .double(h.sumSeconds))])),
                        ("head_seq", .int(m.headSeq))]
            case let .report(since):
                let now = self.now()
                guard since <= now, now.timeIntervalSince(since) <= Double(ActivityReport.maxDays - 1) * 86_400 else {
                    throw CommandError.invalid("a report starts at most \(ActivityReport.maxDays - 1) days back and not in the future")
                }
                return try store.activityReport(since: since, until: now).json.objectValue ?? []
            case .hosts:
                return try FleetStatus.answer(store, now: now())
            case .subscribe, .subscribeReview:
                throw CommandError(ExitCode.software, "subscribe is answered by the connection, not as a read")
            }
        }
    }

    /// The caller's review total and the first `count` ids of their queue (what a review subscription's lines carry).
    func reviewHead(caller: Identity, count: Int) throws -> (total: Int, head: [Int64]) {
        let ids = try reading { try reviewIDs(store: $0, caller: caller) }
        return (ids.count, Array(ids.prefix(count)))
    }

    private func reviewIDs(store: any StoreQueries, caller: Identity) throws -> [Int64] {
        guard cacheReviews else { return try ReviewQueue.ids(store: store, config: config(), actor: caller.actor) }
        let key = caller.name + "\u{0}" + caller.groups.sorted().joined(separator: ",")
        // The version is read before the store: the queue read below is at least as new as it.
        let version = feed.version.load(ordering: .sequentiallyConsistent)
        let cached = lock.withLock { reviewCache[key] }
        if let hit = cached, hit.version == version { return hit.ids }
        let ids: [Int64]
        if let hit = cached, let changed = feed.changes(since: hit.version, through: version, limit: ReviewQueue.maxDelta) {
            ids = try ReviewQueue.update(hit.ids, changed: changed, store: store, config: config(), actor: caller.actor)
        } else {
            ids = try ReviewQueue.ids(store: store, config: config(), actor: caller.actor)
        }
        lock.withLock {
            if reviewCache.count > 256 { reviewCache.removeAll() }
            reviewCache[key] = (version, ids)
        }
        return ids
    }
}
