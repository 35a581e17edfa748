import Foundation
import SymModel
import SymProtocol
import SymStore
#if canImport(Glibc)
import Glibc
#endif

// Per-thread on Linux (a plain system call, not broadcast to every thread like setuid): the backup's files are made
// with the caller's file-system identity while the rest of the daemon stays root.
@_silgen_name("setfsuid") private func c_setfsuid(_ uid: uid_t) -> Int32
@_silgen_name("setfsgid") private func c_setfsgid(_ gid: gid_t) -> Int32

/// `symtui backup FILE`, done by the daemon (the only process that opens the store): `VACUUM INTO` a temporary file
/// next to FILE, the copy's audit chain verified, then renamed over FILE. FILE's directory must be the caller's
/// (or root's) and writable by nobody else; the files are created with the caller's file-system uid, so a backup
/// can go only where the caller could put a file themselves.
enum StoreBackup {
    /// What a finished backup holds.
    struct Result {
        var path: String
        var bytes: Int64
        var events: Int64
        var headSeq: Int64
        var headHash: String

        var pairs: [(String, JSONValue?)] {
            [("path", .string(path)), ("bytes", .int(bytes)), ("events", .int(events)), ("head_seq", .int(headSeq)), ("head_hash", .string(headHash))]
        }
    }

    /// Whether `caller` may ask: root, the daemon's own user (single-user mode), or a member of `store_group`
    /// (who may read the store anyway).
    static func mayBackUp(_ caller: Identity, config: Config) -> Bool {
        caller.uid == 0 || caller.uid == geteuid() || config.storeGroup.map { caller.groups.contains($0) } == true
    }

    /// A PostgreSQL store is backed up by the server's own tools (docs/store.md, "Backups on PostgreSQL").
    static let refusalOnPostgres = CommandError(ExitCode.usage, "the store is a PostgreSQL database: `symtui backup` copies a SQLite "
        + "store only; back it up with pg_dump or the server's own backups (base backups and WAL archiving, a managed service's "
        + "snapshots); see docs/store.md")

    static func run(to path: String, caller: Identity, config: Config, reads: ReadService) throws -> Result {
        guard mayBackUp(caller, config: config) else {
            throw CommandError(ExitCode.noPerm, "only root" + (config.storeGroup.map { " and members of store_group \($0)" } ?? "")
                               + " may back up the store")
        }
        let (dir, name) = try checkPlace(path, caller: caller)
        let temp = dir + "/." + name + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // A connection of the daemon's own (opened as the daemon), then everything that touches FILE's directory as
        // the caller, on this thread only.
        return try reads.reading { reader in
            guard let store = reader as? Store else { throw refusalOnPostgres }
            let switched = caller.uid != geteuid()
            if switched { _ = c_setfsgid(primaryGroup(of: caller.uid)); _ = c_setfsuid(caller.uid) }
            defer { if switched { _ = c_setfsuid(geteuid()); _ = c_setfsgid(getegid()) } }
            return try write(store, dir: dir, path: path, temp: temp)
        }
    }

