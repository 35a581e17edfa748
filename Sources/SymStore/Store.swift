import Foundation
import SymModel

/// What a store could not do, with the exit code the CLI gives for it.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// One connection to the SQLite store: requests, approvals and the audit chain. Only the daemon opens it (one writer
/// connection, handed to a `StoreWriter`, and read-only connections for its read API); trusted readers (root,
/// `store_group`) may open it read-only. The queries live by concern in Requests.swift, Events.swift,
/// LoopQueries.swift, ReviewCandidates.swift, Delivery.swift and AuditLog.swift.
public final class Store {
    public let path: String
    public let db: Database
    public let readOnly: Bool
    /// Signs each new event's hash (the daemon sets it from `reporting.hmac_key_file`).
    public var signer: HMACSHA256?
    /// Called after every committed write that changed requests or events, with the ids of the requests it changed
    /// or appended events for (the daemon pushes them to subscribers and updates its review queues from them).
    public var afterCommit: (@Sendable (Set<Int64>) -> Void)?

    private init(path: String, db: Database, readOnly: Bool) {
        self.path = path; self.db = db; self.readOnly = readOnly
    }

    /// WAL pages after which a commit copies the WAL back into the database file.
    static let walAutocheckpointPages = 4_000

    /// Opens (creating it if needed) the store for the single writer: WAL, synchronous=FULL, migrations,
    /// file mode and group applied to the db and its -wal/-shm, which are kept in place for readers.
    /// `hostName` (the daemon's `host_name`) is given to requests made before the store knew hosts (migration 10).
    public static func openForWriting(path: String, mode: Int = 0o600, group: gid_t? = nil,
                                      hostName: String = HostName.machine) throws -> Store {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        let previous = umask(0o077)   // nothing is ever readable by others, not even between create and chmod
        defer { umask(previous) }
        // The WAL's writes gathered into one per commit: safe because every commit is synced (FULL, below).
        let db = try Database(path: path, readOnly: false, create: true, vfs: GatheringVFS.registered ? GatheringVFS.name : nil)
        db.persistWAL()
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=FULL")
        try db.execute("PRAGMA foreign_keys=ON")
        // A command's SAVEPOINT inside a batch keeps its undo pages in a statement journal, in memory up to
        // `Database.statementJournalSpill` bytes allocated at once (not `temp_store=MEMORY`, whose journal grows
        // 1 KiB at a time), so no command creates a temporary file for it.
        // Checkpoint every ~16 MB of WAL rather than SQLite's ~4 MB: the pages a busy writer changes are mostly the
        // same few (the tails of the tables and their indexes), and a checkpoint copies each page once however
        // often it was written, then syncs the database file. 100,000 grants expiring together: store's share
        // ~5 % shorter (docs/PERFORMANCE.md, round 6).
        try db.execute("PRAGMA wal_autocheckpoint=\(Store.walAutocheckpointPages)")
        let store = Store(path: path, db: db, readOnly: false)
        try store.migrate(hostName: hostName)
        // Touch -wal/-shm into existence so their modes can be set now.
        _ = try db.scalarInt("SELECT count(*) FROM meta")
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            if let group { _ = chown(file, getuid(), group) }
            _ = chmod(file, mode_t(mode))
        }
        return store
    }

    /// Opens an existing store read-only (any user who can read the file).
    public static func openReadOnly(path: String) throws -> Store {
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError("no store at \(path)") }
        let db = try Database(path: "file:\(path)?mode=ro", readOnly: true)
        let store = Store(path: path, db: db, readOnly: true)
        let version = try db.scalarInt("PRAGMA user_version") ?? 0
        if version > Schema.version { throw StoreError("store \(path) has schema \(version); this symtui knows up to \(Schema.version)") }
        return store
    }

    public var schemaVersion: Int { Int(((try? db.scalarInt("PRAGMA user_version")) ?? nil) ?? 0) }

    /// Puts back the events table's append-only triggers if someone dropped them (only a writer of the file can);
    /// returns the names put back, for the daemon to report: the log may have been edited meanwhile.
    public func restoreAppendOnlyTriggers() throws -> [String] {
        try db.transaction(.immediate) {
            var present = Set<String>()
            try db.query("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'") { s in present.insert(s.text(try s.columns("name"))) }
            let missing = Schema.appendOnlyTriggers.filter { !present.contains($0.name) }
            for t in missing { try db.execute(t.sql) }
            return missing.map(\.name)
        }
    }

    func migrate(hostName: String = HostName.machine) throws {
        try db.transaction(.immediate) {
            let current = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
            if current > Schema.version {
                throw StoreError("store \(path) has schema \(current); this symtui knows up to \(Schema.version) (a newer symtui made it)")
            }
            guard current < Schema.version else { return }
            for v in current..<Schema.version {
                try db.execute(Schema.migrations[v])
                if v + 1 == Schema.fleetVersion {
                    try db.run("UPDATE requests SET host = ?, runs_on = ? WHERE host IS NULL", [.text(hostName), .text(hostName)])
                }
            }
            try db.execute("PRAGMA user_version = \(Schema.version)")
        }
    }


    // MARK: times are stored as whole milliseconds since 1970

    static func millis(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
    static func millis(_ d: Date?) -> SQLValue { d.map { .int(millis($0)) } ?? .null }
    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
    static func date(_ ms: Int64?) -> Date? { ms.map(date) }
    // MARK: writes

    /// Runs `body` in one BEGIN IMMEDIATE transaction: the change and its audit events commit together.
    /// Not serialised against other threads using this connection: the daemon writes through a `StoreWriter`.
    @discardableResult
    public func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        precondition(!readOnly, "the read-only store cannot write")
        var touched = false
        var changed = Set<Int64>()
        let result = try db.transaction(.immediate) {
            let tx = StoreTransaction(store: self, began: true)
            defer { touched = tx.touched; changed = tx.changedRequests }
            return try body(tx)
        }
        if touched { afterCommit?(changed) }
        return result
    }

    /// Copies the WAL's commits into the database file and empties the WAL (a clean stop leaves a whole `.db`).
    /// Waits at most a second for readers: a stop must not hang behind one (the WAL then stays, still consistent).
    public func checkpoint() throws {
        try db.execute("PRAGMA busy_timeout = 1000")
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

/// `%text%` for LIKE, with LIKE's own wildcards escaped.
func likePattern(_ text: String) -> SQLValue {
    .text("%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%")
}
