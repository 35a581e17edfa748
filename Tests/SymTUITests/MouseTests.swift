import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// Mouse clicks and the wheel, as `.click(row:col:)` / `.wheel` events mapped through render's layout.
final class MouseTests: XCTestCase {
    func tabColumn(_ app: ConsoleApp, _ view: ConsoleView) -> Int {
        let tab = TabBar.tabs(app.state).first { $0.view == view }!
        return tab.col + tab.width / 2
    }

    /// The request id drawn on a screen row, if any.
    func id(onRow row: Int, of app: ConsoleApp) -> Int64? {
        let line = app.screen.line(row)
        guard let r = line.range(of: #"#(\d+)"#, options: .regularExpression) else { return nil }
        return Int64(line[r].dropFirst())
    }

    func testClickOnATabSwitchesView() {
        let app = startedApp(standardBackend())
        app.handle(.click(row: 0, col: tabColumn(app, .grants)))
        XCTAssertEqual(app.state.view, .grants)
        XCTAssertTrue(app.screen.text.contains("[4 Grants]"))
        app.handle(.click(row: 0, col: tabColumn(app, .audit)))
        XCTAssertEqual(app.state.view, .audit)
    }

    func testTheTabsAreWhereTheHeaderDrawsThem() {
        let app = startedApp(standardBackend())
        let header = app.screen.line(0)
        for tab in TabBar.tabs(app.state) {
            let cells = Array(header)
            XCTAssertEqual(String(cells[tab.col..<(tab.col + tab.width)]), tab.label)
        }
    }

    func testClickOnTheTitleOrPastTheTabsDoesNothing() {
        let app = startedApp(standardBackend())
        let view = app.state.view
        app.handle(.click(row: 0, col: 2))
        app.handle(.click(row: 0, col: 79))
        XCTAssertEqual(app.state.view, view)
    }

    func testClickOnAListRowSelectsIt() {
        let app = startedApp(standardBackend())
        app.press(.char("2"))
        let row = app.state.layout.bodyTop + 1 + 2
        app.handle(.click(row: row, col: 10))
        XCTAssertEqual(app.state.list(.review).selected, 2)
        XCTAssertEqual(app.state.selectedRequest(.review)?.id, id(onRow: row, of: app))
        XCTAssertTrue(app.screen.line(row).hasPrefix("▸"))
    }

    func testClickSelectsTheRowRenderDrewAfterScrolling() {
        let backend = standardBackend()
        backend.rows[.review] = (1...60).map { request(Int64($0), "bob", reason: "r\($0)", createdMinutesAgo: Double(60 - $0)) }
        let app = startedApp(backend)
        app.press(.char("2"))
        for _ in 0..<25 { app.press(.char("j")) }
        let first = app.state.layout.bodyTop + 1
        for offset in [0, 3, app.state.listHeight(.review, layout: app.state.layout) - 1] {
            let drawn = id(onRow: first + offset, of: app)
            app.handle(.click(row: first + offset, col: 20))
            XCTAssertEqual(app.state.selectedRequest(.review)?.id, drawn, "row \(offset) of the window")
        }
    }

    func testClickBelowTheListOrPastItsLastRowDoesNothing() {
        let app = startedApp(standardBackend())
        app.press(.char("4"))   // two grants
        let selected = app.state.list(.grants).selected
        app.handle(.click(row: app.state.layout.bodyTop + 1 + 5, col: 10))
        app.handle(.click(row: app.state.layout.statusRow, col: 10))
        XCTAssertEqual(app.state.list(.grants).selected, selected)
    }

    func testClickInTheRequestViewSelectsTheFlowRow() {
        let app = startedApp(standardBackend())
        app.press(.char("1"))
        app.handle(.click(row: app.state.layout.bodyTop + 1 + 1, col: 5))
        XCTAssertEqual(app.state.requestList.selected, 1)
        XCTAssertTrue(app.screen.line(app.state.layout.bodyTop + 2).hasPrefix("▸"))
    }

    func testWheelMovesTheSelectionByThreeRows() {
        let backend = standardBackend()
        backend.rows[.review] = (1...30).map { request(Int64($0), "bob", createdMinutesAgo: Double(30 - $0)) }
        let app = startedApp(backend)
        app.press(.char("2"))
        app.handle(.wheel(.down)); app.handle(.wheel(.down))
        XCTAssertEqual(app.state.list(.review).selected, 2 * Console.wheelStep)
        app.handle(.wheel(.up))
        XCTAssertEqual(app.state.list(.review).selected, Console.wheelStep)
    }

    func testClicksDoNothingWhileAPromptIsOpen() {
        let app = startedApp(standardBackend())
        app.press(.char("2"), .char("j"), .char("d"))
        app.handle(.click(row: 0, col: tabColumn(app, .audit)))
        app.handle(.click(row: app.state.layout.bodyTop + 1, col: 10))
        XCTAssertEqual(app.state.view, .review)
        XCTAssertNotNil(app.state.prompt, "a click neither cancels nor confirms the deny prompt")
        XCTAssertEqual(app.state.list(.review).selected, 1)
    }

    func testTheWheelScrollsHelp() {
        let app = startedApp(standardBackend())
        app.press(.char("?"))
        app.handle(.wheel(.down))
        XCTAssertEqual(app.state.helpScroll, 1)
    }
}
