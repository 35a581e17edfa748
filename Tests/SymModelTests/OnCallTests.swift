import Foundation
import XCTest
@testable import SymModel

final class OnCallTests: XCTestCase {
    let start = Timestamp.parse("2026-12-07T09:00:00Z")!
    var rotation: OnCallSchedule {
        OnCallSchedule(name: "primary", type: .rotation, users: ["alice", "bob", "carol"], shift: TimeSpan(seconds: 604_800), start: start,
                       overrides: [.init(user: "dave", from: Timestamp.parse("2026-12-24T00:00:00Z")!, until: Timestamp.parse("2026-12-27T00:00:00Z")!)])
    }
    func at(_ s: String) -> Date { Timestamp.parse(s)! }

    func testTheFirstShiftStartsAtStart() {
        XCTAssertEqual(rotation.rotationOnCall(at: start), ["alice"])
    }

    func testAShiftEndsOneSecondBeforeTheNextBegins() {
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-14T08:59:59Z")), ["alice"])
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-14T09:00:00Z")), ["bob"])
    }

    func testTheRotationWrapsAround() {
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-21T09:00:00Z")), ["carol"])
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-28T09:00:00Z")), ["alice"])
    }

    func testAnOverrideWinsWhileItLasts() {
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-23T23:59:59Z")), ["carol"])
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-24T00:00:00Z")), ["dave"])
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-26T23:59:59Z")), ["dave"])
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-27T00:00:00Z")), ["carol"], "until is exclusive")
    }

    func testShiftsAreFixedLengthInUTCWithoutDaylightSavingJumps() {
        // Over the March change in Europe a shift is still exactly 604,800 s long.
        var r = rotation
        r.start = at("2027-03-22T09:00:00Z")
        XCTAssertEqual(r.rotationOnCall(at: at("2027-03-29T08:59:59Z")), ["alice"])
        XCTAssertEqual(r.rotationOnCall(at: at("2027-03-29T09:00:00Z")), ["bob"])
    }

    func testNobodyIsOnCallBeforeTheRotationStarts() {
        XCTAssertEqual(rotation.rotationOnCall(at: at("2026-12-07T08:59:59Z")), [])
    }

    func testCommandOutputIsOneUserALine() {
        XCTAssertEqual(try OnCallSchedule.parseCommandOutput("alice\n bob \n\nalice\n").get(), ["alice", "bob"])
        XCTAssertEqual(try OnCallSchedule.parseCommandOutput("").get(), [])
    }

    func testABadLineMakesTheWholeAnswerAnErrorNotEveryone() {
        XCTAssertThrowsError(try OnCallSchedule.parseCommandOutput("alice\n*\n").get())
        XCTAssertThrowsError(try OnCallSchedule.parseCommandOutput("alice; rm -rf /\n").get())
    }

    func testOnCallNamesResolveIntoTheRouting() {
        let routing = Routing(approvers: Approvers(users: ["erin"], groups: ["sre"], oncall: ["primary"]))
        let resolved = routing.resolvingOnCall { $0 == "primary" ? ["bob"] : [] }
        XCTAssertEqual(resolved.approvers.users, ["erin", "bob"])
        XCTAssertTrue(Policy.isEligible(.user("bob"), routing: resolved))
        XCTAssertFalse(Policy.isEligible(.user("bob"), routing: routing), "an unresolved schedule name admits nobody")
    }
}
