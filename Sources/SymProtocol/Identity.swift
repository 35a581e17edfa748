import Foundation
import SymModel
#if canImport(Glibc)
import Glibc
#endif

/// A Unix user as the kernel knows them: from getuid() or SO_PEERCRED, never from $USER.
public struct Identity: Sendable, Equatable {
    public var uid: uid_t
    public var name: String
    public var groups: Set<String>

    public init(uid: uid_t, name: String, groups: Set<String>) { self.uid = uid; self.name = name; self.groups = groups }

    /// The user running this process (real uid).
    public static func current() -> Identity? { of(uid: getuid()) }

    public static func of(uid: uid_t) -> Identity? {
        guard let (name, gid) = passwdEntry(uid: uid) else { return nil }
        return Identity(uid: uid, name: name, groups: groupNames(user: name, gid: gid))
    }

    static func passwdEntry(uid: uid_t) -> (String, gid_t)? {
        withEntryBuffer(start: 1_024) { buf, size in
            var pwd = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let rc = getpwuid_r(uid, &pwd, buf, size, &result)
            guard rc == 0, result != nil, let n = pwd.pw_name else { return (rc, nil) }
            return (rc, (String(cString: n), pwd.pw_gid))
        }
    }

    /// Calls a reentrant NSS lookup with a scratch buffer of `start` bytes, doubled while the lookup says ERANGE (up
    /// to 4 MiB). The buffer is neither zero-filled nor kept: the daemon resolves the caller for every line, and a
    /// zeroed 64 KiB array per group was a good part of that. `body` returns the lookup's code and its answer.
    static func withEntryBuffer<T>(start: Int, _ body: (UnsafeMutablePointer<CChar>, Int) -> (Int32, T?)) -> T? {
        var size = start
        while true {
            let (rc, value) = withUnsafeTemporaryAllocation(of: CChar.self, capacity: size) { body($0.baseAddress!, size) }
            if rc != ERANGE || size >= 1 << 22 { return value }
            size *= 2
        }
    }

    /// The user's groups by name (primary and supplementary), from the group database.
    public static func groupNames(user: String, gid: gid_t) -> Set<String> {
        var count: Int32 = 64
        var gids = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, gid, &gids, &count) < 0 {
            gids = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(user, gid, &gids, &count)
        }
        var names = Set<String>()
        for g in gids.prefix(Int(max(0, count))) {
            let name: String? = withEntryBuffer(start: 4_096) { buf, size in
                var grp = group()
                var result: UnsafeMutablePointer<group>?
                let rc = getgrgid_r(g, &grp, buf, size, &result)
                guard rc == 0, result != nil, let n = grp.gr_name else { return (rc, nil) }
                return (rc, String(cString: n))
            }
            if let name { names.insert(name) }
        }
        return names
    }

    /// True when a user of that name exists.
    public static func userExists(_ name: String) -> Bool {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 16_384)
        return getpwnam_r(name, &pwd, &buf, buf.count, &result) == 0 && result != nil
    }

    /// The numeric id of a group, if it exists.
    public static func groupID(_ name: String) -> gid_t? {
        var grp = group()
        var result: UnsafeMutablePointer<group>?
        var buf = [CChar](repeating: 0, count: 65_536)
        guard getgrnam_r(name, &grp, &buf, buf.count, &result) == 0, result != nil else { return nil }
        return grp.gr_gid
    }

    public var actor: Actor { .user(name, groups: groups) }
}
