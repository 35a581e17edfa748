import Foundation

/// Who acts: a person (with their Unix groups, from the kernel) or the system, a rule or a handler.
public struct Actor: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case user, system, rule(String), handler(String) }
    public var kind: Kind
    public var name: String
    public var groups: Set<String>

    public static func user(_ name: String, groups: Set<String> = []) -> Actor { Actor(kind: .user, name: name, groups: groups) }
    public static let system = Actor(kind: .system, name: "system", groups: [])
    public static func rule(_ name: String) -> Actor { Actor(kind: .rule(name), name: "rule:\(name)", groups: []) }
    public static func handler(_ name: String) -> Actor { Actor(kind: .handler(name), name: "handler:\(name)", groups: []) }

    public var isPerson: Bool { kind == .user }
}

/// Who may decide a request: plain approvers with an N-of-M threshold, or AND-ed approval steps.
public struct Routing: Sendable, Equatable {
    public var approvers: Approvers
    public var steps: [ApprovalStep]
    public var requiredApprovals: Int

    public init(approvers: Approvers, steps: [ApprovalStep] = [], requiredApprovals: Int = 1) {
        self.approvers = approvers; self.steps = steps; self.requiredApprovals = requiredApprovals
    }

    /// The total number of approvals needed.
    public var threshold: Int { steps.isEmpty ? requiredApprovals : steps.reduce(0) { $0 + $1.required } }
}

extension Flow {
    /// The flow's routing as configured (a `get_approvers` reducer may replace `approvers`).
    public var routing: Routing { Routing(approvers: approvers, steps: approvalSteps, requiredApprovals: requiredApprovals) }
}

/// Decides who may do what to a request. Group membership is an input, never looked up here.
public enum Policy {
    public static func isListed(_ actor: Actor, in approvers: Approvers) -> Bool {
        actor.isPerson && (approvers.users.contains(actor.name) || !actor.groups.isDisjoint(with: approvers.groups))
    }

    /// True when `actor` may decide requests routed this way (ignoring self-approval rules).
    public static func isEligible(_ actor: Actor, routing: Routing) -> Bool {
        routing.steps.isEmpty ? isListed(actor, in: routing.approvers) : routing.steps.contains { isListed(actor, in: $0.approvers) }
    }

    /// The step an approval by `actor` would count for, or nil when every step they belong to is full.
    public static func openStep(for actor: Actor, request: AccessRequest, routing: Routing) -> ApprovalStep? {
        routing.steps.first { step in
            isListed(actor, in: step.approvers) && request.approvals.filter { $0.step == step.name }.count < step.required
        }
    }

    /// True when the approvals meet the routing's threshold (every step, or N distinct approvers).
    public static func thresholdMet(_ request: AccessRequest, routing: Routing) -> Bool {
        if routing.steps.isEmpty { return Set(request.approvals.map(\.user)).count >= routing.requiredApprovals }
        return routing.steps.allSatisfy { step in request.approvals.filter { $0.step == step.name }.count >= step.required }
    }

    /// Pending requests `actor` may decide now: eligible, not already approved by them, not their own
    /// unless the flow allows self-approval, and (with steps) a step still open for them.
    public static func mayDecideNow(_ actor: Actor, request: AccessRequest, flow: Flow, routing: Routing) -> Bool {
        guard request.state == .pending, isEligible(actor, routing: routing) else { return false }
        if request.requester == actor.name && !flow.allowSelfApproval { return false }
        if request.approvals.contains(where: { $0.user == actor.name }) { return false }
        return routing.steps.isEmpty || openStep(for: actor, request: request, routing: routing) != nil
    }
}

extension Routing {
    /// Stored form: `{"users":[…],"groups":[…],"steps":[{"name","users","groups","required"}],"required":N}`.
    public var json: JSONValue {
        func strings(_ a: [String]) -> JSONValue { .array(a.map(JSONValue.string)) }
        return .obj([("users", strings(approvers.users)), ("groups", strings(approvers.groups)),
                     ("steps", .array(steps.map { s in
                         .obj([("name", .string(s.name)), ("users", strings(s.approvers.users)),
                               ("groups", strings(s.approvers.groups)), ("required", .num(s.required))])
                     })), ("required", .num(requiredApprovals))])
    }

    public init?(json: JSONValue) {
        func strings(_ v: JSONValue?) -> [String] { v?.arrayValue?.compactMap(\.stringValue) ?? [] }
        guard json.objectValue != nil else { return nil }
        self.init(approvers: Approvers(users: strings(json["users"]), groups: strings(json["groups"])),
                  steps: (json["steps"]?.arrayValue ?? []).map { s in
                      ApprovalStep(name: s["name"]?.stringValue ?? "", approvers: Approvers(users: strings(s["users"]), groups: strings(s["groups"])),
                                   required: Int(s["required"]?.intValue ?? 1))
                  }, requiredApprovals: Int(json["required"]?.intValue ?? 1))
    }
}
