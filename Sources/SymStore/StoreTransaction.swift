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
    /// False until the first change: a `StoreWriter.write` that only reads takes no write lock and commits nothing.
    private(set) var began: Bool
    /// Whether this transaction changed a request or appended an event (what readers are told about).
    var touched = false
    /// The requests this transaction inserted or changed, or whose events it appended (what the change feed names).
    var changedRequests = Set<Int64>()

    init(store: Store, began: Bool) { self.store = store; self.began = began }

    /// Starts the BEGIN IMMEDIATE transaction before the first change; every write method calls it first.
    func begin() throws {
        guard !began else { return }
        try db.execute("BEGIN IMMEDIATE")
        began = true
    }
}
