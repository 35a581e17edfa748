import Foundation

/// Sends a store's change notices (`NOTIFY symtui_changes`) after its commits, from a thread and a connection of its
/// own, so that no command waits for them. A notifying commit costs PostgreSQL a database-wide lock and a write to
/// its notification queue at commit: ~0.14 ms of a ~0.76 ms command when the notice went with the commit
/// (docs/PERFORMANCE.md). Notices posted while one is on its way are merged into the next, so a busy daemon sends
/// fewer than one per commit; an idle one sends each within a round trip of its commit.
///
/// A notice is sent only after its commit returned, so a listener that hears it reads what was committed. If the
/// daemon dies in between, the notice is lost, as notices sent while a listener reconnects are: the other daemons'
/// consoles then show the change with the next one (docs/store.md, "The change feed across daemons"). The thread
/// and its connection end after `idleTimeout` without a commit, and start again with the next.
final class PostgresNotifier: @unchecked Sendable {
    let conninfo: String
    let sender: String
    let idleTimeout: TimeInterval
    private let cond = NSCondition()
    /// What waits to be sent: nothing (nil), the requests changed, or anything (`everything`).
    private var pending: Set<Int64>?
    private var everything = false
    private var running = false
    private var stopping = false

    init(conninfo: String, sender: String, idleTimeout: TimeInterval = 2) {
        self.conninfo = conninfo
        self.sender = sender
        self.idleTimeout = idleTimeout
    }

    deinit { stop() }

    /// Queues a notice naming `ids` (nil: anything may have changed); never waits for the server.
    func post(_ ids: Set<Int64>?) {
        cond.lock()
        defer { cond.unlock() }
        guard !stopping else { return }
        if let ids, !everything {
            pending = (pending ?? []).union(ids)
            if pending!.count > PostgresChangeNotice.maxIDs { everything = true }
        } else {
            everything = true
        }
        if pending == nil { pending = [] }
        if !running {
            running = true
            let t = Thread { [self] in run() }
            t.name = "symtui-pg-notifier"
            t.start()
        }
        cond.signal()
    }

    /// Sends what is pending and ends the thread (waits up to `timeout` for both).
    func stop(timeout: TimeInterval = 5) {
        cond.lock()
        stopping = true
        cond.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while running && cond.wait(until: deadline) {}
        cond.unlock()
    }

    /// Whether every notice posted so far was sent or given up on (tests).
    var isIdle: Bool { cond.withLock { pending == nil } }

    private func take() -> Set<Int64>?? {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(idleTimeout)
        while pending == nil && !stopping {
            if !cond.wait(until: deadline) { break }
        }
        guard let ids = pending else { return nil }
        let notice: Set<Int64>? = everything ? nil : ids
        pending = nil
        everything = false
        return .some(notice)
    }

    private func run() {
        var connection: PostgresConnection?
        var schema = ""
        while let ids = take() {
            // Tried twice (the server may have dropped an idle connection); a notice that cannot be sent is given up:
            // a listener that lost the server reports "anything changed" when it is back.
            for _ in 0..<2 {
                do {
                    if connection == nil || !(connection?.isHealthy ?? false) {
                        connection = try PostgresConnection(conninfo: conninfo, applicationName: "symtui notifier")
                        schema = try connection?.execute("SELECT current_schema()").first?[0] ?? ""
                    }
                    let notice = PostgresChangeNotice(sender: sender, schema: schema, ids: ids)
                    try connection?.execute("SELECT pg_notify($1, $2)", [PostgresChangeNotice.channel, notice.payload])
                    break
                } catch {
                    connection?.close()
                    connection = nil
                }
            }
        }
        connection?.close()
        cond.lock()
        running = false
        // A notice posted between the last take and here starts a new thread.
        if pending != nil && !stopping {
            running = true
            let t = Thread { [self] in run() }
            t.name = "symtui-pg-notifier"
            t.start()
        }
        cond.broadcast()
        cond.unlock()
    }
}
