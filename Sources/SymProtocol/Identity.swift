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
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &pwd, &buf, buf.count, &result) == 0, result != nil, let n = pwd.pw_name else { return nil }
        return (String(cString: n), pwd.pw_gid)
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
            var grp = group()
            var result: UnsafeMutablePointer<group>?
            var buf = [CChar](repeating: 0, count: 65_536)
            if getgrgid_r(g, &grp, &buf, buf.count, &result) == 0, result != nil, let n = grp.gr_name {
                names.insert(String(cString: n))
            }
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
