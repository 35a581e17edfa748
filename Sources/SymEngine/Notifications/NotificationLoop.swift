import Foundation
import SymModel
import SymProtocol
import SymStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How a channel's failed deliveries are retried, and how many notifications one person gets per minute on it.
struct NotificationPolicy: Sendable {
    /// Failed deliveries back off like strategy runs (a named `RetryPolicy`), and never give up.
    var retry = RetryPolicy(name: "notification", base: 2, cap: 120, budget: nil)
    /// Per recipient and channel; beyond it notifications wait (they are never dropped).
    var perRecipientPerMinute = 20
    /// How often an idle worker looks for work when nobody pokes it.
    var pollInterval: TimeInterval = 1
}

/// Delivers the outbox: one worker thread per channel, each with its own store connection, so that a slow or dead
/// channel delays neither a decision (the engine never waits for it) nor another channel. At least once: a
/// notification is marked delivered only after its channel took it.
public final class NotificationLoop: @unchecked Sendable {
    private let configLock = NSLock()
    private var currentConfig: Config
    private var configGeneration = 0
    var config: Config { configLock.withLock { currentConfig } }
    /// Opens a channel worker's own write connection (the outbox only).
    let storeFactory: @Sendable () throws -> any RequestStore
    let policy: NotificationPolicy
    private let wake = NSCondition()
    private var generation = 0
    private let stopping = Atomic<Bool>(false)
    public var log: @Sendable (String) -> Void = { DaemonLog.shared.log(.warning, "notifications: " + $0) }
    /// Replaces a channel's sender (tests point tty at their own utmp).
    var senderFor: (@Sendable (Channel, Notifications) -> any NotificationSender)?
    /// Queues what came due with time (reminders, expiry warnings); run every `sweepInterval` by `run`.
    public var sweep: (@Sendable () throws -> Int)?
    /// When several daemons deliver one outbox (a PostgreSQL store): a worker claims what it will send by putting it
    /// off this long in the transaction that reads it (`FOR UPDATE SKIP LOCKED`), so that another daemon's worker
    /// passes over it; one that is not delivered by then (its daemon died) is sent by another. nil: one daemon.
    public var claimLease: TimeInterval?
    var sweepInterval: TimeInterval = 2

    public convenience init(config: Config, storePath: String) {
        self.init(config: config, storePath: storePath, policy: NotificationPolicy())
    }

    /// Workers get their connections from `openStore` (a PostgreSQL store's, in a fleet).
    public convenience init(config: Config, openStore: @escaping @Sendable () throws -> any RequestStore) {
        self.init(config: config, openStore: openStore, policy: NotificationPolicy())
    }

    /// Workers open SQLite writers of their own on the store at `storePath`, with the config's mode and group.
    convenience init(config: Config, storePath: String, policy: NotificationPolicy) {
        let mode = config.storeMode ?? 0o600
        let gid = config.storeGroup.flatMap { Identity.groupID($0) }
        self.init(config: config, openStore: { try StoreWriter.open(path: storePath, mode: mode, group: gid) }, policy: policy)
    }

    init(config: Config, openStore: @escaping @Sendable () throws -> any RequestStore, policy: NotificationPolicy) {
        currentConfig = config; self.storeFactory = openStore; self.policy = policy
    }

    /// Wakes idle workers (something was committed).
    public func poke() { wake.lock(); generation &+= 1; wake.broadcast(); wake.unlock() }

    public func reload(_ config: Config) { configLock.withLock { currentConfig = config; configGeneration += 1 }; poke() }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// Delivers until `stop` returns true; a changed channel's worker is replaced, a removed one retired.
    public func run(until stop: @escaping () -> Bool) {
        signal(SIGPIPE, SIG_IGN)
        var workers: [ChannelWorker] = []
        var applied = -1
        var lastSweep = Date.distantPast
        while !stop() {
            if let sweep, Date().timeIntervalSince(lastSweep) >= sweepInterval {
                lastSweep = Date()
                do { if try sweep() > 0 { poke() } } catch { log("cannot queue reminders and expiry warnings: \(error)") }
            }
            let (config, gen) = configLock.withLock { (currentConfig, configGeneration) }
            if gen != applied {
                applied = gen
                let wanted = config.notifications.channels
                let (keep, retire) = workers.partitioned { w in wanted.contains(w.channel) && w.settings == config.notifications }
                for w in retire { w.retire(); _ = w.waitUntilDone(timeout: 30) }
                workers = keep
                for c in wanted where !workers.contains(where: { $0.channel == c }) {
                    workers.append(ChannelWorker(channel: c, settings: config.notifications, loop: self).start())
                }
            }
            usleep(200_000)
        }
        stopping.store(true, ordering: .sequentiallyConsistent)
        poke()
        let deadline = Date().addingTimeInterval(5)
        if !workers.allSatisfy({ $0.waitUntilDone(timeout: deadline.timeIntervalSinceNow) }) {
            log("a delivery is still running at shutdown; it will be retried")
        }
    }

    /// `daemon --once`: one pass over every channel's due notifications, in parallel. False when one failed or timed out.
    public func deliverBacklog(timeout: TimeInterval) -> Bool {
        let settings = config.notifications
        let workers = settings.channels.map { ChannelWorker(channel: $0, settings: settings, loop: self, once: true).start() }
        let deadline = Date().addingTimeInterval(timeout)
        let finished = workers.allSatisfy { $0.waitUntilDone(timeout: deadline.timeIntervalSinceNow) }
        if !finished { stopping.store(true, ordering: .sequentiallyConsistent) }
        return finished && workers.allSatisfy(\.deliveredAll)
    }

