import Foundation
import SymModel
#if canImport(Glibc)
import Glibc
#endif

/// What one commit to the PostgreSQL store tells the fleet (the payload of `NOTIFY symtui_changes`): which store
/// object sent it, so that a daemon skips its own (its change feed has them already); the schema the store lives in
/// (a channel is per database, and two stores may share one database in two schemas); the requests it changed, or nil
/// when there were too many to name (then anything may have changed); and the most urgent work the rows it wrote leave
/// for a grant loop, so that the other daemons need not read those requests to learn it (nil: not said, as by an
/// older daemon; then they read).
public struct PostgresChangeNotice: Sendable, Equatable {
    public static let channel = "symtui_changes"
    /// A notice names at most this many requests (PostgreSQL caps a payload at 8000 bytes).
    public static let maxIDs = 256
    public var sender: String
    public var schema: String
    public var ids: Set<Int64>?
    public var work: LoopWork?

    public init(sender: String, schema: String, ids: Set<Int64>?, work: LoopWork? = nil) {
        self.sender = sender
        self.schema = schema
        self.ids = ids.flatMap { $0.count > Self.maxIDs ? nil : $0 }
        self.work = work
    }

    /// `{"from":"<sender>","ids":[1,2],"schema":"<schema>","work":…}`, keys in this order; `ids` is left out when there
    /// are too many, `work` when it is not known. `work` is `"now"`, `"none"` or a deadline in milliseconds since the
    /// epoch (rounded up: a loop woken for it never wakes before it). Written by hand: a notice is made for every
    /// commit, and Foundation's JSON writer cost a daemon more CPU than the rest of the notice's path.
    public var payload: String {
        var pairs: [(String, JSONValue)] = [("from", .string(sender))]
        if let ids { pairs.append(("ids", .array(ids.sorted().map(JSONValue.int)))) }
        pairs.append(("schema", .string(schema)))
        switch work {
        case nil: break
        case .now?: pairs.append(("work", .string("now")))
        case .none?: pairs.append(("work", .string("none")))
        case let .at(date)?: pairs.append(("work", .int(Int64((date.timeIntervalSince1970 * 1000).rounded(.up)))))
        }
        return JSONValue.object(pairs).compact
    }

    /// Whether `payload` was written by `sender` (its first key): the listener skips its own daemon's notices without
    /// reading them.
    public static func payload(_ payload: String, isFrom sender: String) -> Bool {
        payload.hasPrefix("{\"from\":" + JSONValue.string(sender).compact + ",")
    }

    /// Reads a payload; one this version cannot read (an older daemon's empty one) means "anything changed", and a
    /// `work` it cannot read means "not said".
    public init(payload: String) {
        let object = try? JSONValue.parse(payload)
        sender = object?["from"]?.stringValue ?? ""
        schema = object?["schema"]?.stringValue ?? ""
        if let list = object?["ids"]?.arrayValue, list.count <= Self.maxIDs {
            let values = list.compactMap(\.intValue)
            ids = values.count == list.count ? Set(values) : nil
        } else {
            ids = nil
        }
        switch object?["work"] {
        case .string("now")?: work = .now
        case .string("none")?: work = LoopWork.none
        case let .int(ms)?: work = .at(Date(timeIntervalSince1970: Double(ms) / 1000))
        default: work = nil
        }
    }
}

