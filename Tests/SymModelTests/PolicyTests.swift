import Foundation
import XCTest
@testable import SymModel

final class PolicyTests: XCTestCase {
    let approvers = Approvers(users: ["alice"], groups: ["oncall"])

    func testAListedUserIsAnApprover() {
        XCTAssertTrue(Policy.isListed(.user("alice"), in: approvers))
    }

    func testAMemberOfAListedGroupIsAnApprover() {
        XCTAssertTrue(Policy.isListed(.user("zed", groups: ["staff", "oncall"]), in: approvers))
    }

    func testAnUnlistedUserIsNoApprover() {
        XCTAssertFalse(Policy.isListed(.user("zed", groups: ["staff"]), in: approvers))
    }

    func testOnlyPeopleAreListed() {
        XCTAssertFalse(Policy.isListed(.system, in: Approvers(users: ["system"])))
        XCTAssertFalse(Policy.isListed(.rule("alice"), in: Approvers(users: ["rule:alice", "alice"])))
        XCTAssertFalse(Policy.isListed(.handler("h"), in: Approvers(users: ["handler:h"])))
    }

    func testWithStepsAnyStepsApproverIsEligible() {
        let routing = LF.stepsFlow().routing
        for name in ["sam", "sue", "olga"] { XCTAssertTrue(Policy.isEligible(.user(name), routing: routing), name) }
        XCTAssertFalse(Policy.isEligible(.user("alice"), routing: routing))
    }

    func testTheOpenStepIsTheFirstUnmetStepTheApproverBelongsTo() {
        let flow = LF.stepsFlow()
        var r = LF.request(flow)
        XCTAssertEqual(Policy.openStep(for: .user("sam"), request: r, routing: flow.routing)?.name, "security")
        r.approvals.append(Approval(user: "sue", at: LF.t0, reason: nil, isSelf: false, step: "security"))
        XCTAssertEqual(Policy.openStep(for: .user("sam"), request: r, routing: flow.routing)?.name, "owners")
        XCTAssertNil(Policy.openStep(for: .user("sue"), request: r, routing: flow.routing))
    }

    func testThresholdCountsDistinctApprovers() {
        let routing = Routing(approvers: approvers, requiredApprovals: 2)
        var r = LF.request(LF.accessFlow(required: 2))
        r.approvals = [Approval(user: "alice", at: LF.t0, reason: nil, isSelf: false),
                       Approval(user: "alice", at: LF.t0, reason: nil, isSelf: false)]
        XCTAssertFalse(Policy.thresholdMet(r, routing: routing))
        r.approvals.append(Approval(user: "carol", at: LF.t0, reason: nil, isSelf: false))
        XCTAssertTrue(Policy.thresholdMet(r, routing: routing))
    }

    func testThresholdWithStepsNeedsEveryStep() {
        let flow = LF.stepsFlow()
        var r = LF.request(flow)
        r.approvals = [Approval(user: "sue", at: LF.t0, reason: nil, isSelf: false, step: "security")]
        XCTAssertFalse(Policy.thresholdMet(r, routing: flow.routing))
        r.approvals.append(Approval(user: "olga", at: LF.t0, reason: nil, isSelf: false, step: "owners"))
        XCTAssertTrue(Policy.thresholdMet(r, routing: flow.routing))
    }

    func testAnApproverMayDecideAPendingRequest() {
        let flow = LF.accessFlow()
        XCTAssertTrue(Policy.mayDecideNow(LF.alice, request: LF.request(flow), flow: flow, routing: flow.routing))
    }

    func testNobodyMayDecideARequestThatIsNoLongerPending() {
        let flow = LF.accessFlow()
        XCTAssertFalse(Policy.mayDecideNow(LF.alice, request: LF.request(flow, state: .approved), flow: flow, routing: flow.routing))
    }

    func testTheRequesterMayDecideOnlyWhenSelfApprovalIsAllowed() {
        let strict = LF.accessFlow()
        let lenient = LF.accessFlow(allowSelfApproval: true)
        XCTAssertFalse(Policy.mayDecideNow(LF.ritaApprover, request: LF.request(strict), flow: strict, routing: strict.routing))
        XCTAssertTrue(Policy.mayDecideNow(LF.ritaApprover, request: LF.request(lenient), flow: lenient, routing: lenient.routing))
    }

    func testAnApproverWhoApprovedMayNotDecideAgain() throws {
        let flow = LF.accessFlow(required: 2)
        let r = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: LF.alice).request
        XCTAssertFalse(Policy.mayDecideNow(LF.alice, request: r, flow: flow, routing: flow.routing))
        XCTAssertTrue(Policy.mayDecideNow(LF.bob, request: r, flow: flow, routing: flow.routing))
    }

    func testAnApproverWhoseStepsAreMetMayNotDecide() throws {
        let flow = LF.stepsFlow()
        let r = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: .user("sam")).request
        XCTAssertFalse(Policy.mayDecideNow(.user("sue"), request: r, flow: flow, routing: flow.routing))
        XCTAssertTrue(Policy.mayDecideNow(.user("olga"), request: r, flow: flow, routing: flow.routing))
    }
}
