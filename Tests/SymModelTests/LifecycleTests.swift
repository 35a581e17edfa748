import Foundation
import XCTest
@testable import SymModel

// MARK: - approve

final class LifecycleApproveTests: XCTestCase {
    func testAnApproverApprovesWhenOneApprovalIsRequired() throws {
        let flow = LF.accessFlow()
        let t = try applied(.approve(reason: "ok"), LF.request(flow), flow: flow, by: LF.alice)
        XCTAssertEqual(t.request.state, .approved)
        XCTAssertEqual(t.request.decidedAt, LF.t0.addingTimeInterval(60))
        XCTAssertEqual(t.request.approvals.map(\.user), ["alice"])
        XCTAssertEqual(t.request.approvals.first?.reason, "ok")
        XCTAssertEqual(t.request.approvals.first?.isSelf, false)
        XCTAssertEqual(t.events.map(\.type), [.approve])
        XCTAssertEqual(t.events.first?.reason, "ok")
    }

    func testAMemberOfAnApproverGroupMayApprove() throws {
        let flow = LF.accessFlow()
        XCTAssertEqual(try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: LF.carol).request.state, .approved)
    }

    func testNOfMStaysPendingUntilTheThresholdIsMet() throws {
        let flow = LF.accessFlow(required: 2)
        let first = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: LF.alice)
        XCTAssertEqual(first.request.state, .pending)
        XCTAssertNil(first.request.decidedAt)
        XCTAssertEqual(first.events.first?.data["approvals"], .int(1))
        XCTAssertEqual(first.events.first?.data["required"], .int(2))
        let second = try applied(.approve(reason: nil), first.request, flow: flow, by: LF.carol)
        XCTAssertEqual(second.request.state, .approved)
        XCTAssertEqual(second.request.approvals.map(\.user), ["alice", "carol"])
        XCTAssertEqual(second.events.first?.data["decided"], .bool(true))
    }

    func testTheSameApproverCannotApproveTwice() throws {
        let flow = LF.accessFlow(required: 2)
        let first = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: LF.alice)
        XCTAssertEqual(refused(.approve(reason: nil), first.request, flow: flow, by: LF.alice)?.kind, .notAllowed)
    }

    func testSomeoneWhoIsNotAnApproverCannotApprove() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.approve(reason: nil), LF.request(flow), flow: flow, by: LF.mallory)?.kind, .notAllowed)
    }

    func testSelfApprovalIsRefusedUnlessTheFlowAllowsIt() {
        let flow = LF.accessFlow()
        let refusal = refused(.approve(reason: "urgent"), LF.request(flow), flow: flow, by: LF.ritaApprover)
        XCTAssertEqual(refusal?.kind, .notAllowed)
    }

    func testSelfApprovalNeedsAReason() {
        let flow = LF.accessFlow(allowSelfApproval: true)
        XCTAssertEqual(refused(.approve(reason: nil), LF.request(flow), flow: flow, by: LF.ritaApprover)?.kind, .invalid)
        XCTAssertEqual(refused(.approve(reason: "  \n"), LF.request(flow), flow: flow, by: LF.ritaApprover)?.kind, .invalid)
    }

    func testSelfApprovalWithAReasonIsRecordedAsSelf() throws {
        let flow = LF.accessFlow(allowSelfApproval: true)
        let t = try applied(.approve(reason: "pager fire"), LF.request(flow), flow: flow, by: LF.ritaApprover)
        XCTAssertEqual(t.request.state, .approved)
        XCTAssertEqual(t.request.approvals.first?.isSelf, true)
        XCTAssertEqual(t.events.map(\.type), [.approve])
        XCTAssertEqual(t.events.first?.data["self"], .bool(true))
    }

    func testARequesterWhoIsNoApproverCannotSelfApproveEvenWhenAllowed() {
        let flow = LF.accessFlow(allowSelfApproval: true)
        XCTAssertEqual(refused(.approve(reason: "me"), LF.request(flow), flow: flow, by: LF.rita)?.kind, .notAllowed)
    }

    func testOnlyAPendingRequestCanBeApproved() {
        let flow = LF.accessFlow()
        for state in RequestState.allCases where state != .pending {
            XCTAssertEqual(refused(.approve(reason: nil), LF.request(flow, state: state), flow: flow, by: LF.alice)?.kind,
                           .wrongState, "\(state)")
        }
    }

    func testTheSystemDoesNotApprove() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.approve(reason: nil), LF.request(flow), flow: flow, by: .system)?.kind, .notAllowed)
    }

    func testARuleApprovalDecidesOnItsOwn() throws {
        let flow = LF.accessFlow(required: 2)
        let t = try applied(.approve(reason: "on call"), LF.request(flow), flow: flow, by: .rule("oncall"))
        XCTAssertEqual(t.request.state, .approved)
        XCTAssertEqual(t.events.first?.actor, "rule:oncall")
    }

    func testAnApprovalOnlyFlowIsFinalOnceApproved() throws {
        let flow = LF.approvalOnlyFlow()
        let t = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: LF.bob)
        XCTAssertEqual(t.request.state, .approved)
        XCTAssertEqual(refused(.beginEscalation, t.request, flow: flow)?.kind, .wrongState)
    }
}

