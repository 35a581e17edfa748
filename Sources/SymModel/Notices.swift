import Foundation

/// What a notification is about (the `kind` field of its JSON).
public enum NoticeKind: String, Sendable, CaseIterable {
    case request, reminder, forward
    case breakGlass = "break_glass"
    case decision, active, ending, ended, stuck, failed
    /// A handler's own message (`send_message`), to a channel or a person.
    case message
}

/// Who a notification is for, before group membership is looked up.
public enum Audience: Sendable, Equatable {
    /// The request's eligible approvers, without the requester and without `excluding`.
    case approvers(excluding: [String])
    case requester
    /// Exactly these users and groups' members (an escalation tier's approvers), without the requester.
    case people(Approvers)
}

/// A notification a change causes, before recipients and channels are resolved.
public struct NoticeDraft: Sendable, Equatable {
    public var kind: NoticeKind
    public var audience: Audience
    /// One line saying what happened (user text inside is neutralised by the channel that shows it).
    public var text: String
    /// The command that acts on it, when there is one (`symtui approve 42`).
    public var action: String?
    /// For `decision`: approved, denied, expired or cancelled.
    public var outcome: String?

    public init(kind: NoticeKind, audience: Audience, text: String, action: String? = nil, outcome: String? = nil) {
        self.kind = kind; self.audience = audience; self.text = text; self.action = action; self.outcome = outcome
    }
}

/// Who hears what: the notifications one committed change of a request causes. Pure; the engine resolves
/// recipients (group members) and channels and queues them in the same transaction.
public enum Notices {
    /// `before` is nil for a new request. `usage` tells the requester how to use fresh access (see `usage(type:settings:)`).
    public static func caused(before: AccessRequest?, after r: AccessRequest, events: [EventDraft],
                              usage: String? = nil) -> [NoticeDraft] {
        var out: [NoticeDraft] = []
        let what = subject(r)
        let actors = Set(events.map(\.actor))
        if before == nil, r.state == .pending {
            let verb = r.extends == nil ? "asks for" : "asks to extend"
            out.append(NoticeDraft(kind: .request, audience: .approvers(excluding: []),
                                   text: "\(r.requester) \(verb) \(what) (request \(r.id))\(reasonText(r))",
                                   action: "symtui approve \(r.id)"))
        }
        for e in events where e.type == .approve && e.data["self"]?.boolValue == true {
            out.append(NoticeDraft(kind: .breakGlass, audience: .approvers(excluding: [e.actor]),
                                   text: "\(e.actor) approved their own request \(r.id) for \(what) (break-glass)"
                                       + (e.reason.map { ": \($0)" } ?? ""),
                                   action: "symtui show \(r.id)"))
        }
        let wasPending = before == nil || before?.state == .pending
        if wasPending, let outcome = decisionOutcome(r.state) {
            // The requester who cancelled needs no word of it; the others do.
            if !(r.state == .cancelled && actors == [r.requester]) {
                let by = events.first { [.approve, .deny].contains($0.type) }.map { " by \($0.actor)" } ?? ""
                var text = "request \(r.id) for \(what) was \(outcome)\(r.state == .denied || r.state == .approved ? by : "")"
                if let d = r.denial, r.state == .denied, !d.reason.isEmpty { text += ": \(d.reason)" }
                let action: String? = r.state == .approved && r.target != nil ? "symtui wait \(r.id)" : nil
                out.append(NoticeDraft(kind: .decision, audience: .requester, text: text, action: action, outcome: outcome))
            }
        }
        if before?.state == .escalating, r.state == .active {
            var text = "your access to \(what) is active (request \(r.id))"
            if let exp = r.accessExpiresAt { text += " until \(Timestamp.format(exp))" }
            if let usage { text += "; " + usage }
            out.append(NoticeDraft(kind: .active, audience: .requester, text: text, action: "symtui release \(r.id)"))
        }
        if let b = before, b.state != .ended, r.state == .ended, !(actors == [r.requester]) {
            let why = r.endReason.map { " (\($0.rawValue))" } ?? ""
            out.append(NoticeDraft(kind: .ended, audience: .requester, text: "your access to \(what) has ended\(why) (request \(r.id))"))
        }
        if let b = before, b.state != .failed, r.state == .failed {
            out.append(NoticeDraft(kind: .failed, audience: .approvers(excluding: []),
                                   text: "granting \(what) to \(r.requester) failed (request \(r.id))" + (r.error.map { ": \($0)" } ?? ""),
                                   action: "symtui show \(r.id)"))
        }
        if let b = before, !b.stuck, r.stuck {
            out.append(NoticeDraft(kind: .stuck, audience: .approvers(excluding: []),
                                   text: "taking \(what) away from \(r.requester) keeps failing (request \(r.id) is stuck)"
                                       + (r.error.map { ": \($0)" } ?? ""),
                                   action: "symtui show \(r.id)"))
        }
        return out
    }

