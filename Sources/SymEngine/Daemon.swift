import Foundation
import SymModel
import SymProtocol
import SymStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// glibc has accept4 behind _GNU_SOURCE; it closes the window in which a spawned strategy could inherit a client socket.
@_silgen_name("accept4")
private func c_accept4(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ len: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32

/// `symtui daemon`: the only process that opens the store. Listens on the socket, answers reads, runs the engine
/// and its loops.
public final class Daemon: @unchecked Sendable {
    public let config: Config
    /// Re-reads the configuration on SIGHUP; nil disables reloading.
    public var reloadConfig: (@Sendable () throws -> Config)?
    public let storePath: String
    public let socketPath: String
    /// Retry policies for strategy runs (tests and operators may shorten or cap them).
    public var escalationRetry = RetryPolicy.escalation
    public var deescalationRetry = RetryPolicy.deescalation
    /// The build this daemon runs, written in its heartbeat (`symtui hosts`).
    public var version = "unknown"
    private let stopping = Atomic<Bool>(false)
    private let admission = Admission()
    /// A command connection that says nothing for this long is closed (clients reconnect).
    static let idleTimeout = 30
    /// How long a connection served alone polls for its next line before its thread sleeps: a client in a loop
    /// sends it within this (a round trip without the wake-up), an interactive one costs at most this once per answer.
    static let pollWindow: Int64 = 100_000
    private var listenFD: Int32 = -1
    private var lockFD: Int32 = -1

    public init(config: Config, storePath: String, socketPath: String) {
        self.config = config; self.storePath = storePath; self.socketPath = socketPath
    }


    /// Takes the per-store lock; fails when another daemon holds it. See `StoreLock`.
    func acquireLock(orphanWait: TimeInterval = 120) throws {
        try acquireLockFile(path: storePath + ".lock", orphanWait: orphanWait)
    }

    func acquireLockFile(path: String, orphanWait: TimeInterval) throws {
        lockFD = try StoreLock.acquire(path: path, orphanWait: orphanWait, log: log)
    }

    func openStore() throws -> Store {
        var gid: gid_t?
        if let g = config.storeGroup {
            guard let id = Identity.groupID(g) else { throw CommandError(ExitCode.dataErr, "store_group \(g) does not exist") }
            gid = id
        }
        let mode = config.storeMode ?? 0o600
        for warning in try StorePlacement.check(storePath: storePath, mode: mode, group: config.storeGroup) { log(.warning, "WARNING: " + warning) }
        // Read before the store is opened: a daemon that cannot sign writes nothing unsigned.
        let signer: HMACSHA256?
        do { signer = try config.reporting.hmacKeyFile.map { try AuditKey.load(path: $0, private: true) } } catch let e as AuditKeyError {
            throw CommandError(e.exitCode, e.message)
        }
        do {
            let store = try Store.openForWriting(path: storePath, mode: mode, group: gid, hostName: config.hostName)
            store.signer = signer
            let restored = try store.restoreAppendOnlyTriggers()
            if !restored.isEmpty {
                log(.warning, "WARNING: the audit log's append-only triggers were gone (\(restored.joined(separator: ", "))): someone wrote "
                    + "to the store directly; they are back; run `symtui audit verify` (with --against or --key) to see what changed")
            }
            return store
        } catch {
            throw CommandError(ExitCode.unavailable, "cannot open the store \(storePath) for writing: \(error)")
        }
    }

    /// Runs until SIGTERM/SIGINT (or, with `once`, until no work is due). Returns the exit code.
    public func run(once: Bool) throws -> Int32 {
        // On PostgreSQL the host lock's connection lives as long as the daemon: closing it releases the lock.
        var hostLock: HostLock?
        if onPostgres { hostLock = try acquirePostgresLocks() } else { try acquireLock() }
        defer { hostLock?.release() }
        if let problem = Strategies.preflight(config) { throw CommandError(ExitCode.dataErr, problem.message) }
        let backend = try onPostgres ? openPostgresBackend() : openSQLiteBackend()
        // From here on the connection is the writer's: every thread reaches it through `writer`, one at a time.
        let writer = backend.writer
        // The other daemons hear of this one's last commits before it goes (their notices follow each commit).
        defer { (writer as? PostgresStore)?.finishNotices() }
        let engine = Engine(config: config, store: writer)
        engine.escalationRetry = escalationRetry
        engine.deescalationRetry = deescalationRetry
        if config.flows.contains(where: { $0.implementation != nil }) {
            // The handler SDK goes in the daemon's state directory (next to a SQLite store), in a directory only it writes.
            let dir = backend.stateDirectory + "/sdk"
            do { engine.handlers = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: dir)) } catch {
                throw CommandError(ExitCode.ioErr, "\(error)")
            }
        }
        let loop = GrantLoop(engine: engine)
        let reporting = ReportingLoop(config: config, openStore: backend.openLoopStore)
        // A fleet: local destinations get a cursor per bastion, shared ones a claim (docs/audit.md).
        if onPostgres { reporting.fleet = ReportingFleet(hostName: hostName, conninfo: storePath) }
        let notifications = NotificationLoop(config: config, openStore: backend.openLoopStore)
        notifications.sweep = { [engine] in try engine.queueDueNotices() }
        // Every daemon of a fleet delivers the one outbox: each claims what it sends (docs/notifications.md).
        if onPostgres { notifications.claimLease = 120 }
        defer { if let sqlite = backend.sqlite { checkpoint(sqlite) } }
        let heartbeat = Heartbeat(store: writer, host: { [engine] in engine.config.hostName }, version: version)
        do { try heartbeat.beat() } catch { log(.warning, "heartbeat: \(error)") }
        if once {
            try loop.runUntilIdle()
            _ = try engine.queueDueNotices()
            // Notifications that fail stay queued for the next run, like the audit backlog below.
            if !notifications.deliverBacklog(timeout: 60) {
                log(.warning, "not every notification was delivered (see `symtui audit status`); the rest are retried on the next run")
            }
            // Due work includes the audit backlog; a destination that is down keeps it for the next run.
            guard reporting.deliverBacklog(timeout: 60) else {
                throw CommandError(ExitCode.unavailable, "due work done, but not every audit destination took its backlog "
                                   + "(see `symtui audit status`); it is delivered on the next run")
            }
            return ExitCode.ok
        }
        let feed = ChangeFeed()
        backend.connectFeed(feed)
        let reads = ReadService(openReader: backend.openReader, cacheReviews: backend.feedSeesEveryCommit, feed: feed,
                                config: { [engine] in engine.config })
        if onPostgres { reads.fleetHost = hostName }
        // Resolved again for every line sent, like the identity of every line a client sends.
        feed.reviewHead = { [reads] uid, count in
            guard let caller = Identity.of(uid: uid) else { return nil }
            return try? reads.reviewHead(caller: caller, count: count)
        }
        engine.onChange = { [weak loop] work in loop?.poke(work); reporting.poke(); notifications.poke() }
        // On PostgreSQL, the other daemons' commits reach the same feed and wake the grant loop (their due work may be ours).
        let fleet = FleetChanges.start(store: writer, feed: feed, wake: { [weak loop] work in loop?.poke(work) })
        defer { fleet?.stop() }
        // Serve once this daemon hears the fleet, so that a subscriber never waits for a commit made before the first
        // LISTEN (one that does is told "anything changed"); a database slow to answer holds the start up 2 s at most.
        if let fleet {
            let until = Date().addingTimeInterval(2)
            while !fleet.isConnected && Date() < until { usleep(5_000) }
        }
        var sources: [any DispatchSourceSignal] = []
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler { [self, engine, reporting, notifications, feed] in
            guard let reloadConfig else { return }
            do {
                let config = try reloadConfig()
                if config.reporting.hmacKeyFile != self.config.reporting.hmacKeyFile {
                    log(.warning, "reporting.hmac_key_file is read at start: restart the daemon to sign with another key")
                }
                engine.reload(config)
                reporting.reload(config)
                notifications.reload(config)
                feed.committed()   // flows and routing may have changed: consoles re-read
                log(.info, "configuration reloaded")
            } catch {
                log(.error, "configuration NOT reloaded (keeping the previous one): \(error)")
            }
        }
        hup.resume()
        sources.append(hup)
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { [self, loop] in
                stopping.store(true, ordering: .sequentiallyConsistent)
                shutdown(listenFD, Int32(SHUT_RDWR))
                loop.poke()
            }
            src.resume()
            sources.append(src)
        }
        // Listen only once a stop can be heard: a SIGTERM that arrives as soon as the socket answers must not be lost.
        listenFD = try listenUnixSocket(socketPath, mode: 0o666)
        let isStopping: @Sendable () -> Bool = { [self] in stopping.load(ordering: .sequentiallyConsistent) }
        // Taken again after the server dropped its connection (a restart, a failover).
        hostLock?.keepAlive(every: 5, until: isStopping, log: { level, message in DaemonLog.shared.log(level, message) })
        let acceptThread = Thread { [self] in acceptLoop(engine: engine, reads: reads, feed: feed) }
        acceptThread.start()
        let feedThread = Thread { feed.run(until: isStopping) }
        feedThread.start()
        // Audit events leave the machine from their own thread, each destination at its own pace.
        let reportingThread = Thread { reporting.run(until: isStopping) }
        reportingThread.start()
        // Notifications likewise: one worker per channel, never in the way of a decision.
        let notificationThread = Thread { notifications.run(until: isStopping) }
        notificationThread.start()
        let heartbeatThread = Thread { heartbeat.run(until: isStopping) }
        heartbeatThread.start()
        log(.info, "serving \(writer.location)\(onPostgres ? " as host \(hostName)" : "") on \(socketPath) (pid \(getpid()))")
        loop.run(until: isStopping)
        heartbeat.wake()
        close(listenFD)
        unlink(socketPath)
        reads.close()
        _ = sources
        log(.info, "stopped")
        return ExitCode.ok
    }

    /// A clean stop leaves every commit in the `.db` file itself (a copy of the stopped store is then whole).
    private func checkpoint(_ writer: StoreWriter) {
        do { try writer.checkpoint() } catch { log(.error, "could not checkpoint the store at stop: \(error)") }
    }

    private func log(_ level: LogLevel, _ s: String) { DaemonLog.shared.log(level, s) }

    private func acceptLoop(engine: Engine, reads: ReadService, feed: ChangeFeed) {
        while !stopping.load(ordering: .sequentiallyConsistent) {
            let fd = c_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if stopping.load(ordering: .sequentiallyConsistent) { return }
                usleep(10_000)
                continue
            }
            let conn = LineConnection(fd: fd)
            conn.setReceiveTimeout(seconds: Daemon.idleTimeout)
            conn.pollBeforeSleep = PollBeforeSleep(window: Daemon.pollWindow) { [admission] in admission.servesOne }
            guard let uid = conn.peerUID() else {
                try? conn.writeLine(Wire.failure(CommandError(ExitCode.noPerm, "cannot identify the caller")))
                continue
            }
            // Bounded per user, with room kept for root and approvers: no one user can lock the others out.
            if let refusal = admission.admit(uid: uid, isApprover: { Daemon.isApprover(uid: uid, config: engine.config) }) {
                try? conn.writeLine(Wire.failure(CommandError(ExitCode.unavailable, refusal)))
                continue
            }
            let t = Thread { [self] in
                serve(conn, uid: uid, engine: engine, reads: reads, feed: feed)
                admission.leave(uid: uid)
            }
            t.start()
        }
    }

    /// Whether `uid` may approve something: such callers keep access to the daemon when others crowd it.
    static func isApprover(uid: uid_t, config: Config) -> Bool {
        guard let who = Identity.of(uid: uid) else { return false }
        return config.flows.contains { Policy.isEligible(who.actor, routing: $0.routing) }
    }

    /// A line of spaces and tabs only (or nothing), skipped. Checked on the bytes: Foundation's trimming bridged every
    /// line a client sent to an NSString.
    static func isBlank(_ line: String) -> Bool {
        line.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    /// Answers each line of one connection. The caller's identity (user and groups) comes from the kernel's peer
    /// uid and is resolved again for every line: a user removed from a group loses its rights at their next command.
    ///
    /// A change is submitted to the writer (`Engine.submit`) and answered by whichever thread completes it, while this
    /// thread goes back to reading: it sleeps once per command, in `read`, not also through the batch's commit. The
    /// next line waits for that answer (answers stay in order), and so does closing the connection.
    func serve(_ conn: LineConnection, uid: uid_t, engine: Engine, reads: ReadService, feed: ChangeFeed) {
        let owed = OwedAnswer()
        defer { owed.wait() }
        while let line = try? conn.readLine() {
            owed.wait()
            if Daemon.isBlank(line) { continue }
            let answer: String
            do {
                guard let identity = Identity.of(uid: uid) else { throw CommandError(ExitCode.noPerm, "cannot identify the caller (uid \(uid))") }
                let json: JSONValue
                do { json = try JSONValue.parse(line) } catch { throw CommandError.invalid("not valid JSON: \(error)") }
                let call = try DaemonCall.parse(json)
                switch call {
                case .ping:
                    answer = Wire.ok([("user", .string(identity.name)), ("pid", .int(Int64(getpid())))])
                case let .prefetch(flow, field):
                    switch engine.prefetch(flow: flow, field: field, by: identity) {
                    case let .success(options): answer = Wire.ok([("options", .array(options))])
                    case let .failure(e): answer = Wire.failure(e)
                    }
                case let .backup(path):
                    if onPostgres { throw StoreBackup.refusalOnPostgres }
                    answer = Wire.ok(try StoreBackup.run(to: path, caller: identity, config: engine.config, reads: reads).pairs)
                    log(.info, "backup of the store written to \(path) for \(identity.name)")
                case let .auditCheckpoint(seq, hash, hmacsChecked):
                    answer = Wire.ok(try AuditCheckpointCall.record(seq: seq, hash: hash, hmacsChecked: hmacsChecked, caller: identity, engine: engine))
                case let .onCall(schedule, at):
                    switch engine.onCallAnswer(schedule: schedule, at: at) {
                    case let .success(pairs): answer = Wire.ok(pairs)
                    case let .failure(e): answer = Wire.failure(e)
                    }
                case let .notifyTest(channel, to):
                    switch engine.notifyTest(channel: channel, to: to, by: identity) {
                    case let .success(outcome): answer = Wire.ok(outcome)
                    case let .failure(e): answer = Wire.failure(e)
                    }
                case .read(.subscribe), .read(.subscribeReview):
                    // Refused before it is confirmed: a client must never take a refusal for a change.
                    guard feed.hasRoom(for: uid) else {
                        throw CommandError(ExitCode.unavailable, "too many change subscriptions from your user (\(ChangeFeed.maxPerUser))")
                    }
                    try conn.writeLine(Wire.ok([("subscribed", .bool(true))]))
                    let fd = conn.release()
                    if !feed.subscribe(fd: fd, uid: uid, review: call == .read(.subscribeReview)) { close(fd) }   // lost a race for the last place: the client sees EOF
                    return
                case let .read(call):
                    answer = Wire.ok(try reads.answer(call, caller: identity))
                case let .change(command):
                    owed.begin()
                    engine.submit(command, by: identity) { result in
                        switch result {
                        case let .success(r): owed.answer(Wire.ok([("request", r.json)]), on: conn)
                        case let .failure(e): owed.answer(Wire.failure(e), on: conn)
                        }
                    }
                    continue
                }
            } catch let e as CommandError {
                answer = Wire.failure(e)
            } catch {
                answer = Wire.failure(CommandError(ExitCode.unavailable, "store: \(error)"))
            }
            do { try conn.writeLine(answer) } catch { return }
        }
    }
}

