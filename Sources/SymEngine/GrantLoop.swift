import Foundation
import SymModel
import SymProtocol
import SymStore

/// One strategy run the loop hands to a worker.
struct GrantJob: Sendable {
    enum Kind: Sendable { case escalate, deescalate }
    var kind: Kind
    var context: GrantContext
    /// Flows granting through the same strategy (whose grants may cover the same access).
    var flows: [String] = []

    /// Jobs with the same key touch the same access (one user, one target) and never run at the same time.
    var key: String { [context.request.requester, context.strategy.name, context.target.name].joined(separator: "\u{0}") }
}

/// What the grant loop needs from the engine, and all it sees of it: the clock, the configuration in force, the
/// store, the one way to move a request through its lifecycle, the strategies, the flows' hooks and the retry policies.
protocol GrantLoopEngine: AnyObject, Sendable {
    var now: @Sendable () -> Date { get }
    var config: Config { get }
    var store: any RequestStore { get }
    var escalationRetry: RetryPolicy { get }
    var deescalationRetry: RetryPolicy { get }
    /// Moves `request` by `action` inside `tx`, with its audit events.
    func apply(_ action: LifecycleAction, to request: AccessRequest, actor: Actor, tx: any StoreWriting) throws -> AccessRequest
    /// The strategy in force for `configured` (a fresh one when the config no longer names it).
    func strategy(for configured: Strategy) -> any AccessStrategy
    /// Runs `flow`'s `on_escalate` hook: nil lets the escalation run; otherwise why not, and whether that is final.
    func escalationRefusal(flow: Flow, request: AccessRequest) -> (reason: String, final: Bool)?
    /// Runs `flow`'s `on_deescalate` hook, which is recorded only: taking access away never waits for permission.
    func announceDeescalation(flow: Flow, request: AccessRequest)
    /// After committed changes: the flows' `after_*` hooks (in the background), then wakes whoever watches changes.
    func committed(_ changes: [(before: RequestState, after: AccessRequest)], wake: Bool)
}

extension Engine: GrantLoopEngine {
    func strategy(for configured: Strategy) -> any AccessStrategy {
        strategies[configured.name] ?? Strategies.make(configured)
    }

    func escalationRefusal(flow: Flow, request: AccessRequest) -> (reason: String, final: Bool)? {
        guard let hook = runHandler(HandlerName.onEscalate, flow: flow, request: request, actor: "system") else { return nil }
        let decision = Engine.HookDecision(hook, hook: HandlerName.onEscalate)
        if hook.verdict == nil, case let .block(reason) = decision {
            return (reason, false)   // the hook failed: a failed attempt, retried
        }
        switch decision {
        case let .deny(reason), let .block(reason): return ("on_escalate refused: \(reason)", true)   // the flow's decision: no retry
        default: return nil
        }
    }

    func announceDeescalation(flow: Flow, request: AccessRequest) {
        _ = runHandler(HandlerName.onDeescalate, flow: flow, request: request, actor: "system")
    }

    func committed(_ changes: [(before: RequestState, after: AccessRequest)], wake: Bool) {
        for (before, after) in changes { afterHooks(before: before, after: after, actor: "system") }
        if wake { onChange?(.now) }
    }
}

