import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// Snapshots of the command line, a sorted list, a regex filter and the read-only banner, at 80×24 and 120×40.
/// The same golden files and update switch as `SnapshotTests` (Tests/Snapshots/console).
final class CommandLineSnapshotTests: XCTestCase {
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
        for (rows, cols) in consoleSnapshotSizes {
            let app = ConsoleApp(backend: standardBackend(), now: fixedNow, readOnly: true)
            app.handle(.resized(rows: rows, cols: cols)); app.start()
            app.press(.char("j"), .char("a"))
            assertSnapshot(app.screen, "readonly-\(cols)x\(rows)")
        }
    }
}
