import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

// MARK: - the whole lifecycle

final class EngineLifecycleTests: XCTestCase {
    func testAnApprovedRequestIsEscalatedAndThenExpires() throws {
        let h = try EngineHarness(self)
        let r = try h.request()
        XCTAssertEqual(r.state, .pending)
        XCTAssertEqual(try h.execute(.approve(id: r.id, reason: "ok"), by: h.alice).state, .approved)
        try h.run()
        let active = try h.current(r)
        XCTAssertEqual(active.state, .active)
        XCTAssertEqual(active.accessStartsAt, EngineHarness.t0)
        XCTAssertEqual(active.accessExpiresAt, EngineHarness.t0.addingTimeInterval(3600))
        XCTAssertEqual(h.runs("escalate"), ["escalate rita db \(r.id)"])
        XCTAssertTrue(h.runs("deescalate").isEmpty)

        try h.run(after: 3599)
        XCTAssertEqual(try h.current(r).state, .active)
        try h.run(after: 1)
        let ended = try h.current(r)
        XCTAssertEqual(ended.state, .ended)
        XCTAssertEqual(ended.endReason, .expired)
        XCTAssertEqual(h.runs("escalate").count, 1)
        XCTAssertEqual(h.runs("deescalate"), ["deescalate rita db \(r.id)"])
        XCTAssertEqual(try h.events(r), [.request, .approve, .escalate, .deescalate])
    }

    func testTheEscalateProgramGetsTheGrantsEnvironment() throws {
        let h = try EngineHarness(self)
        let r = try h.activeGrant()
        let env = h.environment("escalate", r.id)
        XCTAssertEqual(env["SYMTUI_USER"], "rita")
        XCTAssertEqual(env["SYMTUI_TARGET"], "db")
        XCTAssertEqual(env["SYMTUI_REQUEST_ID"], String(r.id))
        XCTAssertEqual(env["SYMTUI_TARGET_ROLE"], "orders_rw")
        XCTAssertEqual(env["SYMTUI_FIELD_DURATION"], "1h")
    }

    /// contract §9 lists SYMTUI_EXPIRES_AT for `command` programs; the escalation is where a target system needs it
    /// (e.g. a database role's VALID UNTIL).
    func testTheEscalateProgramIsToldWhenAccessExpires() throws {
        let h = try EngineHarness(self)
        let r = try h.activeGrant()
        XCTAssertEqual(h.environment("escalate", r.id)["SYMTUI_EXPIRES_AT"], Timestamp.format(EngineHarness.t0.addingTimeInterval(3600)))
    }

    func testEveryEventOfARequestCarriesItsRequesterTargetAndActor() throws {
        let h = try EngineHarness(self)
        let r = try h.activeGrant()
        try h.execute(.revoke(id: r.id, reason: "done"), by: h.bob)
        try h.run()
        let events = try h.store.events(requestId: r.id)
        XCTAssertEqual(events.map(\.type), [.request, .approve, .escalate, .revoke, .deescalate])
        XCTAssertEqual(events.map(\.actor), ["rita", "alice", "system", "bob", "system"])
        for e in events {
            XCTAssertEqual(e.requester, "rita", "\(e.type)")
            XCTAssertEqual(e.target, "db", "\(e.type)")
            XCTAssertEqual(e.flow, "access", "\(e.type)")
        }
    }

    func testAPendingRequestExpiresAfterItsTTL() throws {
        let h = try EngineHarness(self)
        let r = try h.request()
        try h.run(after: 3599)
        XCTAssertEqual(try h.current(r).state, .pending)
        try h.run(after: 1)
        XCTAssertEqual(try h.current(r).state, .expired)
        XCTAssertEqual(try h.events(r), [.request, .requestExpire])
        XCTAssertTrue(h.runs("escalate").isEmpty)
    }

    func testARevokedGrantIsTakenAway() throws {
        let h = try EngineHarness(self)
        let r = try h.activeGrant()
        XCTAssertEqual(try h.execute(.revoke(id: r.id, reason: "incident over"), by: h.bob).state, .deescalating)
        try h.run()
        let ended = try h.current(r)
        XCTAssertEqual(ended.state, .ended)
        XCTAssertEqual(ended.endReason, .revoked)
        XCTAssertEqual(h.runs("deescalate").count, 1)
    }

