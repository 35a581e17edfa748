import Foundation
import SymModel
import SymProtocol

/// Talks to the daemon over its socket; starts one in single-user mode (like tmux) when none answers.
final class DaemonClient {
    private(set) var connection: LineConnection
    let socketPath: String
    private var lastUse = Date()
    /// Set when an answer did not come: a late answer must not be read as the next one's, so the next call reconnects.
    private var stale = false

    /// How long an answer may take: longer than any handler or strategy the daemon runs while answering.
    static let answerTimeout = 60
    /// How long a read may take: the daemon answers reads from its own connections, never behind a strategy run.
    static let readTimeout = 10
    /// Answers to paged reads may be long; a client accepts far more than it ever sends.
    static let answerLineLimit = 256 << 20

    init(connection: LineConnection, socketPath: String, timeout: Int = DaemonClient.answerTimeout) {
        self.connection = connection
        self.socketPath = socketPath
        connection.setReceiveTimeout(seconds: timeout)
        connection.lineLimit = DaemonClient.answerLineLimit
    }

    /// A client when the daemon answers on `socketPath`, without starting one.
    static func connectIfRunning(socketPath: String, timeout: Int = DaemonClient.answerTimeout) -> DaemonClient? {
        (try? connectUnixSocket(socketPath)).map { DaemonClient(connection: $0, socketPath: socketPath, timeout: timeout) }
    }

    static func connect(socketPath: String, storePath: String, me: Identity, daemonArguments: [String]) throws -> DaemonClient {
        if let c = connectIfRunning(socketPath: socketPath) { return c }
        guard mayStartDaemon(storePath: storePath, me: me) else {
            throw CommandError(ExitCode.unavailable, "the daemon is not running (no answer on \(socketPath)); "
                               + "ask an administrator to start it (systemctl start symtui)")
        }
        try startDaemon(arguments: daemonArguments, storePath: storePath)
        let deadline = Date().addingTimeInterval(10)
        var lastError = "timed out"
        while Date() < deadline {
            do { return DaemonClient(connection: try connectUnixSocket(socketPath), socketPath: socketPath) } catch { lastError = "\(error)" }
            usleep(20_000)
        }
        let log = (storePath as NSString).deletingLastPathComponent + "/symtui-daemon.log"
        throw CommandError(ExitCode.unavailable, "started a daemon but it does not answer on \(socketPath) (\(lastError)); see \(log)")
    }