    var currentGeneration: Int { wake.lock(); defer { wake.unlock() }; return generation }

    func sleep(until deadline: Date, seen: Int, worker: ChannelWorker) {
        wake.lock()
        defer { wake.unlock() }
        while !worker.mustStop && Date() < deadline && generation == seen {
            _ = wake.wait(until: min(deadline, Date().addingTimeInterval(0.2)))
        }
    }

    func openStore() throws -> any RequestStore { try storeFactory() }

    func sender(for c: Channel, settings: Notifications) -> any NotificationSender {
        senderFor?(c, settings) ?? NotificationSenders.make(c, settings: settings)
    }
}

/// Delivers one channel's notifications, oldest due first.
final class ChannelWorker: @unchecked Sendable {
    let channel: Channel
    let settings: Notifications
    unowned let loop: NotificationLoop
    let once: Bool
    private let done = NSCondition()
    private var finished = false
    private let retired = Atomic<Bool>(false)
    /// `once`: whether every due notification was delivered (or skipped).
    private(set) var deliveredAll = true

    init(channel: Channel, settings: Notifications, loop: NotificationLoop, once: Bool = false) {
        self.channel = channel; self.settings = settings; self.loop = loop; self.once = once
    }

    var mustStop: Bool { retired.load(ordering: .sequentiallyConsistent) || loop.isStopping }
    func retire() { retired.store(true, ordering: .sequentiallyConsistent); loop.poke() }

    func start() -> ChannelWorker {
        let t = Thread { [self] in
            work()
            done.lock(); finished = true; done.broadcast(); done.unlock()
        }
        t.name = "notify:\(channel.name)"
        t.start()
        return self
    }

    func waitUntilDone(timeout: TimeInterval) -> Bool {
        done.lock(); defer { done.unlock() }
        let deadline = Date().addingTimeInterval(max(0, timeout))
        while !finished { if !done.wait(until: deadline) { return finished } }
        return true
    }

    private func work() {
        let store: any RequestStore
        do { store = try loop.openStore() } catch {
            loop.log("\(channel.name): cannot open the store: \(error)"); deliveredAll = false; return
        }
        let sender = loop.sender(for: channel, settings: settings)
        let policy = loop.policy
        while !mustStop {
            let seen = loop.currentGeneration
            var due: [OutboxItem] = []
            do { due = try claimDue(store) } catch {
                loop.log("\(channel.name): cannot read the outbox: \(error)")
            }
            for item in due {
                if mustStop { break }
                deliver(item, store: store, sender: sender, policy: policy)
            }
            if once { return }
            if !due.isEmpty { continue }
            let next = (try? store.read { try $0.nextNotificationDue(channel: channel.name) }) ?? nil
            loop.sleep(until: min(next ?? .distantFuture, Date().addingTimeInterval(policy.pollInterval)), seen: seen, worker: self)
        }
    }

    /// The next due notifications of this channel, claimed for a while when other daemons deliver the same outbox.
    private func claimDue(_ store: any RequestStore) throws -> [OutboxItem] {
        let channel = channel.name
        guard let lease = loop.claimLease else { return try store.read { try $0.dueNotifications(channel: channel, now: Date(), limit: 50) } }
        return try store.write { tx in
            let now = Date()
            let due = try tx.dueNotifications(channel: channel, now: now, limit: 50)
            for item in due { try tx.postpone(item.id, until: now.addingTimeInterval(lease)) }
            return due
        }
    }

    private func deliver(_ item: OutboxItem, store: any RequestStore, sender: any NotificationSender, policy: NotificationPolicy) {
        let now = Date()
        if channel.isPerRecipient, !item.recipient.isEmpty,
           let count = try? store.read({ try $0.deliveredCount(channel: channel.name, recipient: item.recipient, since: now.addingTimeInterval(-60)) }),
           count >= policy.perRecipientPerMinute {
            try? store.write { try $0.postpone(item.id, until: now.addingTimeInterval(60.0 / Double(policy.perRecipientPerMinute))) }
            return
        }
        let notification = (try? JSONValue.parse(item.payload)) ?? .object([])
        do {
            let result = try sender.deliver(item, notification: notification)
            if case let .skipped(why) = result {
                loop.log("\(channel.name): notification \(item.id) (\(item.kind), request \(item.requestId.map(String.init) ?? "-")) skipped: \(SafeText.display(why))")
            }
            do { try store.write { try $0.markDelivered(item.id, at: Date()) } } catch {
                loop.log("\(channel.name): delivered notification \(item.id) but could not record it (it may be sent again): \(error)")
            }
        } catch {
            let message = SafeText.display("\(error)")
            deliveredAll = false
            // No budget: nextAttempt never answers nil here.
            let retry = policy.retry.nextAttempt(after: item.attempts + 1, now: Date()) ?? Date().addingTimeInterval(policy.retry.cap)
            try? store.write { try $0.recordNotificationFailure(item.id, error: message, at: Date(), retryAt: retry) }
            if item.attempts == 0 || (item.attempts + 1) % 10 == 0 {
                loop.log("\(channel.name): notification \(item.id) failed (attempt \(item.attempts + 1)): \(message)")
            }
        }
    }
}
