import Foundation
import SymStore

/// The other daemons' commits, for a daemon on a PostgreSQL store: each one heard by its `PostgresListener` goes to
/// this daemon's change feed (its consoles and `list --review` subscribers read again; the daemon's read caches are
/// keyed by the feed's version) and wakes its grant loop (a request approved on another bastion may be this host's
/// to grant). Its own commits reach the feed from `afterCommit`, as on SQLite.
enum FleetChanges {
    /// Starts the listener when `store` is on PostgreSQL (nil on SQLite: one daemon, nothing to hear).
    static func start(store: any RequestStore, feed: ChangeFeed, wake: @escaping @Sendable () -> Void) -> PostgresListener? {
        guard let pg = store as? PostgresStore else { return nil }
        let listener = pg.makeListener { [feed] ids in
            feed.committed(ids)
            wake()
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
