import Foundation
import XCTest
import SymModel
@testable import SymStore

/// The review queue's SQL finds requests routed to a user by name, through a group, or through an approval step.
final class ReviewCandidateTests: XCTestCase {
    func pending(_ requester: String, routing: Routing) -> AccessRequest {
        var r = AccessRequest(flow: "f", target: nil, targetLabel: nil, requester: requester, createdAt: Date(),
                              requestExpiresAt: Date().addingTimeInterval(3600))
        r.routing = routing
        return r
    }

    func testRequestsRoutedToAUserOrTheirGroupsOrASteppedGroupAreCandidates() throws {
        let store = try SF.store(self)
        let byName = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(users: ["bob"])))) }
        let byGroup = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(groups: ["oncall"])))) }
        let bySteps = try store.write { tx in
            try tx.insert(pending("alice", routing: Routing(approvers: Approvers(), steps: [
                ApprovalStep(name: "peer", approvers: Approvers(groups: ["dba"]))])))
        }
        _ = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(users: ["carol"])))) }
        let found = try store.reviewCandidates(user: "bob", groups: ["oncall", "dba"], flows: ["f"], selfFlows: [])
        XCTAssertEqual(found.map(\.id), [bySteps.id, byGroup.id, byName.id])
        XCTAssertEqual(found.map(\.exact), [false, true, true], "steps need the full policy check")
    }

    func testANameHoldingTheKeySeparatorMatchesNoOtherUser() throws {
        let store = try SF.store(self)
        _ = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(users: ["x\u{1F}u:bob"])))) }
        XCTAssertEqual(try store.reviewCandidates(user: "bob", groups: [], flows: ["f"], selfFlows: []).map(\.id), [])
    }

    func testARoutingStoredWithoutApproverKeysGoesToTheFullCheck() throws {
        let store = try SF.store(self)
        let r = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(users: ["carol"])))) }
        try store.db.run("UPDATE requests SET approver_keys = NULL WHERE id = ?", [.int(r.id)])
        let found = try store.reviewCandidates(user: "bob", groups: [], flows: ["f"], selfFlows: [])
        XCTAssertEqual(found.map(\.id), [r.id])
        XCTAssertEqual(found.map(\.exact), [false])
    }
}