// MARK: - approval steps

final class LifecycleApprovalStepTests: XCTestCase {
    func testEveryStepMustBeMet() throws {
        let flow = LF.stepsFlow()
        let first = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: .user("sue"))
        XCTAssertEqual(first.request.state, .pending)
        XCTAssertEqual(first.request.approvals.first?.step, "security")
        let second = try applied(.approve(reason: nil), first.request, flow: flow, by: .user("olga"))
        XCTAssertEqual(second.request.state, .approved)
        XCTAssertEqual(second.request.approvals.last?.step, "owners")
    }

    func testTwoApproversOfOneStepDoNotMeetAnother() throws {
        let flow = LF.stepsFlow(securityRequired: 1)
        let first = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: .user("sue"))
        // sam is in both steps: with security full, his approval counts for owners.
        let second = try applied(.approve(reason: nil), first.request, flow: flow, by: .user("sam"))
        XCTAssertEqual(second.request.approvals.last?.step, "owners")
        XCTAssertEqual(second.request.state, .approved)
    }

    func testAPersonInTwoStepsCountsInOneStepOnly() throws {
        let flow = LF.stepsFlow()
        let t = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: .user("sam"))
        XCTAssertEqual(t.request.state, .pending)
        XCTAssertEqual(t.request.approvals.count, 1)
        XCTAssertEqual(refused(.approve(reason: nil), t.request, flow: flow, by: .user("sam"))?.kind, .notAllowed)
    }

    func testAnApproverWhoseStepsAreAllMetIsRefused() throws {
        let flow = LF.stepsFlow()
        let t = try applied(.approve(reason: nil), LF.request(flow), flow: flow, by: .user("sam"))  // security
        // sue is only in security, which is full.
        XCTAssertEqual(refused(.approve(reason: nil), t.request, flow: flow, by: .user("sue"))?.kind, .notAllowed)
    }

    func testTheThresholdOfAFlowWithStepsIsTheSumOfTheSteps() {
        XCTAssertEqual(LF.stepsFlow(securityRequired: 2).routing.threshold, 3)
    }
}

// MARK: - deny, cancel

