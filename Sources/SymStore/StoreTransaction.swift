import Foundation
import SymModel

/// The writes allowed inside one transaction, and the reads (`StoreReading`), which see them: same connection.
/// Its write methods live with their concern: requests in Requests.swift, events in Events.swift, delivery cursors
/// in Delivery.swift.
public final class StoreTransaction {
    let store: Store
    var db: Database { store.db }
    /// The chain head as this transaction left it (read once, on the first append).
    var head: (seq: Int64, hash: String)?
    /// False until the first change (or `willAppendEvents`): a `StoreWriter.write` that only reads takes no write lock
    /// and commits nothing.
    private(set) var began: Bool
    /// Whether this transaction changed a request or appended an event (what readers are told about).
    var touched = false
    /// The requests this transaction inserted or changed, or whose events it appended (what the change feed names).
    var changedRequests = Set<Int64>()

    /// Set by `StoreWriter`: opens (or joins) the batch transaction several commands share, and says whether it opened
    /// it. A command that joins an open batch is a SAVEPOINT inside it, so that it still commits or rolls back alone;
    /// the command that opens the batch needs none, since a batch's first command is alone in it until it returns
    /// (rolling back the batch then undoes its changes and nothing else's).
    let joinBatch: (() throws -> Bool)?
    /// Whether this command opened the writer's batch (and so has no savepoint of its own).
    private(set) var openedBatch = false

    init(store: Store, began: Bool, joinBatch: (() throws -> Bool)? = nil) {
        self.store = store; self.began = began; self.joinBatch = joinBatch
    }

    /// A joined command's savepoint: taken, released, and rolled back to (then released) when it fails.
    static let beginSavepoint = "SAVEPOINT command"
    static let releaseSavepoint = "RELEASE command"
    static let rollBackToSavepoint = "ROLLBACK TO command"

    /// Starts the transaction before the first change (BEGIN IMMEDIATE, or a savepoint in the writer's batch); every
    /// write method calls it first.
    func begin() throws {
        guard !began else { return }
        if let joinBatch {
            openedBatch = try joinBatch()
            if !openedBatch { try db.run(StoreTransaction.beginSavepoint) }
        } else {
            try db.execute("BEGIN IMMEDIATE")
        }
        began = true
    }
}
