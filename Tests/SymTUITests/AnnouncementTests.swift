import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// Break-glass self-approvals by others are announced at once: a banner and the bell.
final class AnnouncementTests: XCTestCase {
    func testAnnouncementShowsABannerAndRingsTheBell() {
        let state = startedApp(standardBackend()).state
        let (s, effects) = Console.reduce(state, .announcement("⚠ break-glass: bob approved their own request #7"))
        XCTAssertEqual(effects, [.bell])
        XCTAssertEqual(s.message?.text, "⚠ break-glass: bob approved their own request #7")
    }

    func testAnnouncementTextIsNeutralisedOnScreen() {
        let state = startedApp(standardBackend()).state
        let (s, _) = Console.reduce(state, .announcement("⚠ bob: \u{1b}]52;c;SGVsbG8=\u{07}\u{1b}[2J"))
        let screen = render(state: s, size: (24, 80)).text
        XCTAssertFalse(screen.contains("\u{1b}"))
        XCTAssertFalse(screen.contains("\u{07}"))
    }

    func testAuditDeliveryBacklogShowsOnTheStatusLine() {
        let state = startedApp(standardBackend()).state
        let (s, _) = Console.reduce(state, .reporting("⚠ audit: 120 undelivered, oldest 42s"))
        let screen = render(state: s, size: (24, 120)).text
        XCTAssertTrue(screen.contains("⚠ audit: 120 undelivered, oldest 42s"), screen)
        let (clear, _) = Console.reduce(s, .reporting(nil))
        XCTAssertFalse(render(state: clear, size: (24, 120)).text.contains("undelivered"))
    }
}
