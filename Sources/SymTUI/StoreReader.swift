import Foundation
import SymModel
import SymProtocol
import SymStore

/// What the CLI and the console read. The daemon answers it (`DaemonReader`, the normal way: only the daemon opens
/// the store); a trusted reader who may open the file (root, `store_group`) can read it directly while the daemon
/// is down (`DirectReader`, read-only).
protocol StoreReader: AnyObject {
    /// Where the answers come from, for the status line ("daemon", or the file).
    var source: String { get }
    func requests(_ q: RequestQuery) throws -> [AccessRequest]
    func requestsWithTotal(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int)
    /// One request with its events; nil when there is none.
    func request(id: Int64) throws -> (AccessRequest, [AuditEvent])?
    /// The requests the caller may decide now (newest first), one page, with the total.
    func review(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AccessRequest], total: Int)
    /// Events after `afterSeq` (oldest first) that pass `filter`, at most `limit`.
    func events(afterSeq: Int64, limit: Int, filter: AuditFilter) throws -> [AuditEvent]
    /// A page of the audit log, newest first, with the total.
    func audit(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AuditEvent], total: Int)
    func lastEvents(_ count: Int) throws -> [AuditEvent]
    /// How far each reporting destination got (needs the daemon).
    func delivery() throws -> (headSeq: Int64, destinations: [DestinationStatus])
    /// Backlog and last error of each notification channel named (and of any other that has rows).
    func channels(_ names: [String]) throws -> [ChannelBacklog]
    /// The report of requests created from `since` to now (`symtui report`, the Stats view).
    func report(since: Date) throws -> ActivityReport
    /// Waits up to `timeoutMs` for a commit; true when one happened (or may have).
    func waitForChange(timeoutMs: Int) -> Bool
    /// A descriptor that becomes readable after a commit, for polling with the keyboard.
    var changeDescriptor: Int32? { get }
}

extension StoreReader {
    /// The review queue in its own order (newest first).
    func review(search: String?, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int) {
        try review(search: search, offset: offset, limit: limit, shape: ListShape())
    }

    /// The audit log in its own order (newest first).
    func audit(search: String?, offset: Int, limit: Int) throws -> (rows: [AuditEvent], total: Int) {
        try audit(search: search, offset: offset, limit: limit, shape: ListShape())
    }

    /// Backlog and last error of each notification channel (needs the daemon, or a reader of the file).
    func channels(_ names: [String]) throws -> [ChannelBacklog] {
        throw CommandError(ExitCode.unavailable, "the daemon is not running: notification status comes from it")
    }
}

/// Reads through the daemon's read API, with its change subscription.
final class DaemonReader: StoreReader {
    let client: DaemonClient
    private var subscription: ChangeSubscription?
    private let socketPath: String
    /// Subscribe with `"review": true` (the console: its lines carry the review total and head).
    var reviewFeed = false
    var source: String { "daemon" }

    init(client: DaemonClient, socketPath: String) {
        self.client = client
        self.socketPath = socketPath
    }

    private func rows(_ reply: JSONValue) -> [AccessRequest] { (reply["requests"]?.arrayValue ?? []).compactMap(Wire.decodeRequest) }
    private func eventRows(_ reply: JSONValue) -> [AuditEvent] { (reply["events"]?.arrayValue ?? []).compactMap(Wire.decodeEvent) }

    func requests(_ q: RequestQuery) throws -> [AccessRequest] {
        var out: [AccessRequest] = []
        var page = q
        // The daemon pages at ReadCall.maxRows; a larger --limit takes several pages.
        while true {
            page.limit = min(q.limit - out.count, ReadCall.maxRows)
            let got = rows(try client.read(.requests(page, count: false)))
            out += got
            if got.count < page.limit || out.count >= q.limit || page.limit == 0 { return out }
            page.offset += got.count
        }
    }

    func requestsWithTotal(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int) {
        var page = q
        page.limit = min(q.limit, ReadCall.maxRows)
        let reply = try client.read(.requests(page, count: true))
        return (rows(reply), Int(reply["total"]?.intValue ?? 0))
    }

    func request(id: Int64) throws -> (AccessRequest, [AuditEvent])? {
        let reply: JSONValue
        do { reply = try client.read(.request(id: id)) } catch let e as CommandError where e.code == ExitCode.dataErr { return nil }
        guard let r = reply["request"].flatMap(Wire.decodeRequest) else { return nil }
        return (r, eventRows(reply))
    }

