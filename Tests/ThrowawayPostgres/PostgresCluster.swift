import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL 15 cluster: `initdb` as a throwaway Unix user (st_<hex>_pg) in a private temporary
/// directory, `pg_ctl` on a free 127.0.0.1 port, stopped and removed, with the user, by `destroy()` (the tests' run
/// does it when the test bundle finishes, see SymTestSupport's `PostgresCluster.shared()`; the bench when it ends).
/// Each user takes a schema of its own (`freshSchema`) in the one database, so that tests neither share rows nor
/// pay for a new cluster. Logins use scram-sha-256 with the password in a passfile, as in production.
public final class PostgresCluster: @unchecked Sendable {
    public static let bin = "/usr/lib/postgresql/15/bin"
    public let port: Int
    public let directory: String
    public let passfile: String
    public let user: String
    /// The store's login role (owns the test schemas) and its password (in `passfile` only).
    public let owner = "symtui_owner"
    private let socketDir: String
    private var counter = 0
    private let lock = NSLock()

    /// Where a cluster can be made here: nil, or why not (not root, no PostgreSQL 15).
    public static var unavailableReason: String? {
        if getuid() != 0 { return "PostgreSQL clusters need root (a throwaway Unix user runs the cluster)" }
        if !FileManager.default.isExecutableFile(atPath: bin + "/initdb") { return "PostgreSQL 15 is not installed (make deps)" }
        return nil
    }

    /// Whether the server flushes its WAL to disk (off for tests: nothing must survive a power loss there).
    public let durable: Bool

    /// Makes and starts a cluster (a new Unix user, a new directory); `destroy()` removes both. `durable`: fsync on,
    /// as in production (the bench's figures); off by default.
    public init(durable: Bool = false) throws {
        self.durable = durable
        let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let user = "st_\(hex)_pg", directory = "/tmp/symtui-pg-\(hex)", socketDir = directory + "/sock"
        self.user = user; self.directory = directory; self.socketDir = socketDir
        passfile = directory + "/pgpass"
        _ = try Self.retryingLocks { try Self.run("/usr/sbin/useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", user]) }
        guard let pw = getpwnam(user) else { throw PostgresClusterError("useradd \(user) made no user") }
        let uid = pw.pointee.pw_uid, gid = pw.pointee.pw_gid
        try FileManager.default.createDirectory(atPath: socketDir, withIntermediateDirectories: true)
        for d in [directory, socketDir] { chown(d, uid, gid); chmod(d, 0o700) }
        let password = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()
        let pwfile = directory + "/initpw"
        try password.write(toFile: pwfile, atomically: false, encoding: .utf8)
        chown(pwfile, uid, gid)
        try Self.asUser(user, Self.bin + "/initdb", ["-D", directory + "/data", "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                                           "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        var chosen = 0
        for _ in 0..<5 {
            let p = Self.freePort()
            do {
                try Self.asUser(user, Self.bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-w", "-t", "60", "-o",
                                                  "-p \(p) -k \(socketDir) -c listen_addresses=127.0.0.1 -c fsync=\(durable ? "on" : "off") -c max_connections=300",
                                                  "start"])
                chosen = p
                break
            } catch { continue }
        }
        guard chosen != 0 else { throw PostgresClusterError("pg_ctl could not start a cluster (see \(directory)/log)") }
        port = chosen
        do {
            try sql("CREATE ROLE \(owner) LOGIN PASSWORD '\(password)'")
            try sql("CREATE DATABASE symtui OWNER \(owner)")
        } catch {
            destroy()
            throw error
        }
        try "127.0.0.1:\(port):*:\(owner):\(password)\n".write(toFile: passfile, atomically: false, encoding: .utf8)
        chmod(passfile, 0o600)
        unlink(pwfile)
    }

    /// Runs SQL as the cluster's superuser (over the private socket), returning psql's unaligned output.
    @discardableResult
    public func sql(_ statement: String, database: String = "postgres") throws -> String {
        try Self.run(Self.bin + "/psql", ["-h", socketDir, "-p", String(port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                                          "-At", "-c", statement])
    }

    /// A new empty schema owned by the store's role; returns a libpq connection string that works in it.
    public func freshSchema() throws -> (schema: String, conninfo: String) {
        lock.lock(); counter += 1; let n = counter; lock.unlock()
        let schema = "t\(getpid())_\(n)"
        try sql("CREATE SCHEMA \(schema) AUTHORIZATION \(owner)", database: "symtui")
        return (schema, conninfo(user: owner, schema: schema))
    }

    /// The connection string of `user` (whose password is in the passfile) with `schema` first on its search path.
    public func conninfo(user: String, schema: String) -> String {
        "host=127.0.0.1 port=\(port) dbname=symtui user=\(user) passfile=\(passfile) options='-c search_path=\(schema)'"
    }

    /// A login role with a password added to the passfile (for tests of a daemon role with fewer privileges).
    public func addLogin(_ role: String) throws {
        let password = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try sql("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
        let line = "127.0.0.1:\(port):*:\(role):\(password)\n"
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: passfile))
        h.seekToEndOfFile()
        h.write(Data(line.utf8))
        try h.close()
    }

    /// `pg_ctl stop -m immediate` (a crash, for fault tests) and `start` again.
    public func stopImmediately() throws { try asUser(Self.bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"]) }
    public func start() throws {
        try asUser(Self.bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-w", "-t", "60", "-o",
                                          "-p \(port) -k \(socketDir) -c listen_addresses=127.0.0.1 -c fsync=\(durable ? "on" : "off") -c max_connections=300", "start"])
    }

    /// Stops the server and removes its directory and its Unix user.
    public func destroy() {
        _ = try? asUser(Self.bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
        _ = try? Self.retryingLocks { try Self.run("/usr/sbin/userdel", [user]) }
    }

    private func asUser(_ program: String, _ args: [String]) throws { try Self.asUser(user, program, args) }

    private static func asUser(_ user: String, _ program: String, _ args: [String]) throws {
        try run("/usr/bin/setpriv", ["--reuid", user, "--regid", user, "--clear-groups", program] + args)
    }

    /// Runs a program to its end (posix_spawn and waitpid); its output goes to a file, not a pipe, because a server it
    /// starts keeps the descriptors it inherited.
    @discardableResult
    static func run(_ program: String, _ args: [String]) throws -> String {
        let outPath = NSTemporaryDirectory() + "symtui-pgout-" + UUID().uuidString
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([program] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard rc == 0 else { throw PostgresClusterError("cannot run \(program): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw PostgresClusterError("\(program) \(args.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// useradd/userdel fail at once when another process holds /etc/passwd's lock: try again for a while.
    static func retryingLocks<T>(_ body: () throws -> T) throws -> T {
        var last: (any Error)?
        for _ in 0..<50 {
            do { return try body() } catch {
                last = error
                guard "\(error)".contains("lock") else { throw error }
                usleep(100_000)
            }
        }
        throw last!
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

public struct PostgresClusterError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
