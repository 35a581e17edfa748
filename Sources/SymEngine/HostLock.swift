import Foundation
import SymModel
import SymProtocol
import SymStore

/// One daemon per bastion on a shared PostgreSQL store: a session-level advisory lock keyed by `host_name`
/// (`pg_try_advisory_lock(0x73746C68, hashtext(host_name))`), held by a connection of its own for the daemon's life.
/// The server ends the lock with that connection; `refresh` (run every few seconds by `keepAlive`) notices a
/// connection the server dropped (a restart, a failover) and takes the lock again on a new one.
final class HostLock: @unchecked Sendable {
    /// The first key of the lock: "stlh".
    static let lockClass: Int32 = 0x73746C68

    let conninfo: String
    let hostName: String
    private let lock = NSLock()
    private var connection: PostgresConnection?
    private var released = false
    /// Whether the last refresh found the lock taken by someone else (said once, not every few seconds).
    private var lostToAnother = false

    private init(conninfo: String, hostName: String, connection: PostgresConnection) {
        self.conninfo = conninfo; self.hostName = hostName; self.connection = connection
    }

    /// Takes the lock; 69 when another daemon with the same `host_name` holds it, or the store cannot be reached.
    static func acquire(conninfo: String, hostName: String) throws -> HostLock {
        let connection = try connect(conninfo)
        guard try take(connection, hostName: hostName, conninfo: conninfo) else {
            connection.close()
            throw CommandError(ExitCode.unavailable, "another daemon with host_name \(hostName) already serves \(PostgresStore.redacted(conninfo)): "
                               + "stop it, or give each bastion its own host_name")
        }
        return HostLock(conninfo: conninfo, hostName: hostName, connection: connection)
    }

    private static func connect(_ conninfo: String) throws -> PostgresConnection {
        do { return try PostgresConnection(conninfo: conninfo, applicationName: "symtui daemon lock") } catch {
            throw CommandError(ExitCode.unavailable, "cannot connect to the store \(PostgresStore.redacted(conninfo)): "
                               + PostgresStore.redacted("\(error)"))
        }
    }

    private static func take(_ connection: PostgresConnection, hostName: String, conninfo: String) throws -> Bool {
        do {
            return try connection.execute("SELECT pg_try_advisory_lock(\(lockClass), hashtext($1))", [hostName]).first?.first == "t"
        } catch {
            throw CommandError(ExitCode.unavailable, "cannot take the host lock on \(PostgresStore.redacted(conninfo)): \(error)")
        }
    }

    /// Whether this daemon holds the lock now, taking it again on a new connection when the server dropped the old
    /// one. Messages go to `log` (an unreachable server is not news: the daemon's own store calls say so).
    @discardableResult
    func refresh(log: (LogLevel, String) -> Void = { _, _ in }) -> Bool {
        lock.withLock {
            guard !released else { return false }
            if let c = connection, (try? c.execute("SELECT 1")) != nil { return true }
            connection?.close()
            connection = nil
            guard let fresh = try? Self.connect(conninfo) else { return false }
            guard (try? Self.take(fresh, hostName: hostName, conninfo: conninfo)) == true else {
                fresh.close()
                if !lostToAnother {
                    log(.error, "another daemon with host_name \(hostName) took the host lock while the store was unreachable: "
                        + "two daemons now serve as \(hostName); stop one of them")
                    lostToAnother = true
                }
                return false
            }
            if lostToAnother { log(.info, "host lock for \(hostName) taken again") }
            lostToAnother = false
            connection = fresh
            return true
        }
    }

    /// Refreshes the lock every `interval` until `stop` returns true.
    func keepAlive(every interval: TimeInterval, until stop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (LogLevel, String) -> Void) {
        let t = Thread { [self] in
            while !stop() {
                Thread.sleep(forTimeInterval: interval)
                if !stop() { refresh(log: log) }
            }
        }
        t.name = "symtui-host-lock"
        t.start()
    }

    /// Lets the lock go (at the daemon's stop).
    func release() {
        lock.withLock {
            released = true
            connection?.close()
            connection = nil
        }
    }
}
