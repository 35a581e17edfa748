import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// A command out to the daemon: the row and the status line say so, the console keeps answering keys and
/// ticking, and an answer that does not come within `Console.answerTimeout` is reported.
final class SendingTests: XCTestCase {
    /// The standard world on Review with #103 selected and its approval confirmed, effects not carried out.
    private func approvingState() -> (ConsoleState, [Effect]) {
        let app = startedApp(standardBackend())
        app.press(.char("j"), .char("a"))
        app.type("fine")
        return Console.reduce(app.state, .key(.enter))
    }

    func testAConfirmedApprovalIsPendingUntilItsAnswerArrives() {
        let (s, fx) = approvingState()
        XCTAssertEqual(fx, [.send(.approve(id: 103, reason: "fine"))])
        XCTAssertEqual(s.pending.map(\.action), [.approve(id: 103, reason: "fine")])
        XCTAssertEqual(s.pending.first?.since, s.now)
        let (done, more) = Console.reduce(s, .actionFinished(.approve(id: 103, reason: "fine"), .ok("request 103: active")))
        XCTAssertTrue(done.pending.isEmpty)
        XCTAssertEqual(done.message, ConsoleMessage(kind: .ok, text: "request 103: active"))
        XCTAssertEqual(more, [.refresh])
    }

    func testTheRowAndTheStatusLineShowSendingWhileTheCommandIsOut() {
        let (s, _) = approvingState()
        let text = render(state: s, size: (s.rows, s.cols)).text
        let row = text.split(separator: "\n").first { $0.contains("#103") } ?? ""
        XCTAssertTrue(row.contains("sending…"), "row: \(row)")
        XCTAssertTrue(text.split(separator: "\n").last?.contains("sending…") ?? false, text)
        XCTAssertTrue(text.contains("approving #103…"), text)
    }

    func testNoAnswerWithinTenSecondsIsSaidOnTheMessageLine() {
        let (s, _) = approvingState()
        let (early, _) = Console.reduce(s, .tick(s.now.addingTimeInterval(Console.answerTimeout - 1)))
        XCTAssertEqual(early.message?.kind, .info)
        XCTAssertFalse(early.pending[0].overdue)
        let (late, fx) = Console.reduce(early, .tick(s.now.addingTimeInterval(Console.answerTimeout)))
        XCTAssertEqual(fx, [])
        XCTAssertTrue(late.pending[0].overdue)
        XCTAssertFalse(late.daemonHealthy)
        XCTAssertEqual(late.message, ConsoleMessage(kind: .warning, text: Console.noAnswerMessage(.approve(id: 103, reason: "fine"))))
        let text = render(state: late, size: (late.rows, late.cols)).text
        XCTAssertTrue(text.contains("⚠ approving #103: the daemon did not answer within 10 s"), text)
        XCTAssertTrue(text.split(separator: "\n").first { $0.contains("#103") }?.contains("no reply") ?? false, text)
        XCTAssertTrue(text.split(separator: "\n").last?.contains("⚠ daemon not answering") ?? false, text)
        // Said once, not on every tick.
        var again = late
        again.message = nil
        XCTAssertNil(Console.reduce(again, .tick(s.now.addingTimeInterval(30))).0.message)
    }

    func testALateAnswerIsReportedWhenItComes() {
        let (s, _) = approvingState()
        let (late, _) = Console.reduce(s, .tick(s.now.addingTimeInterval(20)))
        let (answered, fx) = Console.reduce(late, .actionFinished(.approve(id: 103, reason: "fine"), .ok("request 103: active")))
        XCTAssertTrue(answered.pending.isEmpty)
        XCTAssertEqual(fx, [.refresh], "the status (and the daemon's health) is read again")
        XCTAssertEqual(answered.message, ConsoleMessage(kind: .ok, text: "request 103: active"))
    }

    func testASecondCommandForARowWhoseFirstIsOutIsNotSent() {
        let (s, _) = approvingState()
        let (again, fx) = Console.reduce(s, .key(.char("d")))
        XCTAssertNil(again.prompt, "no deny prompt for a row whose approval is out")
        XCTAssertEqual(fx, [])
        XCTAssertEqual(again.message?.text, "#103: approve was sent and awaits the daemon's answer")
    }

    func testASubmittedFormIsPendingUntilItsAnswer() {
        let app = startedApp(standardBackend())
        app.press(.char("1"), .enter)
        app.type("hotfix")
        app.press(.tab, .tab, .tab, .tab)
        let (s, fx) = Console.reduce(app.state, .key(.enter))
        guard case let .send(action)? = fx.first, case .submit = action else { return XCTFail("no submit sent: \(fx)") }
        XCTAssertEqual(s.pending.map(\.action), [action])
        XCTAssertEqual(s.form?.submitting, true)
        let (late, _) = Console.reduce(s, .tick(s.now.addingTimeInterval(Console.answerTimeout)))
        XCTAssertEqual(late.message?.text, Console.noAnswerMessage(action))
        XCTAssertTrue(late.message?.text.hasPrefix("submitting: the daemon did not answer within 10 s") ?? false)
    }
}

