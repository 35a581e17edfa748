import Foundation

/// Something that may change a request: a person's decision or the engine's progress.
public enum LifecycleAction: Sendable, Equatable {
    case approve(reason: String?)
    case deny(reason: String)
    case cancel
    case revoke(reason: String?)
    case release
    /// A pending request passed its TTL.
    case expirePending
    /// The engine claims an approved request to run its escalation.
    case beginEscalation
    case escalated(output: String?, data: JSONValue)
    /// `retryAt` nil means the retry budget is spent: the request fails.
    case escalationFailed(error: String, data: JSONValue, retryAt: Date?)
    /// The grant's time ran out.
    case expireGrant
    case deescalated(data: JSONValue)
    /// Deescalation is never abandoned: the request stays `deescalating`, flagged stuck after `stuckAfter` tries.
    case deescalationFailed(error: String, data: JSONValue, retryAt: Date)
    /// An approved extension moves this grant's expiry.
    case extendGrant(byRequest: Int64, newExpiry: Date, approvers: [String])
    /// An extension was approved after its grant had ended (`grantState`): it stays approved, moves nothing, and says why.
    case extensionLapsed(grantState: RequestState)

    public var name: String {
        switch self {
        case .approve: return "approve"
        case .deny: return "deny"
        case .cancel: return "cancel"
        case .revoke: return "revoke"
        case .release: return "release"
        case .expirePending: return "expire"
        case .beginEscalation: return "begin escalation"
        case .escalated: return "escalated"
        case .escalationFailed: return "escalation failed"
        case .expireGrant: return "expire grant"
        case .deescalated: return "deescalated"
        case .deescalationFailed: return "deescalation failed"
        case .extendGrant: return "extend"
        case .extensionLapsed: return "lapse extension"
        }
    }
}

/// Why a command was not applied.
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notAllowed   // exit 77
        case invalid      // exit 65
        case wrongState   // exit 65: the request cannot take this command now
        case notFound     // exit 65
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

/// The new request and the audit events a command produced.
public struct Transition: Sendable, Equatable {
    public var request: AccessRequest
    public var events: [EventDraft]
}

/// The request lifecycle of contract §4: every state change of every request is made here and nowhere else.
public enum Lifecycle {
    /// Failed deescalations after which a grant is flagged stuck.
    public static let stuckAfter = 3

    static let cleanupMarker = "; cleanup failed: "
    /// The escalation's own error, without what a failing cleanup added to it.
    static func escalationError(_ error: String?) -> String {
        guard let error else { return "escalation failed" }
        return error.range(of: cleanupMarker).map { String(error[..<$0.lowerBound]) } ?? error
    }

