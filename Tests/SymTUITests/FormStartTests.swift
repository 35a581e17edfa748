import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// The request form's Start field (contract §12): beside Submit, after it in the Tab order.
final class FormStartTests: XCTestCase {
    /// prod-access → Production SSH, with a reason typed: its four fields, Submit, then Start.
    private func openProdForm(_ backend: FakeBackend) -> ConsoleApp {
        let app = startedApp(backend)
        app.press(.char("1"), .enter)
        app.type("deploy")
        return app
    }

    func testTabAfterTheLastFieldStillFocusesSubmitAndThenStart() {
        let app = openProdForm(standardBackend())
        app.press(.tab, .tab, .tab, .tab)
        XCTAssertEqual(app.state.form?.onSubmit, true, "the fields and Submit keep their places")
        app.press(.tab)
        XCTAssertEqual(app.state.form?.onStart, true)
        app.press(.tab)
        XCTAssertEqual(app.state.form?.focus, 0, "Tab wraps from Start to the first field")
        app.press(.backTab)
        XCTAssertEqual(app.state.form?.onStart, true, "and back")
    }

    func testAStartTypedInTheFieldTravelsInTheRequest() {
        let backend = standardBackend()
        let app = openProdForm(backend)
        app.press(.tab, .tab, .tab, .tab, .tab)
        app.type("in 1h")
        app.press(.enter)
        XCTAssertEqual(backend.sent, [.submit(flow: "prod-access", target: "prod-ssh", fields: [
            "reason": .string("deploy"), "duration": .duration(TimeSpan(seconds: 3600)), "urgent": .bool(false),
        ], start: "in 1h")])
    }

    func testAnEmptyOrNowStartSendsNoStart() {
        for typed in ["", "now"] {
            let backend = standardBackend()
            let app = openProdForm(backend)
            app.press(.tab, .tab, .tab, .tab, .tab)
            app.type(typed)
            app.press(.enter)
            guard case let .submit(_, _, _, start)? = backend.sent.first else { return XCTFail("nothing sent for '\(typed)'") }
            XCTAssertNil(start, "'\(typed)' is now")
        }
    }

    func testABadStartIsShownOnTheFieldAndNothingIsSent() {
        let backend = standardBackend()
        let app = openProdForm(backend)
        app.press(.tab, .tab, .tab, .tab, .tab)
        app.type("tomorrow")
        app.press(.backTab, .enter)  // Enter on Submit checks the Start field too
        XCTAssertEqual(backend.sent, [])
        XCTAssertEqual(app.state.form?.onStart, true, "focus goes to the bad field")
        let error = app.state.form?.start?.error ?? ""
        XCTAssertTrue(error.hasPrefix("'tomorrow' is not a time"), error)
        XCTAssertTrue(app.screen.text.contains("✗ 'tomorrow' is not a time"), app.screen.text)
        XCTAssertTrue(app.screen.text.contains("1 field needs attention"))
        app.press(.backspace)
        XCTAssertNil(app.state.form?.start?.error, "editing the field clears its error")
    }

    func testAStartInThePastIsRefusedWithTheCLIsWords() {
        let backend = standardBackend()
        let app = openProdForm(backend)
        app.press(.tab, .tab, .tab, .tab, .tab)
        app.type(Timestamp.format(fixedNow.addingTimeInterval(-3600)))
        app.press(.enter)
        XCTAssertEqual(backend.sent, [])
        XCTAssertTrue((app.state.form?.start?.error ?? "").hasSuffix("is in the past"), app.state.form?.start?.error ?? "")
    }

    func testTheStartFieldShowsNowBesideSubmit() {
        let app = openProdForm(standardBackend())
        let line = app.screen.text.split(separator: "\n").first { $0.contains("[ Submit ]") } ?? ""
        XCTAssertTrue(line.contains("starting [now"), String(line))
    }

    func testAnApprovalOnlyFlowHasNoStartField() {
        let app = startedApp(standardBackend())
        app.press(.char("1"), .char("j"), .char("j"), .enter)  // run-reindex: approval only
        XCTAssertEqual(app.state.form?.flow, "run-reindex")
        XCTAssertNil(app.state.form?.start)
        app.press(.tab, .tab)
        XCTAssertEqual(app.state.form?.focus, 0, "Tab cycles the field and Submit only")
        XCTAssertFalse(app.screen.text.contains("starting ["))
    }
}