    func testAReleasedGrantIsTakenAway() throws {
        let h = try EngineHarness(self)
        let r = try h.activeGrant()
        try h.execute(.release(id: r.id), by: h.rita)
        try h.run()
        XCTAssertEqual(try h.current(r).endReason, .released)
        XCTAssertEqual(try h.current(r).state, .ended)
        XCTAssertEqual(h.runs("deescalate").count, 1)
    }

    func testAnApprovalOnlyRequestStopsAtApproved() throws {
        let h = try EngineHarness(self)
        let r = try h.request("job")
        XCTAssertEqual(try h.execute(.approve(id: r.id, reason: nil), by: h.bob).state, .approved)
        try h.run(after: 7200)
        XCTAssertEqual(try h.current(r).state, .approved)
        XCTAssertTrue(h.runs("escalate").isEmpty)
        XCTAssertTrue(h.runs("deescalate").isEmpty)
    }

    /// contract §4: approval-only `approved` is final. Revoking it must be refused, not sent to a deescalation that cannot run.
    func testAnApprovedApprovalOnlyRequestCannotBeRevoked() throws {
        let h = try EngineHarness(self)
        let r = try h.request("job")
        try h.execute(.approve(id: r.id, reason: nil), by: h.bob)
        XCTAssertEqual(h.refusal(.revoke(id: r.id, reason: nil), by: h.alice)?.code, ExitCode.dataErr)
        try h.run(after: 60)
        let after = try h.current(r)
        XCTAssertEqual(after.state, .approved)
        XCTAssertFalse(after.stuck)
    }

    func testTwoApprovalsAreNeededWhenTheFlowSaysSo() throws {
        let h = try EngineHarness(self)
        let r = try h.request("two")
        XCTAssertEqual(try h.execute(.approve(id: r.id, reason: nil), by: h.alice).state, .pending)
        try h.run()
        XCTAssertTrue(h.runs("escalate").isEmpty)
        XCTAssertEqual(try h.execute(.approve(id: r.id, reason: nil), by: h.bob).state, .approved)
        try h.run()
        XCTAssertEqual(try h.current(r).state, .active)
        XCTAssertEqual(try h.current(r).approvals.map(\.user).sorted(), ["alice", "bob"])
    }

    func testEveryApprovalStepMustBeMet() throws {
        let h = try EngineHarness(self)
        let r = try h.request("steps")
        XCTAssertEqual(try h.execute(.approve(id: r.id, reason: nil), by: h.sam).state, .pending)
        XCTAssertEqual(h.refusal(.approve(id: r.id, reason: nil), by: h.alice)?.code, ExitCode.noPerm)
        XCTAssertEqual(try h.execute(.approve(id: r.id, reason: nil), by: h.olga).state, .approved)
        XCTAssertEqual(try h.current(r).approvals.map { $0.step ?? "-" }.sorted(), ["owners", "security"])
    }

    func testARequesterCannotApproveTheirOwnRequest() throws {
        let h = try EngineHarness(self)
        let r = try h.request(by: h.alice)
        XCTAssertEqual(h.refusal(.approve(id: r.id, reason: "me"), by: h.alice)?.code, ExitCode.noPerm)
        XCTAssertEqual(try h.current(r).state, .pending)
    }

    func testSomeoneWhoIsNotAnApproverCannotApprove() throws {
        let h = try EngineHarness(self)
        let r = try h.request()
        XCTAssertEqual(h.refusal(.approve(id: r.id, reason: nil), by: h.mallory)?.code, ExitCode.noPerm)
    }

    func testOnlyTheRequesterCanCancel() throws {
        let h = try EngineHarness(self)
        let r = try h.request()
        XCTAssertEqual(h.refusal(.cancel(id: r.id), by: h.alice)?.code, ExitCode.noPerm)
        XCTAssertEqual(try h.execute(.cancel(id: r.id), by: h.rita).state, .cancelled)
    }

    func testADenialNeedsAReason() throws {
        let h = try EngineHarness(self)
        let r = try h.request()
        XCTAssertEqual(h.refusal(.deny(id: r.id, reason: nil), by: h.alice)?.code, ExitCode.dataErr)
        XCTAssertEqual(try h.execute(.deny(id: r.id, reason: "no"), by: h.alice).state, .denied)
    }

    func testAnUnknownRequestIsAnError() throws {
        let h = try EngineHarness(self)
        XCTAssertEqual(h.refusal(.approve(id: 4242, reason: nil), by: h.alice)?.code, ExitCode.dataErr)
    }

