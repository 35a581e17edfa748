import Foundation
import SymModel
import SymProtocol
import SymStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How long a worker waits before retrying a destination that failed: doubling from `initial` up to `cap`.
struct DeliveryBackoff: Sendable {
    var initial: TimeInterval = 1
    var cap: TimeInterval = 60
    func next(after delay: TimeInterval) -> TimeInterval { min(cap, delay * 2) }
}

/// Ships the audit chain to every configured destination, at least once and in order. One worker thread
/// per destination, each with its own write connection to the store; a destination's cursor moves only
/// after it acknowledged a batch, and a failing destination is retried with backoff, never skipped.
/// `reload` (SIGHUP) starts workers for new destinations and retires those that left or changed.
public final class ReportingLoop: @unchecked Sendable {
    private let configLock = NSLock()
    private var currentConfig: Config
    private var configGeneration = 0
    var config: Config { configLock.withLock { currentConfig } }
    /// Opens a worker's own write connection (delivery cursors only).
    let storeFactory: @Sendable () throws -> any RequestStore
    let retry: DeliveryBackoff
    /// How often an idle worker looks for new events when nobody pokes it.
    let pollInterval: TimeInterval
    private let wake = NSCondition()
    private var generation = 0
    private let stopping = Atomic<Bool>(false)
    /// On a store shared by a fleet: this daemon's `host_name` (local destinations get a cursor per bastion) and the
    /// store's address (a shared destination is delivered by one daemon at a time). Nil on SQLite. Set before `run`.
    public var fleet: ReportingFleet?
    /// How often a worker whose shared destination another daemon delivers asks for its claim again.
    var claimRetry: TimeInterval = 2
    /// Builds a destination from its settings (tests point a jsonl path into a directory of their own).
    var makeDestination: @Sendable (Destination) -> Result<any ReportingDestination, DeliveryError> = { ReportingDestinations.make($0) }
    /// Where the loop's messages go (tests silence it); a message below the log's level is not even built.
    public var log: @Sendable (LogLevel, @autoclosure () -> String) -> Void = { DaemonLog.shared.log($0, "reporting: " + $1()) }

    public convenience init(config: Config, storePath: String) {
        self.init(config: config, storePath: storePath, retry: DeliveryBackoff(), pollInterval: 0.2)
    }

    /// Workers get their connections from `openStore` (a PostgreSQL store's, in a fleet).
    public convenience init(config: Config, openStore: @escaping @Sendable () throws -> any RequestStore) {
        self.init(config: config, openStore: openStore, retry: DeliveryBackoff(), pollInterval: 0.2)
    }

    /// Workers open SQLite writers of their own on the store at `storePath`, with the config's mode and group.
    convenience init(config: Config, storePath: String, retry: DeliveryBackoff, pollInterval: TimeInterval) {
        let mode = config.storeMode ?? 0o600
        let gid = config.storeGroup.flatMap { Identity.groupID($0) }
        self.init(config: config, openStore: { try StoreWriter.open(path: storePath, mode: mode, group: gid) }, retry: retry, pollInterval: pollInterval)
    }

    init(config: Config, openStore: @escaping @Sendable () throws -> any RequestStore, retry: DeliveryBackoff, pollInterval: TimeInterval) {
        currentConfig = config; self.storeFactory = openStore; self.retry = retry; self.pollInterval = pollInterval
    }

    /// Wakes idle workers now (new events were committed). A worker backing off is not hurried.
    public func poke() {
        wake.lock(); generation &+= 1; wake.broadcast(); wake.unlock()
    }

    /// Puts a new configuration's destinations in force (the running `run` picks them up within 200 ms).
    public func reload(_ config: Config) {
        configLock.withLock { currentConfig = config; configGeneration += 1 }
    }

    /// Delivers until `stop` returns true (checked at least every 200 ms), then lets in-flight batches
    /// finish for a few seconds.
    public func run(until stop: @escaping () -> Bool) {
        var workers: [(destination: Destination, worker: DeliveryWorker)] = []
        var applied = -1
        while !stop() {
            let (wanted, generation) = configLock.withLock { (currentConfig.reporting.destinations, configGeneration) }
            if generation != applied {
                applied = generation
                // A changed destination is stopped before its replacement starts: one sender per cursor, in order.
                let (keep, retire) = workers.partitioned { w in wanted.contains(w.destination) }
                for w in retire {
                    w.worker.retire()
                    if !w.worker.waitUntilDone(timeout: 30) { log(.warning, "\(w.worker.key): still delivering after 30 s; its replacement starts anyway") }
                }
                workers = keep
                for d in wanted where !workers.contains(where: { $0.destination == d }) {
                    workers.append((d, DeliveryWorker(destination: d, loop: self).start()))
                }
            }
            usleep(200_000)
        }
        stopping.store(true, ordering: .sequentiallyConsistent)
        poke()
        let deadline = Date().addingTimeInterval(5)
        if !workers.allSatisfy({ $0.worker.waitUntilDone(timeout: deadline.timeIntervalSinceNow) }) {
            log(.warning, "a delivery is still running at shutdown; it will be retried")
        }
    }