/// The grant loop: moves requests along with time and runs their strategy steps. It expires pending requests past
/// their TTL, ends grants whose time ran out, and runs escalations and deescalations (with retries): it derives
/// due work from the store, claims it in batches, runs strategies with bounded parallelism outside any lock, and
/// records outcomes in batches. Grants are durable rows; nothing here survives a restart, and nothing needs to.
public final class GrantLoop: @unchecked Sendable {
    let engine: any GrantLoopEngine
    let parallelism: Int
    let batch = 500
    static let coalesceMicroseconds: UInt32 = 5_000
    /// Finished runs are recorded together, in one transaction: once this many are done, once the oldest has waited
    /// `recordDelay`, or as soon as nothing else is running. A burst of expiries then costs a commit per few hundred
    /// deescalations instead of one per pass, and a lone deescalation is recorded at once.
    let recordBatch = 256
    static let recordDelay: TimeInterval = 0.005
    private let cond = NSCondition()
    private var inFlight = Set<Int64>()
    /// A read-only connection for the workers' questions, so they never wait for the writer's batches (WAL).
    private var reader: (any StoreReading)?
    private let readerLock = NSLock()
    /// Keys (user, strategy, target) of jobs queued or running.
    private var busyKeys = Set<String>()
    /// Runs done but not yet recorded; `final` means no retry (an `on_escalate` hook refused).
    private var finished: [(job: GrantJob, outcome: StrategyOutcome, final: Bool)] = []
    /// When the oldest run in `finished` ended (set by `finish`; a didSet would copy the array on every append).
    private var firstFinishedAt = Date.distantFuture
    private var poked = false
    /// When the waiting loop wakes by itself; distantPast while it works (a poke then always means another pass).
    private var plannedWake = Date.distantPast
    /// Passes made so far, and whether the loop now sleeps (for tests and diagnostics).
    private(set) var passes = 0
    var isSleeping: Bool { cond.lock(); defer { cond.unlock() }; return plannedWake != .distantPast }
    /// Jobs waiting for a worker; `parallelism` threads take them in order.
    private var queue: [GrantJob] = []
    /// The next job to take from `queue`: taken jobs are dropped in bulk, since removeFirst would move every queued job.
    private var queueHead = 0
    private var workersStarted = 0
    /// Where the loop's messages go (tests silence it); a message below the log's level is not even built.
    public var log: @Sendable (LogLevel, @autoclosure () -> String) -> Void = { DaemonLog.shared.log($0, $1()) }

    public init(engine: Engine, parallelism: Int = 8) {
        self.engine = engine
        self.parallelism = max(1, parallelism)
    }

    /// Wakes the loop for the work a committed change made. A deadline later than the loop's next wake-up, or no
    /// work at all, wakes nothing: under a stream of requests and approval-only decisions the loop sleeps on.
    public func poke(_ work: LoopWork = .now) {
        cond.lock(); defer { cond.unlock() }
        switch work {
        case .none: return
        case let .at(due) where due >= plannedWake: return
        default: poked = true; cond.broadcast()
        }
    }

    /// Runs until `stop` returns true; sleeps until the next due time or a poke.
    public func run(until stop: @escaping () -> Bool) {
        while !stop() {
            var next: Date?
            do { next = try step() } catch {
                log(.error, "loop: \(error)")
                next = Date().addingTimeInterval(1)
            }
            cond.lock()
            // Wake at the next due moment, when finished runs are to be recorded, and at least every 5 s as a safety net.
            let safety = Date().addingTimeInterval(5)
            while !poked && !stop() {
                let record = recordingDue()
                if record.now { break }
                plannedWake = min(next ?? .distantFuture, safety, record.at)
                let woken = cond.wait(until: plannedWake)
                plannedWake = .distantPast
                if !woken { break }
            }
            let wasPoked = poked && finished.isEmpty
            poked = false
            cond.unlock()
            // A burst of commands becomes one pass instead of one per command.
            if wasPoked { usleep(Self.coalesceMicroseconds) }
        }
        drainInFlight()
    }

    /// `daemon --once`: does all work due now, waits for its strategy runs, and returns.
    public func runUntilIdle() throws {
        while true {
            try step()
            cond.lock()
            while !inFlight.isEmpty, case let record = recordingDue(), !record.now {
                _ = cond.wait(until: min(record.at, Date().addingTimeInterval(1)))
            }
            let idle = inFlight.isEmpty && finished.isEmpty
            cond.unlock()
            if idle && !hasDueWorkNow() { return }
        }
    }

