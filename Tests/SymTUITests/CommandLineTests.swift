import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// The `:` command line: parsing, completion, history, and commands going through the keys' effects.
final class CommandLineTests: XCTestCase {
    func testColonOpensTheCommandLine() {
        let app = startedApp(standardBackend())
        app.press(.char(":"))
        XCTAssertEqual(app.state.mode, .command)
        app.type("help")
        XCTAssertEqual(app.state.commandLine?.text, "help")
        XCTAssertTrue(app.screen.line(app.state.layout.promptRow).hasPrefix(":help_"))
    }

    func testApproveCommandSendsTheApprovalWithItsReason() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char(":")); app.type("approve 103 looks fine"); app.press(.enter)
        XCTAssertEqual(backend.sent, [.approve(id: 103, reason: "looks fine")])
        XCTAssertNil(app.state.commandLine)
    }

    func testApproveCommandTakesAHashBeforeTheId() {
        XCTAssertEqual(try? ConsoleCommand.parse("approve #42").get(), .approve(id: 42, reason: nil))
    }

    func testApproveCommandNeedsARequestId() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char(":")); app.type("approve"); app.press(.enter)
        XCTAssertEqual(app.state.commandLine?.error, "approve needs a request id")
        XCTAssertEqual(backend.sent, [])
        XCTAssertTrue(app.screen.line(app.state.layout.messageRow).contains("✗ approve needs a request id"))
    }

    func testUnknownCommandIsShownOnTheLineAndNothingIsSent() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char(":")); app.type("foo 1"); app.press(.enter)
        XCTAssertEqual(app.state.commandLine?.error?.hasPrefix("unknown command: foo"), true)
        XCTAssertEqual(backend.sent, [])
    }

    func testDenyCommandNeedsAReason() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char(":")); app.type("deny 103"); app.press(.enter)
        XCTAssertEqual(app.state.commandLine?.error, "deny needs a reason: :deny 103 REASON")
        XCTAssertEqual(backend.sent, [])
    }

    func testDenyCommandWithAReasonSends() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char(":")); app.type("deny 102 not during the freeze"); app.press(.enter)
        XCTAssertEqual(backend.sent, [.deny(id: 102, reason: "not during the freeze")])
    }

    func testApprovingYourOwnRequestOnTheCommandLineNeedsAReason() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char(":")); app.type("approve 104"); app.press(.enter)   // #104 is alice's own
        XCTAssertEqual(app.state.commandLine?.error, "approving your own request needs a reason: :approve 104 REASON")
        XCTAssertEqual(backend.sent, [])
    }

    func testRevokeCommandRefusesARequestThatIsNotActive() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("4"))   // loads the grants; #101 is pending in the review list
        app.press(.char(":")); app.type("revoke 101"); app.press(.enter)
        XCTAssertEqual(app.state.commandLine?.error, "cannot revoke #101: it is pending, not active")
        XCTAssertEqual(backend.sent, [])
    }

    func testRevokeCommandSendsForAnActiveGrant() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("4"), .char(":")); app.type("revoke 88 incident over"); app.press(.enter)
        XCTAssertEqual(backend.sent, [.revoke(id: 88, reason: "incident over")])
    }

    func testViewCommandSwitchesByNameOrNumber() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("view grants"); app.press(.enter)
        XCTAssertEqual(app.state.view, .grants)
        app.press(.char(":")); app.type("view 5"); app.press(.enter)
        XCTAssertEqual(app.state.view, .audit)
    }

    func testSortCommandTakesDescAfterTheColumn() {
        XCTAssertEqual(try? ConsoleCommand.parse("sort flow desc").get(), .sort(.flow, descending: true))
        XCTAssertEqual(try? ConsoleCommand.parse("sort FLOW").get(), .sort(.flow, descending: false))
    }

    func testUnknownSortColumnIsAnError() {
        guard case let .failure(e) = ConsoleCommand.parse("sort colour") else { return XCTFail("parsed") }
        XCTAssertTrue(e.message.hasPrefix("unknown column: colour (one of id, age"), e.message)
    }

    func testACommandForARequestAlreadyBeingSentIsHeldBack() {
        let backend = standardBackend()
        let app = startedApp(backend)
        var s = app.state
        for c in ":approve 103 ok" { s = Console.reduce(s, .char(c)).0 }
        s = Console.reduce(s, .key(.enter)).0                  // sent; no answer yet
        for c in ":deny 103 no" { s = Console.reduce(s, .char(c)).0 }
        let (after, fx) = Console.reduce(s, .key(.enter))
        XCTAssertEqual(fx, [])
        XCTAssertEqual(after.commandLine?.error, "#103: approve was sent and awaits the daemon's answer")
    }

    func testUnknownViewIsAnError() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("view nowhere"); app.press(.enter)
        XCTAssertEqual(app.state.commandLine?.error?.hasPrefix("unknown view: nowhere"), true)
    }

    func testFilterCommandSetsTheFilter() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("filter carol"); app.press(.enter)
        XCTAssertEqual(app.state.list(.review).filter, "carol")
        XCTAssertEqual(app.state.list(.review).page?.requests.map(\.id), [102])
    }

    func testSortCommandSortsTheList() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("sort requester"); app.press(.enter)
        XCTAssertEqual(app.state.list(.review).sort, .requester)
        XCTAssertEqual(app.state.list(.review).page?.requests.map(\.requester), ["alice", "bob", "carol", "田中"])
    }

    func testSortCommandRefusesAColumnTheViewDoesNotHave() {
        let app = startedApp(standardBackend())
        app.press(.char("3"), .char(":")); app.type("sort requester"); app.press(.enter)
        XCTAssertEqual(app.state.commandLine?.error, "the Mine view sorts by id, flow, target, state, expires, not requester")
    }

    func testHelpCommandOpensHelp() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("help"); app.press(.enter)
        XCTAssertEqual(app.state.helpScroll, 0)
    }

    func testQCommandQuits() {
        let (s, fx) = Console.reduce(Console.reduce(Console.reduce(startedApp(standardBackend()).state, .char(":")).0, .char("q")).0, .enter)
        XCTAssertTrue(s.quitting)
        XCTAssertEqual(fx, [.quit])
    }

    func testEscapeClosesTheLineWithoutRunningIt() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char(":")); app.type("approve 103"); app.press(.escape)
        XCTAssertNil(app.state.commandLine)
        XCTAssertEqual(backend.sent, [])
    }

    func testUpRecallsThePreviousCommandAndDownComesBack() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("view mine"); app.press(.enter)
        app.press(.char(":")); app.type("view audit"); app.press(.enter)
        app.press(.char(":")); app.type("vi")
        app.press(.up)
        XCTAssertEqual(app.state.commandLine?.text, "view audit")
        app.press(.up)
        XCTAssertEqual(app.state.commandLine?.text, "view mine")
        app.press(.down, .down)
        XCTAssertEqual(app.state.commandLine?.text, "vi", "past the newest entry, the line being typed comes back")
    }

    func testHistoryKeepsTheLastHundredCommands() {
        var s = startedApp(standardBackend()).state
        for i in 0..<120 {
            s = Console.reduce(s, .char(":")).0
            for c in "view \(i % 5 + 1)" { s = Console.reduce(s, .char(c)).0 }
            s = Console.reduce(s, .key(.enter)).0
        }
        XCTAssertEqual(s.commandHistory.count, CommandLineState.historyLimit)
    }

    func testTabCompletesACommandName() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("appr"); app.press(.tab)
        XCTAssertEqual(app.state.commandLine?.text, "approve ")
    }

    func testTabCompletesAViewName() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("view gr"); app.press(.tab)
        XCTAssertEqual(app.state.commandLine?.text, "view grants ")
    }

    func testTabCompletesASortColumnOfTheView() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("sort req"); app.press(.tab)
        XCTAssertEqual(app.state.commandLine?.text, "sort requester ")
    }

    func testTabCompletesARequestIdFromTheVisibleList() {
        let app = startedApp(standardBackend())
        app.press(.char(":")); app.type("approve 10"); app.press(.tab)
        XCTAssertEqual(app.state.commandLine?.text, "approve 10", "four ids start with 10: nothing to add")
        XCTAssertEqual(app.state.commandLine?.hint, "104  103  102  101")
        app.type("2"); app.press(.tab)
        XCTAssertEqual(app.state.commandLine?.text, "approve 102 ")
    }

    func testTabWithSeveralCommandsShowsTheCandidates() {
        let (text, candidates) = CommandCompletion.complete("", views: [], columns: [], ids: [])
        XCTAssertEqual(text, "")
        XCTAssertEqual(candidates, ConsoleCommand.names)
    }
}