    /// Revoking a grant that already ended used to crash the daemon (exclusivity violation in Lifecycle), so this runs in a child.
    func testRevokingAnEndedGrantIsRefused() throws {
        guard runsIsolated() else { return }
        let h = try EngineHarness(self)
        let r = try h.activeGrant()
        try h.execute(.release(id: r.id), by: h.rita)
        try h.run()
        XCTAssertEqual(h.refusal(.revoke(id: r.id, reason: nil), by: h.alice)?.code, ExitCode.dataErr)
        XCTAssertEqual(h.refusal(.release(id: r.id), by: h.rita)?.code, ExitCode.dataErr)
    }
}

// MARK: - failures

final class EngineFailureTests: XCTestCase {
    func testAFailingEscalationIsRetriedThenCleanedUpAndFailed() throws {
        let h = try EngineHarness(self)
        h.breakScript("escalate")
        let r = try h.request()
        try h.execute(.approve(id: r.id, reason: nil), by: h.alice)
        try h.run()
        let retrying = try h.current(r)
        XCTAssertEqual(retrying.state, .escalating)
        XCTAssertEqual(retrying.attempts, 1)
        XCTAssertNotNil(retrying.error)
        XCTAssertEqual(h.runs("escalate").count, 1)
        try h.run(after: 1)
        let failed = try h.current(r)
        XCTAssertEqual(failed.state, .failed)
        XCTAssertNil(failed.endReason)
        XCTAssertTrue(failed.error?.contains("escalate") ?? false, failed.error ?? "no error")
        XCTAssertEqual(h.runs("escalate").count, 2, "the retry budget is 2")
        XCTAssertEqual(h.runs("deescalate").count, 1, "a failed escalation is cleaned up once")
        XCTAssertEqual(try h.events(r), [.request, .approve, .escalateFailed, .escalateFailed, .deescalate])
        XCTAssertTrue(failed.error?.hasPrefix("escalation failed after 2 tries: ") ?? false, failed.error ?? "no error")
    }

    func testAFailedRequestKeepsItsEscalationErrorThroughAFailingCleanup() throws {
        let h = try EngineHarness(self)
        let r = try h.request()
        try h.execute(.approve(id: r.id, reason: nil), by: h.alice)
        h.breakScript("escalate")
        h.breakScript("deescalate")
        try h.run()
        try h.run(after: 1)
        try h.run(after: 1)
        let cleaning = try h.current(r)
        XCTAssertEqual(cleaning.state, .deescalating)
        let error = try XCTUnwrap(cleaning.error)
        XCTAssertTrue(error.hasPrefix("escalation failed after 2 tries: "), error)
        XCTAssertTrue(error.contains("; cleanup failed: "), error)
        try h.run(after: 1)
        XCTAssertEqual(try h.current(r).error?.components(separatedBy: "; cleanup failed: ").count, 2, "one cleanup error, the latest")
        h.fixScript("deescalate")
        try h.run(after: 10)
        let failed = try h.current(r)
        XCTAssertEqual(failed.state, .failed)
        XCTAssertEqual(failed.error, String(error.prefix { $0 != ";" }), "the cleanup's error goes once it succeeded")
    }

    func testAFailingDeescalationIsFlaggedStuckKeepsBeingRetriedAndEndsOnceFixed() throws {
        let h = try EngineHarness(self)
        let r = try h.activeGrant()
        h.breakScript("deescalate")
        try h.run(after: 3600)
        for attempt in 1...5 {
            let now = try h.current(r)
            XCTAssertEqual(now.state, .deescalating, "attempt \(attempt)")
            XCTAssertEqual(now.attempts, attempt)
            XCTAssertEqual(now.stuck, attempt >= Lifecycle.stuckAfter, "attempt \(attempt)")
            XCTAssertEqual(h.runs("deescalate").count, attempt)
            try h.run(after: 10)
        }
        h.fixScript("deescalate")
        try h.run(after: 10)
        let ended = try h.current(r)
        XCTAssertEqual(ended.state, .ended)
        XCTAssertEqual(ended.endReason, .expired)
        XCTAssertFalse(ended.stuck)
        XCTAssertEqual(h.runs("deescalate").count, 7)
        XCTAssertEqual(try h.events(r).filter { $0 == .deescalateFailed }.count, 6)
    }
}

// MARK: - overlapping grants and extensions