    func review(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AccessRequest], total: Int) {
        var out: [AccessRequest] = []
        var total = 0
        var at = offset
        repeat {
            let reply = try client.read(.review(search: search, offset: at, limit: min(limit - out.count, ReadCall.maxRows), shape: shape))
            let got = rows(reply)
            total = Int(reply["total"]?.intValue ?? 0)
            out += got
            at += got.count
            if got.isEmpty { break }
        } while out.count < limit && at < total
        return (out, total)
    }

    func events(afterSeq: Int64, limit: Int, filter: AuditFilter) throws -> [AuditEvent] {
        eventRows(try client.read(.events(afterSeq: afterSeq, limit: min(limit, ReadCall.maxRows), requestId: filter.requestId,
                                          since: filter.since, until: filter.until)))
    }

    func audit(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AuditEvent], total: Int) {
        let reply = try client.read(.audit(search: search, offset: offset, limit: min(limit, ReadCall.maxRows), shape: shape))
        return (eventRows(reply), Int(reply["total"]?.intValue ?? 0))
    }

    func lastEvents(_ count: Int) throws -> [AuditEvent] { eventRows(try client.read(.lastEvents(count: min(count, ReadCall.maxRows)))) }

    func delivery() throws -> (headSeq: Int64, destinations: [DestinationStatus]) {
        let reply = try client.read(.delivery)
        return (reply["head_seq"]?.intValue ?? 0, (reply["destinations"]?.arrayValue ?? []).compactMap(DestinationStatus.init(json:)))
    }

    func channels(_ names: [String]) throws -> [ChannelBacklog] {
        (try client.read(.delivery)["channels"]?.arrayValue ?? []).compactMap(ChannelBacklog.init(json:))
    }

    func report(since: Date) throws -> ActivityReport {
        let reply = try client.read(.report(since: since))
        guard let r = ActivityReport(json: reply) else { throw CommandError(ExitCode.software, "the daemon's report answer is not one this symtui reads") }
        return r
    }

    /// The caller's status line as the daemon computes it.
    func status() throws -> JSONValue { try client.read(.status) }

    private func subscribed() -> ChangeSubscription? {
        if subscription == nil { subscription = ChangeSubscription(socketPath: socketPath, review: reviewFeed) }
        return subscription
    }

    func waitForChange(timeoutMs: Int) -> Bool {
        guard let s = subscribed() else {
            if timeoutMs > 0 { usleep(useconds_t(min(timeoutMs, 1000)) * 1000) }
            return true   // no feed: look again
        }
        switch s.wait(timeoutMs: timeoutMs) {
        case true?: return true
        case false?: return false
        case nil:
            subscription = nil   // the daemon went away: resubscribe on the next wait
            return true
        }
    }

    var changeDescriptor: Int32? { subscribed()?.descriptor }

    /// What the change lines since the last call said (nil: none read, or the subscription was lost).
    func takeNotice() -> ChangeNotice? { subscription?.takeNotice() }
}

/// Reads the store file itself, read-only: for trusted readers (root, `store_group`) while the daemon is down.
final class DirectReader: StoreReader {
    let store: Store
    let config: Config
    let actor: Actor
    private let watcher: ChangeWatcher
    var source: String { store.path }

    init(store: Store, config: Config, actor: Actor) {
        self.store = store; self.config = config; self.actor = actor
        watcher = ChangeWatcher(store: store)
    }

    func requests(_ q: RequestQuery) throws -> [AccessRequest] { try store.requests(q) }
    func requestsWithTotal(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int) {
        if !q.shape.isDefault { return try ShapedLists.requests(q, store: store) }
        return (try store.requests(q), try store.count(q))
    }

    func request(id: Int64) throws -> (AccessRequest, [AuditEvent])? {
        guard let r = try store.request(id: id) else { return nil }
        return (r, try store.events(requestId: id))
    }

    func review(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AccessRequest], total: Int) {
        var ids = try ReviewQueue.ids(store: store, config: config, actor: actor)
        if let search, !search.isEmpty { ids = try ReviewQueue.filter(ids, store: store, search: search) }
        if !shape.isDefault { return try ShapedLists.review(ids, shape: shape, store: store, offset: offset, limit: limit) }
        return (try ReviewQueue.page(ids, store: store, offset: offset, limit: limit), ids.count)
    }

    func events(afterSeq: Int64, limit: Int, filter: AuditFilter) throws -> [AuditEvent] {
        var out: [AuditEvent] = []
        try store.forEachEvent(filter, afterSeq: afterSeq, limit: limit) { out.append($0) }
        return out
    }

    func audit(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AuditEvent], total: Int) {
        let s = search.flatMap { $0.isEmpty ? nil : $0 }
        if !shape.isDefault { return try ShapedLists.audit(search: s, shape: shape, store: store, offset: offset, limit: limit) }
        return (try store.eventsNewestFirst(offset: offset, limit: limit, search: s), try store.countEvents(search: s))
    }

    func lastEvents(_ count: Int) throws -> [AuditEvent] { try store.lastEvents(count) }

    func delivery() throws -> (headSeq: Int64, destinations: [DestinationStatus]) {
        throw CommandError(ExitCode.unavailable, "the daemon is not running: reporting status comes from it")
    }

    func channels(_ names: [String]) throws -> [ChannelBacklog] { try store.channelBacklogs(channels: names, now: Date()) }

    func report(since: Date) throws -> ActivityReport { try store.activityReport(since: since, until: Date()) }

    func waitForChange(timeoutMs: Int) -> Bool { timeoutMs == 0 ? watcher.changed() : watcher.wait(timeoutMs: timeoutMs) }
    var changeDescriptor: Int32? { watcher.pollDescriptor }
}
