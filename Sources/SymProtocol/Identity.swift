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

    /// The user `uid` and their groups as the password and group databases say now. Kept for the next call only while
    /// the files those databases come from are unchanged (`IdentityCache`): a user removed from a group is refused at
    /// their next command either way.
    public static func of(uid: uid_t) -> Identity? {
        IdentityCache.shared.identity(uid: uid, resolve: lookUp)
    }

    /// Asks NSS, without the cache.
    static func lookUp(uid: uid_t) -> Identity? {
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
    /// to 4 MiB; a group with many members needs more than the 64 KiB these lookups once had). The buffer is neither
    /// zero-filled nor kept. `body` returns the lookup's code and its answer.
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
        withEntryBuffer(start: 1_024) { buf, size in
            var pwd = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let rc = getpwnam_r(name, &pwd, buf, size, &result)
            return (rc, rc == 0 && result != nil ? true : nil)
        } ?? false
    }

    /// The numeric id of a group, if it exists.
    public static func groupID(_ name: String) -> gid_t? {
        withEntryBuffer(start: 4_096) { buf, size in
            var grp = group()
            var result: UnsafeMutablePointer<group>?
            let rc = getgrnam_r(name, &grp, buf, size, &result)
            return (rc, rc == 0 && result != nil ? grp.gr_gid : nil)
        }
    }

    public var actor: Actor { .user(name, groups: groups) }
}

/// What `Identity.of` looked up, kept while the files NSS answered from are unchanged.
///
/// The daemon resolves the caller for every line a client sends, and through NSS that is ~15 system calls and a parse
/// of /etc/passwd and /etc/group each time (a sixth of the daemon's CPU per command with 64 clients). A cached answer
/// is used only when all of these hold, checked on every call with one `stat` per file:
/// - nsswitch.conf names no source for `passwd` and `group` but `files` and `systemd` (any other, such as `ldap`,
///   `sss` or `compat`, can change without a local file changing: no caching at all);
/// - with `systemd` named, no userdb service or drop-in directory exists (nss-systemd then answers only the fixed
///   root and nobody entries);
/// - nsswitch.conf, /etc/passwd and /etc/group have the device, inode, size, modification and change times they had
///   when the answer was looked up, and neither time is within the last 2 s (file times move in coarse ticks: two
///   edits in one tick could leave the same times, so a file changed that recently is read again every time).
/// Every tool that edits those files (useradd, usermod, gpasswd, vipw, an editor) changes at least one of those.
///
/// From a process's second lookup on, those `stat`s are made only when something may have changed: a `FileChangeWatch`
/// (inotify) on the files, the userdb paths and the directories above them answers "nothing happened" with one `read`
/// (about a twelfth of the daemon's CPU per command went to the nine `stat`s). After any event, and at least once a
/// second whatever inotify says (a file system it cannot see into), the files are looked at again as above.
final class IdentityCache: @unchecked Sendable {
    static let shared = IdentityCache()

    static let files = ["/etc/nsswitch.conf", "/etc/passwd", "/etc/group"]
    /// Where nss-systemd finds users and groups besides root and nobody.
    static let userdbPaths = ["/run/systemd/userdb", "/etc/userdb", "/run/userdb", "/run/host/userdb",
                              "/usr/lib/userdb", "/usr/local/lib/userdb"]
    /// A stamp younger than this (ns) is not trusted.
    static let settleNanos: Int64 = 2_000_000_000
    static let capacity = 4_096
    /// The files are looked at again at least this often (ns) even while their watch is quiet.
    static let restatNanos: Int64 = 1_000_000_000

    private let lock = NSLock()
    /// Guards the watch and the stamp it vouches for; taken before `lock`, never inside it.
    private let stampLock = NSLock()
    private var watch: FileChangeWatch?
    /// The stamps as looked at after `watch` was set (nil: not to be cached), when (monotonic ns), and whether that
    /// answer holds only for now (a file younger than `settle`): then it is worked out again on the next call.
    private var watched: (stamp: [FileIdentity]?, at: Int64, settling: Bool)?
    /// Lookups so far: the first one in a process sets no watch (a CLI command looks up its caller once).
    private var lookups = 0
    /// `stat` passes over the files (for tests).
    private(set) var stampsTaken = 0
    private var entries: [uid_t: (stamp: [FileIdentity], identity: Identity?)] = [:]
    /// nsswitch.conf as last read, and what its passwd and group sources say.
    private var switchStamp: FileIdentity?
    private var switchAllows = false
    private var switchNamesSystemd = false
    /// Answers taken from the cache (for tests).
    private(set) var hits = 0

