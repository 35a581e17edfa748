import Foundation
import XCTest
import SymModel
import SymStore
import SymTestSupport

/// The review queue computed in SQL (plus the step check) is exactly what the policy decides row by row.
final class ReviewQueueTests: XCTestCase {
    func testReviewQueueMatchesThePolicyForEveryRequest() throws {
        let dir = try temporaryDirectory(self, prefix: "symtui-rq-")
        let store = try Store.openForWriting(path: dir + "/s.db")
        let steps = [ApprovalStep(name: "peer", approvers: Approvers(groups: ["oncall"])),
                     ApprovalStep(name: "manager", approvers: Approvers(users: ["carol"]))]
        let config = Config(sourcePath: dir + "/c.json5", flows: [
            Flow(name: "plain", approvers: Approvers(users: ["bob"], groups: ["oncall"])),
            Flow(name: "self", approvers: Approvers(groups: ["oncall"]), allowSelfApproval: true),
            Flow(name: "steps", approvalSteps: steps),
            Flow(name: "others", approvers: Approvers(users: ["dave"])),
        ])
        var rng = SystemRandomNumberGenerator()
        let people = ["alice", "bob", "carol", "dave"]
        let states: [RequestState] = [.pending, .pending, .pending, .approved, .denied]
        try store.write { tx in
            for i in 0..<400 {
                let flow = config.flows[Int.random(in: 0..<config.flows.count, using: &rng)]
                var r = AccessRequest(flow: i % 50 == 0 ? "gone" : flow.name, target: nil, targetLabel: nil,
                                      requester: people.randomElement(using: &rng)!, state: states.randomElement(using: &rng)!,
                                      createdAt: Date(), requestExpiresAt: Date().addingTimeInterval(3600))
                r.routing = i % 7 == 0 ? nil : flow.routing
                for who in people where Int.random(in: 0..<5, using: &rng) == 0 && who != r.requester {
                    let step = flow.approvalSteps.first { Policy.isListed(.user(who, groups: who == "bob" || who == "carol" ? ["oncall"] : []), in: $0.approvers) }
                    r.approvals.append(Approval(user: who, at: Date(), reason: nil, isSelf: false, step: step?.name))
                }
                _ = try tx.insert(r)
            }
        }
        for (name, groups) in [("bob", ["oncall"]), ("carol", ["oncall"]), ("dave", []), ("alice", [])] {
            let me = Actor.user(name, groups: Set(groups))
            let expected = try store.requests(RequestQuery(limit: 1000)).filter { r in
                guard let flow = config.flow(named: r.flow) else { return false }
                return Policy.mayDecideNow(me, request: r, flow: flow, routing: r.routing ?? flow.routing)
            }.map(\.id)
            if name != "alice" { XCTAssertGreaterThan(expected.count, 10, "the fixture gives \(name) a real queue") }
            XCTAssertEqual(try ReviewQueue.ids(store: store, config: config, actor: me), expected, "review queue of \(name)")
        }
    }
}