    public static func apply(_ command: LifecycleAction, to request: AccessRequest, flow: Flow, routing: Routing,
                             actor: Actor, now: Date) -> Result<Transition, Refusal> {
        var r = request
        var events: [EventDraft] = []
        func event(_ type: EventType, reason: String? = nil, data: JSONValue = .object([])) {
            events.append(EventDraft(type, for: r, actor: actor.name, reason: reason, data: data))
        }
        func refuse(_ kind: Refusal.Kind, _ message: String) -> Result<Transition, Refusal> { .failure(Refusal(kind, message)) }
        func wrongState() -> Result<Transition, Refusal> {
            refuse(.wrongState, "request \(r.id) is \(r.state.rawValue): cannot \(command.name)")
        }
        let reasonText: (String?) -> String? = { $0.flatMap { $0.isAll(in: .whitespacesAndNewlines) ? nil : $0 } }

        switch command {
        case let .approve(rawReason):
            let reason = reasonText(rawReason)
            guard r.state == .pending else { return wrongState() }
            guard actor.isPerson || actor.kind != .system else { return refuse(.notAllowed, "the system does not approve requests") }
            let isSelf = actor.isPerson && actor.name == r.requester
            if actor.isPerson {
                guard Policy.isEligible(actor, routing: routing) else {
                    return refuse(.notAllowed, "\(actor.name) is not an approver of flow \(flow.name)")
                }
                if isSelf {
                    guard flow.allowSelfApproval else {
                        return refuse(.notAllowed, "you cannot approve your own request (flow \(flow.name) does not allow self-approval)")
                    }
                    guard reason != nil else { return refuse(.invalid, "self-approval needs a reason (--reason)") }
                }
                guard !r.approvals.contains(where: { $0.user == actor.name }) else {
                    return refuse(.notAllowed, "\(actor.name) has already approved request \(r.id)")
                }
            }
            var step: String?
            if !routing.steps.isEmpty {
                if actor.isPerson {
                    guard let open = Policy.openStep(for: actor, request: r, routing: routing) else {
                        return refuse(.notAllowed, "every approval step \(actor.name) belongs to is already satisfied")
                    }
                    step = open.name
                }
            }
            r.approvals.append(Approval(user: actor.name, at: now, reason: reason, isSelf: isSelf, step: step))
            // A rule or handler approval decides the request on its own; people count toward the threshold.
            let decided = !actor.isPerson || Policy.thresholdMet(r, routing: routing)
            var data: [(String, JSONValue?)] = [("self", .bool(isSelf)), ("step", .str(step)),
                                                ("approvals", .num(r.approvals.count)), ("required", .num(routing.threshold))]
            if decided {
                r.state = .approved
                r.decidedAt = now
                data.append(("decided", .bool(true)))
            }
            event(.approve, reason: reason, data: .obj(data))

        case let .deny(rawReason):
            guard let reason = reasonText(rawReason) else { return refuse(.invalid, "a denial needs a reason (--reason)") }
            guard r.state == .pending else { return wrongState() }
            if actor.isPerson {
                guard Policy.isEligible(actor, routing: routing) else {
                    return refuse(.notAllowed, "\(actor.name) is not an approver of flow \(flow.name)")
                }
                if actor.name == r.requester && !flow.allowSelfApproval {
                    return refuse(.notAllowed, "you cannot decide your own request; use cancel")
                }
            }
            r.state = .denied
            r.decidedAt = now
            r.denial = Denial(user: actor.name, at: now, reason: reason)
            event(.deny, reason: reason)

        case .cancel:
            guard actor.isPerson, actor.name == r.requester else {
                return refuse(.notAllowed, "only the requester (\(r.requester)) can cancel request \(r.id)")
            }
            guard r.state == .pending else { return wrongState() }
            r.state = .cancelled
            r.endedAt = now
            event(.cancel)

        case let .revoke(rawReason):
            let reason = reasonText(rawReason)
            guard flow.allowRevoke else { return refuse(.notAllowed, "flow \(flow.name) does not allow revoke") }
            if actor.isPerson {
                guard Policy.isEligible(actor, routing: routing) else {
                    return refuse(.notAllowed, "\(actor.name) is not an approver of flow \(flow.name) and cannot revoke")
                }
            }
            return endGrant(r, flow: flow, reason: .revoked, type: .revoke, eventReason: reason, actor: actor, command: command)

        case .release:
            guard actor.isPerson, actor.name == r.requester else {
                return refuse(.notAllowed, "only the requester (\(r.requester)) can release request \(r.id)")
            }
            return endGrant(r, flow: flow, reason: .released, type: .release, eventReason: nil, actor: actor, command: command)

        case .expirePending:
            guard r.state == .pending else { return wrongState() }
            r.state = .expired
            r.endedAt = now
            event(.requestExpire, data: .obj([("request_expires_at", .string(Timestamp.format(r.requestExpiresAt)))]))

        case .beginEscalation:
            guard r.state == .approved, !flow.isApprovalOnly, r.extends == nil else { return wrongState() }
            if r.isScheduled, let start = r.accessStartsAt, start > now { return wrongState() }
            r.attempts = 0
            r.nextAttemptAt = nil
            if r.isScheduled, let end = r.accessExpiresAt, end <= now {
                // The window passed before the grant could start (the daemon was down): nothing is granted; the
                // deescalation that follows is idempotent and makes sure of it.
                r.state = .deescalating
                r.endReason = .expired
            } else {
                r.state = .escalating
            }

        case let .escalated(output, data):
            guard r.state == .escalating else { return wrongState() }
            r.stepOutput = output
            r.error = nil
            r.attempts = 0
            r.nextAttemptAt = nil
            if r.accessStartsAt == nil {
                r.accessStartsAt = now
                if flow.scheduleDeescalation, let d = r.durationSeconds { r.accessExpiresAt = now.addingTimeInterval(TimeInterval(d)) }
            }
            // A scheduled window keeps its fixed start and end: approved late, it still ends at the window's end.
            event(.escalate, data: data)
            if r.endReason != nil {
                // Revoked or released while the escalation ran: take it away at once.
                r.state = .deescalating
            } else {
                r.state = .active
            }

        case let .escalationFailed(error, data, retryAt):
            guard r.state == .escalating else { return wrongState() }
            r.attempts += 1
            r.error = error
            if let retryAt, r.endReason == nil {
                r.nextAttemptAt = retryAt
                event(.escalateFailed, data: merge(data, [("attempt", .num(r.attempts)), ("final", .bool(false)),
                                                          ("retry_at", .string(Timestamp.format(retryAt)))]))
            } else {
                // Possibly half-applied: deescalate to be sure (strategies are idempotent), then mark failed.
                r.error = "escalation failed after \(r.attempts) \(r.attempts == 1 ? "try" : "tries"): \(error)"
                event(.escalateFailed, data: merge(data, [("attempt", .num(r.attempts)), ("final", .bool(true))]))
                r.state = .deescalating
                r.nextAttemptAt = nil
                r.attempts = 0
            }

        case .expireGrant:
            guard r.state == .active, let exp = r.accessExpiresAt, exp <= now else { return wrongState() }
            r.state = .deescalating
            r.endReason = .expired
            r.attempts = 0
            r.nextAttemptAt = nil

        case let .deescalated(data):
            guard r.state == .deescalating else { return wrongState() }
            r.stuck = false
            r.attempts = 0
            r.nextAttemptAt = nil
            r.endedAt = now
            if r.endReason == nil, r.error != nil {
                r.state = .failed   // cleanup after a failed escalation
                r.error = Lifecycle.escalationError(r.error)
            } else {
                r.state = .ended
                r.error = nil
            }
            event(.deescalate, data: merge(data, [("end_reason", .str(r.endReason?.rawValue))]))

        case let .deescalationFailed(error, data, retryAt):
            guard r.state == .deescalating else { return wrongState() }
            r.attempts += 1
            // The cleanup after a failed escalation (no end reason) keeps saying why the escalation failed.
            r.error = r.endReason == nil ? Lifecycle.escalationError(r.error) + Lifecycle.cleanupMarker + error : error
            r.nextAttemptAt = retryAt
            if r.attempts >= stuckAfter { r.stuck = true }
            event(.deescalateFailed, data: merge(data, [("attempt", .num(r.attempts)), ("stuck", .bool(r.stuck)),
                                                        ("retry_at", .string(Timestamp.format(retryAt)))]))

        case let .extendGrant(byRequest, newExpiry, approvers):
            guard r.state == .active, let old = r.accessExpiresAt else { return wrongState() }
            guard newExpiry > old else { return refuse(.invalid, "an extension must move the expiry later") }
            r.accessExpiresAt = newExpiry
            if let start = r.accessStartsAt { r.durationSeconds = Int(newExpiry.timeIntervalSince(start).rounded()) }
            event(.extend, data: .obj([("extension_request", .int(byRequest)),
                                       ("previous_expires_at", .string(Timestamp.format(old))),
                                       ("access_expires_at", .string(Timestamp.format(newExpiry))),
                                       ("approvers", .array(approvers.map(JSONValue.string)))]))

        case let .extensionLapsed(grantState):
            guard r.state == .approved, let grant = r.extends, grantState != .active else { return wrongState() }
            r.error = Lifecycle.extensionLapsedError
            // An `extend` event on the extension itself, marked not applied: the audit log shows why nothing moved.
            event(.extend, data: .obj([("extends", .int(grant)), ("applied", .bool(false)),
                                       ("grant_state", .string(grantState.rawValue)), ("error", .string(Lifecycle.extensionLapsedError))]))
        }
        return .success(Transition(request: r, events: events))
    }

