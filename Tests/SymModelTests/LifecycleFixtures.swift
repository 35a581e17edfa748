import Foundation
import XCTest
@testable import SymModel

/// Small builders for lifecycle and policy tests: flows, requests in a given state, and people.
enum LF {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let requester = "rita"

    static let alice = Actor.user("alice")
    static let bob = Actor.user("bob")
    static let carol = Actor.user("carol", groups: ["oncall"])
    static let mallory = Actor.user("mallory", groups: ["staff"])
    static let rita = Actor.user(requester)
    /// The requester, who is also an approver of every fixture flow.
    static let ritaApprover = Actor.user(requester, groups: ["oncall"])

    /// An access flow approved by alice, bob and group oncall.
    static func accessFlow(required: Int = 1, allowSelfApproval: Bool = false, allowRevoke: Bool = true,
                           scheduleDeescalation: Bool = true) -> Flow {
        Flow(name: "prod", strategy: "groups", approvers: Approvers(users: ["alice", "bob"], groups: ["oncall"]),
             requiredApprovals: required, allowSelfApproval: allowSelfApproval, allowRevoke: allowRevoke,
             scheduleDeescalation: scheduleDeescalation)
    }

    static func approvalOnlyFlow() -> Flow {
        Flow(name: "reindex", approvers: Approvers(users: ["alice", "bob"], groups: ["oncall"]))
    }

    /// Two AND-ed steps: security {sam, sue} and owners {olga, sam}, one approval each.
    static func stepsFlow(securityRequired: Int = 1) -> Flow {
        Flow(name: "steps", strategy: "groups",
             approvalSteps: [ApprovalStep(name: "security", approvers: Approvers(users: ["sam", "sue"]), required: securityRequired),
                             ApprovalStep(name: "owners", approvers: Approvers(users: ["olga", "sam"]), required: 1)])
    }

    /// A request of `flow` by rita, in `state`; active grants run from t0 for an hour.
    static func request(_ flow: Flow, state: RequestState = .pending, id: Int64 = 7, extends: Int64? = nil) -> AccessRequest {
        var r = AccessRequest(id: id, flow: flow.name, target: flow.isApprovalOnly ? nil : "prod-ssh",
                              targetLabel: flow.isApprovalOnly ? nil : "Production SSH", requester: requester, state: state,
                              durationSeconds: flow.isApprovalOnly ? nil : 3600, createdAt: t0,
                              requestExpiresAt: t0.addingTimeInterval(3600), requiredApprovals: flow.routing.threshold,
                              extends: extends)
        if state == .active {
            r.decidedAt = t0
            r.accessStartsAt = t0
            r.accessExpiresAt = t0.addingTimeInterval(3600)
        }
        return r
    }

    static func apply(_ command: RequestCommand, _ request: AccessRequest, flow: Flow, by actor: Actor = .system,
                      at now: Date = t0.addingTimeInterval(60)) -> Result<Transition, Refusal> {
        Lifecycle.apply(command, to: request, flow: flow, routing: flow.routing, actor: actor, now: now)
    }
}

/// The transition, failing the test when the command was refused.
func applied(_ command: RequestCommand, _ request: AccessRequest, flow: Flow, by actor: Actor = .system,
             at now: Date = LF.t0.addingTimeInterval(60), file: StaticString = #filePath, line: UInt = #line) throws -> Transition {
    switch LF.apply(command, request, flow: flow, by: actor, at: now) {
    case let .success(t): return t
    case let .failure(refusal):
        XCTFail("\(command.name) by \(actor.name) refused: \(refusal)", file: file, line: line)
        throw refusal
    }
}

/// The refusal, failing the test when the command was applied.
func refused(_ command: RequestCommand, _ request: AccessRequest, flow: Flow, by actor: Actor = .system,
             at now: Date = LF.t0.addingTimeInterval(60), file: StaticString = #filePath, line: UInt = #line) -> Refusal? {
    switch LF.apply(command, request, flow: flow, by: actor, at: now) {
    case let .success(t):
        XCTFail("\(command.name) by \(actor.name) was applied (now \(t.request.state)); expected a refusal", file: file, line: line)
        return nil
    case let .failure(refusal): return refusal
    }
}
