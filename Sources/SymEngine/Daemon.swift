import Foundation
import SymModel
import SymStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// glibc has accept4 behind _GNU_SOURCE; it closes the window in which a spawned strategy could inherit a client socket.
@_silgen_name("accept4")
private func c_accept4(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ len: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32

/// Writes the daemon's log (stderr; the journal under systemd): one `symtui daemon: ` line per line of `message`.
/// Messages may quote config text or user input, so every line is neutralised.
func daemonLog(_ message: String) {
    for line in message.split(separator: "\n") {
        FileHandle.standardError.write(Data("symtui daemon: \(SafeText.display(String(line)))\n".utf8))
    }
}

/// The protocol version spoken on the socket. A line is `{"v":1, …an Events API object…}`;
/// the answer is `{"v":1,"ok":true,"request":{…}}` or `{"v":1,"ok":false,"exit":N,"error":"…"}`.
public let protocolVersion: Int64 = 1

/// `symtui daemon`: the only writer of the store. Listens on the socket, runs the engine and its loop.
public final class Daemon: @unchecked Sendable {
    public let config: Config
    /// Re-reads the configuration on SIGHUP; nil disables reloading.
    public var reloadConfig: (@Sendable () throws -> Config)?
    public let storePath: String
    public let socketPath: String
    /// Retry policies for strategy runs (tests and operators may shorten or cap them).
    public var escalationRetry = RetryPolicy.escalation
    public var deescalationRetry = RetryPolicy.deescalation
    private let stopping = Atomic<Bool>(false)
    private let connections = Atomic<Int>(0)
    static let maxConnections = 256
    static let idleTimeout = 300
    private var listenFD: Int32 = -1
    private var lockFD: Int32 = -1

    public init(config: Config, storePath: String, socketPath: String) {
        self.config = config; self.storePath = storePath; self.socketPath = socketPath
    }

    /// Takes the per-store lock; fails when another daemon holds it.
    ///
    /// The lock is inherited by the programs the daemon runs (it is not close-on-exec): after a crash, a
    /// `gpasswd` or strategy script the old daemon started may still be finishing, and a new daemon must not
    /// act on the same access meanwhile. So when the lock is held but its daemon is gone, wait for them.
    func acquireLock(orphanWait: TimeInterval = 120) throws {
        let path = storePath + ".lock"
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw CommandError(ExitCode.ioErr, "cannot open \(path): \(String(cString: strerror(errno)))") }
        let started = Date()
        let deadline = started.addingTimeInterval(orphanWait)
        var waiting = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            let text = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            let holderAlive = pid_t(text).map { kill($0, 0) == 0 || errno == EPERM } ?? true
            if holderAlive {
                close(fd)
                throw CommandError(ExitCode.unavailable, "another daemon (pid \(text)) already serves \(storePath)")
            }
            if Date() >= deadline {
                close(fd)
                throw CommandError(ExitCode.unavailable, "programs started by a previous daemon (pid \(text), gone) still hold \(path) "
                                   + "after \(Int(orphanWait)) s; find them with `fuser \(path)` and stop them")
            }
            // Said only after a second: a daemon that just took the lock writes its pid a moment later.
            if !waiting && Date() >= started.addingTimeInterval(1) {
                log("waiting for programs the previous daemon (pid \(text)) started to finish")
                waiting = true
            }
            usleep(50_000)
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        lockFD = fd
    }

    func openStore() throws -> Store {
        var gid: gid_t?
        if let g = config.storeGroup {
            guard let id = Identity.groupID(g) else { throw CommandError(ExitCode.dataErr, "store_group \(g) does not exist") }
            gid = id
        }
        // Read before the store is opened: a daemon that cannot sign writes nothing unsigned.
        let signer = try config.reporting.hmacKeyFile.map { try AuditKey.load(path: $0, private: true) }
        do {
            let store = try Store.openForWriting(path: storePath, mode: config.storeMode ?? 0o644, group: gid)
            store.signer = signer
            let restored = try store.restoreAppendOnlyTriggers()
            if !restored.isEmpty {
                log("WARNING: the audit log's append-only triggers were gone (\(restored.joined(separator: ", "))): someone wrote "
                    + "to the store directly; they are back; run `symtui audit verify` (with --against or --key) to see what changed")
            }
            return store
        } catch {
            throw CommandError(ExitCode.unavailable, "cannot open the store \(storePath) for writing: \(error)")
        }
    }

    /// Runs until SIGTERM/SIGINT (or, with `once`, until no work is due). Returns the exit code.
    public func run(once: Bool) throws -> Int32 {
        try acquireLock()
        let store = try openStore()
        let engine = Engine(config: config, store: store)
        engine.escalationRetry = escalationRetry
        engine.deescalationRetry = deescalationRetry
        if config.flows.contains(where: { $0.implementation != nil }) {
            // The handler SDK goes next to the store, in a directory only this daemon writes.
            let dir = (storePath as NSString).deletingLastPathComponent + "/sdk"
            do { engine.handlers = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: dir)) } catch {
                throw CommandError(ExitCode.ioErr, "\(error)")
            }
        }
        let loop = ExpiryLoop(engine: engine)
        let reporting = ReportingLoop(config: config, storePath: storePath)
        if once {
            try loop.runUntilIdle()
            // Due work includes the audit backlog; a destination that is down keeps it for the next run.
            guard reporting.deliverBacklog(timeout: 60) else {
                throw CommandError(ExitCode.unavailable, "due work done, but not every audit destination took its backlog "
                                   + "(see `symtui audit status`); it is delivered on the next run")
            }
            return ExitCode.ok
        }
        engine.onChange = { [weak loop] work in loop?.poke(work); reporting.poke() }
        signal(SIGPIPE, SIG_IGN)
        listenFD = try listenUnixSocket(socketPath, mode: 0o666)
        var sources: [any DispatchSourceSignal] = []
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler { [self, engine, reporting] in
            guard let reloadConfig else { return }
            do {
                let config = try reloadConfig()
                if config.reporting.hmacKeyFile != self.config.reporting.hmacKeyFile {
                    log("reporting.hmac_key_file is read at start: restart the daemon to sign with another key")
                }
                engine.reload(config)
                reporting.reload(config)
                log("configuration reloaded")
            } catch {
                log("configuration NOT reloaded (keeping the previous one): \(error)")
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
        let acceptThread = Thread { [self] in acceptLoop(engine: engine) }
        acceptThread.start()
        // Audit events leave the machine from their own thread, each destination at its own pace.
        let reportingThread = Thread { [self] in reporting.run(until: { [self] in stopping.load(ordering: .sequentiallyConsistent) }) }
        reportingThread.start()
        log("serving \(storePath) on \(socketPath) (pid \(getpid()))")
        loop.run(until: { [self] in stopping.load(ordering: .sequentiallyConsistent) })
        close(listenFD)
        unlink(socketPath)
        _ = sources
        log("stopped")
        return ExitCode.ok
    }

    private func log(_ s: String) { daemonLog(s) }

    private func acceptLoop(engine: Engine) {
        while !stopping.load(ordering: .sequentiallyConsistent) {
            let fd = c_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if stopping.load(ordering: .sequentiallyConsistent) { return }
                usleep(10_000)
                continue
            }
            // Bounded: every local user may connect, so no one may exhaust the daemon's threads or hold one forever.
            let conn = LineConnection(fd: fd)
            conn.setReceiveTimeout(seconds: Daemon.idleTimeout)
            guard connections.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue <= Daemon.maxConnections else {
                connections.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                try? conn.writeLine(Daemon.reply(error: CommandError(ExitCode.unavailable, "the daemon is busy (too many connections); try again")))
                continue
            }
            let t = Thread { [self] in
                serve(conn, engine: engine)
                connections.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            }
            t.start()
        }
    }

    /// Answers each line of one connection with the identity the kernel gives for its peer.
    func serve(_ conn: LineConnection, engine: Engine) {
        guard let uid = conn.peerUID(), let identity = Identity.of(uid: uid) else {
            try? conn.writeLine(Daemon.reply(error: CommandError(ExitCode.noPerm, "cannot identify the caller")))
            return
        }
        while let line = try? conn.readLine() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let answer: String
            do {
                let json: JSONValue
                do { json = try JSONValue.parse(line) } catch { throw CommandError.invalid("not valid JSON: \(error)") }
                if let v = json["v"]?.intValue, v != protocolVersion {
                    throw CommandError(ExitCode.usage, "protocol version \(v) is not spoken here (daemon speaks \(protocolVersion))")
                }
                let command = try ClientCommand.parse(json)
                if case let .prefetch(flow, field) = command {
                    switch engine.prefetch(flow: flow, field: field, by: identity) {
                    case let .success(options): answer = JSONValue.obj([("v", .int(protocolVersion)), ("ok", .bool(true)), ("options", .array(options))]).compact
                    case let .failure(e): answer = Daemon.reply(error: e)
                    }
                } else if command == .ping {
                    answer = JSONValue.obj([("v", .int(protocolVersion)), ("ok", .bool(true)), ("user", .string(identity.name)),
                                            ("pid", .int(Int64(getpid())))]).compact
                } else {
                    switch engine.execute(command, by: identity) {
                    case let .success(r): answer = JSONValue.obj([("v", .int(protocolVersion)), ("ok", .bool(true)), ("request", r.json)]).compact
                    case let .failure(e): answer = Daemon.reply(error: e)
                    }
                }
            } catch let e as CommandError {
                answer = Daemon.reply(error: e)
            } catch {
                answer = Daemon.reply(error: CommandError(ExitCode.software, "\(error)"))
            }
            do { try conn.writeLine(answer) } catch { return }
        }
    }

    static func reply(error: CommandError) -> String {
        JSONValue.obj([("v", .int(protocolVersion)), ("ok", .bool(false)), ("exit", .int(Int64(error.code))),
                       ("error", .string(error.message))]).compact
    }
}
