import Foundation
import XCTest
import SymModel
@testable import SymStore

/// `symtui report` and the Stats view: figures from a real store with known requests.
final class ActivityReportTests: XCTestCase {
    /// Midnight UTC of the fixtures' day.
    let day0 = Date(timeIntervalSince1970: TimeInterval(ActivityReport.dayStartMillis(Int64(SF.t0.timeIntervalSince1970 * 1000))) / 1000)

    func at(_ hours: Double) -> Date { day0.addingTimeInterval(hours * 3600) }

    func request(_ flow: String, created: Date, state: RequestState, approvedAfter: Double? = nil, denied: Bool = false,
                 selfApproved: Bool = false) -> AccessRequest {
        var r = SF.request(flow: flow, requester: "rita", state: state)
        r.createdAt = created
        r.requestExpiresAt = created.addingTimeInterval(3600)
        if let after = approvedAfter {
            r.decidedAt = created.addingTimeInterval(after)
            if denied { r.denial = Denial(user: "ann", at: r.decidedAt!, reason: "no") } else {
                r.approvals = [Approval(user: selfApproved ? "rita" : "ann", at: r.decidedAt!, reason: selfApproved ? "incident" : nil, isSelf: selfApproved)]
            }
        }
        return r
    }

    func grant(created: Date, start: Date, end: Date?) -> AccessRequest {
        var r = request("prod", created: created, state: end == nil ? .active : .ended, approvedAfter: 1)
        r.accessStartsAt = start
        r.accessExpiresAt = start.addingTimeInterval(86_400)
        r.endedAt = end
        return r
    }

    func testApprovalTimesAreNearestRankMedianAndP90PerFlowAndOverall() throws {
        let store = try SF.store(self)
        for (i, s) in [10.0, 20, 30, 40, 50, 60, 70, 80, 90, 100].enumerated() {
            try SF.insert(store, request("prod", created: at(1 + Double(i) / 60), state: .ended, approvedAfter: s))
        }
        for s in [1.0, 2, 3] { try SF.insert(store, request("db", created: at(2), state: .ended, approvedAfter: s)) }
        try SF.insert(store, request("db", created: at(2), state: .denied, approvedAfter: 5000, denied: true))
        let r = try store.activityReport(since: day0, until: at(20))
        XCTAssertEqual(r.flows.map(\.flow), ["db", "prod"])
        let db = r.flows[0], prod = r.flows[1]
        XCTAssertEqual(prod.approvalMedian, 50); XCTAssertEqual(prod.approvalP90, 90)
        XCTAssertEqual(db.approvalMedian, 2); XCTAssertEqual(db.approvalP90, 3, "a denial's decision time is not an approval time")
        XCTAssertEqual(r.total.approvalMedian, 40, "rank 7 of 13")
        XCTAssertEqual(r.total.approvalP90, 90, "rank 12 of 13")
    }

