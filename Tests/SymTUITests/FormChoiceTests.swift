import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// Fields with allowed values in the request form.
final class FormChoiceTests: XCTestCase {
    /// The standard world plus an approval-only flow `pick` (the last row of the Request view) whose `env` field
    /// is optional with allowed values and whose `tier` field is required with allowed values.
    private func openPickForm() -> (FakeBackend, ConsoleApp) {
        let backend = standardBackend()
        backend.flowList.append(FlowSummary(name: "pick", label: "Pick one", approvers: ["alice"], promptFields: [
            PromptField(name: "env", type: .string, label: "Environment", required: false, allowedValues: [.string("staging"), .string("prod")]),
            PromptField(name: "tier", type: .string, label: "Tier", required: true, allowedValues: [.string("gold"), .string("silver")]),
        ]))
        let app = startedApp(backend)
        app.press(.char("1"), .char("j"), .char("j"), .char("j"), .enter)
        XCTAssertEqual(app.state.form?.flow, "pick")
        return (backend, app)
    }

    func testAnOptionalFieldWithAllowedValuesStartsEmptyAndIsSentWithoutAValue() {
        let (backend, app) = openPickForm()
        XCTAssertTrue(app.screen.text.contains("‹ — ›"), app.screen.text)
        app.press(.tab, .tab, .enter)
        XCTAssertEqual(backend.sent, [.submit(flow: "pick", target: nil, fields: ["tier": .string("gold")])])
    }

    func testAnOptionalFieldCyclesThroughNoneAndItsValues() {
        let (backend, app) = openPickForm()
        app.press(.right)
        guard case .choice(0, _)? = app.state.form?.fields[0].input else { return XCTFail("right goes to the first value") }
        app.press(.right, .right)
        guard case .choice(-1, _)? = app.state.form?.fields[0].input else { return XCTFail("and round to none") }
        app.press(.left)
        guard case .choice(1, _)? = app.state.form?.fields[0].input else { return XCTFail("left from none is the last value") }
        app.press(.tab, .tab, .enter)
        XCTAssertEqual(backend.sent, [.submit(flow: "pick", target: nil, fields: ["env": .string("prod"), "tier": .string("gold")])])
    }

    func testARequiredFieldWithAllowedValuesNeverOffersNone() {
        let (_, app) = openPickForm()
        app.press(.tab)
        for _ in 0..<3 {
            app.press(.right)
            guard case let .choice(k, _)? = app.state.form?.fields[1].input else { return XCTFail() }
            XCTAssertGreaterThanOrEqual(k, 0)
        }
    }

    /// An approval-only flow `tags` with a required `str_list` field of allowed values.
    private func openTagsForm() -> (FakeBackend, ConsoleApp) {
        let backend = standardBackend()
        backend.flowList.append(FlowSummary(name: "tags", label: "Tags", approvers: ["alice"], promptFields: [
            PromptField(name: "regions", type: .strList, label: "Regions", required: true,
                        allowedValues: [.string("eu"), .string("us"), .string("ap")]),
        ]))
        let app = startedApp(backend)
        app.press(.char("1"), .char("j"), .char("j"), .char("j"), .enter)
        XCTAssertEqual(app.state.form?.flow, "tags")
        return (backend, app)
    }

    func testAListFieldWithAllowedValuesSendsEveryTickedValueInTheirOrder() {
        let (backend, app) = openTagsForm()
        app.press(.right, .right, .char(" "))   // ap
        app.press(.left, .left, .char(" "))     // eu
        XCTAssertTrue(app.screen.text.contains("[x] eu  [ ] us  [x] ap"), app.screen.text)
        app.press(.tab, .enter)
        XCTAssertEqual(backend.sent, [.submit(flow: "tags", target: nil, fields: ["regions": .strList(["eu", "ap"])])])
    }

    func testSpaceUnticksAndARequiredListWithNothingTickedIsRefused() {
        let (backend, app) = openTagsForm()
        app.press(.char(" "), .char(" "))
        app.press(.tab, .enter)
        XCTAssertEqual(backend.sent, [])
        XCTAssertEqual(app.state.form?.fields[0].error, "is required")
    }
}
