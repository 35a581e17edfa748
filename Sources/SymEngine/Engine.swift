import Foundation
import SymModel
import SymProtocol
import SymStore

/// How failed strategy runs are retried: exponential backoff with ±50 % jitter, capped.
public struct RetryPolicy: Sendable {
    public var name: String
    public var base: TimeInterval
    public var cap: TimeInterval
    /// Tries before giving up; nil = never give up (deescalation).
    public var budget: Int?

    public static let escalation = RetryPolicy(name: "escalation", base: 2, cap: 60, budget: 5)
    public static let deescalation = RetryPolicy(name: "deescalation", base: 2, cap: 300, budget: nil)

    public init(name: String, base: TimeInterval, cap: TimeInterval, budget: Int?) {
        self.name = name; self.base = base; self.cap = cap; self.budget = budget
    }

    /// When to try again after `attempt` failures (1-based), or nil when the budget is spent.
    public func nextAttempt(after attempt: Int, now: Date) -> Date? {
        if let budget, attempt >= budget { return nil }
        let delay = min(cap, base * pow(2, Double(max(0, attempt - 1))))
        return now.addingTimeInterval(delay * Double.random(in: 0.5...1.5))
    }
}

/// Applies commands to the store: the only writer. Thread-safe: every read and write goes through the store's
/// serialised `read {}`/`write {}`, and every write is one short transaction.
public final class Engine: @unchecked Sendable {
    /// The configuration in force; swapped whole by `reload` (SIGHUP), read under its own lock.
    public var config: Config { configLock.withLock { current.config } }
    var strategies: [String: any AccessStrategy] { configLock.withLock { current.strategies } }
    private let configLock = NSLock()
    private var current: (config: Config, strategies: [String: any AccessStrategy])
    let store: any RequestStore
    public var escalationRetry = RetryPolicy.escalation
    public var deescalationRetry = RetryPolicy.deescalation
    /// Called after every committed change with what it gives the loop to do (wakes the loop and reporting).
    public var onChange: (@Sendable (LoopWork) -> Void)?
    let now: @Sendable () -> Date
    /// Runs flows' handlers; nil disables them (flows with an `implementation` then run none).
    public var handlers: HandlerRunner?
    let hookQueue = DispatchQueue(label: "symtui.handlers", attributes: .concurrent)
    /// Where the reminder and escalation-tier sweeps got to (Notifications/NotificationQueue.swift).
    let noticeMarks = NoticeSweepMarks()

    /// An engine writing through `store`'s connection (wrapped in a `StoreWriter`; nothing else should use it).
    public convenience init(config: Config, store: Store, now: @escaping @Sendable () -> Date = { Date() }) {
        self.init(config: config, store: StoreWriter(store), now: now)
    }

    public init(config: Config, store: any RequestStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
        current = (config, Engine.makeStrategies(config))
    }