final class EngineGrantTests: XCTestCase {
    func testTheFirstOfTwoOverlappingGrantsIsCoveredByTheSecond() throws {
        let h = try EngineHarness(self)
        let short = try h.activeGrant(duration: "15m")
        let long = try h.activeGrant(duration: "1h")
        var expiring = try h.current(short)
        expiring.state = .deescalating
        let job = try XCTUnwrap(h.loop.makeJob(expiring))
        XCTAssertEqual(job.key, try XCTUnwrap(h.loop.makeJob(try h.current(long))).key, "both grants touch the same access")
        XCTAssertTrue(try h.store.holdsOtherGrant(requester: "rita", flows: ["access", "two", "steps"], target: "db", excluding: long.id))
    }

    /// contract §4: "Deescalating a grant never removes access that another active grant of the same user to the same
    /// target still covers." With the `command` strategy the deescalate program must not run while rita's second grant is active.
    func testDeescalatingAGrantKeepsAccessThatAnotherActiveGrantOfTheSameUserCovers() throws {
        let h = try EngineHarness(self)
        let short = try h.activeGrant(duration: "15m")
        let long = try h.activeGrant(duration: "1h")
        try h.run(after: 15 * 60)
        XCTAssertEqual(try h.current(short).state, .ended)
        XCTAssertEqual(try h.current(long).state, .active)
        XCTAssertEqual(h.runs("deescalate"), [], "rita's access was removed while her other grant \(long.id) is still active")
        try h.run(after: 3600)
        XCTAssertEqual(try h.current(long).state, .ended)
        XCTAssertEqual(h.runs("deescalate").last, "deescalate rita db \(long.id)")
    }