    /// Whether the finished runs are to be recorded now, else when (called holding `cond`; see `recordBatch`).
    private func recordingDue() -> (now: Bool, at: Date) {
        guard !finished.isEmpty else { return (false, .distantFuture) }
        // inFlight still holds the finished runs: equal counts mean that nothing else is queued or running.
        if finished.count >= recordBatch || finished.count >= inFlight.count { return (true, .distantPast) }
        let at = firstFinishedAt.addingTimeInterval(Self.recordDelay)
        return (at <= Date(), at)
    }

    private func hasDueWorkNow() -> Bool {
        let now = engine.now()
        return (try? engine.store.read { s in
            try !s.pendingPastTTL(now: now, limit: 1).isEmpty || !s.activePastExpiry(now: now, limit: 1).isEmpty
                || !s.approvedAwaitingEscalation(now: now, limit: 1).isEmpty
                || !s.strategyWorkDue(now: now, limit: 1, host: engine.config.hostName).isEmpty
        }) ?? false
    }

    /// On shutdown: waits for running strategies and records their outcomes (jobs not started stay due).
    private func drainInFlight() {
        cond.lock()
        let waiting = queue[queueHead...]
        queue.removeAll()
        queueHead = 0
        for job in waiting { inFlight.remove(job.context.request.id); busyKeys.remove(job.key) }
        cond.unlock()
        while true {
            try? recordFinished()
            cond.lock()
            let idle = inFlight.isEmpty
            if !idle { _ = cond.wait(until: Date().addingTimeInterval(0.5)) }
            cond.unlock()
            if idle { return }
        }
    }

    /// One pass: record outcomes, apply due transitions, start due strategy runs. Returns the next due time.
    @discardableResult
    func step() throws -> Date? {
        cond.lock(); passes += 1; cond.unlock()
        try recordFinished()
        var changed: [(before: RequestState, after: AccessRequest)] = []
        defer { engine.committed(changed, wake: false) }
        let now = engine.now()
        try engine.store.write { tx in
            changed.removeAll()   // a body run again (a PostgreSQL deadlock retry) reports only what it committed
            // Read first: a wake-up with nothing due (most of them) makes no change, so it takes no write lock.
            let expiring = try tx.pendingPastTTL(now: now, limit: batch)
            let ending = try tx.activePastExpiry(now: now, limit: batch)
            let toEscalate = try tx.approvedAwaitingEscalation(now: now, limit: batch)
            for r in expiring {
                if let after = try? engine.apply(.expirePending, to: r, actor: .system, tx: tx) { changed.append((r.state, after)) }
            }
            for r in ending { _ = try? engine.apply(.expireGrant, to: r, actor: .system, tx: tx) }
            // Written durably before the escalation runs: after a crash it is resumed, not forgotten.
            for r in toEscalate { _ = try? engine.apply(.beginEscalation, to: r, actor: .system, tx: tx) }
        }
        cond.lock()
        let busy = inFlight
        cond.unlock()
        // Asked again only when the queued runs fall below half a batch: a pass per finished run would read (and
        // decode) the next batch every time, which made 100,000 grants expiring together quadratic. Only this host's
        // steps (and those any host may run) are asked for: another bastion's wait for their own daemon.
        let host = engine.config.hostName
        let due = busy.count >= batch / 2 ? []
            : try engine.store.read { try $0.strategyWorkDue(now: now, limit: batch + busy.count, host: host) }.filter { !busy.contains($0.id) }
        for r in due {
            guard let job = makeJob(r) else { failUnconfigured(r); continue }
            // Another job for the same user and target is queued or running: this one waits for the next pass.
            cond.lock()
            let free = busyKeys.insert(job.key).inserted
            cond.unlock()
            if free { dispatch(job) }
        }
        return try engine.store.read { try $0.nextDueTime(host: host) }
    }