    /// Single-user mode: only when this user owns the store, or it does not exist and its directory is theirs to create.
    static func mayStartDaemon(storePath: String, me: Identity) -> Bool {
        var st = stat()
        if stat(storePath, &st) == 0 { return st.st_uid == me.uid }
        var dir = (storePath as NSString).deletingLastPathComponent
        while !dir.isEmpty && dir != "/" {
            if stat(dir, &st) == 0 { return st.st_uid == me.uid }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return false
    }

    static func startDaemon(arguments: [String], storePath: String) throws {
        let dir = (storePath as NSString).deletingLastPathComponent
        // The daemon refuses a store directory others can write: make it the user's alone.
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let env = ProcessInfo.processInfo.environment
        var keep: [String: String] = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
        for k in ["HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "SYMTUI_CONFIG", "TZ"] { if let v = env[k] { keep[k] = v } }
        try Link.require().spawnDetached(path: exe, arguments: arguments, environment: keep, logPath: dir + "/symtui-daemon.log")
    }

    /// Sends one call and returns the daemon's answer (refusals included; see `Wire.refusal`).
    func send(_ call: DaemonCall) throws -> JSONValue {
        // The daemon closes connections that stay silent (idle timeout): start afresh rather than write into a closed one.
        if stale || Date().timeIntervalSince(lastUse) > 20, let fresh = try? connectUnixSocket(socketPath) {
            stale = false
            fresh.setReceiveTimeout(seconds: connection.receiveTimeout)
            fresh.lineLimit = DaemonClient.answerLineLimit
            connection = fresh
        }
        defer { lastUse = Date() }
        var pairs = call.json.objectValue ?? []
        pairs.insert(("v", .int(protocolVersion)), at: 0)
        do {
            try connection.writeLine(JSONValue.object(pairs).compact)
            guard let line = try connection.readLine() else { throw CommandError(ExitCode.unavailable, "the daemon closed the connection") }
            return try JSONValue.parse(line)
        } catch let e as CommandError {
            stale = true
            throw e
        } catch {
            stale = true
            throw CommandError(ExitCode.unavailable, "talking to the daemon: \(error)")
        }
    }

    /// A read's answer, or its refusal as a CommandError; a daemon that does not answer within `readTimeout`
    /// (stopped, or overloaded) is an error (69), not a hang.
    func read(_ call: ReadCall) throws -> JSONValue {
        let previous = connection.receiveTimeout
        connection.setReceiveTimeout(seconds: min(previous == 0 ? DaemonClient.readTimeout : previous, DaemonClient.readTimeout))
        defer { connection.setReceiveTimeout(seconds: previous) }
        let reply: JSONValue
        do { reply = try send(.read(call)) } catch let e as CommandError where e.message.contains("no answer within") {
            throw CommandError(ExitCode.unavailable, "the daemon did not answer within \(DaemonClient.readTimeout) s (stopped or overloaded?)")
        }
        if let refusal = Wire.refusal(in: reply) { throw refusal }
        return reply
    }

    /// The request object of a successful answer, or the refusal as a CommandError.
    static func request(from reply: JSONValue) throws -> JSONValue? {
        if let refusal = Wire.refusal(in: reply) { throw refusal }
        return reply["request"]
    }
}

/// What the change lines read since the last look said.
struct ChangeNotice: Equatable {
    /// The requests changed; nil when anything may have changed (a line without `ids`).
    var ids: Set<Int64>?
    /// The caller's review total and the ids at the head of their queue, from the newest line (review subscriptions).
    var reviewTotal: Int?
    var reviewHead: [Int64]?

    /// Adds one line's news to what came before it. A line with `review` but no `review_head` says the head is the
    /// one the previous line of the subscription carried (`lastHead`); without that one, the head is not known.
    mutating func merge(_ line: ChangeLine, lastHead: [Int64]? = nil) {
        if let list = line.ids { ids?.formUnion(list) } else { ids = nil }
        if let total = line.review, let head = line.reviewHead ?? lastHead {
            reviewTotal = Int(total)
            reviewHead = head
        } else {
            reviewTotal = nil
            reviewHead = nil
        }
    }
}

/// A connection subscribed to the daemon's change feed: readable after every commit. Each line names what changed
/// (see docs/protocol.md); `notice` gathers the lines until it is taken.
final class ChangeSubscription {
    let connection: LineConnection
    private var partial: [UInt8]
    private var news: ChangeNotice?
    /// Where `wait` receives (kept: a console waits once per commit of the store).
    private var buf = [UInt8](repeating: 0, count: 4096)
    /// The review head the last line carried or stood for (nil: not known), for the lines that leave it out.
    private var lastHead: [Int64]?

    /// Subscribes on `socketPath` (`review`: lines also carry the review total and head); nil when no daemon answers.
    init?(socketPath: String, review: Bool = false) {
        guard let c = try? connectUnixSocket(socketPath) else { return nil }
        c.setReceiveTimeout(seconds: 5)
        guard (try? c.writeLine(DaemonCall.read(review ? .subscribeReview : .subscribe).json.compact)) != nil,
              let line = try? c.readLine(), let reply = try? JSONValue.parse(line), Wire.refusal(in: reply) == nil else { return nil }
        connection = c
        partial = c.takeBuffered()
    }

    var descriptor: Int32 { connection.fd }

    /// Waits up to `timeoutMs` for a commit; drains what arrived. `nil` when the daemon went away.
    func wait(timeoutMs: Int) -> Bool? {
        var p = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, Int32(timeoutMs))
        guard n > 0 else { return false }
        var got = false
        while true {
            let r = recv(connection.fd, &buf, buf.count, Int32(MSG_DONTWAIT))
            if r > 0 { got = true; absorb(buf[0..<r]); continue }
            if r == 0 { return got ? true : nil }
            return got
        }
    }

    /// What the lines since the last call said; nil when none came.
    func takeNotice() -> ChangeNotice? {
        defer { news = nil }
        return news
    }

    private func absorb(_ bytes: ArraySlice<UInt8>) {
        partial += bytes
        while let nl = partial.firstIndex(of: 0x0A) {
            // Read before it is removed: a slice kept across the removal would copy the buffer.
            let read = ChangeLine.read(partial[..<nl])
            partial.removeSubrange(...nl)
            var n = news ?? ChangeNotice(ids: [])
            // A line that does not parse says nothing precise: anything may have changed.
            if let read {
                n.merge(read, lastHead: lastHead)
                lastHead = n.reviewHead
            } else {
                n.ids = nil
                lastHead = nil   // whatever the daemon thinks it sent, the next head left out cannot be known
            }
            news = n
        }
        // A line longer than any the daemon sends: drop it, and assume anything changed.
        if partial.count > 1 << 20 { partial.removeAll(); news = ChangeNotice(ids: nil) }
    }
}
