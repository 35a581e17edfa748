import Foundation
import SymModel
import SymProtocol
#if canImport(Glibc)
import Glibc
#endif

/// One daemon per store: an exclusive `flock` on `STORE.lock`, a file of the daemon's alone (0600).
///
/// The lock is inherited by the programs the daemon runs (it is not close-on-exec): after a crash, a `gpasswd` or
/// strategy script the old daemon started may still be finishing, and a new daemon must not act on the same access
/// meanwhile. So when the lock is held but its daemon is gone, the new one waits for them (bounded). A holder that
/// cannot be one of them — a process of another user, who could open the file while it was readable — does not
/// block the start: the daemon puts a fresh lock file in place and logs who held the old one.
enum StoreLock {
    static func acquire(path: String, orphanWait: TimeInterval, log: (LogLevel, String) -> Void) throws -> Int32 {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var fd = try openLockFile(path)
        let started = Date()
        let deadline = started.addingTimeInterval(orphanWait)
        var waiting = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let recorded = recordedPID(fd)
            if let pid = recorded, kill(pid, 0) == 0 || errno == EPERM, processUID(pid) == geteuid() {
                close(fd)
                throw CommandError(ExitCode.unavailable, "another daemon (pid \(pid)) already serves \((path as NSString).deletingPathExtension)")
            }
            let holders = openers(of: fd)
            let ours = holders.filter { $0.uid == geteuid() }
            if ours.isEmpty {
                // Nobody who could be the daemon's child holds it: take a new lock file instead of waiting for them.
                let others = holders.map { "pid \($0.pid) (uid \($0.uid))" }.joined(separator: ", ")
                log(.warning, "WARNING: \(path) is held by \(others.isEmpty ? "a process that is gone" : others), not by programs of a previous "
                    + "daemon; replacing the lock file")
                let fresh = try replaceLockFile(path)
                close(fd)
                fd = fresh
                continue
            }
            if Date() >= deadline {
                close(fd)
                throw CommandError(ExitCode.unavailable, "programs started by a previous daemon (pid \(recorded.map(String.init) ?? "?"), gone) still hold \(path) "
                                   + "after \(Int(orphanWait)) s; find them with `fuser \(path)` and stop them")
            }
            // Said only after a second: a daemon that just took the lock writes its pid a moment later.
            if !waiting && Date() >= started.addingTimeInterval(1) {
                log(.info, "waiting for programs the previous daemon (pid \(recorded.map(String.init) ?? "?")) started to finish")
                waiting = true
            }
            usleep(50_000)
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        return fd
    }

    /// Opens (creating) the lock file without following a symlink; it must be the daemon's own regular file.
    static func openLockFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CommandError(ExitCode.ioErr, "cannot open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid() else {
            close(fd)
            throw CommandError(ExitCode.unavailable, "\(path) is not a regular file of the daemon's user (uid \(geteuid())); remove it")
        }
        // Round-1 stores made it 0644: from now on no one else may even open it.
        fchmod(fd, 0o600)
        return fd
    }

    /// A new, locked lock file renamed over `path` (the old inode stays with whoever holds it).
    static func replaceLockFile(_ path: String) throws -> Int32 {
        let temp = path + ".new.\(getpid())"
        unlink(temp)
        let fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CommandError(ExitCode.ioErr, "cannot create \(temp): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, rename(temp, path) == 0 else {
            let e = errno
            close(fd)
            unlink(temp)
            throw CommandError(ExitCode.ioErr, "cannot replace \(path): \(String(cString: strerror(e)))")
        }
        return fd
    }

    static func recordedPID(_ fd: Int32) -> pid_t? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buf, 31, 0)
        guard n > 0 else { return nil }
        return pid_t(String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The real uid of a running process (from /proc), or nil when it is gone.
    static func processUID(_ pid: pid_t) -> uid_t? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { uid_t($0) }
        }
        return nil
    }

    /// Every other process with the same file open (by device and inode), with its uid.
    static func openers(of fd: Int32) -> [(pid: pid_t, uid: uid_t)] {
        var mine = stat()
        guard fstat(fd, &mine) == 0 else { return [] }
        var out: [(pid_t, uid_t)] = []
        let me = getpid()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), pid != me else { continue }
            let fdDir = "/proc/\(entry)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDir) else { continue }
            for f in fds {
                var st = stat()
                if stat(fdDir + "/" + f, &st) == 0, st.st_dev == mine.st_dev, st.st_ino == mine.st_ino {
                    if let uid = processUID(pid) { out.append((pid, uid)) }
                    break
                }
            }
        }
        return out
    }
}