    func testAnApprovedExtensionMovesTheGrantsExpiryWithoutAGap() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        let oldExpiry = try XCTUnwrap(grant.accessExpiresAt)
        try h.run(after: 1800)
        let ext = try h.execute(.extend(id: grant.id, duration: "30m", reason: "need more"), by: h.rita)
        XCTAssertEqual(ext.extends, grant.id)
        XCTAssertEqual(ext.state, .pending)
        XCTAssertEqual(try h.execute(.approve(id: ext.id, reason: nil), by: h.alice).state, .approved)
        let extended = try h.current(grant)
        XCTAssertEqual(extended.state, .active)
        XCTAssertEqual(extended.accessExpiresAt, oldExpiry.addingTimeInterval(1800))
        XCTAssertEqual(try h.events(grant).last, .extend)
        try h.run(after: 1800)                       // past the old expiry
        XCTAssertEqual(try h.current(grant).state, .active)
        XCTAssertTrue(h.runs("deescalate").isEmpty)
        XCTAssertEqual(h.runs("escalate").count, 1, "an extension is not escalated again")
        try h.run(after: 1800)                       // past the new expiry
        XCTAssertEqual(try h.current(grant).state, .ended)
        XCTAssertEqual(h.runs("deescalate").count, 1)
    }

    /// The approval path of an extension, with the extension request written directly (see the test above for `extend`).
    func testApprovingAnExtensionMovesTheGrantsExpiryWithoutADeescalation() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        let oldExpiry = try XCTUnwrap(grant.accessExpiresAt)
        h.clock.advance(1800)
        var ext = AccessRequest(flow: "access", target: "db", targetLabel: "Orders DB", requester: "rita",
                                fields: ["duration": .duration(TimeSpan(seconds: 1800))], durationSeconds: 1800, createdAt: h.clock.now,
                                requestExpiresAt: h.clock.now.addingTimeInterval(3600), extends: grant.id)
        ext = try h.store.write { try $0.insert(ext) }
        XCTAssertEqual(try h.execute(.approve(id: ext.id, reason: nil), by: h.alice).state, .approved)
        let extended = try h.current(grant)
        XCTAssertEqual(extended.state, .active)
        XCTAssertEqual(extended.accessExpiresAt, oldExpiry.addingTimeInterval(1800))
        let extendEvent = try XCTUnwrap(try h.store.events(requestId: grant.id).last)
        XCTAssertEqual(extendEvent.type, .extend)
        XCTAssertEqual(extendEvent.data["extension_request"], .int(ext.id))
        try h.run(after: 1800)                       // past the old expiry
        XCTAssertEqual(try h.current(grant).state, .active)
        XCTAssertEqual(try h.current(ext).state, .approved, "an extension is never escalated on its own")
        XCTAssertTrue(h.runs("deescalate").isEmpty)
        XCTAssertEqual(h.runs("escalate").count, 1)
        try h.run(after: 1800)                       // past the new expiry
        XCTAssertEqual(try h.current(grant).state, .ended)
        XCTAssertEqual(h.runs("deescalate").count, 1)
    }

    func testAnExtensionApprovedAfterItsGrantEndedDoesNotReviveIt() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        var ext = AccessRequest(flow: "access", target: "db", targetLabel: "Orders DB", requester: "rita",
                                fields: ["duration": .duration(TimeSpan(seconds: 1800))], durationSeconds: 1800, createdAt: h.clock.now,
                                requestExpiresAt: h.clock.now.addingTimeInterval(7200), extends: grant.id)
        ext = try h.store.write { try $0.insert(ext) }
        try h.execute(.release(id: grant.id), by: h.rita)
        try h.run()
        XCTAssertEqual(try h.execute(.approve(id: ext.id, reason: nil), by: h.alice).state, .approved)
        XCTAssertEqual(try h.current(grant).state, .ended)
        XCTAssertNotNil(try h.current(ext).error)
        try h.run(after: 60)
        XCTAssertEqual(h.runs("escalate").count, 1)
    }

    func testALapsedExtensionIsALifecycleTransitionWithItsEvent() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        let ext = try h.execute(.extend(id: grant.id, duration: "30m", reason: "more"), by: h.rita)
        try h.execute(.release(id: grant.id), by: h.rita)
        try h.run()
        XCTAssertEqual(try h.current(grant).state, .ended)
        XCTAssertEqual(try h.execute(.approve(id: ext.id, reason: nil), by: h.alice).error, Lifecycle.extensionLapsedError)
        let events = try h.store.events(requestId: ext.id)
        XCTAssertEqual(events.map(\.type), [.request, .approve, .extend])
        XCTAssertEqual(events.last?.data["applied"], .bool(false))
        XCTAssertEqual(events.last?.data["grant_state"], .string("ended"))
        XCTAssertEqual(events.last?.actor, "system")
        XCTAssertEqual(events.last?.requester, "rita", "the requester is on every event")
        XCTAssertEqual(try h.store.events(requestId: grant.id).filter { $0.type == .extend }, [], "the ended grant was not moved")
    }

    func testOnlyTheRequesterCanExtend() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        XCTAssertEqual(h.refusal(.extend(id: grant.id, duration: "30m", reason: nil), by: h.alice)?.code, ExitCode.noPerm)
    }

    func testAnExtensionBeyondMaxDurationIsRefused() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        XCTAssertEqual(h.refusal(.extend(id: grant.id, duration: "8h", reason: nil), by: h.rita)?.code, ExitCode.dataErr)
    }
}

// MARK: - the Events API

final class EngineCommandParseTests: XCTestCase {
    func parse(_ text: String) throws -> ChangeCall { try ChangeCall.parse(try JSONValue.parse(text)) }

