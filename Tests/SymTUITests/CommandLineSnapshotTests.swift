import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// Snapshots of the command line, a sorted list, a regex filter and the read-only banner, at 80×24 and 120×40.
/// The same golden files and update switch as `SnapshotTests` (Tests/Snapshots/console).
final class CommandLineSnapshotTests: XCTestCase {
    static let sizes = [(24, 80), (40, 120)]

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
        XCTAssertEqual(expected, actual, "snapshot \(name) differs", file: file, line: line)
    }

    func scene(_ name: String, _ setup: (ConsoleApp, FakeBackend) -> Void) {
        for (rows, cols) in Self.sizes {
            let backend = standardBackend()
            let app = startedApp(backend, rows: rows, cols: cols)
            setup(app, backend)
            let b = app.screen
            for r in 0..<rows { XCTAssertEqual(DisplayWidth.of(b.line(r)), cols, "\(name) row \(r) is not \(cols) columns wide") }
            assertSnapshot(b, "\(name)-\(cols)x\(rows)")
        }
    }

    func testCommandLineWithCompletionCandidates() {
        scene("command-line") { app, _ in app.press(.char(":")); app.type("approve 10"); app.press(.tab) }
    }

    func testCommandLineError() {
        scene("command-line-error") { app, _ in app.press(.char(":")); app.type("deny 103"); app.press(.enter) }
    }

    func testReviewSortedByRequesterShowsTheArrow() {
        scene("review-sorted") { app, _ in app.press(.char(":")); app.type("sort requester"); app.press(.enter, .char("S")) }
    }

    func testRegexFilterWithHighlightedMatches() {
        scene("review-regex") { app, _ in app.press(.char("/")); app.type("^(bob|carol)$") }
    }

    func testInvertedRegexFilter() {
        scene("review-regex-inverted") { app, _ in app.press(.char("/")); app.type("!^(bob|carol)$"); app.press(.enter) }
    }

    func testReadOnlyBanner() {
        for (rows, cols) in Self.sizes {
            let app = ConsoleApp(backend: standardBackend(), now: fixedNow, readOnly: true)
            app.handle(.resized(rows: rows, cols: cols)); app.start()
            app.press(.char("j"), .char("a"))
            assertSnapshot(app.screen, "readonly-\(cols)x\(rows)")
        }
    }
}
