import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// The form holds a request to the config's `limits` before it sends, with the daemon's words.
final class FormLimitsTests: XCTestCase {
    private func openNoteForm(fieldBytes: Int, requestBytes: Int = Limits.defaultRequestBytes, fields: Int = 1) -> (FakeBackend, ConsoleApp) {
        let backend = standardBackend()
        var flow = FlowSummary(name: "note", label: "Note", approvers: ["alice"],
                               promptFields: (1...fields).map { PromptField(name: "text\($0)", type: .string, required: false) })
        flow.limits = Limits(fieldBytes: fieldBytes, requestBytes: requestBytes)
        backend.flowList.append(flow)
        let app = startedApp(backend)
        app.press(.char("1"), .char("j"), .char("j"), .char("j"), .enter)
        XCTAssertEqual(app.state.form?.flow, "note")
        return (backend, app)
    }

    func testAFieldOverLimitsFieldBytesIsMarkedAndNothingIsSent() {
        let (backend, app) = openNoteForm(fieldBytes: 64)
        app.type(String(repeating: "é", count: 33))   // 66 bytes
        app.press(.tab, .enter)
        XCTAssertEqual(backend.sent, [])
        XCTAssertEqual(app.state.form?.fields[0].error, "is 66 bytes long; the limit is 64 bytes (limits.field_bytes)")
        XCTAssertEqual(app.state.form?.focus, 0)
        app.press(.backspace)
        app.press(.tab, .enter)
        XCTAssertEqual(backend.sent.count, 1, "at the limit it is sent")
    }

    func testARequestOverLimitsRequestBytesIsRefusedAsAWhole() {
        let (backend, app) = openNoteForm(fieldBytes: 64, requestBytes: 256, fields: 5)
        for _ in 0..<5 { app.type(String(repeating: "x", count: 60)); app.press(.tab) }
        app.press(.enter)
        XCTAssertEqual(backend.sent, [])
        XCTAssertEqual(app.state.message?.text, "the request is 325 bytes in all; the limit is 256 bytes (limits.request_bytes)")
    }
}
