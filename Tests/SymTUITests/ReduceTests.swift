import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// Key handling is pure: keys in, state and effects out.
final class ReduceTests: XCTestCase {
    func testApproveAsksForAnOptionalReasonThenSends() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("j"))  // #103, not mine
        app.press(.char("a"))
        XCTAssertEqual(app.state.prompt?.kind, .approve(id: 103, selfApproval: false))
        app.type("looks fine")
        app.press(.enter)
        XCTAssertEqual(backend.sent, [.approve(id: 103, reason: "looks fine")])
        XCTAssertNil(app.state.prompt)
        XCTAssertEqual(app.state.message, ConsoleMessage(kind: .ok, text: "done"))
    }

    func testApproveWithoutReasonIsAllowed() {
        let (s, fx) = Console.reduce(Console.reduce(startedApp(standardBackend()).state, .char("j")).0, .char("a"))
        let (_, fx2) = Console.reduce(s, .enter)
        XCTAssertEqual(fx, [])
        XCTAssertEqual(fx2, [.send(.approve(id: 103, reason: nil))])
    }

    func testApprovingYourOwnRequestNeedsAReason() {
        let app = startedApp(standardBackend())
        app.press(.char("a"))  // #104 is alice's own
        app.press(.enter)
        XCTAssertEqual(app.state.prompt?.error, "approving your own request needs a reason")
        XCTAssertTrue(app.screen.text.contains("✗ approving your own request needs a reason"))
    }

    func testDenyRequiresAReason() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("j"), .char("d"), .enter)
        XCTAssertEqual(backend.sent, [])
        XCTAssertEqual(app.state.prompt?.error, "a reason is required to deny")
        app.type("   ")
        app.press(.enter)
        XCTAssertEqual(backend.sent, [])
        app.type("outside the change window")
        app.press(.enter)
        XCTAssertEqual(backend.sent, [.deny(id: 103, reason: "outside the change window")])
    }

    func testAnUnfilteredReviewPageSetsTheStatusCountFromTheSameRead() {
        var s = startedApp(standardBackend()).state
        s.reviewCount = 0
        let page = ConsolePage(offset: 0, total: 7, rows: .requests([]))
        XCTAssertEqual(Console.reduce(s, .pageLoaded(.review, page)).0.reviewCount, 7)
        XCTAssertEqual(Console.reduce(s, .reviewHead(page)).0.reviewCount, 7)
        s.lists[.review]?.filter = "bob"
        XCTAssertEqual(Console.reduce(s, .pageLoaded(.review, page)).0.reviewCount, 0, "a filtered page is not the queue")
    }

    func testEscapeOnThePromptSendsNothing() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("d")); app.type("x"); app.press(.escape)
        XCTAssertNil(app.state.prompt)
        XCTAssertEqual(backend.sent, [])
    }

    func testTabCyclesTheViewsAndNumbersJump() {
        var s = startedApp(standardBackend()).state
        XCTAssertEqual(s.view, .review)
        var seen: [ConsoleView] = []
        for _ in 0..<6 { s = Console.reduce(s, .tab).0; seen.append(s.view) }
        XCTAssertEqual(seen, [.mine, .grants, .audit, .stats, .request, .review])
        s = Console.reduce(s, .backTab).0
        XCTAssertEqual(s.view, .request)
        let (s4, fx) = Console.reduce(s, .char("4"))
        XCTAssertEqual(s4.view, .grants)
        XCTAssertEqual(fx, [.load(.grants)])
    }

    func testKeysOnlyWorkInTheirViews() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("3"), .char("a"), .char("r"))  // approve/revoke are not Mine keys
        XCTAssertNil(app.state.prompt)
        app.press(.char("c"))  // #104 pending: cancel asks for confirmation
        XCTAssertEqual(app.state.prompt?.kind, .confirmCancel(id: 104))
        app.press(.enter)
        XCTAssertEqual(backend.sent, [.cancel(id: 104)])
    }

    func testReleaseAndExtendNeedAnActiveGrant() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("3"), .char("x"))
        XCTAssertEqual(app.state.message?.kind, .refused)
        app.press(.char("j"), .char("e"))
        XCTAssertEqual(app.state.prompt?.kind, .extendDuration(id: 90))
        app.type("soon"); app.press(.enter)
        XCTAssertEqual(app.state.prompt?.error, "not a duration (e.g. 30m, 1h, 1h30m)")
        app.press(.backspace, .backspace, .backspace, .backspace); app.type("2h"); app.press(.enter)
        XCTAssertEqual(app.state.prompt?.kind, .extendReason(id: 90, duration: TimeSpan(seconds: 7200)))
        app.press(.enter)
        XCTAssertEqual(backend.sent, [.extend(id: 90, duration: TimeSpan(seconds: 7200), reason: nil)])
    }

    func testRevokeInGrants() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("4"), .char("j"), .char("r"))
        app.type("left the team"); app.press(.enter)
        XCTAssertEqual(backend.sent, [.revoke(id: 88, reason: "left the team")])
    }

    func testFormEditingTogglingCyclingAndSubmit() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("1"), .char("j"), .enter)  // prod-access → 東京データベース
        XCTAssertEqual(app.state.form?.target, "tokyo-db")
        app.type("qjk 1")                          // letters that are keys elsewhere just type here
        app.press(.backspace, .backspace)          // a string is sent as typed, spaces included (as by the CLI)
        app.press(.down, .right)                   // duration 1h → 4h
        app.press(.tab); app.type("4411")
        app.press(.tab, .char(" "))                // urgent on
        app.press(.tab)
        XCTAssertEqual(app.state.form?.onSubmit, true)
        app.press(.enter)
        XCTAssertEqual(backend.sent, [.submit(flow: "prod-access", target: "tokyo-db", fields: [
            "reason": .string("qjk"), "duration": .duration(TimeSpan(seconds: 14400)), "ticket": .int(4411), "urgent": .bool(true),
        ])])
        XCTAssertNil(app.state.form, "a successful submit closes the form")
    }

    func testFormValidationShowsErrorsBesideFieldsAndSendsNothing() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("1"), .enter, .tab, .tab)
        app.type("seven")
        app.press(.tab, .tab, .enter)
        XCTAssertEqual(backend.sent, [])
        // The model's messages, word for word as the CLI gives them.
        XCTAssertEqual(app.state.form?.fields[0].error, "is required")
        XCTAssertEqual(app.state.form?.fields[2].error, "expected a whole number, got 'seven'")
        XCTAssertEqual(app.state.form?.focus, 0, "focus goes to the first bad field")
        let text = app.screen.text
        XCTAssertTrue(text.contains("✗ is required"))
        XCTAssertTrue(text.contains("✗ expected a whole number"))
        XCTAssertTrue(text.contains("2 fields need attention"))
        app.type("x")
        XCTAssertNil(app.state.form?.fields[0].error, "editing a field clears its error")
    }

    func testRefusedSubmitKeepsTheForm() {
        let backend = standardBackend()
        backend.answer = .refused("you may not request this flow")
        let app = startedApp(backend)
        app.press(.char("1"), .enter); app.type("why not"); app.press(.tab, .tab, .tab, .tab, .enter)
        XCTAssertNotNil(app.state.form)
        XCTAssertTrue(app.screen.text.contains("✗ refused: you may not request this flow"))
    }

    func testAllowedValuesCycleBothWays() {
        let app = startedApp(standardBackend())
        app.press(.char("1"), .enter, .down)
        app.press(.left)
        guard case let .choice(i, _)? = app.state.form?.fields[1].input else { return XCTFail() }
        XCTAssertEqual(i, 0)
        app.press(.left)
        guard case let .choice(j, _)? = app.state.form?.fields[1].input else { return XCTFail() }
        XCTAssertEqual(j, 2)
    }

    func testFilterReloadsThePageWithTheFilter() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("/")); app.type("carol"); app.press(.enter)
        XCTAssertEqual(app.state.list(.review).total, 1)
        XCTAssertEqual(app.state.selectedRequest(.review)?.id, 102)
        app.press(.escape)
        XCTAssertEqual(app.state.list(.review).total, 4)
    }

    func testSelectionFollowsItsRequestWhenNewRowsArrive() {
        let backend = standardBackend()
        let app = startedApp(backend)
        app.press(.char("j"))
        XCTAssertEqual(app.state.selectedRequest(.review)?.id, 103)
        backend.rows[.review]!.append(request(105, "dave", createdMinutesAgo: 0))
        app.perform([.refresh])
        XCTAssertEqual(app.state.selectedRequest(.review)?.id, 103, "a/d must act on the row the user is looking at")
    }

    func testQuitAndHelp() {
        let s = startedApp(standardBackend()).state
        let (h, _) = Console.reduce(s, .char("?"))
        XCTAssertEqual(h.mode, .help)
        XCTAssertEqual(Console.reduce(h, .char("q")).0.mode, .list, "q closes help first")
        let (q, fx) = Console.reduce(s, .char("q"))
        XCTAssertTrue(q.quitting)
        XCTAssertEqual(fx, [.quit])
    }
}