    func testOutcomesAndBreakGlassAreCountedPerFlow() throws {
        let store = try SF.store(self)
        try SF.insert(store, request("prod", created: at(1), state: .pending))
        try SF.insert(store, request("prod", created: at(1), state: .expired))
        try SF.insert(store, request("prod", created: at(1), state: .cancelled))
        try SF.insert(store, request("prod", created: at(1), state: .denied, approvedAfter: 5, denied: true))
        try SF.insert(store, request("prod", created: at(1), state: .failed, approvedAfter: 5))
        try SF.insert(store, request("prod", created: at(1), state: .active, approvedAfter: 5, selfApproved: true))
        try SF.insert(store, request("db", created: at(2), state: .ended, approvedAfter: 5, selfApproved: true))
        let r = try store.activityReport(since: day0, until: at(20))
        let prod = r.flows.first { $0.flow == "prod" }!
        XCTAssertEqual([prod.requests, prod.approved, prod.denied, prod.expired, prod.cancelled, prod.failed, prod.pending, prod.breakGlass],
                       [6, 2, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(r.total.requests, 7)
        XCTAssertEqual(r.total.breakGlass, 2)
    }

    func testRequestsCreatedBeforeTheWindowAreLeftOut() throws {
        let store = try SF.store(self)
        try SF.insert(store, request("prod", created: at(-30), state: .ended, approvedAfter: 1000))
        try SF.insert(store, request("prod", created: at(-1), state: .pending))
        try SF.insert(store, request("prod", created: at(3), state: .ended, approvedAfter: 7))
        let r = try store.activityReport(since: day0, until: at(20))
        XCTAssertEqual(r.total.requests, 1)
        XCTAssertEqual(r.total.approvalMedian, 7)
        XCTAssertEqual(r.days.map(\.requests), [1])
    }

    func testEachDayCountsRequestsAndTheMostGrantsActiveAtOnceIncludingOnesThatBeganBefore() throws {
        let store = try SF.store(self)
        try SF.insert(store, grant(created: at(-72), start: at(-71), end: nil))           // began three days before, still active
        try SF.insert(store, grant(created: at(-50), start: at(-49), end: at(-30)))       // over before the window: not counted
        try SF.insert(store, grant(created: at(9), start: at(10), end: at(12)))
        try SF.insert(store, grant(created: at(10), start: at(11), end: at(25)))          // into the next day
        try SF.insert(store, grant(created: at(12), start: at(12), end: at(13)))          // starts as the first one ends
        try SF.insert(store, request("prod", created: at(30), state: .pending))
        let r = try store.activityReport(since: day0, until: at(60))
        XCTAssertEqual(r.days.map(\.date), [0, 1, 2].map { ActivityReport.dayName(at(Double($0) * 24)) })
        XCTAssertEqual(r.days.map(\.requests), [3, 1, 0])
        XCTAssertEqual(r.days.map(\.grantsMax), [3, 2, 1])
    }

    func testAWindowOfDaysHasOneEntryPerUTCDayAndAReportOfAnEmptyStoreIsZeros() throws {
        let store = try SF.store(self)
        let r = try store.activityReport(since: at(-24 * 6 - 5), until: at(1))
        XCTAssertEqual(r.days.count, 8)
        XCTAssertEqual(r.total.requests, 0)
        XCTAssertNil(r.total.approvalMedian)
        XCTAssertEqual(r.flows.count, 0)
    }

    func testTheWindowIsAnIdRangeFoundByBinarySearch() throws {
        let store = try SF.store(self)
        for h in 0..<50 { try SF.insert(store, request("prod", created: at(Double(h)), state: .pending)) }
        XCTAssertEqual(try store.firstRequestId(createdAtOrAfter: Int64(at(20).timeIntervalSince1970 * 1000)), 21)
        XCTAssertEqual(try store.firstRequestId(createdAtOrAfter: Int64(at(-5).timeIntervalSince1970 * 1000)), 1)
        XCTAssertEqual(try store.firstRequestId(createdAtOrAfter: Int64(at(99).timeIntervalSince1970 * 1000)), 51)
    }

    func testReportQueriesReadTheIdRangeAndTheGrantIndexNotWholeTables() throws {
        let store = try SF.store(self)
        var plans: [String] = []
        for sql in ["SELECT flow, count(*) FROM requests WHERE id >= 5 AND created_at >= 0 AND created_at <= 9 GROUP BY flow",
                    "SELECT access_starts_at, ended_at FROM requests INDEXED BY requests_grant_span WHERE access_starts_at IS NOT NULL AND ended_at >= 0 AND access_starts_at <= 9",
                    "SELECT access_starts_at, ended_at FROM requests INDEXED BY requests_grant_span WHERE access_starts_at IS NOT NULL AND ended_at IS NULL AND access_starts_at <= 9"] {
            try store.db.query("EXPLAIN QUERY PLAN " + sql) { plans.append($0.text(3)) }
        }
        for p in plans where p.hasPrefix("SCAN") || p.hasPrefix("SEARCH") {
            XCTAssertTrue(p.hasPrefix("SEARCH"), p)
        }
    }

    func testSinceTakesADateOrASpanAndRefusesTheRest() {
        let now = at(15)
        XCTAssertEqual(try ActivityReport.parseSince("30d", now: now).get(), now.addingTimeInterval(-30 * 86_400))
        XCTAssertEqual(try ActivityReport.parseSince(ActivityReport.dayName(day0), now: now).get(), day0)
        for bad in ["yesterday", "2026-02-30", "2026-13-01", "26-01-01", "0d", "-3d", ""] {
            guard case .failure = ActivityReport.parseSince(bad, now: now) else { return XCTFail("\(bad) was taken") }
        }
        guard case let .failure(p) = ActivityReport.parseSince(ActivityReport.dayName(at(48)), now: now) else { return XCTFail() }
        XCTAssertTrue(p.message.contains("future"), p.message)
        guard case .failure = ActivityReport.parseSince("1200d", now: now) else { return XCTFail("past the longest window") }
    }

    func testTheJSONShapeReadsBack() throws {
        var f = ActivityReport.Figures(flow: "prod")
        f.requests = 3; f.approved = 2; f.breakGlass = 1; f.approvalMedian = 1.5; f.approvalP90 = 60
        let r = ActivityReport(since: day0, until: at(5), flows: [f], total: f, days: [.init(date: "2027-01-15", requests: 3, grantsMax: 2)])
        let back = ActivityReport(json: try JSONValue.parse(r.json.compact))
        XCTAssertEqual(back?.flows, [f])
        XCTAssertEqual(back?.days, r.days)
        XCTAssertEqual(r.json["flows"]?.arrayValue?.first?["approval_seconds"]?["p90"], .int(60))
    }
}