    /// The error an extension approved after its grant ended carries.
    public static let extensionLapsedError = "the grant ended before this extension was approved"

    /// Revoke and release: the grant goes to deescalation (final); an escalation in progress finishes first.
    private static func endGrant(_ request: AccessRequest, flow: Flow, reason: EndReason, type: EventType, eventReason: String?,
                                 actor: Actor, command: LifecycleAction) -> Result<Transition, Refusal> {
        var r = request
        switch r.state {
        case .approved where r.extends == nil && !flow.isApprovalOnly:
            // Nothing was granted yet; going through deescalation keeps it simple and idempotent.
            r.state = .deescalating
        case .escalating where r.endReason == nil:
            break
        case .active:
            r.state = .deescalating
        default:
            return .failure(Refusal(.wrongState, "request \(r.id) is \(r.state.rawValue): cannot \(command.name)"))
        }
        r.endReason = reason
        r.attempts = 0
        r.nextAttemptAt = nil
        return .success(Transition(request: r, events: [EventDraft(type, for: r, actor: actor.name, reason: eventReason)]))
    }

    private static func merge(_ data: JSONValue, _ extra: [(String, JSONValue?)]) -> JSONValue {
        var pairs = data.objectValue ?? []
        for (k, v) in extra where !pairs.contains(where: { $0.0 == k }) { pairs.append((k, v ?? .null)) }
        return .object(pairs)
    }
}