    static func makeStrategies(_ config: Config) -> [String: any AccessStrategy] {
        Dictionary(config.strategies.map { ($0.name, Strategies.make($0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Puts a new configuration in force. Requests already made keep their routing; grants of a target that
    /// left the config are retried until it comes back (they are never silently dropped).
    public func reload(_ config: Config) {
        let strategies = Engine.makeStrategies(config)
        configLock.withLock { current = (config, strategies) }
        onChange?(.now)
    }

    public var storePath: String { store.location }

    // MARK: commands

    /// Runs one caller command; returns the request it created or changed.
    public func execute(_ command: ChangeCall, by caller: Identity) -> Result<AccessRequest, CommandError> {
        do {
            let plan = try self.plan(command, by: caller)
            return .success(finish(command, by: caller, plan: plan, result: try store.write(plan.body)))
        } catch {
            return .failure(Engine.commandError(error))
        }
    }

    /// Runs one caller command like `execute`, but may return before it is done: the checks and hooks that come before
    /// the transaction run on this thread, and `then` gets the outcome once the command committed (or failed), on
    /// whichever thread completes it (see `RequestStore.submit`). The daemon answers a client's change this way, so its
    /// connection thread goes back to reading instead of sleeping through the batch's commit.
    public func submit(_ command: ChangeCall, by caller: Identity,
                       then: @escaping @Sendable (Result<AccessRequest, CommandError>) -> Void) {
        let plan: ChangePlan
        do { plan = try self.plan(command, by: caller) } catch { return then(.failure(Engine.commandError(error))) }
        store.submit(plan.body) { [self] outcome in
            switch outcome {
            case let .success(result): then(.success(finish(command, by: caller, plan: plan, result: result)))
            case let .failure(error): then(.failure(Engine.commandError(error)))
            }
        }
    }

    /// A command checked and ready to run: its transaction's body, and what follows its commit (the flow's after-hooks).
    struct ChangePlan: @unchecked Sendable {
        var body: (any StoreWriting) throws -> AccessRequest
        var after: (AccessRequest) -> Void
    }

    /// Everything of a command before its transaction (flow, target, fields, `on_request`/`on_approve` hooks).
    func plan(_ command: ChangeCall, by caller: Identity) throws -> ChangePlan {
        switch command {
        case let .request(flow, target, fields, duration, reason, start):
            return try createRequest(flow: flow, target: target, fields: fields, duration: duration, reason: reason,
                                     start: start, requester: caller)
        case let .approve(id, reason): return try decide(id, .approve(reason: reason), actor: caller.actor)
        case let .deny(id, reason): return try decide(id, .deny(reason: reason ?? ""), actor: caller.actor)
        case let .cancel(id): return try decide(id, .cancel, actor: caller.actor)
        case let .revoke(id, reason): return try decide(id, .revoke(reason: reason), actor: caller.actor)
        case let .release(id): return try decide(id, .release, actor: caller.actor)
        case let .extend(id, duration, reason): return try extend(id, duration: duration, reason: reason, requester: caller)
        }
    }

    /// What follows a committed command, on the thread that completes it.
    private func finish(_ command: ChangeCall, by caller: Identity, plan: ChangePlan, result: AccessRequest) -> AccessRequest {
        plan.after(result)
        onChange?(LoopWork.after(result))
        DaemonLog.shared.debug("\(caller.name): \(command.json["event"]?.stringValue ?? "command") → request \(result.id) \(result.state.rawValue)")
        return result
    }

    static func commandError(_ error: any Error) -> CommandError {
        switch error {
        case let e as CommandError: return e
        case let e as Refusal: return CommandError(e)
        default: return CommandError(ExitCode.unavailable, "store: \(error)")
        }
    }

    func flow(named name: String) throws -> Flow {
        guard let flow = config.flow(named: name) else {
            throw CommandError.invalid("unknown flow \"\(SafeText.display(name))\" (flows: \(config.flows.map(\.name).joined(separator: ", ")))")
        }
        return flow
    }

    func resolveTarget(flow: Flow, name: String?) throws -> (Strategy, Target)? {
        guard let strategyName = flow.strategy else {
            if let name { throw CommandError.invalid("flow \(flow.name) is approval-only and takes no target (got \"\(SafeText.display(name))\")") }
            return nil
        }
        guard let strategy = config.strategy(named: strategyName) else { throw CommandError.invalid("flow \(flow.name) names a missing strategy") }
        let names = strategy.targets.map(\.name).joined(separator: ", ")
        guard let name else {
            if strategy.targets.count == 1 { return (strategy, strategy.targets[0]) }
            throw CommandError.invalid("flow \(flow.name) needs a target (one of: \(names))")
        }
        guard let target = strategy.target(named: name) else {
            throw CommandError.invalid("unknown target \"\(SafeText.display(name))\" for flow \(flow.name) (one of: \(names))")
        }
        return (strategy, target)
    }

    func createRequest(flow flowName: String, target targetName: String?, fields rawFields: [String: JSONValue], duration: String?,
                       reason: String?, start: String? = nil, requester: Identity) throws -> ChangePlan {
        let flow = try flow(named: flowName)
        let resolved = try resolveTarget(flow: flow, name: targetName)
        var inputs: [String: FieldInput] = rawFields.mapValues { v in
            if let s = v.stringValue { return .text(s) }
            return .json(v)
        }
        if let duration {
            guard !flow.isApprovalOnly else { throw CommandError.invalid("flow \(flow.name) is approval-only and takes no duration") }
            inputs["duration"] = .text(duration)
        }
        if let reason, flow.field(named: "reason") != nil, inputs["reason"] == nil { inputs["reason"] = .text(reason) }
        let fields = try resolveFields(flow: flow, inputs: inputs, reason: reason, requester: requester)
        var durationSeconds: Int?
        if case let .duration(d)? = fields["duration"] { durationSeconds = d.seconds }
        if !flow.isApprovalOnly, flow.scheduleDeescalation, durationSeconds == nil {
            throw CommandError.invalid("field duration: a duration is required")
        }
        let t = now()
        var request = AccessRequest(flow: flow.name, target: resolved?.1.name, targetLabel: resolved?.1.label,
                                    requester: requester.name, fields: fields, durationSeconds: durationSeconds, createdAt: t,
                                    requestExpiresAt: t.addingTimeInterval(TimeInterval(flow.requestTTL.seconds)),
                                    requiredApprovals: flow.routing.threshold)
        if let start {
            guard !flow.isApprovalOnly else { throw CommandError.invalid("flow \(flow.name) is approval-only: --start schedules access, and it grants none") }
            guard flow.scheduleDeescalation, let d = durationSeconds else {
                throw CommandError.invalid("flow \(flow.name) has no scheduled deescalation: a window needs a duration")
            }
            let begins: Date
            switch WindowStart.parse(start, now: t) {
            case let .failure(problem): throw CommandError.invalid(problem.message)
            case let .success(date): begins = max(date, t)
            }
            // The window is fixed: [start, start + duration]. Still pending at its end, the request expires.
            request.accessStartsAt = begins
            request.accessExpiresAt = begins.addingTimeInterval(TimeInterval(d))
            request.requestExpiresAt = request.accessExpiresAt!
        }
        if let (strategy, target) = resolved,
           let problem = (strategies[strategy.name] ?? Strategies.make(strategy)).validate(GrantContext(request: request, strategy: strategy, target: target)) {
            throw CommandError.invalid(problem.message)
        }
        request.routing = routing(for: request, flow: flow, actor: requester.name)
        return try record(request, flow: flow, reason: reason, requester: requester)
    }

    /// Checks a request's inputs: their size first (before any parsing or handler), then the flow's field rules.
    func resolveFields(flow: Flow, inputs: [String: FieldInput], reason: String?, requester: Identity) throws -> [String: FieldValue] {
        let tooLarge = FieldValues.checkSize(inputs: inputs, reason: reason, limits: config.limits)
        guard tooLarge.isEmpty else { throw CommandError.invalid(tooLarge.map(\.description).joined(separator: "; ")) }
        let prefetched = flow.promptFields.contains(where: \.prefetch) ? prefetchedOptions(flow: flow, caller: requester) : [:]
        switch FieldValues.resolve(flow: flow, inputs: inputs, userExists: Identity.userExists, prefetched: prefetched) {
        case let .success(f): return f
        case let .failure(problems): throw CommandError.invalid(problems.map(\.description).joined(separator: "; "))
        }
    }

    /// Refuses a new request while its requester already has `limits.pending_per_user` pending. Asked again inside
    /// the write that records the request (`reads` is then its transaction), so that parallel requests cannot all pass.
    func checkPendingLimit(of requester: String, in reads: any StoreReading) throws {
        let limit = config.limits.pendingPerUser
        let pending = try reads.pendingCount(requester: requester)
        if pending >= limit {
            throw CommandError.invalid("\(requester) already has \(pending) pending requests (limits.pending_per_user is \(limit)): "
                                       + "cancel one (symtui cancel ID) or wait for a decision")
        }
    }

    /// Records a new request with its `request` event, after its flow's `on_request` hook (extensions included).
    func record(_ new: AccessRequest, flow: Flow, reason: String?, requester: Identity) throws -> ChangePlan {
        var request = new
        let routing = request.routing ?? flow.routing
        placeOnThisHost(&request, flow: flow)
        request.requiredApprovals = routing.threshold
        // Refuse early, before user code runs; checked again in the transaction below, which is all a flow without a
        // hook needs (a read here takes a turn on the writer and waits for the commit of the batch it lands in).
        if handlers != nil && flow.implementation != nil { try store.read { try checkPendingLimit(of: requester.name, in: $0) } }
        // on_request runs before the request exists; its handler event is written with the request (or alone when it blocks).
        let hook = runHandler(HandlerName.onRequest, flow: flow, request: request, actor: requester.name, record: false)
        let verdict = hook.map { HookDecision($0, hook: HandlerName.onRequest) } ?? .proceed
        if case let .block(message) = verdict {
            if let hook { recordHandler(hook, request: request) }
            throw CommandError.notAllowed(message)
        }
        // The body starts from the draft each time: on PostgreSQL a transaction another daemon's deadlocked runs again.
        let draft = request
        let body: (any StoreWriting) throws -> AccessRequest = { [self] tx in
            var request = draft
            try tx.lockRequester(requester.name)
            try tx.willAppendEvents()
            try checkPendingLimit(of: requester.name, in: tx)
            if let grantID = request.extends { try checkNoPendingExtension(of: grantID, requester: requester.name, in: tx) }
            request = try tx.insert(request)
            var data: [(String, JSONValue?)] = [
                ("fields", .object(request.fields.keys.sorted().map { ($0, request.fields[$0]!.json) })),
                ("duration_seconds", .num(request.durationSeconds)),
                ("approvers", routing.json),
                ("required_approvals", .num(routing.threshold)),
            ]
            if let extends = request.extends { data.append(("extends", .int(extends))) }
            try tx.append(EventDraft(.request, for: request, actor: requester.name, reason: reason, data: .obj(data)), at: request.createdAt)
            if let hook { try appendHandlerEvent(hook, request: request, tx: tx, at: request.createdAt) }
            // Approvers hear of a request a rule does not decide at once.
            switch verdict {
            case .approve, .deny: break
            default: try queueNotices(before: nil, after: request, events: [], tx: tx, at: request.createdAt)
            }
            // An on_request rule decides at once, in the same transaction.
            switch verdict {
            case let .approve(why): request = try apply(.approve(reason: why), to: request, actor: .handler(HandlerName.onRequest), tx: tx)
            case let .deny(why): request = try apply(.deny(reason: why), to: request, actor: .handler(HandlerName.onRequest), tx: tx)
            default: break
            }
            return request
        }
        return ChangePlan(body: body) { [self] request in
            afterHooks(before: nil, after: request, actor: requester.name)
            if request.state != .pending { afterHooks(before: .pending, after: request, actor: "handler:\(HandlerName.onRequest)") }
        }
    }

    /// An extension is a new request for the same target, routed like the grant it extends; its approval
    /// moves that grant's expiry (see `apply`).
    func extend(_ id: Int64, duration: String, reason: String?, requester: Identity) throws -> ChangePlan {
        guard let grant = try store.read({ try $0.request(id: id) }) else { throw CommandError.invalid("no request \(id)") }
        guard grant.requester == requester.name else {
            throw CommandError.notAllowed("only the requester (\(grant.requester)) can extend request \(id)")
        }
        guard grant.state == .active, grant.extends == nil, grant.accessExpiresAt != nil else {
            throw CommandError.invalid("request \(id) is \(grant.state.rawValue): only an active grant with an expiry can be extended")
        }
        let flow = try flow(named: grant.flow)
        guard let span = TimeSpan(parsing: duration) else {
            throw CommandError.invalid("--duration: \"\(SafeText.display(duration))\" is not a duration (e.g. 30m, 1h30m)")
        }
        try checkExtensionLength(grant: grant, by: span.seconds, flow: flow)
        try store.read { try checkNoPendingExtension(of: grant.id, requester: requester.name, in: $0) }
        // An extension's fields pass the flow's rules (allowed values, sizes, users) like any request's.
        var inputs = grant.fields.mapValues { FieldInput.json($0.json) }
        inputs["duration"] = .text(duration)
        if let reason, flow.field(named: "reason")?.type == .string { inputs["reason"] = .text(reason) }
        let fields = try resolveFields(flow: flow, inputs: inputs, reason: reason, requester: requester)
        let t = now()
        var ext = AccessRequest(flow: flow.name, target: grant.target, targetLabel: grant.targetLabel, requester: requester.name,
                                fields: fields, durationSeconds: span.seconds, createdAt: t,
                                requestExpiresAt: t.addingTimeInterval(TimeInterval(flow.requestTTL.seconds)),
                                requiredApprovals: grant.requiredApprovals, extends: grant.id)
        ext.routing = grant.routing ?? flow.routing.resolvingOnCall(onCallNow)
        return try record(ext, flow: flow, reason: reason, requester: requester)
    }

    /// An extension may not make its grant longer than the flow's `max_duration`: checked when it is asked for and
    /// again when it is approved (the grant may have been extended meanwhile).
    func checkExtensionLength(grant: AccessRequest, by seconds: Int, flow: Flow?) throws {
        guard let max = flow?.maxDuration, let start = grant.accessStartsAt, let exp = grant.accessExpiresAt else { return }
        let total = Int(exp.timeIntervalSince(start).rounded()) + seconds
        guard total <= max.seconds else {
            throw CommandError.invalid("extending request \(grant.id) by \(TimeSpan(seconds: seconds)) would make the grant "
                                       + "\(TimeSpan(seconds: total)) long; max_duration is \(max)")
        }
    }

    /// One pending extension per grant: two approved together could otherwise exceed `max_duration`. Asked again inside
    /// the write that records the extension.
    /// Only the grant's requester may extend it, so their pending requests (at most `pending_per_user`) are all to look at.
    func checkNoPendingExtension(of grantID: Int64, requester: String, in reads: any StoreReading) throws {
        let mine = try reads.requests(RequestQuery(states: [.pending], requester: requester, limit: Limits.pendingRange.upperBound))
        let pending = mine.first { $0.extends == grantID }
        if let pending {
            throw CommandError.invalid("request \(grantID) already has a pending extension (request \(pending.id)): "
                                       + "wait for its decision or cancel it first")
        }
    }

    /// Applies a decision or requester action through the lifecycle, with its events, in one transaction.
    /// A person's approve/deny first passes the flow's `on_approve`/`on_deny` hook.
    func decide(_ id: Int64, _ command: LifecycleAction, actor: Actor) throws -> ChangePlan {
        var command = command
        var acting = actor
        let hook: String? = switch command {
        case .approve: HandlerName.onApprove
        case .deny: HandlerName.onDeny
        default: nil
        }
        // The hook runs before the transaction, on the request as it is then; without handlers there is none to run.
        if actor.isPerson, let hook, handlers != nil {
            guard let current = try store.read({ try $0.request(id: id) }) else { throw CommandError.invalid("no request \(id)") }
            if current.state == .pending, let flow = config.flow(named: current.flow) {
                // Check the person may act before running user code on their behalf.
                _ = try Lifecycle.apply(command, to: current, flow: flow, routing: current.routing ?? flow.routing, actor: actor, now: now()).get()
                switch beforeHook(hook, flow: flow, request: current, actor: actor.name) {
                case let .block(message): throw CommandError.notAllowed(message)
                case let .deny(reason) where hook == HandlerName.onApprove:
                    command = .deny(reason: reason)
                    acting = .handler(hook)
                default: break
                }
            }
        }
        // The state the body found, for the after-hooks (a body may run again on PostgreSQL: the last run counts).
        let before = StateBefore()
        let (decided, decider) = (command, acting)
        return ChangePlan(body: { [self] tx in
            try tx.willAppendEvents()
            guard let request = try tx.request(id: id) else { throw CommandError.invalid("no request \(id)") }
            before.state = request.state
            return try apply(decided, to: request, actor: decider, tx: tx)
        }, after: { [self] result in afterHooks(before: before.state, after: result, actor: decider.name) })
    }

    private final class StateBefore: @unchecked Sendable { var state: RequestState? }

    /// The one path from a lifecycle action to the store, inside the caller's transaction.
    @discardableResult
    func apply(_ command: LifecycleAction, to request: AccessRequest, actor: Actor, tx: any StoreWriting) throws -> AccessRequest {
        // The system may still expire and clean up requests of a flow that left the config; people may not act on them.
        guard let flow = config.flow(named: request.flow) ?? (actor.isPerson ? nil : Flow(name: request.flow, strategy: request.target == nil ? nil : "?")) else {
            throw CommandError.invalid("request \(request.id) belongs to flow \(request.flow), which is no longer configured")
        }
        let t = now()
        let transition = try Lifecycle.apply(command, to: request, flow: flow, routing: request.routing ?? flow.routing, actor: actor, now: t).get()
        guard try tx.update(transition.request, expectedState: request.state) else {
            throw CommandError.invalid("request \(request.id) changed meanwhile; try again")
        }
        for e in transition.events { try tx.append(e, at: t) }
        try queueNotices(before: request, after: transition.request, events: transition.events, tx: tx, at: t)
        var result = transition.request
        // An approved extension moves its grant's expiry in the same transaction.
        if result.state == .approved, let grantID = result.extends, request.state == .pending {
            let grant = try tx.request(id: grantID)
            if let grant, grant.state == .active, let exp = grant.accessExpiresAt {
                try checkExtensionLength(grant: grant, by: result.durationSeconds ?? 0, flow: config.flow(named: grant.flow))
                let newExpiry = exp.addingTimeInterval(TimeInterval(result.durationSeconds ?? 0))
                try apply(.extendGrant(byRequest: result.id, newExpiry: newExpiry, approvers: result.approvals.map(\.user)),
                          to: grant, actor: actor, tx: tx)
            } else {
                result = try apply(.extensionLapsed(grantState: grant?.state ?? .ended), to: result, actor: .system, tx: tx)
            }
        }
        return result
    }
}
