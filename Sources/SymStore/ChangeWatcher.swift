import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wakes a waiter when another process commits to the store: inotify on the store's directory
/// (the `-wal` file changes on every commit) confirmed by `PRAGMA data_version`, or polling where
/// inotify is not available.
public final class ChangeWatcher {
    private let store: Store
    private var fd: Int32 = -1
    private var lastVersion: Int64
    private let walName: String
    private let dbName: String
    public private(set) var usesInotify = false

    public init(store: Store) {
        self.store = store
        lastVersion = (try? store.db.dataVersion()) ?? 0
        let url = URL(fileURLWithPath: store.path)
        dbName = url.lastPathComponent
        walName = dbName + "-wal"
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd >= 0 {
            let mask = UInt32(IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO)
            if inotify_add_watch(fd, url.deletingLastPathComponent().path, mask) >= 0 {
                usesInotify = true
            } else {
                close(fd); fd = -1
            }
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The descriptor to poll for readability alongside other inputs (nil when polling).
    public var pollDescriptor: Int32? { usesInotify ? fd : nil }

    /// True when the store changed since the last call (cheap: one PRAGMA).
    public func changed() -> Bool {
        drain()
        return versionChanged()
    }

    /// Blocks up to `timeoutMs` for a commit by another process; true if one happened.
    public func wait(timeoutMs: Int) -> Bool {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMs)) * 1_000_000
        if woke(deadline: deadline) { return true }
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { return versionChanged() }
            let remaining = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000))
            if usesInotify {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let n = poll(&p, 1, max(1, remaining))
                if n > 0, woke(deadline: deadline) { return true }
                if n == 0 { return versionChanged() }
            } else {
                usleep(UInt32(min(Int32(25), max(1, remaining))) * 1000)
                if versionChanged() { return true }
            }
        }
    }

    /// After a file event: a commit writes (and fsyncs) the -wal before it publishes itself in the
    /// wal-index (-shm, written through mmap: no inotify event), so look again for a little while.
    private func woke(deadline: UInt64) -> Bool {
        let hadEvents = drain()
        if versionChanged() { return true }
        guard hadEvents else { return false }
        let settleUntil = min(deadline, DispatchTime.now().uptimeNanoseconds + 50_000_000)
        while DispatchTime.now().uptimeNanoseconds < settleUntil {
            usleep(1000)
            if versionChanged() { return true }
        }
        return false
    }

    private func versionChanged() -> Bool {
        let v = (try? store.db.dataVersion()) ?? lastVersion
        if v != lastVersion { lastVersion = v; return true }
        return false
    }

    /// Empties the inotify queue; true when it held events.
    @discardableResult
    private func drain() -> Bool {
        guard fd >= 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 4096)
        var any = false
        while read(fd, &buf, buf.count) > 0 { any = true }
        return any
    }
}