    func makeJob(_ r: AccessRequest) -> GrantJob? {
        let config = engine.config
        guard let flow = config.flow(named: r.flow), let sname = flow.strategy, let strategy = config.strategy(named: sname),
              let tname = r.target, let target = strategy.target(named: tname) else {
            return nil
        }
        var request = r
        if r.state == .escalating, flow.scheduleDeescalation, let d = r.durationSeconds, r.accessExpiresAt == nil {
            // What the escalation is told (SYMTUI_EXPIRES_AT); the clock really starts when it succeeds.
            request.accessExpiresAt = engine.now().addingTimeInterval(TimeInterval(d))
        }
        let ctx = GrantContext(request: request, strategy: strategy, target: target, stepOutput: r.stepOutput, otherActiveHolders: [])
        return GrantJob(kind: r.state == .escalating ? .escalate : .deescalate, context: ctx,
                        flows: config.flows.filter { $0.strategy == sname }.map(\.name))
    }

    /// A grant whose flow, strategy or target left the config fails its step like any other failure
    /// (retried, then failed or stuck), so that it is visible rather than silently skipped.
    private func failUnconfigured(_ r: AccessRequest) {
        let strategy = Strategy(name: "(unconfigured)", type: .command)
        let ctx = GrantContext(request: r, strategy: strategy, target: Target(name: r.target ?? "?"), stepOutput: r.stepOutput,
                               otherActiveHolders: [])
        let job = GrantJob(kind: r.state == .escalating ? .escalate : .deescalate, context: ctx)
        let outcome = StrategyOutcome(succeeded: false, error: "flow \(r.flow) or its strategy/target is no longer configured",
                                      output: nil, data: .object([]))
        cond.lock()
        inFlight.insert(r.id)
        finish(job, outcome, final: false)
        cond.unlock()
    }

    private func dispatch(_ job: GrantJob) {
        log(.debug, "request \(job.context.request.id): \(job.kind == .escalate ? "escalating" : "deescalating") "
            + "\(job.context.request.requester) on \(job.context.strategy.name)/\(job.context.target.name)")
        cond.lock()
        inFlight.insert(job.context.request.id)
        queue.append(job)
        let startWorker = workersStarted < parallelism   // threads start lazily, up to `parallelism`
        if startWorker { workersStarted += 1 }
        cond.broadcast()
        cond.unlock()
        if startWorker {
            let t = Thread { [self] in work() }
            t.name = "symtui-strategy"
            t.start()
        }
    }

    /// A worker thread: runs strategies one at a time, outside every lock but the queue's.
    private func work() {
        cond.lock()
        while true {
            while queueHead == queue.count { cond.wait() }
            let job = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count { queue.removeAll(keepingCapacity: true); queueHead = 0 }
            else if queueHead >= 1024 { queue.removeFirst(queueHead); queueHead = 0 }
            cond.unlock()
            let (outcome, final) = run(job)
            cond.lock()
            finish(job, outcome, final: final)
            cond.broadcast()
        }
    }

    /// Adds a run's outcome to those waiting to be recorded (holding `cond`).
    private func finish(_ job: GrantJob, _ outcome: StrategyOutcome, final: Bool) {
        if finished.isEmpty { firstFinishedAt = Date() }
        finished.append((job, outcome, final))
    }

    /// Runs one job: the flow's `on_escalate`/`on_deescalate` hook, then the strategy.
    private func run(_ job: GrantJob) -> (StrategyOutcome, final: Bool) {
        let strategy = engine.strategy(for: job.context.strategy)
        let request = job.context.request
        let flow = engine.config.flow(named: request.flow)
        if job.kind == .escalate {
            if let flow, let refusal = engine.escalationRefusal(flow: flow, request: request) {
                return (.failure(refusal.reason), refusal.final)
            }
            return (strategy.escalate(job.context), false)
        }
        if let flow { engine.announceDeescalation(flow: flow, request: request) }
        return (deescalate(job, strategy: strategy), false)
    }

