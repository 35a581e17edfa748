import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// `s`/`S` sorting, the regex `/` filter with `!`, highlighting, `R` in Mine, `--readonly` and `console.keys`.
final class SortFilterTests: XCTestCase {
    // MARK: sort

    func testSCyclesToTheFirstColumnAndAsksForTheSortedPage() {
        let (s, fx) = Console.reduce(startedApp(standardBackend()).state, .char("s"))
        XCTAssertEqual(s.list(.review).sort, .id)
        XCTAssertEqual(fx, [.load(.review)])
        XCTAssertEqual(s.list(.review).query.shape, ListShape(sort: .id))
    }

    func testSCyclesThroughTheViewsColumnsThenBackToNewestFirst() {
        var s = startedApp(standardBackend()).state
        var seen: [ListShape.Column?] = []
        for _ in 0...ConsoleView.review.sortColumns.count {
            s = Console.reduce(s, .char("s")).0
            seen.append(s.list(.review).sort)
        }
        XCTAssertEqual(seen, ConsoleView.review.sortColumns.map(\.column) + [nil])
    }

    func testCapitalSReversesTheOrder() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("sort requester"); app.press(.enter)
        app.press(.char("S"))
        XCTAssertTrue(app.state.list(.review).descending)
        XCTAssertEqual(app.state.list(.review).page?.requests.map(\.requester), ["田中", "carol", "bob", "alice"])
    }

    func testCapitalSInAuditShowsTheOldestEventsFirst() {
        let app = startedApp(standardBackend())
        app.press(.char("5"), .char("S"))
        XCTAssertEqual(app.state.list(.audit).page?.events.map(\.seq), [1, 2, 3, 4, 5, 6])
        XCTAssertTrue(app.screen.line(1).contains("Seq ▲"))
    }

    func testSInAuditDoesNothing() {
        let (s, fx) = Console.reduce(Console.reduce(startedApp(standardBackend()).state, .char("5")).0, .char("s"))
        XCTAssertNil(s.list(.audit).sort)
        XCTAssertEqual(fx, [])
    }

    func testSortingResetsTheSelectionToTheTop() {
        let app = startedApp(standardBackend())
        app.press(.char("j"), .char("j"), .char("s"))
        XCTAssertEqual(app.state.list(.review).selected, 0)
    }

    func testTheSortedColumnHeaderShowsAnArrow() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("sort flow"); app.press(.enter)
        XCTAssertTrue(app.screen.line(1).contains("Flow ▲"))
        app.press(.char("S"))
        XCTAssertTrue(app.screen.line(1).contains("Flow ▼"))
    }

    func testTheArrowIsAsciiOnATerminalWithoutUTF8() {
        XCTAssertEqual(Terminal.ascii(Cell(character: "▲", width: 1, style: .header)), "^")
        XCTAssertEqual(Terminal.ascii(Cell(character: "▼", width: 1, style: .header)), "v")
    }

    func testSortingByExpiryPutsTheSoonestFirst() {
        let a = request(1, "x", createdMinutesAgo: 10), b = request(2, "y", createdMinutesAgo: 50)
        XCTAssertEqual(ListShape.sorted([a, b], by: .expires, descending: false).map(\.id), [2, 1])
    }

    func testSortingByAgePutsTheYoungestFirst() {
        let a = request(1, "x", createdMinutesAgo: 10), b = request(2, "y", createdMinutesAgo: 50)
        XCTAssertEqual(ListShape.sorted([b, a], by: .age, descending: false).map(\.id), [1, 2])
    }

    // MARK: regex filter

    func testPlainTextGoesToTheDaemonsSearch() {
        var l = ListState(); l.filter = "carol"
        XCTAssertEqual(l.query.search, "carol")
        XCTAssertNil(l.query.shape.regex)
    }

    func testARegularExpressionGoesToTheListShape() {
        var l = ListState(); l.filter = "^(bob|carol)$"
        XCTAssertEqual(l.query.search, "")
        XCTAssertEqual(l.query.shape.regex, "^(bob|carol)$")
        XCTAssertFalse(l.query.shape.invert)
    }

    func testALeadingBangInverts() {
        var l = ListState(); l.filter = "!carol"
        XCTAssertEqual(l.query.shape.regex, "carol")
        XCTAssertTrue(l.query.shape.invert)
    }

    func testRegexFilterKeepsTheMatchingRows() {
        let app = startedApp(standardBackend())
        app.press(.char("/")); app.type("^(bob|carol)$"); app.press(.enter)
        XCTAssertEqual(app.state.list(.review).page?.requests.map(\.id), [102, 101])
    }

    func testInvertedRegexFilterKeepsTheOtherRows() {
        let app = startedApp(standardBackend())
        app.press(.char("/")); app.type("!^(bob|carol)$"); app.press(.enter)
        XCTAssertEqual(app.state.list(.review).page?.requests.map(\.id), [104, 103])
    }

    func testRegexIsCaseInsensitive() {
        let app = startedApp(standardBackend())
        app.press(.char("/")); app.type("^CAROL$")
        XCTAssertEqual(app.state.list(.review).page?.requests.map(\.id), [102])
    }

    func testAnInvalidRegexShowsTheErrorAndKeepsTheOldFilter() {
        let app = startedApp(standardBackend())
        app.press(.char("/")); app.type("bob"); app.press(.enter)
        app.press(.char("/")); app.type("(")
        XCTAssertEqual(app.state.list(.review).filter, "bob")
        XCTAssertEqual(app.state.filterError, "invalid regular expression: bob(")
        XCTAssertTrue(app.screen.line(app.state.layout.messageRow).contains("✗ invalid regular expression: bob("))
        app.press(.enter)
        XCTAssertEqual(app.state.list(.review).filter, "bob")
        XCTAssertEqual(app.state.message?.kind, .refused)
    }

    func testMatchesAreHighlightedInTheRows() {
        let app = startedApp(standardBackend())
        app.press(.char("/")); app.type("car.l"); app.press(.enter)
        let b = app.screen
        let row = 2   // the only row, not selected? the selection is on it: selectedMatch
        let line = b.line(row)
        guard let at = line.range(of: "carol") else { return XCTFail("no carol in \(line)") }
        let col = DisplayWidth.of(String(line[..<at.lowerBound]))
        XCTAssertEqual((col..<col + 5).map { b[row, $0].style }, Array(repeating: .selectedMatch, count: 5))
        XCTAssertNotEqual(b[row, col + 5].style, .selectedMatch)
    }

    func testAnInvertedFilterHighlightsNothing() {
        var l = ListState(); l.filter = "!carol"
        XCTAssertNil(l.highlightRegex)
    }

    func testTheDaemonRefusesAnInvalidRegexInARead() {
        XCTAssertThrowsError(try ReadCall.parse(try JSONValue.parse(#"{"read":"review","regex":"("}"#)))
    }

    func testADefaultShapeAddsNoKeysToTheWire() {
        let line = ReadCall.review(search: nil, offset: 0, limit: 5).json
        XCTAssertNil(line["sort"]); XCTAssertNil(line["regex"]); XCTAssertNil(line["desc"])
    }

    func testAShapeRoundTripsOverTheWire() throws {
        let shape = ListShape(sort: .flow, descending: true, regex: "^b", invert: true)
        let call = ReadCall.review(search: nil, offset: 10, limit: 5, shape: shape)
        XCTAssertEqual(try ReadCall.parse(call.json), call)
    }

    // MARK: request again

    func testRInMineOpensTheFormPrefilledFromTheSelectedRequest() {
        let app = startedApp(standardBackend())
        app.press(.char("3"), .char("j"))   // #90 prod-access → prod-ssh, 4h, "incident 4411"
        app.press(.char("R"))
        XCTAssertEqual(app.state.view, .request)
        XCTAssertEqual(app.state.form?.flow, "prod-access")
        XCTAssertEqual(app.state.form?.target, "prod-ssh")
        let inputs = Dictionary(uniqueKeysWithValues: (app.state.form?.fields ?? []).map { ($0.field.name, $0.input) })
        XCTAssertEqual(inputs["reason"], .text("incident 4411"))
        XCTAssertEqual(inputs["duration"], .choice(2, allowed: prodFields[1].allowedValues!))
    }

    func testRForAFlowNoLongerInTheConfigSaysSo() {
        let backend = standardBackend()
        backend.rows[.mine]?.append(request(70, "alice", flow: "old-flow", state: .ended, createdMinutesAgo: 900))
        let app = startedApp(backend)
        app.press(.char("3"), .char("G"), .char("R"))
        XCTAssertEqual(app.state.view, .mine)
        XCTAssertNil(app.state.form)
        XCTAssertEqual(app.state.message?.text.contains("flow old-flow is no longer in the config"), true)
    }

    func testRForATargetNoLongerInTheConfigSaysSo() {
        let backend = standardBackend()
        backend.rows[.mine]?.append(request(70, "alice", target: "gone-host", state: .ended, createdMinutesAgo: 900))
        let app = startedApp(backend)
        app.press(.char("3"), .char("G"), .char("R"))
        XCTAssertNil(app.state.form)
        XCTAssertEqual(app.state.message?.text.contains("target gone-host of flow prod-access is no longer in the config"), true)
    }

    // MARK: read-only

    func readOnlyApp(_ backend: FakeBackend) -> ConsoleApp {
        let app = ConsoleApp(backend: backend, now: fixedNow, readOnly: true)
        app.handle(.resized(rows: 24, cols: 80))
        app.start()
        return app
    }

    func testReadOnlyRefusesActionKeysLocally() {
        let backend = standardBackend()
        let app = readOnlyApp(backend)
        app.press(.char("j"), .char("a"))
        XCTAssertNil(app.state.prompt)
        XCTAssertEqual(app.state.message, ConsoleMessage(kind: .refused, text: "read-only console"))
        app.press(.char("d"))
        XCTAssertNil(app.state.prompt)
        XCTAssertEqual(backend.sent, [])
    }

    func testReadOnlyRefusesTheRequestForm() {
        let app = readOnlyApp(standardBackend())
        app.press(.char("1"), .enter)
        XCTAssertNil(app.state.form)
        XCTAssertEqual(app.state.message?.text, "read-only console")
    }

    func testReadOnlyRefusesCommandLineActions() {
        let backend = standardBackend()
        let app = readOnlyApp(backend)
        app.press(.char(":")); app.type("approve 103 ok"); app.press(.enter)
        XCTAssertEqual(app.state.commandLine?.error, "read-only console")
        XCTAssertEqual(backend.sent, [])
    }

    func testReadOnlyStillNavigatesFiltersAndSorts() {
        let app = readOnlyApp(standardBackend())
        app.press(.char("s"), .char("/")); app.type("carol"); app.press(.enter, .char("4"))
        XCTAssertEqual(app.state.list(.review).sort, .id)
        XCTAssertEqual(app.state.list(.review).filter, "carol")
        XCTAssertEqual(app.state.view, .grants)
    }

    func testReadOnlyBannerIsInTheTopLine() {
        XCTAssertTrue(readOnlyApp(standardBackend()).screen.line(0).contains("READ-ONLY"))
    }

    // MARK: console.keys

    func testAReboundKeyTriggersItsAction() {
        let backend = standardBackend()
        let app = ConsoleApp(backend: backend, now: fixedNow, keys: ["approve": "y"])
        app.handle(.resized(rows: 24, cols: 80)); app.start()
        app.press(.char("j"), .char("y"))
        XCTAssertEqual(app.state.prompt?.kind, .approve(id: 103, selfApproval: false))
    }

    func testTheDefaultKeyOfAReboundActionNoLongerTriggersIt() {
        let app = ConsoleApp(backend: standardBackend(), now: fixedNow, keys: ["approve": "y"])
        app.handle(.resized(rows: 24, cols: 80)); app.start()
        app.press(.char("j"), .char("a"))
        XCTAssertNil(app.state.prompt)
    }

    func testHelpAndHintsShowTheReboundKey() {
        let map = Keymap.rebound(["approve": "y"])
        XCTAssertTrue(Keymap.helpLines(map).contains { $0.hasPrefix("  y ") && $0.contains("approve") })
        XCTAssertTrue(Keymap.hints(mode: .list, view: .review, in: map).contains("y approve"))
        XCTAssertFalse(Keymap.hints(mode: .list, view: .review, in: map).contains("a approve"))
    }
}
