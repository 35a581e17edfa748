import Foundation
import SymModel
import SymProtocol
@testable import SymTUI

/// The fixed clock of every fixture: 2027-01-15T08:00:00Z.
let fixedNow = Date(timeIntervalSince1970: 1_800_000_000)

func minutes(_ m: Double) -> TimeInterval { m * 60 }

/// A console backend in memory: pages newest first, substring filter, records what was sent.
final class FakeBackend: ConsoleBackend {
    var identity = ConsoleIdentity(user: "alice", groups: ["oncall", "sre"], storePath: "/var/lib/symtui/symtui.db")
    var flowList: [FlowSummary] = []
    var rows: [ConsoleView: [AccessRequest]] = [:]
    var events: [AuditEvent] = []
    var healthy = true
    var sent: [ConsoleAction] = []
    var answer: ActionResult = .ok("done")
    var changed = false
    /// The largest `limit` any page call asked for.
    var largestLimit = 0

    func flows() throws -> [FlowSummary] { flowList }

    func page(_ view: ConsoleView, filter: String, offset: Int, limit: Int) throws -> ConsolePage {
        largestLimit = max(largestLimit, limit)
        let f = filter.lowercased()
        if view == .audit {
            let all = events.sorted { $0.seq > $1.seq }.filter {
                f.isEmpty || [$0.actor, $0.requester ?? "", $0.type.rawValue, $0.reason ?? ""].contains { $0.lowercased().contains(f) }
            }
            return ConsolePage(offset: offset, total: all.count, rows: .events(Array(all.dropFirst(offset).prefix(limit))))
        }
        let all = (rows[view] ?? []).sorted { $0.id > $1.id }.filter { r in
            f.isEmpty || [r.requester, r.flow, r.target ?? "", r.targetLabel ?? "", r.fields["reason"]?.description ?? "", r.state.rawValue]
                .contains { $0.lowercased().contains(f) }
        }
        return ConsolePage(offset: offset, total: all.count, rows: .requests(Array(all.dropFirst(offset).prefix(limit))))
    }

    func daemonHealthy() -> Bool { healthy }
    func waitForChange(timeoutMs: Int) -> Bool { defer { changed = false }; return changed }
    func send(_ action: ConsoleAction) -> ActionResult { sent.append(action); return answer }
    /// The Stats view's answer (see StatsTests), and the window each report call asked for.
    var activity: ActivityReport?
    var reportCalls: [Date] = []
    func report(since: Date) throws -> ActivityReport {
        reportCalls.append(since)
        guard let a = activity else { throw StatsUnavailable() }
        return a
    }
}

func request(_ id: Int64, _ requester: String, flow: String = "prod-access", target: String? = "prod-ssh",
             label: String? = "Production SSH", state: RequestState = .pending, reason: String = "deploy hotfix",
             duration: Int? = 3600, createdMinutesAgo: Double = 5) -> AccessRequest {
    let created = fixedNow.addingTimeInterval(-minutes(createdMinutesAgo))
    var r = AccessRequest(id: id, flow: flow, target: target, targetLabel: label, requester: requester, state: state,
                          fields: ["reason": .string(reason)].merging(duration.map { ["duration": FieldValue.duration(TimeSpan(seconds: $0))] } ?? [:]) { a, _ in a },
                          durationSeconds: duration, createdAt: created, requestExpiresAt: created.addingTimeInterval(3600))
    if state == .active {
        r.decidedAt = created.addingTimeInterval(60)
        r.accessStartsAt = created.addingTimeInterval(62)
        r.accessExpiresAt = r.accessStartsAt!.addingTimeInterval(TimeInterval(duration ?? 3600))
        r.approvals = [Approval(user: "bob", at: created.addingTimeInterval(60), reason: "ok", isSelf: false)]
    }
    if state == .ended { r.endReason = .expired; r.endedAt = created.addingTimeInterval(3700) }
    if state == .denied { r.denial = Denial(user: "carol", at: created.addingTimeInterval(120), reason: "not during the freeze"); r.decidedAt = r.denial?.at }
    return r
}

func event(_ seq: Int64, _ type: EventType, request: Int64?, actor: String, requester: String = "bob", reason: String? = nil,
           minutesAgo: Double) -> AuditEvent {
    AuditEvent(seq: seq, id: "00000000-0000-0000-0000-\(String(format: "%012d", seq))", time: fixedNow.addingTimeInterval(-minutes(minutesAgo)),
               draft: EventDraft(type: type, requestId: request, flow: "prod-access", target: "prod-ssh", requester: requester,
                                 actor: actor, reason: reason),
               prevHash: String(repeating: "0", count: 64), hash: String(repeating: "ab", count: 32))
}

