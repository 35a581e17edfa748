import Foundation
import XCTest
@testable import SymModel

/// Scheduled access windows (`request --start`): the window is fixed when the request is made.
final class ScheduledWindowTests: XCTestCase {
    /// An approved request for the window [t0 + 10 min, t0 + 70 min].
    func scheduled(_ flow: Flow, state: RequestState = .approved) -> AccessRequest {
        var r = LF.request(flow, state: state)
        r.accessStartsAt = LF.t0.addingTimeInterval(600)
        r.accessExpiresAt = LF.t0.addingTimeInterval(600 + 3600)
        return r
    }

    func testAnApprovedWindowDoesNotStartEscalatingBeforeItsStart() {
        let flow = LF.accessFlow()
        guard case let .failure(refusal) = LF.apply(.beginEscalation, scheduled(flow), flow: flow, at: LF.t0.addingTimeInterval(599)) else {
            return XCTFail("escalation began before the window")
        }
        XCTAssertEqual(refusal.kind, .wrongState)
    }

    func testAnApprovedWindowStartsEscalatingAtItsStart() throws {
        let flow = LF.accessFlow()
        let t = try applied(.beginEscalation, scheduled(flow), flow: flow, at: LF.t0.addingTimeInterval(600))
        XCTAssertEqual(t.request.state, .escalating)
    }

    func testEscalationInsideTheWindowKeepsTheWindowsStartAndEnd() throws {
        let flow = LF.accessFlow()
        var r = scheduled(flow)
        r.state = .escalating
        let t = try applied(.escalated(output: nil, data: .object([])), r, flow: flow, at: LF.t0.addingTimeInterval(1800))
        XCTAssertEqual(t.request.state, .active)
        XCTAssertEqual(t.request.accessStartsAt, LF.t0.addingTimeInterval(600))
        XCTAssertEqual(t.request.accessExpiresAt, LF.t0.addingTimeInterval(4200))
    }

    func testAWindowThatPassedBeforeEscalationGrantsNothingAndEndsExpired() throws {
        let flow = LF.accessFlow()
        let t = try applied(.beginEscalation, scheduled(flow), flow: flow, at: LF.t0.addingTimeInterval(4200))
        XCTAssertEqual(t.request.state, .deescalating)
        XCTAssertEqual(t.request.endReason, .expired)
        XCTAssertTrue(t.events.isEmpty)
    }

    func testAnUnscheduledGrantStillStartsAtItsEscalation() throws {
        let flow = LF.accessFlow()
        var r = LF.request(flow, state: .escalating)
        r.decidedAt = LF.t0
        let now = LF.t0.addingTimeInterval(5)
        let t = try applied(.escalated(output: nil, data: .object([])), r, flow: flow, at: now)
        XCTAssertEqual(t.request.accessStartsAt, now)
        XCTAssertEqual(t.request.accessExpiresAt, now.addingTimeInterval(3600))
    }

    func testStartParsesRFC3339AndARelativeDuration() throws {
        let now = LF.t0
        XCTAssertEqual(try WindowStart.parse("+2h", now: now).get(), now.addingTimeInterval(7200))
        XCTAssertEqual(try WindowStart.parse("2027-01-15T08:00:00Z", now: now).get(), Timestamp.parse("2027-01-15T08:00:00Z"))
    }

    func testStartAcceptsNowAndInDurationAsTheConsoleFormOffersThem() throws {
        let now = LF.t0
        XCTAssertEqual(try WindowStart.parse("now", now: now).get(), now)
        XCTAssertEqual(try WindowStart.parse("in 1h", now: now).get(), now.addingTimeInterval(3600))
        XCTAssertEqual(try WindowStart.parse("In 1h30m", now: now).get(), now.addingTimeInterval(5400))
    }

    func testStartMessagesBeginWithTheSubjectTheCallerNames() {
        guard case let .failure(p) = WindowStart.parse("soon", now: LF.t0, subject: "") else { return XCTFail("soon accepted") }
        XCTAssertTrue(p.message.hasPrefix("'soon' is not a time"), p.message)
        guard case let .failure(q) = WindowStart.parse("soon", now: LF.t0) else { return XCTFail("soon accepted") }
        XCTAssertTrue(q.message.hasPrefix("--start 'soon'"), q.message)
    }

    func testStartRefusesWordsPastTimesAndTimesMoreThanAYearAhead() {
        let now = LF.t0
        for bad in ["tomorrow", "+", "+2x", "in", "in 2x", "2027-02-30T00:00:00Z"] {
            guard case let .failure(p) = WindowStart.parse(bad, now: now) else { return XCTFail("\(bad) accepted") }
            XCTAssertTrue(p.message.contains("is not a time"), p.message)
        }
        guard case let .failure(past) = WindowStart.parse(Timestamp.format(now.addingTimeInterval(-60)), now: now) else {
            return XCTFail("a past start accepted")
        }
        XCTAssertTrue(past.message.contains("in the past"), past.message)
        guard case let .failure(far) = WindowStart.parse("+400d", now: now) else { return XCTFail("400 days ahead accepted") }
        XCTAssertTrue(far.message.contains("366 days"), far.message)
    }
}
