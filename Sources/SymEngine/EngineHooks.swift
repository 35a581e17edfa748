import Foundation
import SymModel
import SymProtocol
import SymStore

/// Running a flow's handlers at each step, as docs/handlers.md describes: `on_*` before the step (may block it,
/// fail closed), `after_*` in the background after it (recorded only). Every run writes one `handler` event.
extension Engine {
    func target(of request: AccessRequest, flow: Flow) -> Target? {
        guard let s = flow.strategy, let t = request.target else { return nil }
        return config.strategy(named: s)?.target(named: t)
    }

    /// Runs one handler synchronously and (unless `record` is false) records it; nil when the flow has no
    /// implementation or lacks the handler.
    func runHandler(_ name: String, flow: Flow, request: AccessRequest, actor: String, extra: JSONValue = .object([]),
                    record: Bool = true) -> HandlerOutcome? {
        guard let runner = handlers, flow.implementation != nil else { return nil }
        var extra = extra
        let schedules = config.oncall
        if !schedules.isEmpty, case var .object(pairs) = extra {
            // Who is on call, for the SDK's is_on_call (a failing command schedule: nobody).
            pairs.append(("oncall", .object(schedules.map { ($0.name, .array(onCallCached($0.name).map(JSONValue.string))) })))
            extra = .object(pairs)
        }
        let run = runner.run(name, flow: flow, target: target(of: request, flow: flow), request: request, actor: actor, event: extra)
        if run.verdict == .missing { return nil }
        let outcome = checkingMessages(run, flow: flow)
        if record { recordHandler(outcome, request: request) }
        return outcome
    }

    /// The `handler` event of a run, about `request` (without a request id while the request is not recorded).
    static func handlerEvent(_ outcome: HandlerOutcome, request: AccessRequest) -> EventDraft {
        EventDraft(type: .handler, requestId: request.id == 0 ? nil : request.id, flow: request.flow, target: request.target,
                   requester: request.requester, actor: "handler:\(outcome.handler)", reason: outcome.failure, data: outcome.auditData)
    }

    /// Runs an `after_*` (or other record-only) handler in the background.
    func runHandlerLater(_ name: String, flow: Flow, request: AccessRequest, actor: String) {
        guard handlers != nil, flow.implementation != nil else { return }
        hookQueue.async { [self] in _ = runHandler(name, flow: flow, request: request, actor: actor) }
    }

    func recordHandler(_ outcome: HandlerOutcome, request: AccessRequest) {
        do {
            let t = now()
            _ = try store.write { tx in try appendHandlerEvent(outcome, request: request, tx: tx, at: t) }
            onChange?(.none)
        } catch {
            DaemonLog.shared.error("cannot record handler \(outcome.handler): \(error)")
        }
    }

    /// The approvers of a new request: the flow's, or what `get_approvers` answers (a failure adds none).
    func routing(for request: AccessRequest, flow: Flow, actor: String) -> Routing {
        var routing = flow.routing
        if let outcome = runHandler(HandlerName.getApprovers, flow: flow, request: request, actor: actor),
           case let .approvers(users, groups)? = outcome.verdict, routing.steps.isEmpty {
            routing.approvers = Approvers(users: users, groups: groups)
        }
        // Whoever is on call now is named in the request's routing: the request keeps them when the shift changes.
        return routing.resolvingOnCall(onCallNow)
    }

    /// What an `on_*` hook said about a person's action.
    enum HookDecision { case proceed, approve(String?), deny(String), block(String) }

    func beforeHook(_ name: String, flow: Flow, request: AccessRequest, actor: String) -> HookDecision {
        guard let outcome = runHandler(name, flow: flow, request: request, actor: actor) else { return .proceed }
        return HookDecision(outcome, hook: name)
    }
}

extension Engine.HookDecision {
    /// What a hook's outcome means for the action it guards; a failed run blocks it (fail closed).
    init(_ outcome: HandlerOutcome, hook name: String) {
        guard let verdict = outcome.verdict else {
            self = .block("the \(name) handler failed (\(outcome.failure ?? "unknown error")); nothing was changed")
            return
        }
        switch verdict {
        case let .approve(reason): self = .approve(reason)
        case let .deny(reason): self = .deny(reason)
        case let .ignore(message): self = .block(message)
        default: self = .proceed
        }
    }
}

extension Engine {

    /// Starts the `after_*` hook that follows a change from `before` to `after`.
    func afterHooks(before: RequestState?, after: AccessRequest, actor: String) {
        guard let flow = config.flow(named: after.flow), before != after.state else { return }
        if after.state == .approved && after.extends != nil { extendInTarget(after: after) }
        switch after.state {
        case .pending where before == nil: runHandlerLater(HandlerName.afterRequest, flow: flow, request: after, actor: actor)
        case .approved: runHandlerLater(HandlerName.afterApprove, flow: flow, request: after, actor: actor)
        case .denied: runHandlerLater(HandlerName.afterDeny, flow: flow, request: after, actor: actor)
        case .expired: runHandlerLater(HandlerName.onRequestExpire, flow: flow, request: after, actor: actor)
        case .active where before == .escalating: runHandlerLater(HandlerName.afterEscalate, flow: flow, request: after, actor: actor)
        case .ended: runHandlerLater(HandlerName.afterDeescalate, flow: flow, request: after, actor: actor)
        default: break
        }
    }

    /// Options a `@prefetch` handler offers for a field (empty when it fails).
    public func prefetch(flow flowName: String, field: String, by caller: Identity) -> Result<[JSONValue], CommandError> {
        guard let flow = config.flow(named: flowName) else { return .failure(.invalid("unknown flow \"\(SafeText.display(flowName))\"")) }
        guard let f = flow.field(named: field), f.prefetch else {
            return .failure(.invalid("field \"\(SafeText.display(field))\" of flow \(flow.name) has no prefetch handler"))
        }
        let probe = AccessRequest(flow: flow.name, target: nil, targetLabel: nil, requester: caller.name, createdAt: now(), requestExpiresAt: now())
        guard let outcome = runHandler(HandlerName.prefetch(f.name), flow: flow, request: probe, actor: caller.name),
              case let .options(options)? = outcome.verdict else { return .success([]) }
        return .success(options)
    }

    /// Prefetched options for every prefetch field of a flow, as field values, for validating a submission.
    func prefetchedOptions(flow: Flow, caller: Identity) -> [String: [FieldValue]] {
        var out: [String: [FieldValue]] = [:]
        for f in flow.promptFields where f.prefetch {
            guard case let .success(options) = prefetch(flow: flow.name, field: f.name, by: caller) else { continue }
            out[f.name] = FieldValues.options(options, for: f)
        }
        return out
    }
}
