import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks, like sshd's StrictModes, that nobody but root and the daemon's own user can change a file the daemon runs,
/// writes or installs: the file and every directory above it are owned by root or the daemon's user and are not
/// writable by group or others. A directory others may write is allowed only when it is root's and sticky (`/tmp`):
/// then nobody can rename or replace what another user put in it.
public enum TrustedPath {
    /// Why `path` (which must exist) could be changed by someone else, or nil when it cannot. Symbolic links are
    /// followed to the real file, and the real file's directories are the ones checked. With `ownDirectory`, the
    /// file's own directory may not be sticky-and-shared either (a Python handler imports its neighbours from it).
    public static func problem(with path: String, owner: uid_t = geteuid(), ownDirectory: Bool = false) -> String? {
        guard let real = realPath(path) else { return "\(path): \(String(cString: strerror(errno)))" }
        var info = stat()
        guard lstat(real, &info) == 0 else { return "\(real): \(String(cString: strerror(errno)))" }
        if let p = problem(real, info, owner: owner, isParent: false) { return p }
        if ownDirectory {
            let dir = (real as NSString).deletingLastPathComponent
            var d = stat()
            if lstat(dir.isEmpty ? "/" : dir, &d) == 0, d.st_mode & (S_IWGRP | S_IWOTH) != 0 {
                return "directory \(dir) is writable by group or others, and a module put beside the file would be imported"
            }
        }
        return parentProblem(of: real, owner: owner)
    }

    /// Why a directory above `path` (which need not exist yet) could be changed by someone else, or nil.
    public static func parentProblem(of path: String, owner: uid_t = geteuid()) -> String? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var dir = (absolute as NSString).deletingLastPathComponent
        // The nearest existing directory, resolved, and everything above it.
        while !dir.isEmpty, access(dir, F_OK) != 0, dir != "/" { dir = (dir as NSString).deletingLastPathComponent }
        guard var current = realPath(dir.isEmpty ? "/" : dir) else { return "\(dir): \(String(cString: strerror(errno)))" }
        while true {
            var info = stat()
            guard lstat(current, &info) == 0 else { return "\(current): \(String(cString: strerror(errno)))" }
            if let p = problem(current, info, owner: owner, isParent: true) { return p }
            if current == "/" { return nil }
            current = (current as NSString).deletingLastPathComponent
            if current.isEmpty { current = "/" }
        }
    }

    /// The canonical path with every symbolic link resolved, or nil (errno set) when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func problem(_ path: String, _ info: stat, owner: uid_t, isParent: Bool) -> String? {
        let what = isParent ? "directory \(path)" : path
        if info.st_uid != 0 && info.st_uid != owner {
            return "\(what) is owned by uid \(info.st_uid), not by root or the daemon's user (uid \(owner))"
        }
        guard info.st_mode & (S_IWGRP | S_IWOTH) != 0 else { return nil }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        if isParent && isDirectory && info.st_mode & S_ISVTX != 0 && info.st_uid == 0 { return nil }
        return "\(what) is writable by group or others (chmod go-w \(path))"
    }
}

/// A fresh directory only this process's user can enter, made by `mkdtemp` under the system temporary directory.
public struct PrivateDirectory: Sendable {
    public let path: String

    public init(prefix: String) throws {
        var template = Array(("/tmp/" + prefix + "XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SDKInstallError(path: "/tmp/\(prefix)XXXXXX", message: String(cString: strerror(errno)))
        }
        path = String(cString: made)
    }

    /// Removes the directory and what is in it.
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
