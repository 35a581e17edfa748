import Foundation
import SymModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's SQLite writer: owns the write connection and offers only `read {}` and `write {}`, one at a time
/// (like GRDB's DatabaseQueue), so serialisation holds by construction rather than by a lock callers must take.
///
/// A `write` starts its BEGIN IMMEDIATE transaction at its first change: a body that finds nothing to do (most of the
/// grant loop's wake-ups) takes no write lock and commits nothing. Its reads before that change are still consistent
/// with it, because every change to requests and events goes through this one writer (the daemon's lock file keeps a
/// second daemon out).
public final class StoreWriter: RequestStore, @unchecked Sendable {
    private let store: Store
    private let lock = NSLock()
    /// The thread inside `read`/`write` (0: none), to refuse re-entry, which would deadlock.
    private let owner = Atomic<UInt>(0)

    /// Takes over `store`'s connection; nothing else should use it afterwards.
    public init(_ store: Store) {
        precondition(!store.readOnly, "a StoreWriter needs a store opened for writing")
        self.store = store
    }

    /// Opens (creating it if needed) the store at `path` for writing; see `Store.openForWriting`.
    public static func open(path: String, mode: Int = 0o600, group: gid_t? = nil, signer: HMACSHA256? = nil) throws -> StoreWriter {
        let store = try Store.openForWriting(path: path, mode: mode, group: group)
        store.signer = signer
        return StoreWriter(store)
    }

    public var location: String { store.path }

    /// Runs `body` alone on the connection (reads outside a transaction, as a reader would).
    public func read<T>(_ body: (any StoreReading) throws -> T) throws -> T {
        try exclusively { try body(store) }
    }

    /// Runs `body` alone on the connection in one transaction: its changes and audit events commit together when it
    /// returns and roll back when it throws. Reads through the transaction see its own changes.
    public func write<T>(_ body: (any StoreWriting) throws -> T) throws -> T {
        let (value, touched, changed) = try exclusively {
            let tx = StoreTransaction(store: store, began: false)
            do {
                let value = try body(tx)
                if tx.began { try store.db.execute("COMMIT") }
                return (value, tx.touched, tx.changedRequests)
            } catch {
                if tx.began { try? store.db.execute("ROLLBACK") }
                throw error
            }
        }
        // Told outside the writer: a subscriber may read at once.
        if touched { store.afterCommit?(changed) }
        return value
    }

    /// Copies the WAL's commits into the database file (a clean stop leaves a whole `.db`), between writes.
    public func checkpoint() throws { try exclusively { try store.checkpoint() } }

    /// A read-only connection of its own (WAL: it never waits for this writer's transactions).
    public func openReader() throws -> any StoreReading { try Store.openReadOnly(path: store.path) }

    private func exclusively<T>(_ body: () throws -> T) rethrows -> T {
        let me = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        precondition(owner.load(ordering: .relaxed) != me,
                     "StoreWriter.read/write called inside read/write on the same thread: use the transaction's reads")
        lock.lock()
        owner.store(me, ordering: .relaxed)
        defer { owner.store(0, ordering: .relaxed); lock.unlock() }
        return try body()
    }
}