final class LifecycleDenyAndCancelTests: XCTestCase {
    func testADenialNeedsAReason() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.deny(reason: ""), LF.request(flow), flow: flow, by: LF.alice)?.kind, .invalid)
        XCTAssertEqual(refused(.deny(reason: " \t "), LF.request(flow), flow: flow, by: LF.alice)?.kind, .invalid)
    }

    func testAnApproverDeniesWithAReason() throws {
        let flow = LF.accessFlow(required: 2)
        let t = try applied(.deny(reason: "not today"), LF.request(flow), flow: flow, by: LF.bob)
        XCTAssertEqual(t.request.state, .denied)
        XCTAssertEqual(t.request.denial, Denial(user: "bob", at: LF.t0.addingTimeInterval(60), reason: "not today"))
        XCTAssertNotNil(t.request.decidedAt)
        XCTAssertEqual(t.events.map(\.type), [.deny])
        XCTAssertEqual(t.events.first?.reason, "not today")
    }

    func testSomeoneWhoIsNotAnApproverCannotDeny() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.deny(reason: "no"), LF.request(flow), flow: flow, by: LF.mallory)?.kind, .notAllowed)
    }

    func testARequesterCannotDenyTheirOwnRequest() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.deny(reason: "oops"), LF.request(flow), flow: flow, by: LF.ritaApprover)?.kind, .notAllowed)
    }

    func testOnlyAPendingRequestCanBeDenied() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.deny(reason: "no"), LF.request(flow, state: .active), flow: flow, by: LF.alice)?.kind, .wrongState)
    }

    func testTheRequesterCancelsAPendingRequest() throws {
        let flow = LF.accessFlow()
        let t = try applied(.cancel, LF.request(flow), flow: flow, by: LF.rita)
        XCTAssertEqual(t.request.state, .cancelled)
        XCTAssertEqual(t.request.endedAt, LF.t0.addingTimeInterval(60))
        XCTAssertEqual(t.events.map(\.type), [.cancel])
    }

    func testOnlyTheRequesterCanCancel() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.cancel, LF.request(flow), flow: flow, by: LF.alice)?.kind, .notAllowed)
        XCTAssertEqual(refused(.cancel, LF.request(flow), flow: flow, by: .system)?.kind, .notAllowed)
    }

    func testOnlyAPendingRequestCanBeCancelled() {
        let flow = LF.accessFlow()
        for state in RequestState.allCases where state != .pending {
            XCTAssertEqual(refused(.cancel, LF.request(flow, state: state), flow: flow, by: LF.rita)?.kind, .wrongState, "\(state)")
        }
    }

    func testAPendingRequestExpiresAfterItsTTL() throws {
        let flow = LF.accessFlow()
        let t = try applied(.expirePending, LF.request(flow), flow: flow, at: LF.t0.addingTimeInterval(3600))
        XCTAssertEqual(t.request.state, .expired)
        XCTAssertNotNil(t.request.endedAt)
        XCTAssertEqual(t.events.map(\.type), [.requestExpire])
        XCTAssertEqual(t.events.first?.actor, "system")
    }

    func testOnlyAPendingRequestExpires() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.expirePending, LF.request(flow, state: .approved), flow: flow)?.kind, .wrongState)
    }
}

// MARK: - revoke, release

final class LifecycleRevokeAndReleaseTests: XCTestCase {
    func testRevokingAnActiveGrantStartsItsDeescalation() throws {
        let flow = LF.accessFlow()
        let t = try applied(.revoke(reason: "incident over"), LF.request(flow, state: .active), flow: flow, by: LF.alice)
        XCTAssertEqual(t.request.state, .deescalating)
        XCTAssertEqual(t.request.endReason, .revoked)
        XCTAssertEqual(t.events.map(\.type), [.revoke])
        XCTAssertEqual(t.events.first?.reason, "incident over")
    }

