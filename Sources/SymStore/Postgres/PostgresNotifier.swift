import Foundation
import SymModel

/// Sends a store's change notices (`NOTIFY symtui_changes`) after its commits, from a thread and a connection of its
/// own, so that no command waits for them. A notifying commit costs PostgreSQL a database-wide lock and a write to
/// its notification queue at commit: ~0.14 ms of a ~0.76 ms command when the notice went with the commit
/// (docs/PERFORMANCE.md). Notices posted while one is on its way are merged into the next, and one follows the last by
/// `minimumGap` at least (5 ms): a busy daemon sends at most 200 a second, whatever its commit rate. Every notice wakes
/// every daemon of the fleet (a server backend and a thread each), so a fleet of n busy daemons pays n² wakes for each
/// round of notices; merging them costs a change made under load at most 5 ms more to reach the other bastions. An
/// idle daemon's notice leaves within a round trip of its commit.
///
/// A notice is sent only after its commit returned, so a listener that hears it reads what was committed. If the
/// daemon dies in between, the notice is lost, as notices sent while a listener reconnects are: the other daemons'
/// consoles then show the change with the next one (docs/store.md, "The change feed across daemons"). The thread
/// and its connection end after `idleTimeout` without a commit, and start again with the next.
final class PostgresNotifier: @unchecked Sendable {
    let conninfo: String
    let sender: String
    let idleTimeout: TimeInterval
    let minimumGap: TimeInterval
    private let cond = NSCondition()
    /// When the last notice was sent (monotonic clock, 0: none yet).
    private var lastSent: UInt64 = 0
    /// What waits to be sent: nothing (nil), the requests changed, or anything (`everything`).
    private var pending: Set<Int64>?
    private var everything = false
    /// The most urgent work of what waits (nil: not known, the listeners read the requests to learn it).
    private var pendingWork: LoopWork?
    private var running = false
    private var stopping = false

    init(conninfo: String, sender: String, idleTimeout: TimeInterval = 2, minimumGap: TimeInterval = 0.005) {
        self.conninfo = conninfo
        self.sender = sender
        self.idleTimeout = idleTimeout
        self.minimumGap = minimumGap
    }

    deinit { stop() }

    /// Queues a notice naming `ids` (nil: anything may have changed) and the work they leave for a grant loop (nil:
    /// not known); never waits for the server.
    func post(_ ids: Set<Int64>?, work: LoopWork? = nil) {
        cond.lock()
        guard !stopping else { cond.unlock(); return }
        // The thread is woken once, when the first notice of a batch is posted.
        let wasEmpty = pending == nil
        if wasEmpty {
            pendingWork = work
        } else if let known = pendingWork, let work {
            pendingWork = LoopWork.sooner(known, work)
        } else {
            pendingWork = nil   // one of the merged notices did not know its work: the listeners read
        }
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
        cond.unlock()
        // Signalled after unlocking: a thread woken under the lock would only wait for it again.
        if wasEmpty { cond.signal() }
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

    private func take() -> (ids: Set<Int64>?, work: LoopWork?)? {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(idleTimeout)
        while pending == nil && !stopping {
            if !cond.wait(until: deadline) { break }
        }
        guard pending != nil else { return nil }
        // Too soon after the last notice: what is posted meanwhile goes with this one.
        if lastSent != 0 && !stopping {
            let due = lastSent &+ UInt64(minimumGap * 1e9)
            while !stopping {
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= due { break }
                _ = cond.wait(until: Date().addingTimeInterval(Double(due - now) / 1e9))
            }
        }
        guard let ids = pending else { return nil }
        let notice: Set<Int64>? = everything ? nil : ids
        pending = nil
        everything = false
        return (notice, pendingWork)
    }

    private func run() {
        var connection: PostgresConnection?
        var schema = ""
        while let (ids, work) = take() {
            // Tried twice (the server may have dropped an idle connection); a notice that cannot be sent is given up:
            // a listener that lost the server reports "anything changed" when it is back.
            for _ in 0..<2 {
                do {
                    if connection == nil || !(connection?.isHealthy ?? false) {
                        // Prepared: planned once, not for every notice.
                        connection = try PostgresConnection(conninfo: conninfo, applicationName: "symtui notifier", preparing: true)
                        schema = try connection?.execute("SELECT current_schema()").first?[0] ?? ""
                    }
                    let notice = PostgresChangeNotice(sender: sender, schema: schema, ids: ids, work: work)
                    let statement = PostgresStatement("SELECT pg_notify($1, $2)", [PostgresChangeNotice.channel, notice.payload])
                    _ = try connection?.executePipeline([statement])
                    cond.withLock { lastSent = DispatchTime.now().uptimeNanoseconds }
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
