import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

final class GrantLoopTests: XCTestCase {
    /// Every command used to wake the loop for a pass over the store; under a stream of requests that cost the
    /// daemon's socket throughput. A later deadline or a decision without strategy work now leaves it asleep.
    func testLaterDeadlinesAndDecisionsWithoutWorkLeaveTheSleepingLoopAsleep() throws {
        let h = try EngineHarness(self)
        h.engine.onChange = { [loop = h.loop] work in loop.poke(work) }
        let running = RunningLoop(h.loop)
        defer { running.stop() }
        XCTAssertTrue(eventually { h.loop.isSleeping }, "the loop settles")
        let passes = h.loop.passes
        for _ in 0..<10 {
            let job = try h.request("job", duration: nil)
            try h.execute(.approve(id: job.id, reason: nil), by: h.alice)
        }
        usleep(100_000)
        XCTAssertEqual(h.loop.passes, passes, "10 approval-only requests and decisions woke the loop")
        let grant = try h.request()
        try h.execute(.approve(id: grant.id, reason: nil), by: h.alice)
        XCTAssertTrue(eventually { h.runs("escalate").count == 1 }, "an approved grant wakes the loop at once")
    }

    func testWhatAChangeGivesTheLoopToDo() {
        var r = AccessRequest(flow: "access", target: "db", targetLabel: nil, requester: "rita", createdAt: EngineHarness.t0,
                              requestExpiresAt: EngineHarness.t0.addingTimeInterval(60))
        XCTAssertEqual(LoopWork.after(r), .at(EngineHarness.t0.addingTimeInterval(60)))
        r.state = .approved
        XCTAssertEqual(LoopWork.after(r), .now)
        r.extends = 7
        XCTAssertEqual(LoopWork.after(r), .none, "an approved extension moved its grant's expiry later")
        r.extends = nil
        r.target = nil
        XCTAssertEqual(LoopWork.after(r), .none, "approval-only: approved is final")
        for s: RequestState in [.escalating, .deescalating] { r.state = s; XCTAssertEqual(LoopWork.after(r), .now) }
        r.state = .active
        r.accessExpiresAt = EngineHarness.t0.addingTimeInterval(3600)
        XCTAssertEqual(LoopWork.after(r), .at(EngineHarness.t0.addingTimeInterval(3600)))
        for s: RequestState in [.denied, .cancelled, .expired, .ended, .failed] { r.state = s; XCTAssertEqual(LoopWork.after(r), .none) }
    }
    func testAnEscalationLeftRunningByACrashIsResumedByAFreshLoop() throws {
        let h = try EngineHarness(self)
        var r = AccessRequest(flow: "access", target: "db", targetLabel: "Orders DB", requester: "rita", state: .escalating,
                              fields: ["duration": .duration(TimeSpan(seconds: 3600))], durationSeconds: 3600,
                              createdAt: EngineHarness.t0, requestExpiresAt: EngineHarness.t0.addingTimeInterval(3600))
        r.decidedAt = EngineHarness.t0
        r = try h.store.write { try $0.insert(r) }
        try GrantLoop(engine: h.engine).runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .active)
        XCTAssertEqual(h.runs("escalate"), ["escalate rita db \(r.id)"])
    }

    func testADeescalationLeftRunningByACrashIsResumedByAFreshLoop() throws {
        let h = try EngineHarness(self)
        var r = try h.activeGrant()
        r.state = .deescalating
        r.endReason = .revoked
        try h.store.write { try $0.update(r) }
        try GrantLoop(engine: h.engine).runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .ended)
        XCTAssertEqual(h.runs("deescalate").count, 1)
    }

    func testRunningUntilIdleTwiceRunsEachScriptOnce() throws {
        let h = try EngineHarness(self)
        let a = try h.request()
        let b = try h.request()
        try h.execute(.approve(id: a.id, reason: nil), by: h.alice)
        try h.execute(.approve(id: b.id, reason: nil), by: h.bob)
        try h.loop.runUntilIdle()
        try h.loop.runUntilIdle()
        XCTAssertEqual(h.runs("escalate").sorted(), ["escalate rita db \(a.id)", "escalate rita db \(b.id)"].sorted())
        h.clock.advance(3600)
        try h.loop.runUntilIdle()
        try h.loop.runUntilIdle()
        try GrantLoop(engine: h.engine).runUntilIdle()
        XCTAssertEqual(h.runs("deescalate").count, 2)
        XCTAssertEqual(h.runs("escalate").count, 2)
    }

    func testManyGrantsExpireInOnePass() throws {
        let h = try EngineHarness(self)
        var ids: [Int64] = []
        for _ in 0..<12 {
            let r = try h.request()
            try h.execute(.approve(id: r.id, reason: nil), by: h.alice)
            ids.append(r.id)
        }
        try h.run()
        try h.run(after: 3600)
        XCTAssertEqual(try h.store.requests(ids: ids).map(\.state), Array(repeating: .ended, count: 12))
        XCTAssertEqual(h.runs("escalate").count, 12)
        XCTAssertEqual(h.runs("deescalate").count, 12)
    }

    func testTheLoopIsIdleWhenNothingIsDue() throws {
        let h = try EngineHarness(self)
        _ = try h.request()
        try h.run()
        XCTAssertEqual(try h.loop.step(), EngineHarness.t0.addingTimeInterval(3600), "the next due time is the pending TTL")
    }
}

final class RetryPolicyTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func testBackoffDoublesWithJitterUpToTheCap() {
        let policy = RetryPolicy(name: "p", base: 2, cap: 60, budget: nil)
        for attempt in 1...10 {
            let delay = min(60, 2 * pow(2, Double(attempt - 1)))
            for _ in 0..<20 {
                let next = try! XCTUnwrap(policy.nextAttempt(after: attempt, now: now)).timeIntervalSince(now)
                XCTAssertGreaterThanOrEqual(next, delay * 0.5 - 1e-9, "attempt \(attempt)")
                XCTAssertLessThanOrEqual(next, delay * 1.5 + 1e-9, "attempt \(attempt)")
            }
        }
    }

    func testTheEscalationBudgetIsSpentAfterItsTries() {
        let policy = RetryPolicy(name: "p", base: 2, cap: 60, budget: 3)
        XCTAssertNotNil(policy.nextAttempt(after: 1, now: now))
        XCTAssertNotNil(policy.nextAttempt(after: 2, now: now))
        XCTAssertNil(policy.nextAttempt(after: 3, now: now))
    }

    func testDeescalationIsNeverAbandoned() {
        XCTAssertNil(RetryPolicy.deescalation.budget)
        XCTAssertNotNil(RetryPolicy.deescalation.nextAttempt(after: 10_000, now: now))
        XCTAssertNotNil(RetryPolicy.escalation.budget)
    }
}
