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
        let v = (try? store.db.dataVersion()) ?? lastVersion
        if v != lastVersion { lastVersion = v; return true }
        return false
    }

    /// Blocks up to `timeoutMs` for a commit by another process; true if one happened.
    public func wait(timeoutMs: Int) -> Bool {
        if changed() { return true }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMs)) * 1_000_000
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { return changed() }
            let remaining = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000))
            if usesInotify {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let n = poll(&p, 1, max(1, remaining))
                if n > 0, changed() { return true }
                // A safety net: confirm with data_version at least every 250 ms even if inotify missed it.
                if n == 0 { return changed() }
            } else {
                usleep(UInt32(min(Int32(25), max(1, remaining))) * 1000)
                if changed() { return true }
            }
        }
    }

    private func drain() {
        guard fd >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 4096)
        while read(fd, &buf, buf.count) > 0 {}
    }
}