    func testOnlyAnApproverCanRevoke() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.revoke(reason: nil), LF.request(flow, state: .active), flow: flow, by: LF.rita)?.kind, .notAllowed)
        XCTAssertEqual(refused(.revoke(reason: nil), LF.request(flow, state: .active), flow: flow, by: LF.mallory)?.kind, .notAllowed)
    }

    func testRevokeIsRefusedWhenTheFlowDoesNotAllowIt() {
        let flow = LF.accessFlow(allowRevoke: false)
        XCTAssertEqual(refused(.revoke(reason: nil), LF.request(flow, state: .active), flow: flow, by: LF.alice)?.kind, .notAllowed)
    }

    func testTheRequesterReleasesTheirActiveGrant() throws {
        let flow = LF.accessFlow()
        let t = try applied(.release, LF.request(flow, state: .active), flow: flow, by: LF.rita)
        XCTAssertEqual(t.request.state, .deescalating)
        XCTAssertEqual(t.request.endReason, .released)
        XCTAssertEqual(t.events.map(\.type), [.release])
    }

    func testOnlyTheRequesterCanRelease() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.release, LF.request(flow, state: .active), flow: flow, by: LF.alice)?.kind, .notAllowed)
    }

    func testReleaseIsAllowedEvenWhenRevokeIsNot() throws {
        let flow = LF.accessFlow(allowRevoke: false)
        XCTAssertEqual(try applied(.release, LF.request(flow, state: .active), flow: flow, by: LF.rita).request.state, .deescalating)
    }

    func testRevokingDuringEscalationTakesAccessAwayOnceEscalated() throws {
        let flow = LF.accessFlow()
        let revoked = try applied(.revoke(reason: nil), LF.request(flow, state: .escalating), flow: flow, by: LF.alice)
        XCTAssertEqual(revoked.request.state, .escalating)
        XCTAssertEqual(revoked.request.endReason, .revoked)
        let escalated = try applied(.escalated(output: nil, data: .object([])), revoked.request, flow: flow)
        XCTAssertEqual(escalated.request.state, .deescalating)
        XCTAssertEqual(escalated.events.map(\.type), [.escalate])
        let ended = try applied(.deescalated(data: .object([])), escalated.request, flow: flow)
        XCTAssertEqual(ended.request.state, .ended)
        XCTAssertEqual(ended.request.endReason, .revoked)
    }

    func testReleasingDuringEscalationTakesAccessAwayOnceEscalated() throws {
        let flow = LF.accessFlow()
        let released = try applied(.release, LF.request(flow, state: .escalating), flow: flow, by: LF.rita)
        XCTAssertEqual(released.request.endReason, .released)
        let escalated = try applied(.escalated(output: nil, data: .object([])), released.request, flow: flow)
        XCTAssertEqual(escalated.request.state, .deescalating)
    }

    /// Refusing these used to crash the process (an exclusivity violation), so the test runs in a child process.
    func testRevokeAndReleaseAreFinal() throws {
        guard runsIsolated() else { return }
        let flow = LF.accessFlow()
        let revoked = try applied(.revoke(reason: nil), LF.request(flow, state: .active), flow: flow, by: LF.alice)
        XCTAssertEqual(refused(.revoke(reason: nil), revoked.request, flow: flow, by: LF.bob)?.kind, .wrongState)
        XCTAssertEqual(refused(.release, revoked.request, flow: flow, by: LF.rita)?.kind, .wrongState)
        let duringEscalation = try applied(.release, LF.request(flow, state: .escalating), flow: flow, by: LF.rita)
        XCTAssertEqual(refused(.revoke(reason: nil), duringEscalation.request, flow: flow, by: LF.alice)?.kind, .wrongState)
        XCTAssertEqual(refused(.release, duringEscalation.request, flow: flow, by: LF.rita)?.kind, .wrongState)
        for state in [RequestState.ended, .failed, .denied, .cancelled, .expired, .pending] {
            XCTAssertEqual(refused(.revoke(reason: nil), LF.request(flow, state: state), flow: flow, by: LF.alice)?.kind,
                           .wrongState, "\(state)")
        }
    }

    /// contract §4: "approval-only: approved is final". Nothing was granted, so there is nothing to revoke or release.
    func testAnApprovedApprovalOnlyRequestCannotBeRevokedOrReleased() {
        let flow = LF.approvalOnlyFlow()
        let approved = LF.request(flow, state: .approved)
        XCTAssertEqual(refused(.revoke(reason: nil), approved, flow: flow, by: LF.alice)?.kind, .wrongState)
        XCTAssertEqual(refused(.release, approved, flow: flow, by: LF.rita)?.kind, .wrongState)
    }
}

// MARK: - escalation

final class LifecycleEscalationTests: XCTestCase {
    func testBeginEscalationClaimsAnApprovedAccessRequest() throws {
        let flow = LF.accessFlow()
        var approved = LF.request(flow, state: .approved)
        approved.attempts = 4
        let t = try applied(.beginEscalation, approved, flow: flow)
        XCTAssertEqual(t.request.state, .escalating)
        XCTAssertEqual(t.request.attempts, 0)
        XCTAssertNil(t.request.nextAttemptAt)
        XCTAssertTrue(t.events.isEmpty)
    }

