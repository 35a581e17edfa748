import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which version of a file a cached answer belongs to: device, inode, size, and modification and change times (ns).
/// Any edit of the file, in place or by renaming a new one over it, changes at least one of them.
public struct FileIdentity: Equatable, Sendable {
    public var device: UInt64, inode: UInt64, size: Int64
    public var modified: Int64, changed: Int64

    /// nil when the file cannot be `stat`ed (it does not exist).
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev); inode = UInt64(info.st_ino); size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }
}