    /// `daemon --once`: delivers each destination's backlog once, in parallel; a destination that fails keeps its
    /// backlog for the next run. Returns false when a destination failed or `timeout` passed first.
    public func deliverBacklog(timeout: TimeInterval) -> Bool {
        let workers = config.reporting.destinations.map { DeliveryWorker(destination: $0, loop: self, once: true).start() }
        let deadline = Date().addingTimeInterval(timeout)
        let finished = workers.allSatisfy { $0.waitUntilDone(timeout: deadline.timeIntervalSinceNow) }
        if !finished { stopping.store(true, ordering: .sequentiallyConsistent) }
        return finished && workers.allSatisfy(\.deliveredAll)
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    var currentGeneration: Int { wake.lock(); defer { wake.unlock() }; return generation }

    /// Sleeps until `deadline`, a poke after `seen` (when `pokeable`), or until `worker` must stop.
    func sleep(until deadline: Date, seen: Int, pokeable: Bool, worker: DeliveryWorker) {
        wake.lock()
        defer { wake.unlock() }
        while !worker.mustStop && Date() < deadline && !(pokeable && generation != seen) {
            _ = wake.wait(until: min(deadline, Date().addingTimeInterval(0.2)))
        }
    }

    /// A worker's own write connection (delivery cursors only), serialised like the engine's.
    func openStore() throws -> any RequestStore { try storeFactory() }

    /// The destination's cursor in the `delivery` table (per bastion for a local destination in a fleet).
    func cursorKey(for d: Destination) -> String { ReportingDestinations.cursorKey(for: d, host: fleet?.hostName) }
}

extension Array {
    /// (elements that satisfy `belongs`, the others), each in order.
    func partitioned(_ belongs: (Element) -> Bool) -> ([Element], [Element]) {
        var yes: [Element] = [], no: [Element] = []
        for e in self { if belongs(e) { yes.append(e) } else { no.append(e) } }
        return (yes, no)
    }
}

/// Delivers one destination's backlog in order; owns its store connection.
final class DeliveryWorker: @unchecked Sendable {
    let spec: Destination
    let key: String
    /// Strong: a worker may outlive `daemon --once` giving up on it, and must not touch a freed loop.
    let loop: ReportingLoop
    /// `daemon --once`: stop at the end of the backlog or at the first failure instead of waiting for more.
    let once: Bool
    private let retired = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let caughtUp = Atomic<Bool>(false)
    /// The last reason a claim could not even be asked for (said once, not every retry).
    private var claimProblem: String?

    init(destination: Destination, loop: ReportingLoop, once: Bool = false) {
        spec = destination
        key = loop.cursorKey(for: destination)
        self.loop = loop
        self.once = once
    }

    var mustStop: Bool { loop.isStopping || retired.load(ordering: .sequentiallyConsistent) }
    /// True when the worker (in `once` mode) reached the end of the backlog.
    var deliveredAll: Bool { caughtUp.load(ordering: .sequentiallyConsistent) }

    /// Runs on its own thread; returns self.
    func start() -> DeliveryWorker {
        let thread = Thread { [self] in run(); done.signal() }
        thread.name = "symtui.reporting.\(spec.type)"
        thread.start()
        return self
    }

    /// Asks the worker to stop after the batch in hand (its cursor stays where the destination acknowledged).
    func retire() { retired.store(true, ordering: .sequentiallyConsistent); loop.poke() }

    func waitUntilDone(timeout: TimeInterval) -> Bool {
        guard done.wait(timeout: .now() + max(0, timeout)) == .success else { return false }
        done.signal()   // others may ask again
        return true
    }

    func run() {
        var delay = loop.retry.initial
        var store: (any RequestStore)?
        while store == nil && !mustStop {
            do { store = try loop.openStore() } catch {
                loop.log(.error, "\(key): cannot open the store: \(error)")
                if once { return }
                loop.sleep(until: Date().addingTimeInterval(delay), seen: 0, pokeable: false, worker: self)
                delay = loop.retry.next(after: delay)
            }
        }
        guard let store else { return }
        let destination: any ReportingDestination
        switch loop.makeDestination(spec) {
        case let .success(d): destination = d
        case let .failure(e):
            // A misconfigured destination keeps its cursor: once fixed, it catches up from there.
            loop.log(.error, "\(key): \(e.message); not delivering to it")
            try? store.write { try $0.recordDeliveryFailure(key, error: e.message, at: Date()) }
            return
        }
        defer { destination.close() }
        // A shared destination in a fleet is sent by the one daemon that holds its claim.
        let claim = loop.fleet.flatMap { fleet in
            ReportingDestinations.isLocal(spec) ? nil : DeliveryClaim(conninfo: fleet.conninfo, key: key, hostName: fleet.hostName)
        }
        defer { claim?.release() }
        deliver(to: destination, store: store, claim: claim)
    }