    /// The error for `text`, with its exit code checked (65).
    func problem(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let c = try parse(text)
            XCTFail("\(text) parsed as \(c)", file: file, line: line)
        } catch let e as CommandError {
            XCTAssertEqual(e.code, ExitCode.dataErr, text, file: file, line: line)
            return e.message
        } catch {
            XCTFail("\(text): \(error)", file: file, line: line)
        }
        return ""
    }

    func testEveryEventParses() throws {
        XCTAssertEqual(try parse(#"{"event":"request","flow":"access","target":"db","fields":{"reason":"x","n":2},"duration":"1h","reason":"r"}"#),
                       .request(flow: "access", target: "db", fields: ["reason": .string("x"), "n": .int(2)], duration: "1h", reason: "r"))
        XCTAssertEqual(try parse(#"{"event":"request","flow":"job"}"#), .request(flow: "job", target: nil, fields: [:], duration: nil, reason: nil))
        XCTAssertEqual(try parse(#"{"event":"approve","request":12,"reason":"ok"}"#), .approve(id: 12, reason: "ok"))
        XCTAssertEqual(try parse(#"{"event":"approve","request":"12"}"#), .approve(id: 12, reason: nil))
        XCTAssertEqual(try parse(#"{"event":"deny","request":3,"reason":"no"}"#), .deny(id: 3, reason: "no"))
        XCTAssertEqual(try parse(#"{"event":"cancel","request":3}"#), .cancel(id: 3))
        XCTAssertEqual(try parse(#"{"event":"revoke","request":3,"reason":null}"#), .revoke(id: 3, reason: nil))
        XCTAssertEqual(try parse(#"{"event":"release","request":3}"#), .release(id: 3))
        XCTAssertEqual(try parse(#"{"event":"extend","request":3,"duration":"30m","v":1}"#), .extend(id: 3, duration: "30m", reason: nil))
        XCTAssertEqual(try DaemonCall.parse(try JSONValue.parse(#"{"event":"ping"}"#)), .ping)
    }

    func testEveryCommandRoundTripsThroughItsJSON() throws {
        let commands: [ChangeCall] = [
            .request(flow: "access", target: "db", fields: ["a": .array([.int(1)])], duration: "1h", reason: "r"),
            .request(flow: "job", target: nil, fields: [:], duration: nil, reason: nil),
            .approve(id: 1, reason: "ok"), .deny(id: 2, reason: "no"), .cancel(id: 3), .revoke(id: 4, reason: nil), .release(id: 5),
            .extend(id: 6, duration: "30m", reason: "more"),
        ]
        for c in commands { XCTAssertEqual(try ChangeCall.parse(try JSONValue.parse(c.json.compact)), c) }
    }

    func testAnEventMustBeAnObject() {
        XCTAssertTrue(problem(#"[1,2]"#).contains("object"))
        XCTAssertTrue(problem(#""approve""#).contains("object"))
        XCTAssertTrue(problem("null").contains("object"))
    }

    func testTheEventNameIsRequiredAndKnown() {
        XCTAssertTrue(problem(#"{"request":1}"#).contains("missing \"event\""))
        XCTAssertTrue(problem(#"{"event":7,"request":1}"#).contains("\"event\""))
        let unknown = problem(#"{"event":"aprove","request":1}"#)
        XCTAssertTrue(unknown.contains("unknown event") && unknown.contains("approve"), unknown)
    }

    func testUnknownKeysAreRejected() {
        let m = problem(#"{"event":"approve","request":1,"user":"alice"}"#)
        XCTAssertTrue(m.contains("unknown key \"user\"") && m.contains("reason"), m)
        XCTAssertTrue(problem(#"{"event":"cancel","request":1,"duration":"1h"}"#).contains("unknown key \"duration\""))
    }

    func testARequestNeedsAFlowAndObjectFields() {
        XCTAssertTrue(problem(#"{"event":"request"}"#).contains("needs \"flow\""))
        XCTAssertTrue(problem(#"{"event":"request","flow":5}"#).contains("\"flow\" must be a string"))
        XCTAssertTrue(problem(#"{"event":"request","flow":"f","fields":["a"]}"#).contains("\"fields\" must be an object"))
        XCTAssertTrue(problem(#"{"event":"request","flow":"f","target":["db"]}"#).contains("\"target\" must be a string"))
        XCTAssertTrue(problem(#"{"event":"request","flow":"f","duration":60}"#).contains("\"duration\" must be a string"))
    }

    func testTheRequestIDMustBeAPositiveInteger() {
        XCTAssertTrue(problem(#"{"event":"approve"}"#).contains("needs \"request\""))
        for bad in ["0", "-3", "1.5", "\"abc\"", "true", "null", "[1]", "{}", "\"-1\"", "\"\""] {
            XCTAssertTrue(problem(#"{"event":"approve","request":\#(bad)}"#).contains("positive request id"), bad)
        }
    }

    func testAnExtensionNeedsADuration() {
        XCTAssertTrue(problem(#"{"event":"extend","request":1}"#).contains("needs \"duration\""))
    }

    func testTextMustBeShortAndFreeOfNUL() {
        XCTAssertTrue(problem(#"{"event":"approve","request":1,"reason":"\#(String(repeating: "x", count: 5000))"}"#).contains("too long"))
        XCTAssertTrue(problem(#"{"event":"approve","request":1,"reason":"a\u0000b"}"#).contains("NUL"))
        XCTAssertTrue(problem(#"{"event":"approve","request":1,"reason":42}"#).contains("\"reason\" must be a string"))
    }

    func testHostileNamesAreShownSafely() {
        let m = problem(#"{"event":"\u001b]52;c;SGVsbG8=\u0007","request":1}"#)
        XCTAssertFalse(m.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 }, m.debugDescription)
    }
}
