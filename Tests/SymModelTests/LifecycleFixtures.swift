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

    static func apply(_ command: LifecycleAction, _ request: AccessRequest, flow: Flow, by actor: Actor = .system,
                      at now: Date = t0.addingTimeInterval(60)) -> Result<Transition, Refusal> {
        Lifecycle.apply(command, to: request, flow: flow, routing: flow.routing, actor: actor, now: now)
    }
}

/// The transition, failing the test when the command was refused.
func applied(_ command: LifecycleAction, _ request: AccessRequest, flow: Flow, by actor: Actor = .system,
             at now: Date = LF.t0.addingTimeInterval(60), file: StaticString = #filePath, line: UInt = #line) throws -> Transition {
    switch LF.apply(command, request, flow: flow, by: actor, at: now) {
    case let .success(t): return t
    case let .failure(refusal):
        XCTFail("\(command.name) by \(actor.name) refused: \(refusal)", file: file, line: line)
        throw refusal
    }
}

/// The refusal, failing the test when the command was applied.
func refused(_ command: LifecycleAction, _ request: AccessRequest, flow: Flow, by actor: Actor = .system,
             at now: Date = LF.t0.addingTimeInterval(60), file: StaticString = #filePath, line: UInt = #line) -> Refusal? {
    switch LF.apply(command, request, flow: flow, by: actor, at: now) {
    case let .success(t):
        XCTFail("\(command.name) by \(actor.name) was applied (now \(t.request.state)); expected a refusal", file: file, line: line)
        return nil
    case let .failure(refusal): return refusal
    }
}

extension XCTestCase {
    /// Runs the calling test in a child copy of the test process, so that a crash (a product bug) fails this test
    /// only instead of ending the whole run. True in the child: run the body. In the parent: runs the child,
    /// turns its failures or crash into failures here, and returns false.
    func runsIsolated(module: String = "SymModelTests", function: String = #function,
                      file: StaticString = #filePath, line: UInt = #line) -> Bool {
        if ProcessInfo.processInfo.environment["SYMTUI_ISOLATED_TEST"] != nil { return true }
        let test = "\(module).\(String(describing: type(of: self)))/\(function.replacingOccurrences(of: "()", with: ""))"
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = [test]
        var env = ProcessInfo.processInfo.environment
        env["SYMTUI_ISOLATED_TEST"] = "1"
        child.environment = env
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = pipe
        do { try child.run() } catch { XCTFail("cannot run \(test) in a child process: \(error)", file: file, line: line); return false }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let notes = output.split(separator: "\n").filter {
            $0.contains("error:") || $0.contains("Fatal") || $0.contains("Simultaneous accesses") || $0.contains("Fatal error")
        }.prefix(8).joined(separator: "\n")
        if child.terminationReason == .uncaughtSignal {
            XCTFail("\(test) crashed (signal \(child.terminationStatus)):\n\(notes)", file: file, line: line)
        } else if child.terminationStatus != 0 {
            XCTFail("\(test) failed in its child process:\n\(notes)", file: file, line: line)
        }
        return false
    }
}