/// A backend whose commands wait until the test lets them through, as a stopped daemon makes them wait.
final class HeldBackend: ConsoleBackend {
    let inner: FakeBackend
    let gate = DispatchSemaphore(value: 0)
    let sendStarted = DispatchSemaphore(value: 0)
    init(_ inner: FakeBackend) { self.inner = inner }
    var identity: ConsoleIdentity { inner.identity }
    func flows() throws -> [FlowSummary] { try inner.flows() }
    func page(_ view: ConsoleView, filter: String, offset: Int, limit: Int) throws -> ConsolePage {
        try inner.page(view, filter: filter, offset: offset, limit: limit)
    }
    func daemonHealthy() -> Bool { inner.daemonHealthy() }
    func waitForChange(timeoutMs: Int) -> Bool { inner.waitForChange(timeoutMs: timeoutMs) }
    func send(_ action: ConsoleAction) -> ActionResult {
        sendStarted.signal()
        gate.wait()
        return inner.send(action)
    }
}

final class ConsoleNeverWaitsTests: XCTestCase {
    func testKeysAndTicksAreAppliedWhileACommandWaitsForTheDaemon() {
        let fake = standardBackend()
        fake.answer = .ok("request 103: active")
        let backend = HeldBackend(fake)
        let app = ConsoleApp(backend: backend, now: fixedNow)
        app.handle(.resized(rows: 24, cols: 80))
        app.start()
        XCTAssertEqual(app.state.view, .review)
        // The terminal loop's way: post without waiting for the backend.
        for k in [Key.char("j"), .char("a"), .char("o"), .char("k"), .enter] { app.post(.key(k)) }
        XCTAssertEqual(backend.sendStarted.wait(timeout: .now() + 10), .success, "the command never reached the backend")
        XCTAssertTrue(app.isSending)
        // Views switch, the clock ticks, the overdue answer is reported — all while the backend is blocked.
        for v in ["3", "4", "5", "2"] {
            app.post(.key(.char(Character(v))))
            XCTAssertEqual(app.state.view.rawValue, Int(v), "view \(v) did not open while the command was out")
        }
        app.post(.tick(fixedNow.addingTimeInterval(5)))
        XCTAssertEqual(app.state.now, fixedNow.addingTimeInterval(5))
        app.post(.tick(fixedNow.addingTimeInterval(Console.answerTimeout + 1)))
        XCTAssertEqual(app.state.message?.kind, .warning)
        XCTAssertTrue(app.screen.text.contains("the daemon did not answer within 10 s"), app.screen.text)
        XCTAssertTrue(app.isSending)
        XCTAssertEqual(fake.sent, [], "the held command has not been carried out yet")
        // The daemon answers: the answer is shown and the lists reload.
        backend.gate.signal()
        app.settle()
        XCTAssertFalse(app.isSending)
        XCTAssertEqual(fake.sent, [.approve(id: 103, reason: "ok")])
        XCTAssertEqual(app.state.message, ConsoleMessage(kind: .ok, text: "request 103: active"))
        XCTAssertTrue(app.state.pending.isEmpty)
    }

    func testAnAnswerArrivesThroughTheInboxWithoutAKey() {
        let fake = standardBackend()
        let backend = HeldBackend(fake)
        let app = ConsoleApp(backend: backend, now: fixedNow)
        app.handle(.resized(rows: 24, cols: 80))
        app.start()
        for k in [Key.char("j"), .char("a"), .enter] { app.post(.key(k)) }
        XCTAssertEqual(backend.sendStarted.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(app.awaitResults(timeout: 0.2), 0, "nothing arrives while the command is held")
        backend.gate.signal()
        let deadline = Date().addingTimeInterval(10)
        while !app.state.pending.isEmpty, Date() < deadline { app.awaitResults(timeout: 1) }
        XCTAssertTrue(app.state.pending.isEmpty, "the answer did not come through the inbox")
        XCTAssertEqual(app.state.message?.kind, .ok)
    }
}

final class BackendWorkerTests: XCTestCase {
    func testAWaitingCallIsReplacedByANewerOneOfItsKindButCommandsNeverAre() {
        let backend = HeldBackend(standardBackend())
        let worker = BackendWorker(backend: backend)
        defer { worker.stop() }
        func cancel(_ id: Int64) { worker.send { b in [.actionFinished(.cancel(id: id), b.send(.cancel(id: id)))] } }
        func mine(offset: Int) {
            worker.enqueue(.page(.mine)) { b in [.pageLoaded(.mine, try! b.page(.mine, filter: "", offset: offset, limit: 1))] }
        }
        cancel(1)
        XCTAssertEqual(backend.sendStarted.wait(timeout: .now() + 10), .success)
        mine(offset: 0)
        mine(offset: 2)          // replaces the waiting page call, in its place
        cancel(2)
        cancel(3)
        for _ in 0..<3 { backend.gate.signal() }
        worker.waitUntilIdle()
        let order: [String] = worker.takeResults().map { e in
            switch e {
            case let .actionFinished(.cancel(id), _): return "cancel \(id)"
            case let .pageLoaded(_, p): return "page \(p.offset)"
            default: return "\(e)"
            }
        }
        XCTAssertEqual(order, ["cancel 1", "page 2", "cancel 2", "cancel 3"])
        XCTAssertEqual(backend.inner.sent, [.cancel(id: 1), .cancel(id: 2), .cancel(id: 3)])
    }
}