    private func deescalate(_ job: GrantJob, strategy: any AccessStrategy) -> StrategyOutcome {
        let user = job.context.request.requester
        var context = job.context
        // Asked now, not when the job was made: no other job of this user and target runs meanwhile (busyKeys).
        let covered: Bool
        do {
            (covered, context.userHoldsOtherGrantOfStrategy) = try readerLock.withLock {
                if reader == nil { reader = try engine.store.openReader() }
                let r = reader!
                let id = context.request.id
                let same = try r.holdsOtherGrant(requester: user, flows: job.flows, target: context.target.name, excluding: id)
                let any = try same || context.strategy.targets.contains {
                    try r.holdsOtherGrant(requester: user, flows: job.flows, target: $0.name, excluding: id)
                }
                return (same, any)
            }
        } catch {
            return .failure("cannot tell whether another grant covers this access: \(error)")
        }
        context.otherActiveHolders = covered ? [user] : []
        if strategy.accessIsSharedAcrossGrants && covered {
            // Another active grant of this user covers the same target: its own deescalation will end the access.
            return .success(data: [("kept", .bool(true)),
                                   ("kept_reason", .string("another active grant of \(user) to \(job.context.target.name) covers it"))])
        }
        return strategy.deescalate(context)
    }

    /// Writes the outcomes of finished runs in one transaction.
    private func recordFinished() throws {
        cond.lock()
        let done = finished
        finished = []
        firstFinishedAt = .distantFuture
        cond.unlock()
        guard !done.isEmpty else { return }
        let now = engine.now()
        let host = engine.config.hostName
        var changed: [(before: RequestState, after: AccessRequest)] = []
        defer {
            cond.lock()
            for (job, _, _) in done { inFlight.remove(job.context.request.id); busyKeys.remove(job.key) }
            cond.broadcast()
            cond.unlock()
        }
        try engine.store.write { tx in
            changed.removeAll()   // a body run again (a PostgreSQL deadlock retry) reports only what it committed
            let current = try tx.requests(ids: done.map { $0.job.context.request.id })
            let byID = Dictionary(current.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for (job, ran, final) in done {
                guard let r = byID[job.context.request.id] else { continue }
                let outcome = GrantLoop.recordingHost(host, in: ran)
                let action: LifecycleAction
                switch (job.kind, outcome.succeeded) {
                case (.escalate, true): action = .escalated(output: outcome.output, data: outcome.data)
                case (.escalate, false):
                    action = .escalationFailed(error: outcome.error ?? "escalation failed", data: outcome.data,
                                                retryAt: final ? nil : engine.escalationRetry.nextAttempt(after: r.attempts + 1, now: now))
                case (.deescalate, true): action = .deescalated(data: outcome.data)
                case (.deescalate, false):
                    let retry = engine.deescalationRetry.nextAttempt(after: r.attempts + 1, now: now) ?? now.addingTimeInterval(60)
                    action = .deescalationFailed(error: outcome.error ?? "deescalation failed", data: outcome.data, retryAt: retry)
                }
                log(.debug, "request \(r.id): \(action.name)" + (outcome.error.map { ": \($0)" } ?? ""))
                do { changed.append((r.state, try engine.apply(action, to: r, actor: .system, tx: tx))) } catch {
                    log(.error, "request \(r.id): could not record \(action.name): \(error)")
                }
            }
        }
        // after_escalate, after_deescalate: in the background, once the outcome is durable.
        engine.committed(changed, wake: true)
    }

    /// The outcome with `data.host`: the audit event of a strategy step says which bastion's daemon ran it.
    static func recordingHost(_ host: String, in outcome: StrategyOutcome) -> StrategyOutcome {
        var o = outcome
        if case var .object(pairs) = o.data {
            pairs.removeAll { $0.0 == "host" }
            pairs.append(("host", .string(host)))
            o.data = .object(pairs)
        } else {
            o.data = .obj([("host", .string(host)), ("result", o.data)])
        }
        return o
    }
}