/// Hears the other daemons' commits to the shared store: a connection of its own that `LISTEN`s on
/// `symtui_changes` and a thread that waits on its socket with poll(). Each batch of notices that arrives together
/// becomes one `onChange` call with the union of their requests (nil: anything may have changed) and the most urgent
/// work they said those leave (nil when one did not say). When the server
/// goes away (a restart, a failover, the network), it connects again with backoff (0.1 s doubling to 5 s); the
/// first call after a reconnect is nil, because the notices sent meanwhile were lost. A silent connection is probed
/// every `probeInterval` and TCP keepalives are on, so a server that vanished without closing is noticed too.
public final class PostgresListener: @unchecked Sendable {
    public let conninfo: String
    /// Notices from this sender are skipped (the listening daemon's own store).
    public let ignoring: String?
    /// Told the requests a batch of notices names (nil: anything may have changed) and the most urgent work they said
    /// those leave (nil: not said by all of them).
    private let onChange: @Sendable (_ ids: Set<Int64>?, _ work: LoopWork?) -> Void
    public var initialBackoff: TimeInterval = 0.1
    public var maximumBackoff: TimeInterval = 5
    public var probeInterval: TimeInterval = 10
    /// Told when the connection is made (true) and when it is lost (false, with the reason).
    public var onConnection: (@Sendable (_ connected: Bool, _ reason: String?) -> Void)?

    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?
    private var isConnectedNow = false
    /// The listening connection's schema: notices from stores in other schemas are not this store's.
    private var schema = ""
    private var connectionCount = 0
    private let wake: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)

    public init(conninfo: String, ignoring: String?, onChange: @escaping @Sendable (_ ids: Set<Int64>?, _ work: LoopWork?) -> Void) {
        self.conninfo = conninfo
        self.ignoring = ignoring
        self.onChange = onChange
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
        }
        wake = (fds[0], fds[1])
    }

    deinit {
        if wake.read >= 0 { Glibc.close(wake.read) }
        if wake.write >= 0 { Glibc.close(wake.write) }
    }

    /// Whether it is listening right now.
    public var isConnected: Bool { lock.withLock { isConnectedNow } }
    /// How many times it has connected (1 after the first connection; each reconnect adds one).
    public var connections: Int { lock.withLock { connectionCount } }

    /// Starts the listening thread (once).
    public func start() {
        lock.withLock {
            guard thread == nil, !stopping else { return }
            let t = Thread { [self] in run(); finished.signal() }
            t.name = "symtui-pg-listener"
            thread = t
            t.start()
        }
    }

    /// Stops the thread and closes its connection; waits up to `timeout` for it to end.
    public func stop(timeout: TimeInterval = 5) {
        let started = lock.withLock { () -> Bool in
            stopping = true
            return thread != nil
        }
        var b: UInt8 = 1
        _ = write(wake.write, &b, 1)
        if started { _ = finished.wait(timeout: .now() + timeout) }
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func run() {
        var delay = initialBackoff
        var first = true
        while !isStopping {
            let connection: PostgresConnection
            do {
                connection = try PostgresConnection(conninfo: conninfo, applicationName: "symtui listener", defaults: [
                    ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
                ])
                try connection.execute("LISTEN \(PostgresChangeNotice.channel)")
                schema = try connection.execute("SELECT current_schema()").first?[0] ?? ""
            } catch {
                onConnection?(false, PostgresStore.redacted("\(error)"))
                pause(delay)
                delay = min(delay * 2, maximumBackoff)
                continue
            }
            delay = initialBackoff
            // Told before `isConnected` turns true, so that what the callback does comes before anything heard.
            onConnection?(true, nil)
            lock.withLock { isConnectedNow = true; connectionCount += 1 }
            // Whatever was committed while no connection listened was not heard: the subscribers must re-read.
            if !first { onChange(nil, nil) }
            first = false
            let reason = listen(on: connection)
            connection.close()
            lock.withLock { isConnectedNow = false }
            if let reason { onConnection?(false, reason) }
        }
    }

    /// Waits for and delivers notices until the connection breaks (returns why) or the listener stops (nil).
    private func listen(on connection: PostgresConnection) -> String? {
        while !isStopping {
            var polls = [pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0),
                         pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            let n = poll(&polls, 2, Int32(probeInterval * 1000))
            if n < 0 {
                if errno == EINTR { continue }
                return "poll failed: \(String(cString: strerror(errno)))"
            }
            if polls[1].revents != 0 {
                var buffer = [UInt8](repeating: 0, count: 64)
                while read(wake.read, &buffer, buffer.count) > 0 {}
                continue
            }
            var notices: [PostgresNotification]
            do {
                if n == 0 {
                    // Nothing for a while: ask, so that a server gone without a word is noticed.
                    try connection.execute("SELECT 1")
                    notices = connection.queuedNotifications()
                } else {
                    notices = try connection.receivedNotifications()
                }
            } catch {
                return "\(error)"
            }
            if !connection.isHealthy { return "the connection was closed" }
            deliver(notices)
        }
        return nil
    }

    private func deliver(_ notices: [PostgresNotification]) {
        var ids: Set<Int64>? = []
        var work = LoopWork.none
        var allSaid = true
        var any = false
        for n in notices where n.channel == PostgresChangeNotice.channel {
            if let ignoring, PostgresChangeNotice.payload(n.payload, isFrom: ignoring) { continue }
            let notice = PostgresChangeNotice(payload: n.payload)
            if let ignoring, notice.sender == ignoring { continue }
            // An unreadable notice (no schema) may be anyone's: it counts.
            if !notice.schema.isEmpty, notice.schema != schema { continue }
            any = true
            if let changed = notice.ids, ids != nil { ids!.formUnion(changed) } else { ids = nil }
            if let said = notice.work { work = LoopWork.sooner(work, said) } else { allSaid = false }
        }
        if let set = ids, set.count > PostgresChangeNotice.maxIDs { ids = nil }
        if any { onChange(ids, allSaid ? work : nil) }
    }

    /// Sleeps `seconds`, or less when the listener is stopped.
    private func pause(_ seconds: TimeInterval) {
        var p = pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, Int32(seconds * 1000))
    }
}
