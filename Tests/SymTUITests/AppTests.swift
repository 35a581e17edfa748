import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// The loop's effects against a fake backend (no terminal).
final class AppTests: XCTestCase {
    func testBellRingsOnceWhenTheReviewQueueGainsARequest() {
        let backend = standardBackend()
        let app = startedApp(backend)
        var bells = 0
        app.ring = { bells += 1 }
        app.perform([.refresh])
        XCTAssertEqual(bells, 0, "requests already there at start do not ring")
        backend.rows[.review]!.append(request(105, "dave", createdMinutesAgo: 0))
        app.perform([.refresh])
        app.perform([.refresh])
        app.handle(.key(.char("3")))
        app.perform([.refresh])
        XCTAssertEqual(bells, 1)
        XCTAssertEqual(app.state.newRequestIds, [105])
        backend.rows[.review]!.append(request(106, "erin", createdMinutesAgo: 0))
        app.perform([.refresh])
        XCTAssertEqual(bells, 2)
    }

    func testNewRowStaysHighlightedUntilTheSelectionVisitsIt() {
        let backend = standardBackend()
        let app = startedApp(backend)
        backend.rows[.review]!.append(request(105, "dave", createdMinutesAgo: 0))
        app.perform([.refresh])
        XCTAssertTrue(app.screen.text.contains("●#105") || app.screen.text.contains("● #105"))
        app.press(.char("g"))
        XCTAssertFalse(app.state.newRequestIds.contains(105))
    }

    func testPagesAreFetchedByWindowNeverTheWholeTable() {
        let backend = standardBackend()
        backend.rows[.review] = (1...10_000).map { request(Int64($0), "user\($0 % 50)", createdMinutesAgo: 1) }
        let app = startedApp(backend, rows: 24, cols: 80)
        XCTAssertLessThanOrEqual(backend.largestLimit, 40)
        app.press(.char("G"))
        XCTAssertEqual(app.state.selectedRequest(.review)?.id, 1)
        XCTAssertTrue(app.screen.text.contains("of 10000"))
        app.press(.pageUp)
        XCTAssertNotNil(app.state.selectedRequest(.review))
        XCTAssertLessThanOrEqual(backend.largestLimit, 40)
    }

    func testActionResultIsShownAndViewsReload() {
        let backend = standardBackend()
        backend.answer = .refused("bob is not an approver of prod-access")
        let app = startedApp(backend)
        app.press(.char("j"), .char("a"), .enter)
        XCTAssertTrue(app.screen.text.contains("✗ refused: bob is not an approver of prod-access"))
    }

    func testStartOpensReviewWhenRequestsWait() {
        XCTAssertEqual(startedApp(standardBackend()).state.view, .review)
        let empty = standardBackend()
        empty.rows[.review] = []
        XCTAssertEqual(startedApp(empty).state.view, .request)
    }
}
