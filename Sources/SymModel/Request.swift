import Foundation

/// The states of a request (contract §4), exact strings.
public enum RequestState: String, Sendable, CaseIterable {
    case pending, approved, denied, cancelled, expired, escalating, active, deescalating, ended, failed

    /// No further transition is possible.
    public var isFinal: Bool {
        switch self {
        case .denied, .cancelled, .expired, .ended, .failed: return true
        default: return false
        }
    }
}

/// Why a grant ended.
public enum EndReason: String, Sendable {
    case expired, revoked, released
}

/// One approval of a request.
public struct Approval: Sendable, Equatable {
    public var user: String
    public var at: Date
    public var reason: String?
    public var isSelf: Bool
    /// The approval step this approval counted for, when the flow has steps.
    public var step: String?
    public init(user: String, at: Date, reason: String?, isSelf: Bool, step: String? = nil) {
        self.user = user; self.at = at; self.reason = reason; self.isSelf = isSelf; self.step = step
    }
}

/// The denial of a request.
public struct Denial: Sendable, Equatable {
    public var user: String
    public var at: Date
    public var reason: String
    public init(user: String, at: Date, reason: String) { self.user = user; self.at = at; self.reason = reason }
}

/// One run of a flow by one requester (Sym's "Run"), including its grant once approved.
public struct AccessRequest: Sendable, Equatable {
    public var id: Int64
    public var flow: String
    public var target: String?
    public var targetLabel: String?
    public var requester: String
    public var state: RequestState
    public var endReason: EndReason?
    public var fields: [String: FieldValue]
    public var durationSeconds: Int?
    public var createdAt: Date
    public var requestExpiresAt: Date
    public var decidedAt: Date?
    public var accessStartsAt: Date?
    public var accessExpiresAt: Date?
    public var endedAt: Date?
    public var approvals: [Approval]
    public var denial: Denial?
    public var requiredApprovals: Int
    public var stuck: Bool
    public var error: String?
    /// A scheduled window (`request --start`): `accessStartsAt` and `accessExpiresAt` were fixed when it was made.
    public var isScheduled: Bool { accessStartsAt != nil && (state == .pending || state == .approved || state == .escalating) }
    /// For an extension: the request whose grant it extends.
    public var extends: Int64?
    /// Engine bookkeeping: failed strategy attempts and when to try next.
    public var attempts: Int
    public var nextAttemptAt: Date?
    /// JSON the escalation printed, handed to deescalation.
    public var stepOutput: String?
    /// Who may decide, fixed when the request was made (the flow's approvers or `get_approvers`' answer).
    public var routing: Routing?
    /// The bastion the request was made on (the admitting daemon's `host_name`; never the caller's word).
    public var host: String?
    /// The host whose daemon runs its strategy steps, fixed when it was made from its target's `runs_on`; nil: any.
    public var runsOn: String?

    public init(id: Int64 = 0, flow: String, target: String?, targetLabel: String?, requester: String,
                state: RequestState = .pending, fields: [String: FieldValue] = [:], durationSeconds: Int? = nil,
                createdAt: Date, requestExpiresAt: Date, requiredApprovals: Int = 1, extends: Int64? = nil) {
        self.id = id; self.flow = flow; self.target = target; self.targetLabel = targetLabel; self.requester = requester
        self.state = state; self.endReason = nil; self.fields = fields; self.durationSeconds = durationSeconds
        self.createdAt = createdAt; self.requestExpiresAt = requestExpiresAt; self.decidedAt = nil
        self.accessStartsAt = nil; self.accessExpiresAt = nil; self.endedAt = nil; self.approvals = []
        self.denial = nil; self.requiredApprovals = requiredApprovals; self.stuck = false; self.error = nil
        self.extends = extends; self.attempts = 0; self.nextAttemptAt = nil; self.stepOutput = nil; self.routing = nil
    }

    /// The request as the stable JSON object of contract §6.
    public var json: JSONValue {
        func t(_ d: Date?) -> JSONValue { d.map { .string(Timestamp.format($0)) } ?? .null }
        return .obj([
            ("id", .int(id)),
            ("flow", .string(flow)),
            ("target", .str(target)),
            ("target_label", .str(targetLabel)),
            ("requester", .string(requester)),
            ("state", .string(state.rawValue)),
            ("end_reason", .str(endReason?.rawValue)),
            ("fields", .object(fields.keys.sorted().map { ($0, fields[$0]!.json) })),
            ("duration_seconds", .num(durationSeconds)),
            ("created_at", t(createdAt)),
            ("request_expires_at", t(requestExpiresAt)),
            ("decided_at", t(decidedAt)),
            ("access_starts_at", t(accessStartsAt)),
            ("access_expires_at", t(accessExpiresAt)),
            ("ended_at", t(endedAt)),
            ("approvals", .array(approvals.map { a in
                .obj([("user", .string(a.user)), ("at", t(a.at)), ("reason", .str(a.reason)), ("self", .bool(a.isSelf)),
                      ("step", .str(a.step))])
            })),
            ("denial", denial.map { d in .obj([("user", .string(d.user)), ("at", t(d.at)), ("reason", .string(d.reason))]) }),
            ("required_approvals", .num(requiredApprovals)),
            ("stuck", .bool(stuck)),
            ("error", .str(error)),
            ("extends", .num(extends)),
            ("host", .str(host)),
        ])
    }
}