    func testAnExtensionIsNeverEscalatedOnItsOwn() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.beginEscalation, LF.request(flow, state: .approved, extends: 3), flow: flow)?.kind, .wrongState)
    }

    func testEscalatedStartsTheGrantForItsDuration() throws {
        let flow = LF.accessFlow()
        let now = LF.t0.addingTimeInterval(120)
        let t = try applied(.escalated(output: #"{"k":1}"#, data: .object([("exit", .int(0))])), LF.request(flow, state: .escalating),
                            flow: flow, at: now)
        XCTAssertEqual(t.request.state, .active)
        XCTAssertEqual(t.request.accessStartsAt, now)
        XCTAssertEqual(t.request.accessExpiresAt, now.addingTimeInterval(3600))
        XCTAssertEqual(t.request.stepOutput, #"{"k":1}"#)
        XCTAssertEqual(t.events.map(\.type), [.escalate])
        XCTAssertEqual(t.events.first?.data["exit"], .int(0))
    }

    func testAGrantWithoutScheduledDeescalationHasNoExpiry() throws {
        let flow = LF.accessFlow(scheduleDeescalation: false)
        let t = try applied(.escalated(output: nil, data: .object([])), LF.request(flow, state: .escalating), flow: flow)
        XCTAssertEqual(t.request.state, .active)
        XCTAssertNil(t.request.accessExpiresAt)
    }

    func testAFailedEscalationWithARetryStaysEscalating() throws {
        let flow = LF.accessFlow()
        let retryAt = LF.t0.addingTimeInterval(65)
        let t = try applied(.escalationFailed(error: "boom", data: .object([]), retryAt: retryAt), LF.request(flow, state: .escalating),
                            flow: flow)
        XCTAssertEqual(t.request.state, .escalating)
        XCTAssertEqual(t.request.attempts, 1)
        XCTAssertEqual(t.request.nextAttemptAt, retryAt)
        XCTAssertEqual(t.request.error, "boom")
        XCTAssertEqual(t.events.map(\.type), [.escalateFailed])
        XCTAssertEqual(t.events.first?.data["final"], .bool(false))
        XCTAssertEqual(t.events.first?.data["attempt"], .int(1))
    }

    func testAFailedEscalationWithoutARetryIsCleanedUpAndThenFails() throws {
        let flow = LF.accessFlow()
        let failed = try applied(.escalationFailed(error: "boom", data: .object([]), retryAt: nil), LF.request(flow, state: .escalating),
                                 flow: flow)
        XCTAssertEqual(failed.request.state, .deescalating)
        XCTAssertNil(failed.request.endReason)
        XCTAssertEqual(failed.events.first?.data["final"], .bool(true))
        let cleaned = try applied(.deescalated(data: .object([])), failed.request, flow: flow)
        XCTAssertEqual(cleaned.request.state, .failed)
        XCTAssertEqual(cleaned.request.error, "escalation failed after 1 try: boom")
        XCTAssertNotNil(cleaned.request.endedAt)
        XCTAssertEqual(cleaned.events.map(\.type), [.deescalate])
    }

    /// The final `escalate_failed` event should say which attempt failed, like the non-final ones do.
    func testTheFinalEscalationFailureEventCountsTheAttempt() throws {
        let flow = LF.accessFlow()
        let first = try applied(.escalationFailed(error: "boom", data: .object([]), retryAt: LF.t0.addingTimeInterval(61)),
                                LF.request(flow, state: .escalating), flow: flow)
        let last = try applied(.escalationFailed(error: "boom", data: .object([]), retryAt: nil), first.request, flow: flow)
        XCTAssertEqual(last.events.first?.data["attempt"], .int(2))
    }

    func testAFailedEscalationOfARevokedRequestStopsRetryingAndEndsRevoked() throws {
        let flow = LF.accessFlow()
        let revoked = try applied(.revoke(reason: nil), LF.request(flow, state: .escalating), flow: flow, by: LF.alice)
        let failed = try applied(.escalationFailed(error: "boom", data: .object([]), retryAt: LF.t0.addingTimeInterval(70)),
                                 revoked.request, flow: flow)
        XCTAssertEqual(failed.request.state, .deescalating)
        let ended = try applied(.deescalated(data: .object([])), failed.request, flow: flow)
        XCTAssertEqual(ended.request.state, .ended)
        XCTAssertEqual(ended.request.endReason, .revoked)
    }

    func testEscalationOutcomesNeedAnEscalatingRequest() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.escalated(output: nil, data: .object([])), LF.request(flow, state: .approved), flow: flow)?.kind, .wrongState)
        XCTAssertEqual(refused(.escalationFailed(error: "x", data: .object([]), retryAt: nil), LF.request(flow, state: .active),
                               flow: flow)?.kind, .wrongState)
    }
}

// MARK: - expiry and deescalation

final class LifecycleDeescalationTests: XCTestCase {
    func testAGrantExpiresOnlyOnceItsTimeRunsOut() throws {
        let flow = LF.accessFlow()
        let active = LF.request(flow, state: .active)
        XCTAssertEqual(refused(.expireGrant, active, flow: flow, at: LF.t0.addingTimeInterval(3599))?.kind, .wrongState)
        let t = try applied(.expireGrant, active, flow: flow, at: LF.t0.addingTimeInterval(3600))
        XCTAssertEqual(t.request.state, .deescalating)
        XCTAssertEqual(t.request.endReason, .expired)
    }