    /// The notifications that come due with time, with the key that tells their repeats apart: the n-th `reminder`
    /// of a pending request, the `ending` warning before a grant's expiry (a new one after an extension moves it).
    public static func due(_ r: AccessRequest, flow: Flow, now: Date) -> [(NoticeDraft, dedup: String)] {
        let what = subject(r)
        switch r.state {
        case .pending:
            guard let every = flow.reminder, every.seconds > 0 else { return [] }
            let waited = now.timeIntervalSince(r.createdAt)
            let n = Int(waited / Double(every.seconds))
            guard n >= 1, now < r.requestExpiresAt else { return [] }
            let text = "reminder: \(r.requester) still waits for \(what) (request \(r.id)), pending \(TimeSpan(seconds: Int(waited)))\(reasonText(r))"
            return [(NoticeDraft(kind: .reminder, audience: .approvers(excluding: []), text: text, action: "symtui approve \(r.id)"), "\(n)")]
        case .active:
            guard let exp = r.accessExpiresAt, let start = r.accessStartsAt, r.target != nil else { return [] }
            let warning = TimeInterval(flow.expiryWarning.seconds)
            let left = exp.timeIntervalSince(now)
            // A grant shorter than the warning was told its end when it became active.
            guard left > 0, left <= warning, exp.timeIntervalSince(start) > warning else { return [] }
            let text = "your access to \(what) ends in \(TimeSpan(seconds: Int(left.rounded(.up)))) at \(Timestamp.format(exp)) (request \(r.id))"
            return [(NoticeDraft(kind: .ending, audience: .requester, text: text, action: "symtui extend \(r.id) --duration 30m"),
                     String(Int64((exp.timeIntervalSince1970 * 1000).rounded())))]
        default:
            return []
        }
    }

    /// The escalation tiers a pending request has reached but was not yet forwarded to (`forwarded` tiers were).
    public static func tiersDue(_ r: AccessRequest, flow: Flow, forwarded: Int, now: Date) -> [(index: Int, tier: EscalationTier)] {
        guard r.state == .pending, now < r.requestExpiresAt else { return [] }
        let waited = now.timeIntervalSince(r.createdAt)
        return flow.escalation.enumerated().filter { $0.offset >= forwarded && waited >= Double($0.element.after.seconds) }
            .map { (index: $0.offset, tier: $0.element) }
    }

    /// The routing after forwarding to `tier`: its users and groups may decide too (a request with steps keeps its own).
    public static func forwarded(_ routing: Routing, to tier: EscalationTier) -> Routing {
        guard routing.steps.isEmpty else { return routing }
        var r = routing
        for u in tier.approvers.users where !r.approvers.users.contains(u) { r.approvers.users.append(u) }
        for g in tier.approvers.groups where !r.approvers.groups.contains(g) { r.approvers.groups.append(g) }
        return r
    }

    /// What the tier's approvers are told.
    public static func forward(_ r: AccessRequest, tier: EscalationTier, index: Int) -> NoticeDraft {
        NoticeDraft(kind: .forward, audience: .people(tier.approvers),
                    text: "\(r.requester) has waited \(tier.after) for \(subject(r)) (request \(r.id)); it is forwarded to you\(reasonText(r))",
                    action: "symtui approve \(r.id)")
    }

    static func subject(_ r: AccessRequest) -> String {
        if let label = r.targetLabel ?? r.target { return "\(r.flow)/\(label)" }
        return r.flow
    }

    static func reasonText(_ r: AccessRequest) -> String {
        if case let .string(s)? = r.fields["reason"], !s.isEmpty { return ": \(s)" }
        return ""
    }

    static func decisionOutcome(_ s: RequestState) -> String? {
        switch s {
        case .approved, .escalating, .active: "approved"
        case .denied: "denied"
        case .expired: "expired"
        case .cancelled: "cancelled"
        default: nil
        }
    }

    /// How to start using fresh access, where the strategy makes it less than obvious; `settings` are the
    /// target's effective settings.
    public static func usage(type: Strategy.Kind, settings: [String: JSONValue]) -> String? {
        switch type {
        case .unixGroup:
            let g = settings["group"]?.stringValue ?? "GROUP"
            return "a new login or `sg \(g)` picks up the group \(g)"
        case .sudoers: return "`sudo -l` shows the rule"
        default: return nil
        }
    }
}
