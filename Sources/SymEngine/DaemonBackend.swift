import Foundation
import SymModel
import SymProtocol
import SymStore

/// What the daemon serves, opened: its writer, how its readers and loops get connections of their own, and what
/// differs between a SQLite file (one daemon, a lock file next to it) and a PostgreSQL store shared by a fleet (one
/// daemon per `host_name`, a lock file in the state directory). See docs/store.md, "The daemon on PostgreSQL".
struct DaemonBackend {
    /// The engine's store: the SQLite writer, or this daemon's PostgreSQL connection.
    let writer: any RequestStore
    /// The SQLite writer, for the checkpoint at a clean stop (nil on PostgreSQL: the server keeps its own files).
    let sqlite: StoreWriter?
    /// Where the daemon keeps files of its own (the handler SDK).
    let stateDirectory: String
    /// A reading connection for the read API.
    let openReader: @Sendable () throws -> any StoreQueries
    /// A write connection of its own for a reporting or notification worker.
    let openLoopStore: @Sendable () throws -> any RequestStore
    /// Whether the change feed hears of every commit (one writer): review queues may then be cached between commits.
    let feedSeesEveryCommit: Bool
    /// Sends this daemon's commits to the change feed.
    let connectFeed: (ChangeFeed) -> Void
}

extension Daemon {
    /// Whether `store` names a PostgreSQL database rather than a SQLite file.
    var onPostgres: Bool { PostgresStore.isPostgresURI(storePath) }

    /// This bastion's name in the fleet: `host_name`, else the machine's host name.
    var hostName: String { config.hostName }

    /// The SQLite store, opened for writing (the lock is taken by the caller first).
    func openSQLiteBackend() throws -> DaemonBackend {
        let store = try openStore()
        let writer = StoreWriter(store)
        let path = storePath
        let mode = config.storeMode ?? 0o600
        let gid = config.storeGroup.flatMap { Identity.groupID($0) }
        return DaemonBackend(writer: writer, sqlite: writer, stateDirectory: (path as NSString).deletingLastPathComponent,
                             openReader: { try Store.openReadOnly(path: path) },
                             openLoopStore: { try StoreWriter.open(path: path, mode: mode, group: gid) },
                             feedSeesEveryCommit: true,
                             connectFeed: { feed in store.afterCommit = { [feed] changed in feed.committed(changed) } })
    }

    /// The daemon's own directory on PostgreSQL: the socket's.
    var postgresStateDirectory: String { (socketPath as NSString).deletingLastPathComponent }

    /// One daemon per bastion on a shared store: the lock file in the state directory (one daemon per directory and
    /// socket), then the host lock on `host_name` (`HostLock`: two daemons calling themselves the same bastion would
    /// run the same host's work twice).
    func acquirePostgresLocks(orphanWait: TimeInterval = 120) throws -> HostLock {
        try acquireLockFile(path: postgresStateDirectory + "/symtui-daemon.lock", orphanWait: orphanWait)
        return try HostLock.acquire(conninfo: storePath, hostName: hostName)
    }

    /// The PostgreSQL store, migrated to the current schema, with this daemon's connection as the writer.
    func openPostgresBackend() throws -> DaemonBackend {
        let signer: HMACSHA256?
        do { signer = try config.reporting.hmacKeyFile.map { try AuditKey.load(path: $0, private: true) } } catch let e as AuditKeyError {
            throw CommandError(e.exitCode, e.message)
        }
        let conninfo = storePath, host = hostName
        let store: PostgresStore
        do { store = try PostgresStore(conninfo: conninfo, hostName: host, migrate: true) } catch {
            throw CommandError(ExitCode.unavailable, "cannot open the store \(PostgresStore.redacted(conninfo)): \(PostgresStore.redacted("\(error)"))")
        }
        store.signer = signer
        return DaemonBackend(writer: store, sqlite: nil, stateDirectory: postgresStateDirectory,
                             openReader: { try store.openQueries() },
                             openLoopStore: { try PostgresStore(conninfo: conninfo, hostName: host, migrate: false) },
                             feedSeesEveryCommit: false,
                             // This daemon's commits with their ids; the others' come from its PostgresListener (FleetChanges).
                             connectFeed: { feed in store.afterCommit = { [feed] changed in feed.committed(changed) } })
    }
}
