import Foundation
import SymModel
import SymProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Where the store lives must be the daemon's alone: a user who can write the directory can swap the store, and a
/// user who can read the file can lock it against the daemon (a WAL reader's shared lock on `-shm` stalls every
/// write). Checked before the store is opened; problems refuse the start, doubts are logged.
enum StorePlacement {
    /// Refuses a store whose directory (or an ancestor without the sticky bit), file, `-wal`, `-shm` or lock file
    /// others can write; returns warnings for readers the admin let in.
    static func check(storePath: String, mode: Int, group: String?) throws -> [String] {
        let me = geteuid()
        let dir = (storePath as NSString).deletingLastPathComponent
        var warnings: [String] = []
        var ancestor = dir
        while !ancestor.isEmpty {
            var st = stat()
            if stat(ancestor, &st) == 0 {
                let writableByOthers = st.st_mode & 0o022 != 0
                let sticky = st.st_mode & mode_t(S_ISVTX) != 0
                if ancestor == dir {
                    guard st.st_uid == me || st.st_uid == 0 else {
                        throw CommandError(ExitCode.unavailable, "the store's directory \(dir) belongs to uid \(st.st_uid), not to the daemon (uid \(me)); "
                                           + "chown it, or put the store in a directory of the daemon's")
                    }
                    guard !writableByOthers else {
                        throw CommandError(ExitCode.unavailable, "the store's directory \(dir) is writable by others (mode \(String(st.st_mode & 0o7777, radix: 8))): "
                                           + "anyone could replace the store; chmod go-w \(dir)")
                    }
                } else if writableByOthers && !sticky {
                    throw CommandError(ExitCode.unavailable, "\(ancestor), above the store, is writable by others (mode \(String(st.st_mode & 0o7777, radix: 8))): "
                                       + "anyone could replace the store's directory; chmod go-w \(ancestor)")
                }
            }
            if ancestor == "/" { break }
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        for file in [storePath, storePath + "-wal", storePath + "-shm", storePath + ".lock"] {
            var st = stat()
            guard lstat(file, &st) == 0 else { continue }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw CommandError(ExitCode.unavailable, "\(file) is not a regular file (a symlink?); the daemon opens only its own files")
            }
            guard st.st_uid == me else {
                throw CommandError(ExitCode.unavailable, "\(file) belongs to uid \(st.st_uid), not to the daemon (uid \(me)); someone else made it: "
                                   + "check it, then chown or remove it")
            }
            guard st.st_mode & 0o002 == 0, group != nil || st.st_mode & 0o020 == 0 else {
                // The daemon's own chmod puts the mode right when it opens the store; a writable file may have been changed.
                throw CommandError(ExitCode.unavailable, "\(file) is writable by others (mode \(String(st.st_mode & 0o777, radix: 8))): "
                                   + "it may have been changed; check it (symtui audit verify), then chmod 0600 it")
            }
        }
        if mode & 0o004 != 0 {
            warnings.append("store_mode \(String(mode, radix: 8)) lets every local user read the store directly, and any reader can stall "
                            + "the daemon (and so keep grants from ending); use 0600, or store_group with 0640 for trusted readers")
        } else if let group, mode & 0o040 != 0 {
            warnings.append("members of group \(group) may read the store directly (store_group, store_mode \(String(mode, radix: 8))): "
                            + "they can stall the daemon; keep that group to trusted administrators")
        }
        return warnings
    }
}