    /// Whether this worker may send now; when not, it has slept (or, `once`, given up) and the cursor must be read again.
    private func mayDeliver(_ claim: DeliveryClaim, seen: Int, waiting: inout Bool) -> Bool {
        let wasHeld = claim.held
        do {
            if try claim.hold() {
                claimProblem = nil
                if waiting || !wasHeld { loop.log(.info, "\(key): this daemon holds the fleet's claim and delivers it") }
                waiting = false
                return true
            }
            if wasHeld { loop.log(.warning, "\(key): lost the fleet's claim (the store dropped its connection); claiming again") }
            else if !waiting { loop.log(.debug, "\(key): another daemon of the fleet holds the claim and delivers it; waiting and retrying every \(Int(loop.claimRetry.rounded(.up))) s") }
            waiting = true
        } catch {
            // Said once per outage: the store being down is also said by the reads that fail meanwhile.
            let message = PostgresStore.redacted("\(error)")
            if claimProblem != message { loop.log(.error, "\(key): cannot claim the destination: \(message)") }
            claimProblem = message
            waiting = false
        }
        if !once { loop.sleep(until: Date().addingTimeInterval(loop.claimRetry), seen: seen, pokeable: false, worker: self) }
        return false
    }

    private func deliver(to destination: any ReportingDestination, store: any RequestStore, claim: DeliveryClaim?) {
        // Read once the claim is held (another daemon may have moved it until then) and after every loss of it.
        var cursor: Int64?
        var delay = loop.retry.initial
        var failing: String?
        var waiting = false
        while !mustStop {
            let seen = loop.currentGeneration
            if let claim, !mayDeliver(claim, seen: seen, waiting: &waiting) {
                cursor = nil
                // `daemon --once`: the daemon that holds the claim delivers the backlog; a store that is down does not.
                if once { if waiting { caughtUp.store(true, ordering: .sequentiallyConsistent) }; return }
                continue
            }
            if cursor == nil {
                do { cursor = try store.read { try $0.delivery(key).seq } } catch {
                    loop.log(.error, "\(key): cannot read its cursor: \(error)")
                    if once { return }
                    loop.sleep(until: Date().addingTimeInterval(1), seen: seen, pokeable: false, worker: self)
                    continue
                }
            }
            guard let from = cursor else { continue }
            let batch: [AuditEvent]
            do { batch = try store.read { try $0.events(afterSeq: from, limit: destination.batchSize) } } catch {
                loop.log(.error, "\(key): cannot read events: \(error)")
                if once { return }
                loop.sleep(until: Date().addingTimeInterval(1), seen: seen, pokeable: false, worker: self)
                continue
            }
            guard let last = batch.last else {
                if once { caughtUp.store(true, ordering: .sequentiallyConsistent); return }
                loop.sleep(until: Date().addingTimeInterval(loop.pollInterval), seen: seen, pokeable: true, worker: self)
                continue
            }
            do {
                try destination.deliver(batch)
            } catch {
                let message = (error as? DeliveryError)?.message ?? "\(error)"
                if failing != message { loop.log(.warning, "\(key): \(message) (seq \(batch[0].seq) and later wait; retrying)") }
                failing = message
                try? store.write { try $0.recordDeliveryFailure(key, error: message, at: Date()) }
                if once { return }
                loop.sleep(until: Date().addingTimeInterval(delay), seen: seen, pokeable: false, worker: self)
                delay = loop.retry.next(after: delay)
                continue
            }
            if failing != nil { loop.log(.info, "\(key): delivering again") }
            failing = nil
            delay = loop.retry.initial
            cursor = last.seq
            do { try store.write { try $0.recordDelivered(key, through: last.seq, at: Date()) } } catch {
                // The batch arrived; if the cursor cannot be saved it is sent again after a restart (at least once).
                loop.log(.error, "\(key): cannot record delivery through seq \(last.seq): \(error)")
            }
        }
    }
}

/// The delivery state of every configured destination. `fleetHost`: this daemon's `host_name` on a store shared by a
/// fleet, where a local destination's row is this bastion's cursor (`host`) and a shared one's the fleet's.
public func deliveryStatus(store: any StoreReading, config: Config, fleetHost: String? = nil, now: Date = Date()) throws -> [DestinationStatus] {
    let head = try store.lastSeq()
    return try config.reporting.destinations.map { d in
        let record = try store.delivery(ReportingDestinations.cursorKey(for: d, host: fleetHost))
        let backlog = max(0, head - record.seq)
        let lag = backlog > 0 ? try store.eventTime(seq: record.seq + 1).map { max(0, now.timeIntervalSince($0)) } : nil
        var status = DestinationStatus(key: ReportingDestinations.key(for: d), type: d.type, cursor: record.seq, backlog: backlog,
                                       lagSeconds: lag, attempts: record.attempts, lastError: record.lastError,
                                       lastAttemptAt: record.lastAttemptAt, deliveredAt: record.deliveredAt,
                                       configProblem: ReportingDestinations.problem(with: d))
        if let fleetHost { status.scope = ReportingDestinations.isLocal(d) ? .host(fleetHost) : .fleet }
        return status
    }
}
