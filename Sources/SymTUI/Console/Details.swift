import Foundation
import SymModel

/// The words shown for requests and events, and the detail pane's lines: pure, shared by `render`
/// (what to draw) and `reduce` (how tall the pane is, so paging and scrolling agree with the screen).
extension ConsoleState {
    func until(_ d: Date?) -> String {
        guard let d else { return "—" }
        return TimeSpan.countdown(Int(d.timeIntervalSince(now).rounded(.up)))
    }

    func ago(_ d: Date?) -> String {
        guard let d else { return "—" }
        return TimeSpan.countdown(Int(now.timeIntervalSince(d)))
    }

    static func reason(_ r: AccessRequest) -> String { safe(r.fields["reason"]?.description) }

    static func targetText(_ r: AccessRequest) -> String { r.target == nil ? "(approval)" : safe(r.targetLabel ?? r.target) }

    static func durationText(_ r: AccessRequest) -> String { r.durationSeconds.map { TimeSpan(seconds: $0).description } ?? "—" }

    /// The state cell: `ended:revoked`, `deescalating ⚠stuck`.
    static func stateText(_ r: AccessRequest) -> String {
        var t = r.state.rawValue
        if let e = r.endReason { t += ":" + e.rawValue }
        if r.stuck { t += " ⚠stuck" }
        return t
    }

    func timeText(_ r: AccessRequest) -> String {
        // A scheduled window that has not begun (pending or approved): when the access starts.
        if r.isScheduled, let start = r.accessStartsAt, start > now { return "starts in " + until(start) }
        switch r.state {
        case .pending: return "expires " + until(r.requestExpiresAt)
        case .active: return r.accessExpiresAt == nil ? "until revoked" : until(r.accessExpiresAt) + " left"
        case .approved, .escalating: return "decided " + ago(r.decidedAt)
        case .deescalating: return "ending"
        default: return ago(r.endedAt ?? r.decidedAt ?? r.createdAt) + " ago"
        }
    }

    /// Who may decide: `alice, group:sre`, or per step `peer: 1 of alice, group:sre`.
    static func approversText(_ routing: Routing) -> String {
        func names(_ a: Approvers) -> String { (a.users.map(safe) + a.groups.map { "group:" + safe($0) }).joined(separator: ", ") }
        if routing.steps.isEmpty {
            let need = routing.requiredApprovals > 1 ? "\(routing.requiredApprovals) of " : ""
            return need + names(routing.approvers)
        }
        return routing.steps.map { safe($0.name) + ": \($0.required) of " + names($0.approvers) }.joined(separator: " · ")
    }

    /// The detail pane's lines for the selection of `v` (unwrapped).
    func detailLines(_ v: ConsoleView) -> [(String, Style)] {
        if v == .audit { return selectedEvent().map(eventDetail) ?? [] }
        return selectedRequest(v).map { requestDetail($0, v) } ?? []
    }

    func requestDetail(_ r: AccessRequest, _ v: ConsoleView) -> [(String, Style)] {
        var out: [(String, Style)] = []
        let mine = r.requester == identity.user
        if v == .review, mine, r.state == .pending {
            let allowed = flow(named: r.flow)?.allowSelfApproval ?? false
            out.append((allowed ? "⚠ Your own request: this flow allows self-approval, with a reason, announced to the other approvers"
                                : "⚠ Your own request: this flow does not allow self-approval", .banner))
        }
        if r.stuck {
            out.append(("⚠ STUCK: removing this access keeps failing; it is retried until it succeeds — tell an operator", .banner))
        }
        let t = ConsoleState.self
        out.append(("#\(r.id) " + safe(r.flow) + " → " + t.targetText(r) + (r.target.map { " (" + safe($0) + ")" } ?? "")
                    + " · requester " + safe(r.requester) + " · " + t.stateText(r), .title))
        if let x = r.extends { out.append(("extends #\(x)", .normal)) }
        var times = "duration " + t.durationText(r) + " · created " + ago(r.createdAt) + " ago"
        switch r.state {
        case .pending: times += " · request expires in " + until(r.requestExpiresAt)
        case .active: times += r.accessExpiresAt.map { _ in " · access ends in " + until(r.accessExpiresAt) } ?? ""
        default: break
        }
        if r.isScheduled, let start = r.accessStartsAt, start > now {
            times += " · window starts in " + until(start) + ", ends in " + until(r.accessExpiresAt)
        }
        times += " · approvals \(r.approvals.count)/\(r.routing?.threshold ?? r.requiredApprovals)"
        out.append((times, .normal))
        if let routing = r.routing { out.append(("approvers: " + t.approversText(routing), .normal)) }
        let fields = r.fields.keys.sorted().map { safe($0) + "=" + safe(r.fields[$0]!.description) }
        if !fields.isEmpty { out.append(("fields: " + fields.joined(separator: ", "), .normal)) }
        for a in r.approvals {
            out.append(("✓ approved by " + safe(a.user) + (a.isSelf ? " ⚠ self" : "") + (a.step.map { " (" + safe($0) + ")" } ?? "")
                        + " " + ago(a.at) + " ago" + (a.reason.map { ": " + safe($0) } ?? ""), a.isSelf ? .refusal : .normal))
        }
        if let d = r.denial { out.append(("✗ denied by " + safe(d.user) + " " + ago(d.at) + " ago: " + safe(d.reason), .refusal)) }
        if let e = r.error { out.append(("⚠ error: " + safe(e), .refusal)) }
        return out
    }

    func eventDetail(_ e: AuditEvent) -> [(String, Style)] {
        var out: [(String, Style)] = [
            ("event \(e.seq) · " + e.type.rawValue + " · " + Timestamp.format(e.time) + " · actor " + safe(e.actor), .title),
            ("request " + (e.requestId.map { "#\($0)" } ?? "—") + " · flow " + safe(e.flow) + " · target " + safe(e.target)
             + " · requester " + safe(e.requester), .normal),
        ]
        if let r = e.reason { out.append(("reason: " + safe(r), .normal)) }
        out.append(("data: " + safe(e.data.compact), .normal))
        out.append(("hash " + safe(e.hash) + " · prev " + safe(String(e.prevHash.prefix(16))) + "…", .dim))
        return out
    }

    /// The detail pane's lines as drawn at `layout`: cut to the width when collapsed, wrapped when expanded.
    func shownDetailLines(_ v: ConsoleView, layout: Layout) -> [(String, Style)] {
        let lines = detailLines(v)
        guard detailExpanded else { return lines }
        let width = max(1, layout.cols - 2)
        return lines.flatMap { line in DisplayWidth.wrap(line.0, to: width).map { ($0, line.1) } }
    }

    /// Lines of the detail pane under list `v` (its separator included). Collapsed: the layout's fixed share.
    /// Expanded: as tall as its content, never shorter than collapsed, and the list keeps at least a third.
    func detailHeight(_ v: ConsoleView, layout: Layout) -> Int {
        let collapsed = layout.detailHeight()
        guard detailExpanded, v != .request else { return collapsed }
        let cap = max(collapsed, layout.bodyHeight - 1 - max(3, layout.bodyHeight / 3))
        return min(cap, max(collapsed, shownDetailLines(v, layout: layout).count + 1))
    }

    /// Visible rows of list `v` (the column header takes one line).
    public func listHeight(_ v: ConsoleView, layout: Layout) -> Int { max(1, layout.bodyHeight - 1 - detailHeight(v, layout: layout)) }
}