    func testDeescalatedEndsTheGrant() throws {
        let flow = LF.accessFlow()
        let expiring = try applied(.expireGrant, LF.request(flow, state: .active), flow: flow, at: LF.t0.addingTimeInterval(4000))
        let t = try applied(.deescalated(data: .object([])), expiring.request, flow: flow, at: LF.t0.addingTimeInterval(4001))
        XCTAssertEqual(t.request.state, .ended)
        XCTAssertEqual(t.request.endReason, .expired)
        XCTAssertEqual(t.request.endedAt, LF.t0.addingTimeInterval(4001))
        XCTAssertEqual(t.events.map(\.type), [.deescalate])
        XCTAssertEqual(t.events.first?.data["end_reason"], .string("expired"))
    }

    func testAFailingDeescalationIsFlaggedStuckAfterStuckAfterTriesAndKeepsRetrying() throws {
        let flow = LF.accessFlow()
        var r = try applied(.expireGrant, LF.request(flow, state: .active), flow: flow, at: LF.t0.addingTimeInterval(3600)).request
        for attempt in 1...(Lifecycle.stuckAfter + 2) {
            let retryAt = LF.t0.addingTimeInterval(3600 + Double(attempt) * 10)
            let t = try applied(.deescalationFailed(error: "down", data: .object([]), retryAt: retryAt), r, flow: flow)
            r = t.request
            XCTAssertEqual(r.state, .deescalating)
            XCTAssertEqual(r.attempts, attempt)
            XCTAssertEqual(r.nextAttemptAt, retryAt)
            XCTAssertEqual(r.stuck, attempt >= Lifecycle.stuckAfter, "attempt \(attempt)")
            XCTAssertEqual(t.events.map(\.type), [.deescalateFailed])
            XCTAssertEqual(t.events.first?.data["stuck"], .bool(r.stuck))
        }
        let ended = try applied(.deescalated(data: .object([])), r, flow: flow)
        XCTAssertEqual(ended.request.state, .ended)
        XCTAssertFalse(ended.request.stuck)
        XCTAssertNil(ended.request.error)
    }

    func testStuckAfterIsThree() {
        XCTAssertEqual(Lifecycle.stuckAfter, 3)
    }

    func testDeescalationOutcomesNeedADeescalatingRequest() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.deescalated(data: .object([])), LF.request(flow, state: .active), flow: flow)?.kind, .wrongState)
        XCTAssertEqual(refused(.deescalationFailed(error: "x", data: .object([]), retryAt: LF.t0), LF.request(flow, state: .ended),
                               flow: flow)?.kind, .wrongState)
    }
}

// MARK: - extension

final class LifecycleExtensionTests: XCTestCase {
    func testAnExtensionMovesTheGrantsExpiry() throws {
        let flow = LF.accessFlow()
        let active = LF.request(flow, state: .active)
        let newExpiry = LF.t0.addingTimeInterval(5400)
        let t = try applied(.extendGrant(byRequest: 9, newExpiry: newExpiry, approvers: ["alice"]), active, flow: flow, by: LF.alice)
        XCTAssertEqual(t.request.state, .active)
        XCTAssertEqual(t.request.accessExpiresAt, newExpiry)
        XCTAssertEqual(t.request.durationSeconds, 5400)
        XCTAssertEqual(t.events.map(\.type), [.extend])
        XCTAssertEqual(t.events.first?.data["extension_request"], .int(9))
        XCTAssertEqual(t.events.first?.data["previous_expires_at"], .string(Timestamp.format(LF.t0.addingTimeInterval(3600))))
    }