let prodFields = [
    PromptField(name: "reason", type: .string, label: "Why?", required: true),
    PromptField(name: "duration", type: .duration, label: "Duration", required: true, defaultValue: .duration(TimeSpan(seconds: 3600)),
                allowedValues: [.duration(TimeSpan(seconds: 900)), .duration(TimeSpan(seconds: 3600)), .duration(TimeSpan(seconds: 14400))]),
    PromptField(name: "ticket", type: .int, label: "Ticket number", required: false),
    PromptField(name: "urgent", type: .bool, label: "Urgent", required: false),
]

/// The standard world: two flows (one with a CJK target, one approval-only with self-approval), a review
/// queue, the user's own requests, grants and audit events.
func standardBackend() -> FakeBackend {
    let b = FakeBackend()
    b.flowList = [
        FlowSummary(name: "prod-access", label: "Production access",
                    targets: [TargetSummary(name: "prod-ssh", label: "Production SSH"), TargetSummary(name: "tokyo-db", label: "東京データベース")],
                    approvers: ["group:oncall", "alice"], promptFields: prodFields, maxDuration: TimeSpan(seconds: 8 * 3600),
                    headerText: "Access is logged. Page #sre if urgent."),
        FlowSummary(name: "run-reindex", label: "Run the nightly reindex now", approvers: ["group:dba"],
                    promptFields: [PromptField(name: "reason", type: .string)], allowSelfApproval: true),
    ]
    b.rows[.review] = [
        request(104, "alice", flow: "run-reindex", target: nil, label: nil, reason: "index bloat", duration: nil, createdMinutesAgo: 1),
        request(103, "田中", target: "tokyo-db", label: "東京データベース", reason: "障害対応のため", createdMinutesAgo: 3),
        request(102, "carol", reason: "rotate certificates on the bastion hosts before the audit", createdMinutesAgo: 12),
        request(101, "bob", reason: "deploy hotfix", createdMinutesAgo: 40),
    ]
    b.rows[.mine] = [
        request(104, "alice", flow: "run-reindex", target: nil, label: nil, reason: "index bloat", duration: nil, createdMinutesAgo: 1),
        request(90, "alice", state: .active, reason: "incident 4411", duration: 4 * 3600, createdMinutesAgo: 30),
        request(85, "alice", state: .denied, reason: "curiosity", createdMinutesAgo: 300),
        request(80, "alice", state: .ended, reason: "maintenance", createdMinutesAgo: 600),
    ]
    b.rows[.grants] = [
        request(90, "alice", state: .active, reason: "incident 4411", duration: 4 * 3600, createdMinutesAgo: 30),
        request(88, "bob", target: "tokyo-db", label: "東京データベース", state: .active, reason: "migration", duration: 3600, createdMinutesAgo: 50),
    ]
    b.events = [
        event(1, .request, request: 88, actor: "bob", reason: "migration", minutesAgo: 50),
        event(2, .approve, request: 88, actor: "alice", reason: "ok", minutesAgo: 49),
        event(3, .escalate, request: 88, actor: "system", minutesAgo: 49),
        event(4, .request, request: 90, actor: "alice", requester: "alice", reason: "incident 4411", minutesAgo: 30),
        event(5, .approve, request: 90, actor: "bob", requester: "alice", reason: "ok", minutesAgo: 29),
        event(6, .request, request: 101, actor: "bob", reason: "deploy hotfix", minutesAgo: 40),
    ]
    return b
}

/// An app over `backend` at a fixed clock and size, started (flows and queue loaded).
func startedApp(_ backend: FakeBackend, rows: Int = 24, cols: Int = 80) -> ConsoleApp {
    let app = ConsoleApp(backend: backend, now: fixedNow)
    app.handle(.resized(rows: rows, cols: cols))
    app.start()
    return app
}

extension ConsoleApp {
    func press(_ keys: Key...) { for k in keys { handle(.key(k)) } }
    func type(_ text: String) { for c in text { handle(.key(.char(c))) } }
    var screen: ScreenBuffer { render(state: state, size: (state.rows, state.cols)) }
}