    private let paths: [String]
    private let userdb: [String]
    private let settle: Int64
    private let restat: Int64
    /// `files` start with nsswitch.conf; tests give their own files and a shorter `settle` or `restat`.
    init(files: [String] = IdentityCache.files, userdb: [String] = IdentityCache.userdbPaths,
         settle: Int64 = IdentityCache.settleNanos, restat: Int64 = IdentityCache.restatNanos) {
        paths = files; self.userdb = userdb; self.settle = settle; self.restat = restat
    }

    /// Whether a watch vouches for the last look (for tests).
    var isWatching: Bool { stampLock.withLock { watch != nil } }

    func identity(uid: uid_t, resolve: (uid_t) -> Identity?) -> Identity? {
        guard let stamp = currentStamp() else { return resolve(uid) }
        let cached: Identity?? = lock.withLock {
            guard let e = entries[uid], e.stamp == stamp else { return nil }
            hits += 1
            return .some(e.identity)
        }
        if let cached { return cached }
        let identity = resolve(uid)
        lock.withLock {
            if entries.count >= IdentityCache.capacity { entries.removeAll() }
            entries[uid] = (stamp, identity)
        }
        return identity
    }

    /// The files' stamps now, or nil when an answer must not be cached (a file missing or changed too recently): the
    /// last ones looked at while the watch set before that look has heard nothing since.
    func currentStamp() -> [FileIdentity]? {
        stampLock.withLock {
            let now = monotonicNanos()
            lookups += 1
            if let w = watch, let last = watched, now - last.at < restat {
                if w.isQuiet() {
                    if !last.settling { return last.stamp }
                    let (stamp, settling) = takeStamp()   // too recent a change: look again, under the same watch
                    watched = (stamp, last.at, settling)
                    return stamp
                }
            } else if watch == nil, let last = watched, now - last.at < restat {
                return takeStamp().stamp   // no watch could be set: look every time, and try again in a while
            }
            if lookups > 1 {
                // Set before the look, so that a change made during or after it is heard.
                watch = FileChangeWatch.set(on: paths + userdb)
            }
            let (stamp, settling) = takeStamp()
            watched = lookups > 1 ? (stamp, now, settling) : nil
            return stamp
        }
    }

    /// Looks at every file: their stamps, or nil; and whether the nil is only for now (a file changed too recently).
    private func takeStamp() -> (stamp: [FileIdentity]?, settling: Bool) {
        stampsTaken += 1
        var stamps: [FileIdentity] = []
        let now = Timestamp.nowNanos()
        for path in paths {
            guard let s = FileIdentity(path: path) else { return (nil, false) }
            guard now - s.modified >= settle, now - s.changed >= settle else { return (nil, true) }
            stamps.append(s)
        }
        guard sourcesAllowCaching(switchFile: stamps[0]) else { return (nil, false) }
        return (stamps, false)
    }

    private func sourcesAllowCaching(switchFile: FileIdentity) -> Bool {
        let (allows, systemd): (Bool, Bool) = lock.withLock {
            if switchStamp != switchFile {
                let text = (try? String(contentsOfFile: paths[0], encoding: .utf8)) ?? ""
                switchStamp = switchFile
                switchAllows = IdentityCache.sourcesAllowCaching(nsswitch: text)
                switchNamesSystemd = IdentityCache.namesSystemd(nsswitch: text)
            }
            return (switchAllows, switchNamesSystemd)
        }
        guard allows else { return false }
        return !systemd || userdb.allSatisfy { FileIdentity(path: $0) == nil }
    }

    /// The sources nsswitch.conf names for `database` (action items such as `[NOTFOUND=return]` left out); nil when
    /// it has no line for it.
    static func sources(_ database: String, nsswitch text: String) -> [String]? {
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let colon = line.firstIndex(of: ":") else { continue }
            guard line[..<colon].trimmingCharacters(in: .whitespaces) == database else { continue }
            var out: [String] = []
            var inAction = false
            for token in line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                if token.hasPrefix("[") { inAction = true }
                if !inAction { out.append(String(token)) }
                if token.hasSuffix("]") { inAction = false }
            }
            return out
        }
        return nil
    }

    /// True when both `passwd` and `group` name only `files` and `systemd`.
    static func sourcesAllowCaching(nsswitch text: String) -> Bool {
        ["passwd", "group"].allSatisfy { db in
            guard let s = sources(db, nsswitch: text), !s.isEmpty else { return false }
            return s.allSatisfy { $0 == "files" || $0 == "systemd" }
        }
    }

    static func namesSystemd(nsswitch text: String) -> Bool {
        ["passwd", "group"].contains { sources($0, nsswitch: text)?.contains("systemd") ?? false }
    }
}
