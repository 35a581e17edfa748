import Foundation
import SymModel
import SymStore

/// The other daemons' commits, for a daemon on a PostgreSQL store: each one heard by its `PostgresListener` goes to
/// this daemon's change feed (its consoles and `list --review` subscribers read again; the daemon's read caches are
/// keyed by the feed's version) and wakes its grant loop for the work they made (a request approved on another
/// bastion may be this host's to grant). Its own commits reach the feed from `afterCommit`, as on SQLite.
enum FleetChanges {
    /// Starts the listener when `store` is on PostgreSQL (nil on SQLite: one daemon, nothing to hear).
    /// `wake` gets the work the commit made, as `LoopWork.after` tells it for each request it names: a new
    /// request or an approval-only decision on another bastion wakes no grant loop pass here (each pass is a
    /// transaction of due-work queries, and every daemon would make one for every commit of the fleet).
    static func start(store: any RequestStore, feed: ChangeFeed, wake: @escaping @Sendable (LoopWork) -> Void) -> PostgresListener? {
        guard let pg = store as? PostgresStore else { return nil }
        let work = WorkOfChanges(store: pg)
        let listener = pg.makeListener { [feed] ids, said in
            feed.committed(ids)
            // The notices say the work their rows leave (this version's do): nothing to read.
            wake(said ?? work.of(ids))
        }
        let lost = LostSince()
        listener.onConnection = { [feed] connected, reason in
            if connected {
                // The commits made between this daemon's start and its first LISTEN were not heard: whoever subscribed
                // meanwhile reads again (as after a reconnect).
                if lost.firstConnection() { feed.committed(nil) }
                if let since = lost.reset() {
                    DaemonLog.shared.log(.info, "listening to the fleet's changes again after \(Int(Date().timeIntervalSince(since))) s")
                }
            } else if lost.mark() {
                DaemonLog.shared.log(.warning, "not hearing the other daemons' changes (reconnecting with backoff): \(reason ?? "")")
                // Most often the server itself went away: subscribers read again, and a console that finds the store
                // down says so instead of showing its last rows as if nothing were wrong.
                feed.committed(nil)
            }
        }
        listener.start()
        return listener
    }

    /// What the requests a notice names leave for a grant loop, read on the listener's thread through a connection
    /// of its own (opened on first use, again after a failure). Not knowing is `.now`.
    final class WorkOfChanges: @unchecked Sendable {
        let store: PostgresStore
        private var reader: (any StoreReading)?
        init(store: PostgresStore) { self.store = store }

        func of(_ ids: Set<Int64>?) -> LoopWork {
            guard let ids else { return .now }
            guard !ids.isEmpty else { return .none }
            do {
                if reader == nil { reader = try store.openReader() }
                let found = try reader!.requests(ids: ids.sorted())
                return found.map(LoopWork.after).reduce(LoopWork.none, LoopWork.sooner)
            } catch {
                reader = nil
                return .now
            }
        }
    }

    /// When the listener lost its connection (so that an outage is logged once, not on every attempt).
    private final class LostSince: @unchecked Sendable {
        private let lock = NSLock()
        private var since: Date?
        private var connected = false
        /// True the first time only.
        func firstConnection() -> Bool { lock.withLock { defer { connected = true }; return !connected } }
        /// True the first time after a connection.
        func mark() -> Bool { lock.withLock { if since != nil { return false }; since = Date(); return true } }
        func reset() -> Date? { lock.withLock { defer { since = nil }; return since } }
    }
}