/// The answer a connection owes for a change it submitted: the connection's next line, and its end, wait for it.
final class OwedAnswer: @unchecked Sendable {
    private let condition = NSCondition()
    private var owed = false

    func begin() { condition.withLock { owed = true } }

    /// Writes `answer` without waiting for a client that does not read: what the socket does not take at once is
    /// written from a thread of its own, so that the thread completing many clients' commands never blocks on one.
    func answer(_ answer: String, on conn: LineConnection) {
        guard let rest = try? conn.writeLineWithoutWaiting(answer), !rest.isEmpty else { return done() }
        Thread { [self] in
            try? conn.write(rest: rest)
            done()
        }.start()
    }

    private func done() {
        condition.withLock {
            owed = false
            condition.broadcast()
        }
    }

    func wait() {
        condition.lock()
        while owed { condition.wait() }
        condition.unlock()
    }
}

/// Who may hold a connection: at most `perUser` each, `total` in all, and the last `reserved` places only for root
/// and approvers (an approver's revoke must get through while someone floods the socket).
final class Admission: @unchecked Sendable {
    static let total = 256
    static let perUser = 32
    static let reserved = 64
    private let lock = NSLock()
    private var byUser: [uid_t: Int] = [:]
    private var count = 0

    /// nil when admitted (the caller must `leave` later), else why not.
    func admit(uid: uid_t, isApprover: () -> Bool) -> String? {
        let (n, mine) = lock.withLock { (count, byUser[uid, default: 0]) }
        if uid != 0 && mine >= Admission.perUser { return "too many connections from your user (\(Admission.perUser)); close some and try again" }
        if n >= Admission.total { return "the daemon is busy (too many connections); try again" }
        if n >= Admission.total - Admission.reserved && uid != 0 && !isApprover() {
            return "the daemon is busy (its last connections are kept for approvers); try again"
        }
        lock.withLock {
            count += 1
            byUser[uid, default: 0] += 1
        }
        return nil
    }

    /// True while exactly one connection is admitted: its reads may poll before sleeping (`Daemon.pollWindow`).
    var servesOne: Bool { lock.withLock { count == 1 } }

    func leave(uid: uid_t) {
        lock.withLock {
            count -= 1
            byUser[uid, default: 1] -= 1
            if byUser[uid] == 0 { byUser[uid] = nil }
        }
    }
}
