import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether any of a few paths may have changed since the watch was set: one inotify instance watching each path that
/// exists (written in place, its times or links changed, removed, renamed) and the nearest existing directory above
/// each path (an entry created, removed or renamed there: a file replaced by a rename, a missing path appearing).
/// Asking costs one non-blocking `read`, where looking at the paths again costs a `stat` each.
///
/// The kernel queues an event before the system call that caused it returns, so once a change is made, the next
/// `isQuiet` says so. A watch is set up once and is never re-armed: after an event it stays unquiet, and the owner sets a
/// new one (the paths it must watch may have changed, a new file is a new inode).
final class FileChangeWatch {
    private let fd: Int32
    /// Events of the path itself (it follows a symbolic link to the file it names).
    static let onPath = UInt32(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF)
    /// Events of a directory's entries, and of the directory itself going away.
    static let onDirectory = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
    private var heard = false

    private init(fd: Int32) { self.fd = fd }

    /// nil when inotify cannot watch them all (no instance left for this user, too many watches, a path it may not read).
    static func set(on paths: [String]) -> FileChangeWatch? {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        var directories = Set<String>()
        var whole = true
        for path in paths where whole {
            var info = stat()
            if stat(path, &info) == 0, inotify_add_watch(fd, path, onPath) < 0 { whole = false }
            if let dir = nearestDirectory(above: path) { directories.insert(dir) } else { whole = false }
        }
        for dir in directories where whole && inotify_add_watch(fd, dir, onDirectory) < 0 { whole = false }
        guard whole else { close(fd); return nil }
        return FileChangeWatch(fd: fd)
    }

    deinit { close(fd) }

    /// The nearest directory above `path` that exists ("/" at worst); nil for a relative path.
    static func nearestDirectory(above path: String) -> String? {
        guard path.hasPrefix("/") else { return nil }
        var dir = (path as NSString).deletingLastPathComponent
        while dir != "/" {
            var info = stat()
            if stat(dir, &info) == 0 { return dir }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    /// True while no event arrived since the watch was set (events include the queue overflowing and a watch being
    /// dropped). Not thread-safe: the owner serialises calls.
    func isQuiet() -> Bool {
        if heard { return false }
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let n = withUnsafeMutableBytes(of: &buffer) { read(fd, $0.baseAddress, $0.count) }
        // EAGAIN: nothing queued. Any other outcome (events, a buffer too small for one, an error) counts as a change.
        if n < 0 && errno == EAGAIN { return true }
        heard = true
        return false
    }
}
