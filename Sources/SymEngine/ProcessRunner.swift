import Foundation
import SymModel
import SymProtocol
#if canImport(Glibc)
import Glibc
#endif

// glibc has these, but hides them behind _GNU_SOURCE from Swift's view of its headers.
@_silgen_name("pipe2") private func c_pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func c_addchdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32

/// What an external program did.
public struct ProcessResult: Sendable, Equatable {
    public var exitCode: Int32?          // nil when killed by a signal
    public var signal: Int32?
    public var timedOut: Bool
    public var stdout: Data              // at most `maxOutput` bytes
    public var stderrTail: String        // the last `tailBytes` of stderr, as text
    public var durationMs: Int
    public var succeeded: Bool { exitCode == 0 && !timedOut }

    /// A one-line account for errors and audit data.
    public var summary: String {
        if timedOut { return "timed out after \(durationMs) ms (process group killed)" }
        if let signal { return "killed by signal \(signal)" }
        let tail = stderrTail.split(separator: "\n").last.map { ": " + $0 } ?? ""
        return "exit \(exitCode ?? -1)\(tail)"
    }

    public var auditData: JSONValue {
        let code: JSONValue = exitCode.map { .int(Int64($0)) } ?? .null
        let sig: JSONValue = signal.map { .int(Int64($0)) } ?? .null
        return .object([("exit_code", code), ("signal", sig), ("timed_out", .bool(timedOut)),
                        ("duration_ms", .int(Int64(durationMs))), ("stderr_tail", .string(stderrTail))])
    }
}

/// A program could not be started at all.
public struct ProcessLaunchError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "cannot run \(path): \(message)" }
}

/// The one place that runs external programs: by absolute path, argv array, no shell, an explicit
/// environment, its own process group, and a timeout that kills the whole group.
public enum ProcessRunner {
    public static let defaultMaxOutput = 1 << 20
    public static let tailBytes = 2048

    // A program that exits without reading all of its stdin gives EPIPE, not a SIGPIPE that kills the caller: the
    // writes run with SIGPIPE blocked on this thread (see `run`), whatever the process's disposition; children get
    // the default disposition and an empty mask.

    public static func run(path: String, arguments: [String] = [], environment: [String: String] = [:],
                           stdin: Data = Data(), timeout: TimeInterval, workingDirectory: String? = nil,
                           maxOutput: Int = defaultMaxOutput) throws -> ProcessResult {
        guard path.hasPrefix("/") else { throw ProcessLaunchError(path: path, message: "not an absolute path") }
        guard access(path, X_OK) == 0 else { throw ProcessLaunchError(path: path, message: String(cString: strerror(errno))) }

        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard c_pipe2(&inPipe, O_CLOEXEC) == 0, c_pipe2(&outPipe, O_CLOEXEC) == 0, c_pipe2(&errPipe, O_CLOEXEC) == 0 else {
            throw ProcessLaunchError(path: path, message: "pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        if let wd = workingDirectory { _ = c_addchdir(&actions, wd) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaultSignals, s) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigdefault(&attr, &defaultSignals)
        posix_spawnattr_setsigmask(&attr, &emptyMask)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }

        let started = DispatchTime.now()
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw ProcessLaunchError(path: path, message: String(cString: strerror(rc)))
        }

        var pipeSignal = sigset_t(), savedMask = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &savedMask)
        defer {
            // Drop the SIGPIPE a write to a program that had gone left pending, then restore this thread's mask.
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1, sigismember(&savedMask, SIGPIPE) == 0 {
                var now = timespec()
                _ = sigtimedwait(&pipeSignal, nil, &now)
            }
            pthread_sigmask(SIG_SETMASK, &savedMask, nil)
        }

        var out = Data(), err = Data()
        var stdinBytes = [UInt8](stdin)
        var stdinOffset = 0
        var fds: [pollfd] = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
                             pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0),
                             pollfd(fd: inPipe[1], events: Int16(POLLOUT), revents: 0)]
        for fd in [outPipe[0], errPipe[0], inPipe[1]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if stdinBytes.isEmpty { close(inPipe[1]); fds[2].fd = -1 }
        let deadline = started.uptimeNanoseconds + UInt64(max(0, timeout) * 1e9)
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65_536)

        while fds[0].fd >= 0 || fds[1].fd >= 0 {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { timedOut = true; break }
            let waitMs = Int32(min(1000, (deadline - now) / 1_000_000 + 1))
            let n = poll(&fds, nfds_t(fds.count), waitMs)
            if n < 0 { if errno == EINTR { continue }; break }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let r = read(fds[i].fd, &buffer, buffer.count)
                if r > 0 {
                    if i == 0 { if out.count < maxOutput { out.append(contentsOf: buffer[0..<min(r, maxOutput - out.count)]) } }
                    else { err.append(contentsOf: buffer[0..<r]); if err.count > 4 * tailBytes { err = err.suffix(tailBytes) } }
                } else if r == 0 || (errno != EAGAIN && errno != EINTR) {
                    close(fds[i].fd); fds[i].fd = -1
                }
            }
            if fds[2].fd >= 0 && fds[2].revents != 0 {
                let w = stdinBytes.withUnsafeBufferPointer { p in
                    write(fds[2].fd, p.baseAddress! + stdinOffset, p.count - stdinOffset)
                }
                if w > 0 { stdinOffset += w }
                if w < 0 && errno != EAGAIN && errno != EINTR { stdinOffset = stdinBytes.count }
                if stdinOffset >= stdinBytes.count { close(fds[2].fd); fds[2].fd = -1; stdinBytes = [] }
            }
        }
        if timedOut { kill(-pid, SIGKILL) }
        for fd in fds where fd.fd >= 0 { close(fd.fd) }

        var status: Int32 = 0
        // A program that closed its output may still run: the deadline holds until it has exited.
        var pause: UInt32 = 500
        while !timedOut {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { break }
            if DispatchTime.now().uptimeNanoseconds >= deadline { timedOut = true; kill(-pid, SIGKILL); break }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
        if timedOut { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
        // Whatever the leader left behind in its group goes with it.
        kill(-pid, SIGKILL)
        let elapsed = Int((DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000)
        let exited = (status & 0x7f) == 0
        let tail = String(decoding: err.suffix(tailBytes), as: UTF8.self)
        return ProcessResult(exitCode: exited && !timedOut ? (status >> 8) & 0xff : nil,
                             signal: exited ? nil : status & 0x7f, timedOut: timedOut, stdout: out,
                             stderrTail: tail, durationMs: elapsed)
    }
}

// POSIX_SPAWN_SETSID (glibc ≥ 2.26) is not exported to Swift.
private let spawnSetSID: Int32 = 0x80

extension ProcessRunner {
    /// Starts a long-lived program in its own session, detached from the terminal, output to `logPath`.
    /// Used once: a client starting the single-user daemon.
    public static func spawnDetached(path: String, arguments: [String], environment: [String: String], logPath: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attr, &emptyMask)
        posix_spawnattr_setflags(&attr, Int16(spawnSetSID | POSIX_SPAWN_SETSIGMASK))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        guard rc == 0 else { throw ProcessLaunchError(path: path, message: String(cString: strerror(rc))) }
    }
}
