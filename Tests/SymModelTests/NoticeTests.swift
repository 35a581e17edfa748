import Foundation
import XCTest
@testable import SymModel

/// Who hears what: each kind follows from a real lifecycle transition.
final class NoticeTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let access = Flow(name: "prod", strategy: "groups", approvers: Approvers(users: ["carol", "dave"]))
    let selfFlow = Flow(name: "bg", approvers: Approvers(users: ["carol", "dave"]), allowSelfApproval: true)

    func pending(_ flow: Flow, requester: String = "alice", reason: String = "deploy") -> AccessRequest {
        var r = AccessRequest(id: 42, flow: flow.name, target: flow.isApprovalOnly ? nil : "prod-ssh",
                              targetLabel: flow.isApprovalOnly ? nil : "Production SSH", requester: requester,
                              fields: ["reason": .string(reason)], durationSeconds: flow.isApprovalOnly ? nil : 3600,
                              createdAt: t0, requestExpiresAt: t0.addingTimeInterval(3600))
        r.routing = flow.routing
        return r
    }

    func step(_ c: LifecycleAction, _ r: AccessRequest, _ flow: Flow, actor: Actor) -> (AccessRequest, [NoticeDraft]) {
        let tr = try! Lifecycle.apply(c, to: r, flow: flow, routing: flow.routing, actor: actor, now: t0.addingTimeInterval(60)).get()
        return (tr.request, Notices.caused(before: r, after: tr.request, events: tr.events))
    }

    func testANewRequestGoesToTheApproversWithTheCommandToApprove() {
        let n = Notices.caused(before: nil, after: pending(access), events: [])
        XCTAssertEqual(n.map(\.kind), [.request])
        XCTAssertEqual(n[0].audience, .approvers(excluding: []))
        XCTAssertEqual(n[0].action, "symtui approve 42")
        XCTAssertTrue(n[0].text.contains("alice asks for prod/Production SSH"))
        XCTAssertTrue(n[0].text.contains("deploy"))
    }

    func testAnApprovalTellsTheRequesterTheDecision() {
        let (_, n) = step(.approve(reason: nil), pending(access), access, actor: .user("carol"))
        XCTAssertEqual(n.map(\.kind), [.decision])
        XCTAssertEqual(n[0].audience, .requester)
        XCTAssertEqual(n[0].outcome, "approved")
        XCTAssertEqual(n[0].action, "symtui wait 42")
        XCTAssertTrue(n[0].text.contains("by carol"))
    }

    func testADenialCarriesItsReason() {
        let (_, n) = step(.deny(reason: "not now"), pending(access), access, actor: .user("dave"))
        XCTAssertEqual(n.map(\.kind), [.decision])
        XCTAssertEqual(n[0].outcome, "denied")
        XCTAssertTrue(n[0].text.hasSuffix(": not now"))
    }

    func testAnExpiredRequestTellsTheRequester() {
        let (_, n) = step(.expirePending, pending(access), access, actor: .system)
        XCTAssertEqual(n.map(\.kind), [.decision])
        XCTAssertEqual(n[0].outcome, "expired")
    }

    func testARequesterCancellingHearsNothing() {
        let (_, n) = step(.cancel, pending(access), access, actor: .user("alice"))
        XCTAssertEqual(n, [])
    }

    func testASelfApprovalIsBreakGlassToTheOtherApprovers() {
        let r = pending(selfFlow, requester: "carol")
        let (_, n) = step(.approve(reason: "prod down"), r, selfFlow, actor: .user("carol"))
        let bg = n.first { $0.kind == .breakGlass }
        XCTAssertEqual(bg?.audience, .approvers(excluding: ["carol"]))
        XCTAssertTrue(bg?.text.contains("prod down") ?? false)
    }

    func testActiveTellsHowToUseAUnixGroup() {
        let (approved, _) = step(.approve(reason: nil), pending(access), access, actor: .user("carol"))
        let (escalating, _) = step(.beginEscalation, approved, access, actor: .system)
        let tr = try! Lifecycle.apply(.escalated(output: nil, data: .object([])), to: escalating, flow: access, routing: access.routing,
                                      actor: .system, now: t0.addingTimeInterval(70)).get()
        let usage = Notices.usage(type: .unixGroup, settings: ["group": .string("prod-ssh")])
        let n = Notices.caused(before: escalating, after: tr.request, events: tr.events, usage: usage)
        XCTAssertEqual(n.map(\.kind), [.active])
        XCTAssertEqual(n[0].audience, .requester)
        XCTAssertTrue(n[0].text.contains("sg prod-ssh"), n[0].text)
        XCTAssertTrue(n[0].text.contains("until "))
    }

    func testAnEndedGrantTellsTheRequesterUnlessTheyReleasedIt() {
        let (approved, _) = step(.approve(reason: nil), pending(access), access, actor: .user("carol"))
        let (escalating, _) = step(.beginEscalation, approved, access, actor: .system)
        let (active, _) = step(.escalated(output: nil, data: .object([])), escalating, access, actor: .system)
        let (revoking, _) = step(.revoke(reason: "done"), active, access, actor: .user("dave"))
        let (ended, n) = step(.deescalated(data: .object([])), revoking, access, actor: .system)
        XCTAssertEqual(ended.state, .ended)
        XCTAssertEqual(n.map(\.kind), [.ended])
        XCTAssertTrue(n[0].text.contains("revoked"))
        let (releasing, _) = step(.release, active, access, actor: .user("alice"))
        let (_, quiet) = step(.deescalated(data: .object([])), releasing, access, actor: .system)
        XCTAssertEqual(quiet.map(\.kind), [.ended], "the grant ends by the system's hand after a release: the requester is told")
    }

    func testAFailedEscalationTellsTheApprovers() {
        let (approved, _) = step(.approve(reason: nil), pending(access), access, actor: .user("carol"))
        let (escalating, _) = step(.beginEscalation, approved, access, actor: .system)
        // The last failed try first cleans up (deescalating), then the request is failed.
        let (cleanup, first) = step(.escalationFailed(error: "boom", data: .object([]), retryAt: nil), escalating, access, actor: .system)
        let (failed, second) = cleanup.state == .failed ? (cleanup, []) : step(.deescalated(data: .object([])), cleanup, access, actor: .system)
        XCTAssertEqual(failed.state, .failed)
        let n = first + second
        XCTAssertEqual(n.map(\.kind), [.failed])
        XCTAssertEqual(n.first?.audience, .approvers(excluding: []))
    }

    func testRemindersAreNumberedByPeriodWhileTheRequestIsPending() {
        var flow = access
        flow.reminder = TimeSpan(seconds: 600)
        let r = pending(flow)
        XCTAssertTrue(Notices.due(r, flow: flow, now: t0.addingTimeInterval(599)).isEmpty)
        let first = Notices.due(r, flow: flow, now: t0.addingTimeInterval(600))
        XCTAssertEqual(first.map(\.0.kind), [.reminder])
        XCTAssertEqual(first.map(\.dedup), ["1"])
        XCTAssertEqual(first.first?.0.audience, .approvers(excluding: []))
        XCTAssertEqual(Notices.due(r, flow: flow, now: t0.addingTimeInterval(1250)).map(\.dedup), ["2"])
        XCTAssertTrue(Notices.due(r, flow: flow, now: t0.addingTimeInterval(3600)).isEmpty, "not once it has expired")
        XCTAssertTrue(Notices.due(r, flow: access, now: t0.addingTimeInterval(1200)).isEmpty, "no reminder key, no reminders")
    }

    func testTheEndingWarningComesOnceBeforeEachExpiry() throws {
        var r = pending(access)
        r.state = .active
        r.accessStartsAt = t0
        r.accessExpiresAt = t0.addingTimeInterval(3600)
        XCTAssertTrue(Notices.due(r, flow: access, now: t0.addingTimeInterval(3299)).isEmpty)
        let warn = Notices.due(r, flow: access, now: t0.addingTimeInterval(3300))
        XCTAssertEqual(warn.map(\.0.kind), [.ending])
        XCTAssertEqual(warn.first?.0.audience, .requester)
        XCTAssertEqual(warn.first?.0.action, "symtui extend 42 --duration 30m")
        XCTAssertTrue(warn.first?.0.text.contains("ends in 5m") ?? false, warn.first?.0.text ?? "")
        r.accessExpiresAt = t0.addingTimeInterval(7200)
        let later = Notices.due(r, flow: access, now: t0.addingTimeInterval(6900))
        XCTAssertNotEqual(later.first?.dedup, warn.first?.dedup, "an extension moves the expiry: a new warning")
    }

    func testAGrantShorterThanTheWarningGetsNoEndingWarning() {
        var r = pending(access)
        r.state = .active
        r.accessStartsAt = t0
        r.accessExpiresAt = t0.addingTimeInterval(120)
        XCTAssertTrue(Notices.due(r, flow: access, now: t0.addingTimeInterval(60)).isEmpty)
    }

    func testTiersComeDueByWaitingTimeAndOnlyOnce() {
        var flow = access
        flow.escalation = [EscalationTier(after: TimeSpan(seconds: 900), approvers: Approvers(groups: ["sre"])),
                           EscalationTier(after: TimeSpan(seconds: 1800), approvers: Approvers(users: ["boss"]))]
        let r = pending(flow)
        XCTAssertTrue(Notices.tiersDue(r, flow: flow, forwarded: 0, now: t0.addingTimeInterval(899)).isEmpty)
        XCTAssertEqual(Notices.tiersDue(r, flow: flow, forwarded: 0, now: t0.addingTimeInterval(900)).map(\.index), [0])
        XCTAssertTrue(Notices.tiersDue(r, flow: flow, forwarded: 1, now: t0.addingTimeInterval(1000)).isEmpty)
        XCTAssertEqual(Notices.tiersDue(r, flow: flow, forwarded: 0, now: t0.addingTimeInterval(1900)).map(\.index), [0, 1])
        XCTAssertTrue(Notices.tiersDue(r, flow: flow, forwarded: 0, now: t0.addingTimeInterval(3600)).isEmpty, "expired: never")
    }

    func testForwardingAddsTheTiersApproversToTheRouting() {
        let tier = EscalationTier(after: TimeSpan(seconds: 900), approvers: Approvers(users: ["boss", "carol"], groups: ["sre"]))
        let routing = Notices.forwarded(access.routing, to: tier)
        XCTAssertEqual(routing.approvers.users, ["carol", "dave", "boss"])
        XCTAssertEqual(routing.approvers.groups, ["sre"])
        XCTAssertTrue(Policy.isEligible(.user("eve", groups: ["sre"]), routing: routing))
        XCTAssertFalse(Policy.isEligible(.user("eve", groups: ["sre"]), routing: access.routing))
        let n = Notices.forward(pending(access), tier: tier, index: 0)
        XCTAssertEqual(n.kind, .forward)
        XCTAssertEqual(n.audience, .people(tier.approvers))
    }

    func testAStuckDeescalationTellsTheApproversOnce() {
        let (approved, _) = step(.approve(reason: nil), pending(access), access, actor: .user("carol"))
        let (escalating, _) = step(.beginEscalation, approved, access, actor: .system)
        let (active, _) = step(.escalated(output: nil, data: .object([])), escalating, access, actor: .system)
        var r = step(.revoke(reason: nil), active, access, actor: .user("dave")).0
        var kinds: [NoticeKind] = []
        for _ in 0..<(Lifecycle.stuckAfter + 2) {
            let (next, n) = step(.deescalationFailed(error: "nope", data: .object([]), retryAt: t0.addingTimeInterval(600)), r, access, actor: .system)
            kinds += n.map(\.kind)
            r = next
        }
        XCTAssertTrue(r.stuck)
        XCTAssertEqual(kinds, [.stuck])
    }
}
