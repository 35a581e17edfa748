import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// When an idle console looks at the clock again (`Console.nextTick`): at the next visible change of a shown
/// countdown or age, an answer's deadline, a due Stats reload — and never before a character on screen changes.
final class RedrawTests: XCTestCase {
    private func at(_ state: ConsoleState, _ t: Date) -> ConsoleState { Console.reduce(state, .tick(t)).0 }

    private func frame(_ state: ConsoleState) -> String { render(state: state, size: (state.rows, state.cols)).text }

    /// A Review view of requests `ages` seconds old, each expiring `expiresIn` seconds from now.
    private func review(ages: [TimeInterval], expiresIn: TimeInterval = 3_000, rows: Int = 40, cols: Int = 120) -> ConsoleState {
        let b = standardBackend()
        b.rows[.review] = ages.enumerated().map { i, age in
            var r = request(Int64(200 + i), "bob", createdMinutesAgo: age / 60)
            r.requestExpiresAt = fixedNow.addingTimeInterval(expiresIn + Double(i) * 7.3)
            return r
        }
        let app = startedApp(b, rows: rows, cols: cols)
        app.press(.char("2"))
        XCTAssertEqual(app.state.view, .review)
        return app.state
    }

    func testNoCharacterOnScreenChangesBeforeTheNextTick() {
        // Ages and countdowns on both sides of every step: seconds, minutes, hours, days; fractional offsets.
        var state = review(ages: [0.4, 7.7, 59.5, 599.2, 601.9, 3_599.6, 86_399.3, 90_000.1], expiresIn: 590.6)
        state.detailExpanded = true
        var changes = 0
        for _ in 0..<120 {
            guard let due = Console.nextTick(state) else { return XCTFail("a countdown is shown: a tick is due") }
            XCTAssertGreaterThan(due, state.now)
            let shown = frame(state)
            for f in [0.25, 0.5, 0.75, 0.999] {
                let t = state.now.addingTimeInterval(due.timeIntervalSince(state.now) * f)
                XCTAssertEqual(frame(at(state, t)), shown, "the screen changed at \(t) before the tick due at \(due)")
            }
            let next = at(state, due)
            if frame(next) != shown { changes += 1 }
            state = next
        }
        XCTAssertGreaterThan(changes, 100, "ticks are due when the screen changes, not long before")
    }

    func testAQueueShowingOnlyMinutesWakesTheConsoleOnceAMinute() {
        let state = review(ages: [1_815, 2_420, 7_230], expiresIn: 1_830.5)
        let due = Console.nextTick(state)
        XCTAssertNotNil(due)
        let wait = due!.timeIntervalSince(state.now)
        XCTAssertGreaterThan(wait, 1, "no countdown on screen shows seconds")
        XCTAssertLessThanOrEqual(wait, 60)
    }

    func testRowsOfAnotherViewDoNotWakeTheConsole() {
        let b = standardBackend()
        b.rows[.review] = [request(300, "bob", createdMinutesAgo: 30.25)]   // "30m" old, "29m" left
        b.rows[.mine] = [request(301, "alice", createdMinutesAgo: 0.1)]   // ticks every second, but in view 3
        let app = startedApp(b)
        app.press(.char("2"))
        let wait = Console.nextTick(app.state).map { $0.timeIntervalSince(app.state.now) }
        XCTAssertNotNil(wait)
        XCTAssertGreaterThan(wait ?? 0, 1)
        app.press(.char("3"))
        let mine = Console.nextTick(app.state).map { $0.timeIntervalSince(app.state.now) }
        XCTAssertNotNil(mine)
        XCTAssertLessThanOrEqual(mine ?? 99, 1)
    }

    func testAViewWithoutTimesNeverWakesTheConsole() {
        let b = standardBackend()
        b.rows[.review] = []
        let app = startedApp(b)
        XCTAssertEqual(app.state.view, .request)
        XCTAssertNil(Console.nextTick(app.state))
        app.press(.char("5"))   // the audit log shows absolute times
        XCTAssertNil(Console.nextTick(app.state))
    }

    func testAnAnswerOutIsDueWhenItBecomesOverdue() {
        var state = review(ages: [])
        let since = state.now
        state.pending = [PendingAction(action: .approve(id: 7, reason: nil), since: since)]
        XCTAssertEqual(Console.nextTick(state), since.addingTimeInterval(Console.answerTimeout))
        let late = at(state, since.addingTimeInterval(Console.answerTimeout))
        XCTAssertTrue(late.pending[0].overdue)
        XCTAssertNil(Console.nextTick(late))
    }

    func testADueTimeThatHasPassedIsDueNow() {
        var state = review(ages: [])
        state.pending = [PendingAction(action: .approve(id: 7, reason: nil), since: state.now.addingTimeInterval(-60))]
        XCTAssertEqual(Console.nextTick(state), state.now)
    }

    func testCountdownsChangeAtTheirStepBoundaries() {
        let now = fixedNow
        // 600.5 s left shows "10m" (rounded up: 601); it becomes "9m59s" when 599 s are left.
        XCTAssertEqual(Console.untilChanges(now.addingTimeInterval(600.5), now: now), now.addingTimeInterval(1.5))
        // 2.2 s left: "3s", then "2s" at 2 s left.
        XCTAssertEqual(Console.untilChanges(now.addingTimeInterval(2.2), now: now), now.addingTimeInterval(0.2))
        XCTAssertNil(Console.untilChanges(now.addingTimeInterval(-5), now: now), "\"0s\" for good")
        // 90 s old: "1m30s" until 91 s.
        XCTAssertEqual(Console.agoChanges(now.addingTimeInterval(-90), now: now), now.addingTimeInterval(1))
        // 30 min 10 s old: "30m" until 31 min.
        XCTAssertEqual(Console.agoChanges(now.addingTimeInterval(-1_810), now: now), now.addingTimeInterval(50))
        // A time just ahead of the clock shows "0s" until a whole second after it.
        XCTAssertEqual(Console.agoChanges(now.addingTimeInterval(0.3), now: now), now.addingTimeInterval(1.3))
    }

    func testTheLoopWakesJustAfterTheDueTimeAndNeverSpins() {
        let now = fixedNow
        XCTAssertEqual(ConsoleApp.waitMs(until: now.addingTimeInterval(0.5), now: now), 503)
        XCTAssertEqual(ConsoleApp.waitMs(until: now.addingTimeInterval(-1), now: now), 10)
        XCTAssertEqual(ConsoleApp.waitMs(until: now.addingTimeInterval(3_600), now: now), Int(ConsoleApp.healthInterval * 1000))
    }
}
