import Foundation
import XCTest
@testable import SymModel

/// Every number and duration a config gives is checked against a sane range, so that a typo (`timeout: 1e17`)
/// is a `config check` error and never a daemon that crashes on the first escalation.
final class ConfigRangeTests: XCTestCase {
    private func http(_ timeout: String) -> String {
        ConfigText.with(strategies: [#"{ name: "s", type: "http", settings: { url: "http://127.0.0.1:9/x", timeout: \#(timeout) }, targets: [ { name: "t" } ] }"#])
    }

    func testAnHttpStrategyTimeoutOf1e17IsAConfigError() {
        assertProblem(http("1e17"), "out of range", path: "strategies[0].settings.timeout")
    }

    func testAnHttpStrategyTimeoutThatIsNotFiniteIsAConfigError() {
        assertProblem(http("1e999"), "too large")
    }

    func testAnHttpStrategyTimeoutOfZeroOrLessIsAConfigError() {
        assertProblem(http("0"), "out of range")
        assertProblem(http("-5"), "out of range")
    }

    func testAnHttpStrategyTimeoutLongerThanAnHourIsAConfigError() {
        assertProblem(http(#""2h""#), "timeout 2h is out of range: it must be between 1s and 1h")
    }

    func testAnHttpStrategyTimeoutInRangeIsAccepted() {
        XCTAssertNotNil(assertValid(http(#""45s""#)))
        XCTAssertNotNil(assertValid(http("20")))
    }

    func testATargetsOwnTimeoutIsCheckedToo() {
        let text = ConfigText.with(strategies: [#"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true" }, targets: [ { name: "t", settings: { timeout: 1e17 } } ] }"#])
        assertProblem(text, "out of range", path: "strategies[0].targets[0].settings.timeout")
    }

    func testACommandTimeoutLongerThanAnHourIsAConfigError() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true", timeout: "3d" }, targets: [ { name: "t" } ] }"#),
                      "out of range")
    }

    func testAHandlerTimeoutLongerThanAnHourIsAConfigError() {
        assertProblem(ConfigText.flow(#"handler_timeout: "2d""#), "handler_timeout 2d is out of range")
    }

    func testAnHttpDestinationTimeoutOutOfRangeIsAConfigError() {
        let text = ConfigText.with(extra: #"reporting: { destinations: [ { type: "http", url: "http://127.0.0.1:9/a", timeout: 1e17 } ] }"#)
        assertProblem(text, "out of range", path: "reporting.destinations[0].timeout")
    }

    // MARK: limits

    func testLimitsDefaultWhenAbsent() throws {
        let config = try XCTUnwrap(assertValid(ConfigText.with()))
        XCTAssertEqual(config.limits, Limits())
        XCTAssertEqual(config.limits.pendingPerUser, 20)
    }

    func testLimitsAreRead() throws {
        let config = try XCTUnwrap(assertValid(ConfigText.with(extra: "limits: { pending_per_user: 5, field_bytes: 2048, request_bytes: 8192 }")))
        XCTAssertEqual(config.limits, Limits(pendingPerUser: 5, fieldBytes: 2048, requestBytes: 8192))
    }

    func testAPendingLimitOutOfRangeIsAConfigError() {
        assertProblem(ConfigText.with(extra: "limits: { pending_per_user: 0 }"), "must be between 1 and 10000", path: "limits.pending_per_user")
        assertProblem(ConfigText.with(extra: "limits: { pending_per_user: 1e17 }"), "must be between 1 and 10000")
    }

    func testAFieldLimitLargerThanAnEnvironmentStringCanHoldIsAConfigError() {
        assertProblem(ConfigText.with(extra: "limits: { field_bytes: 200000 }"), "must be between 64 and 65536", path: "limits.field_bytes")
    }

    func testARequestLimitBelowTheFieldLimitIsAConfigError() {
        assertProblem(ConfigText.with(extra: "limits: { field_bytes: 4096, request_bytes: 1024 }"), "smaller than field_bytes")
    }

    func testAnUnknownLimitIsAConfigErrorWithASuggestion() {
        assertProblem(ConfigText.with(extra: "limits: { pending_per_users: 3 }"), "did you mean 'pending_per_user'")
    }

    // MARK: sizes of request inputs

    func testCheckSizeMeasuresUTF8BytesOfEachValue() {
        let limits = Limits(pendingPerUser: 1, fieldBytes: 10, requestBytes: 100)
        XCTAssertEqual(FieldValues.checkSize(inputs: ["a": .text("0123456789")], reason: nil, limits: limits), [])
        XCTAssertEqual(FieldValues.checkSize(inputs: ["a": .text("ééééé é")], reason: nil, limits: limits).map(\.field), ["a"])
        XCTAssertEqual(FieldValues.checkSize(inputs: ["a": .json(.array(Array(repeating: .int(1), count: 6)))], reason: nil, limits: limits).count, 1)
    }

    func testCheckSizeCountsTheReasonAndTheWholeRequest() {
        let limits = Limits(pendingPerUser: 1, fieldBytes: 10, requestBytes: 25)
        XCTAssertEqual(FieldValues.checkSize(inputs: [:], reason: String(repeating: "r", count: 11), limits: limits).map(\.field), ["reason"])
        let whole = FieldValues.checkSize(inputs: ["a": .text("123456789"), "b": .text("123456789")], reason: "12345", limits: limits)
        XCTAssertEqual(whole.map(\.description), ["the request is 31 bytes in all; the limit is 25 bytes (limits.request_bytes)"])
    }
}