    func testAnExtensionMustMoveTheExpiryLater() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.extendGrant(byRequest: 9, newExpiry: LF.t0.addingTimeInterval(3600), approvers: []),
                               LF.request(flow, state: .active), flow: flow)?.kind, .invalid)
    }

    func testAnExtensionApprovedAfterItsGrantEndedLapsesWithAnExtendEvent() throws {
        let flow = LF.accessFlow()
        let ext = LF.request(flow, state: .approved, extends: 3)
        let t = try applied(.extensionLapsed(grantState: .ended), ext, flow: flow, by: .system)
        XCTAssertEqual(t.request.state, .approved, "a lapsed extension is not revived or escalated")
        XCTAssertEqual(t.request.error, "the grant ended before this extension was approved")
        XCTAssertEqual(t.events.map(\.type), [.extend])
        XCTAssertEqual(t.events.first?.data["applied"], .bool(false))
        XCTAssertEqual(t.events.first?.data["extends"], .int(3))
        XCTAssertEqual(t.events.first?.data["grant_state"], .string("ended"))
        XCTAssertEqual(t.events.first?.actor, "system")
    }

    func testOnlyAnApprovedExtensionOfAGrantThatIsNoLongerActiveLapses() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.extensionLapsed(grantState: .active), LF.request(flow, state: .approved, extends: 3), flow: flow)?.kind,
                       .wrongState, "the grant is still active: the extension applies")
        XCTAssertEqual(refused(.extensionLapsed(grantState: .ended), LF.request(flow, state: .pending, extends: 3), flow: flow)?.kind,
                       .wrongState, "not approved yet")
        XCTAssertEqual(refused(.extensionLapsed(grantState: .ended), LF.request(flow, state: .approved), flow: flow)?.kind,
                       .wrongState, "not an extension")
    }

    func testOnlyAnActiveGrantCanBeExtended() {
        let flow = LF.accessFlow()
        XCTAssertEqual(refused(.extendGrant(byRequest: 9, newExpiry: LF.t0.addingTimeInterval(9000), approvers: []),
                               LF.request(flow, state: .deescalating), flow: flow)?.kind, .wrongState)
    }
}

// MARK: - events

final class LifecycleEventTests: XCTestCase {
    func testEventTypesAreTheSpecNames() {
        XCTAssertEqual(EventType.allCases.map(\.rawValue),
                       ["request", "approve", "deny", "cancel", "request_expire", "escalate", "escalate_failed", "deescalate",
                        "deescalate_failed", "revoke", "release", "extend", "handler", "notify", "request_forward"])
    }

    func testEveryEventCarriesTheRequesterTheTargetAndTheActor() throws {
        let flow = LF.accessFlow(required: 2)
        var events: [(EventDraft, Actor)] = []
        func step(_ c: LifecycleAction, _ r: AccessRequest, _ actor: Actor = .system, at s: Double = 60) throws -> AccessRequest {
            let t = try applied(c, r, flow: flow, by: actor, at: LF.t0.addingTimeInterval(s))
            events += t.events.map { ($0, actor) }
            return t.request
        }
        var r = try step(.approve(reason: nil), LF.request(flow), LF.alice)
        r = try step(.approve(reason: "fine"), r, LF.carol)
        r = try step(.beginEscalation, r)
        r = try step(.escalationFailed(error: "e", data: .object([]), retryAt: LF.t0.addingTimeInterval(90)), r)
        r = try step(.escalated(output: nil, data: .object([])), r, at: 100)
        r = try step(.extendGrant(byRequest: 8, newExpiry: LF.t0.addingTimeInterval(9000), approvers: ["bob"]), r, LF.bob)
        r = try step(.revoke(reason: "done"), r, LF.bob)
        r = try step(.deescalationFailed(error: "e", data: .object([]), retryAt: LF.t0.addingTimeInterval(200)), r)
        r = try step(.deescalated(data: .object([])), r)
        _ = try step(.deny(reason: "no"), LF.request(flow, id: 8), LF.bob)
        _ = try step(.cancel, LF.request(flow, id: 9), LF.rita)
        _ = try step(.expirePending, LF.request(flow, id: 10), at: 4000)
        _ = try step(.release, LF.request(flow, state: .active, id: 11), LF.rita)

        XCTAssertEqual(Set(events.map(\.0.type)), [.approve, .escalateFailed, .escalate, .extend, .revoke, .deescalateFailed,
                                                   .deescalate, .deny, .cancel, .requestExpire, .release])
        for (e, actor) in events {
            XCTAssertEqual(e.requester, LF.requester, "\(e.type)")
            XCTAssertEqual(e.target, "prod-ssh", "\(e.type)")
            XCTAssertEqual(e.flow, "prod", "\(e.type)")
            XCTAssertNotNil(e.requestId, "\(e.type)")
            XCTAssertEqual(e.actor, actor.name, "\(e.type)")
        }
    }
}
