import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// The daemon answers but its store does not (PostgreSQL restarting or unreachable): the console says "store
/// unavailable" on its status line, keeps asking, and recovers by itself when a read succeeds again.
final class StoreUnavailableTests: XCTestCase {
    let failure = "store: store unavailable: server closed the connection unexpectedly"

    func testAReadRefusedBecauseTheStoreIsUnavailableSaysSoOnTheStatusLine() {
        let s = Console.reduce(startedApp(standardBackend()).state, .pageFailed(.review, failure)).0
        XCTAssertTrue(s.storeUnavailable)
        let status = render(state: s, size: (rows: 24, cols: 160)).text
        XCTAssertTrue(status.contains("⚠ store unavailable"), status)
        XCTAssertFalse(status.contains("daemon ok"), status)
    }

    func testAnotherReadErrorIsNotCalledStoreUnavailable() {
        let s = Console.reduce(startedApp(standardBackend()).state, .pageFailed(.review, "the request is not yours")).0
        XCTAssertFalse(s.storeUnavailable)
    }

    func testWhileTheStoreIsUnavailableEachStatusCheckReadsTheViewAgain() {
        var s = startedApp(standardBackend()).state
        XCTAssertFalse(Console.reduce(s, .status(daemonHealthy: true)).1.contains(.load(s.view)), "nothing to retry while all is well")
        s = Console.reduce(s, .pageFailed(s.view, failure)).0
        XCTAssertTrue(Console.reduce(s, .status(daemonHealthy: true)).1.contains(.load(s.view)))
    }

    func testThePageThatLoadsAgainClearsIt() {
        var s = Console.reduce(startedApp(standardBackend()).state, .pageFailed(.review, failure)).0
        s = Console.reduce(s, .pageLoaded(.review, ConsolePage(offset: 0, total: 0, rows: .requests([])))).0
        XCTAssertFalse(s.storeUnavailable)
        let status = render(state: s, size: (rows: 24, cols: 160)).text
        XCTAssertTrue(status.contains("daemon ok"), status)
    }
}