    private static func write(_ store: Store, dir: String, path: String, temp: String) throws -> Result {
        var done = false
        defer { if !done { unlink(temp); unlink(temp + "-journal") } }
        // Created here, empty, exclusively and without following a link: VACUUM INTO then writes into our own file.
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CommandError(ExitCode.ioErr, "cannot create \(temp): \(String(cString: strerror(errno)))") }
        close(fd)
        do { try store.copy(into: temp) } catch {
            throw CommandError(ExitCode.ioErr, "cannot copy the store to \(temp): \(error)")
        }
        let verification: AuditVerification
        do {
            let copy = try Store.openReadOnly(path: temp)
            var check = ""
            try copy.db.query("PRAGMA quick_check") { check = $0.text(0) }
            guard check == "ok" else { throw StoreError("the copy fails SQLite's quick_check") }
            verification = try AuditVerifier(store: copy).verify()
        } catch {
            throw CommandError(ExitCode.ioErr, "the copy in \(temp) does not read back: \(error); nothing was written to \(path)")
        }
        if let p = verification.problem {
            throw CommandError(ExitCode.dataErr, "the copy's audit chain does not verify (\(p)); the store itself may be damaged: "
                               + "run symtui audit verify; nothing was written to \(path)")
        }
        let sync = open(temp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        var st = stat()
        guard sync >= 0, fsync(sync) == 0, fstat(sync, &st) == 0 else {
            if sync >= 0 { close(sync) }
            throw CommandError(ExitCode.ioErr, "cannot write \(temp) to disk: \(String(cString: strerror(errno)))")
        }
        close(sync)
        guard rename(temp, path) == 0 else { throw CommandError(ExitCode.ioErr, "cannot rename \(temp) to \(path): \(String(cString: strerror(errno)))") }
        done = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
        return Result(path: path, bytes: Int64(st.st_size), events: verification.checked, headSeq: verification.headSeq,
                      headHash: verification.headHash)
    }

    static func primaryGroup(of uid: uid_t) -> gid_t {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &pwd, &buf, buf.count, &result) == 0, result != nil else { return gid_t(uid) }
        return pwd.pw_gid
    }

    /// FILE's directory and name, after refusing a place others could tamper with: a symlink anywhere in the path,
    /// a directory that is not the caller's or root's or that others can write, an ancestor others can write
    /// (without the sticky bit), or an existing FILE that is not a regular file of the caller's.
    static func checkPlace(_ path: String, caller: Identity) throws -> (String, String) {
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        guard path.hasPrefix("/"), !name.isEmpty, name != ".", name != "..", !path.hasSuffix("/") else {
            throw CommandError.invalid("backup: \(SafeText.display(path)) is not an absolute file name")
        }
        guard let real = realpath(dir, nil) else {
            throw CommandError(ExitCode.ioErr, "backup: no directory \(SafeText.display(dir)) (\(String(cString: strerror(errno))))")
        }
        defer { free(real) }
        guard String(cString: real) == dir else {
            throw CommandError(ExitCode.ioErr, "backup: \(SafeText.display(dir)) goes through a symbolic link or '..' (it is \(SafeText.display(String(cString: real)))); give the real directory")
        }
        var st = stat()
        guard lstat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { throw CommandError(ExitCode.ioErr, "backup: \(SafeText.display(dir)) is not a directory") }
        guard st.st_uid == caller.uid || st.st_uid == 0 else {
            throw CommandError(ExitCode.noPerm, "backup: \(SafeText.display(dir)) belongs to uid \(st.st_uid): a backup goes in a directory of yours or root's")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw CommandError(ExitCode.noPerm, "backup: \(SafeText.display(dir)) is writable by others (mode \(String(st.st_mode & 0o7777, radix: 8))): "
                               + "they could replace the copy; chmod go-w it or choose another directory")
        }
        var ancestor = (dir as NSString).deletingLastPathComponent
        while dir != "/" {
            var a = stat()
            if lstat(ancestor, &a) == 0, a.st_mode & 0o002 != 0, a.st_mode & mode_t(S_ISVTX) == 0 {
                throw CommandError(ExitCode.noPerm, "backup: \(SafeText.display(ancestor)), above \(SafeText.display(dir)), is writable by others")
            }
            if ancestor == "/" { break }
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        var f = stat()
        if lstat(path, &f) == 0 {
            guard f.st_mode & S_IFMT == S_IFREG else { throw CommandError(ExitCode.ioErr, "backup: \(SafeText.display(path)) exists and is not a regular file") }
            guard f.st_uid == caller.uid else { throw CommandError(ExitCode.noPerm, "backup: \(SafeText.display(path)) exists and belongs to uid \(f.st_uid), not to you") }
        }
        return (dir, name)
    }
}
