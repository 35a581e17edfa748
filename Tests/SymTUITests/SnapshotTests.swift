import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// Golden-text snapshots of `render`, in Tests/Snapshots/console/ (outside the target, so SwiftPM has no
/// unhandled resources to warn about). Regenerate with `SYMTUI_UPDATE_SNAPSHOTS=1 swift test --filter SymTUITests`.
final class SnapshotTests: XCTestCase {
    /// A scene whose last step is a state the loop has not carried out yet (a command still out).
    func sceneState(_ name: String, _ setup: (ConsoleApp, FakeBackend) -> ConsoleState) {
        for (rows, cols) in consoleSnapshotSizes {
            let backend = standardBackend()
            let s = setup(startedApp(backend, rows: rows, cols: cols), backend)
            assertSnapshot(render(state: s, size: (rows, cols)), "\(name)-\(cols)x\(rows)")
        }
    }

    func testReviewRowShowsAnApprovalBeingSent() {
        sceneState("review-sending") { app, _ in
            app.press(.char("j"), .char("a")); app.type("fine")
            return Console.reduce(app.state, .key(.enter)).0
        }
    }

    func testReviewSaysWhenTheDaemonDidNotAnswerInTime() {
        sceneState("review-no-answer") { app, _ in
            app.press(.char("j"), .char("a")); app.type("fine")
            let sent = Console.reduce(app.state, .key(.enter)).0
            return Console.reduce(sent, .tick(sent.now.addingTimeInterval(Console.answerTimeout))).0
        }
    }

    func testRequestViewListsFlowsTargetsAndApprovers() {
        scene("request") { app, _ in app.press(.char("1")) }
    }

    func testRequestViewShowsSelfApprovalBanner() {
        scene("request-self-approval") { app, _ in app.press(.char("1"), .char("G")) }
    }

    func testRequestFormShowsRequiredMarksAndFieldErrors() {
        scene("form") { app, _ in
            app.press(.char("1"), .enter)            // form for prod-access → Production SSH
            app.press(.tab, .tab); app.type("12a")   // ticket: not a number
            app.press(.tab, .char(" "))              // urgent: toggled on
            app.press(.tab, .enter)                  // Submit: reason is empty
        }
    }

    func testReviewViewHighlightsNewRequestsAndShowsDetails() {
        scene("review") { app, backend in
            backend.rows[.review]!.append(request(105, "dave", reason: "on-call handover", createdMinutesAgo: 0.5))
            app.perform([.refresh])
        }
    }

    func testExpandedDetailsAreSizedToTheirContent() {
        scene("review-expanded") { app, _ in app.press(.char("j"), .char("j"), .enter) }
    }

    func testReviewPromptForDenyReason() {
        scene("review-deny") { app, _ in app.press(.char("j"), .char("d")); app.type("not now") }
    }

    func testMineViewShowsStatesAndCountdowns() {
        scene("mine") { app, _ in app.press(.char("3"), .char("j")) }
    }

    func testGrantsViewShowsTimeLeft() {
        scene("grants") { app, _ in app.press(.char("4")) }
    }

    func testAuditViewShowsEventsNewestFirst() {
        scene("audit") { app, _ in app.press(.char("5")) }
    }

    func testHelpOverlay() {
        scene("help") { app, _ in app.press(.char("?")) }
    }

    func testFilterLine() {
        scene("filter") { app, _ in app.press(.char("/")); app.type("carol") }
    }

    func testTerminalTooSmall() {
        let app = startedApp(standardBackend(), rows: 20, cols: 60)
        let b = app.screen
        XCTAssertTrue(b.text.contains("terminal too small (need 80×24, have 60×20)"))
        assertSnapshot(b, "too-small-60x20")
    }
}

// MARK: the Stats view (Unicode block characters, and ASCII for monochrome terminals / LC_ALL=C)

extension SnapshotTests {
    func testStatsViewDrawsFiguresAndChartsInBlockCharacters() {
        scene("stats") { app, backend in backend.activity = sampleActivity(); app.press(.char("6")) }
    }

    func testStatsViewDrawsChartsInASCII() {
        sceneState("stats-ascii") { app, backend in
            backend.activity = sampleActivity()
            app.press(.char("6"))
            var s = app.state
            s.stats.ascii = true
            return s
        }
    }
}

/// The console's snapshot sizes.
let consoleSnapshotSizes = [(24, 80), (40, 120)]

/// Golden-text snapshots shared by every snapshot test case: one file per scene and size in Tests/Snapshots/console,
/// recorded when missing or when `SYMTUI_UPDATE_SNAPSHOTS` is set.
extension XCTestCase {
    func assertSnapshot(_ buffer: ScreenBuffer, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let dir = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Snapshots/console")
        let url = dir.appendingPathComponent("\(name).txt")
        let actual = buffer.text + "\n"
        let update = !(ProcessInfo.processInfo.environment["SYMTUI_UPDATE_SNAPSHOTS"] ?? "").isEmpty
        guard !update, let expected = try? String(contentsOf: url, encoding: .utf8) else {
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try? actual.write(to: url, atomically: true, encoding: .utf8)
            if !update { XCTFail("recorded a new snapshot \(name); check it and run again", file: file, line: line) }
            return
        }
        if expected != actual {
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let firstDiff = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(e.count, a.count)
            XCTFail("snapshot \(name) differs at line \(firstDiff + 1):\nexpected: \(firstDiff < e.count ? e[firstDiff] : "")\nactual:   \(firstDiff < a.count ? a[firstDiff] : "")\n--- actual ---\n\(actual)",
                    file: file, line: line)
        }
    }

    func scene(_ name: String, _ setup: (ConsoleApp, FakeBackend) -> Void) {
        for (rows, cols) in consoleSnapshotSizes {
            let backend = standardBackend()
            let app = startedApp(backend, rows: rows, cols: cols)
            setup(app, backend)
            let b = app.screen
            XCTAssertEqual(b.rows, rows); XCTAssertEqual(b.cols, cols)
            for r in 0..<rows { XCTAssertEqual(DisplayWidth.of(b.line(r)), cols, "\(name) row \(r) is not \(cols) columns wide") }
            assertSnapshot(b, "\(name)-\(cols)x\(rows)")
        }
    }

}
