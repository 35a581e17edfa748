import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

/// Sorted and regex-filtered reads: the daemon shapes the whole list before paging, so a page is a window of the
/// sorted whole, not a sorted window.
final class ShapedReadTests: EngineBackendCase {
    func ids(_ pairs: [(String, JSONValue?)]) -> [Int64] {
        JSONValue.obj(pairs)["requests"]?.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
    }

    func world(_ h: EngineHarness) throws -> (ReadService, [AccessRequest]) {
        // Newest first: job (sam), two (rita), access (sam), job (rita), access (rita).
        let made = [try h.request("access", by: h.rita), try h.request("job", duration: nil, by: h.rita), try h.request("access", by: h.sam),
                    try h.request("two", by: h.rita), try h.request("job", duration: nil, by: h.sam)]
        return (h.readService(), made)
    }

    func testASortedReviewPageIsTheFirstWindowOfTheSortedWhole() throws {
        try eachBackend { h in
            let (service, made) = try self.world(h)
            let shape = ListShape(sort: .flow)
            let first = ids(try service.answer(.review(search: nil, offset: 0, limit: 2, shape: shape), caller: h.alice))
            let second = ids(try service.answer(.review(search: nil, offset: 2, limit: 2, shape: shape), caller: h.alice))
            // access #1 and #3 are the oldest: an unsorted first page (the newest two) would not hold them.
            XCTAssertEqual(first, [made[2].id, made[0].id])
            XCTAssertEqual(second, [made[4].id, made[1].id])
        }
    }

    func testAReversedSortComesFromTheOtherEnd() throws {
        try eachBackend { h in
            let (service, made) = try self.world(h)
            let page = ids(try service.answer(.review(search: nil, offset: 0, limit: 1, shape: ListShape(sort: .flow, descending: true)), caller: h.alice))
            XCTAssertEqual(page, [made[3].id], "two sorts last by flow")
        }
    }

    func testARegexReadCountsTheMatchesOfTheWholeList() throws {
        try eachBackend { h in
            let (service, made) = try self.world(h)
            var q = RequestQuery(limit: 1)
            q.shape = ListShape(regex: "^jo")
            let pairs = try service.answer(.requests(q, count: true), caller: h.alice)
            XCTAssertEqual(ids(pairs), [made[4].id])
            XCTAssertEqual(JSONValue.obj(pairs)["total"]?.intValue, 2)
        }
    }

    func testAnInvertedRegexReadKeepsTheRest() throws {
        try eachBackend { h in
            let (service, made) = try self.world(h)
            var q = RequestQuery(limit: 10)
            q.shape = ListShape(regex: "^(job|two)$", invert: true)
            XCTAssertEqual(ids(try service.answer(.requests(q, count: true), caller: h.alice)), [made[2].id, made[0].id])
        }
    }

    func testARegexMatchesTheRequesterCaseInsensitively() throws {
        try eachBackend { h in
            let (service, _) = try self.world(h)
            var q = RequestQuery(limit: 10)
            q.shape = ListShape(regex: "^SAM$")
            let pairs = try service.answer(.requests(q, count: true), caller: h.alice)
            XCTAssertEqual(JSONValue.obj(pairs)["total"]?.intValue, 2)
        }
    }

    func testARegexMatchesAFieldValueAsItIsWritten() throws {
        try eachBackend { h in
            let (service, made) = try self.world(h)
            var q = RequestQuery(limit: 10)
            q.shape = ListShape(regex: "^1h$")   // the duration field: access, access, two (job has none)
            XCTAssertEqual(ids(try service.answer(.requests(q, count: true), caller: h.alice)), [made[3].id, made[2].id, made[0].id])
            XCTAssertEqual(ids(try service.answer(.review(search: nil, offset: 0, limit: 10, shape: q.shape), caller: h.alice)),
                           [made[3].id, made[2].id, made[0].id])
        }
    }

    func testARegexThatBacktracksCatastrophicallyIsStoppedByTheMatchBudget() throws {
        try eachBackend { h in
            let (service, _) = try self.world(h)
            _ = try h.execute(.request(flow: "access", target: "db", fields: [:], duration: "1h",
                                       reason: String(repeating: "a", count: 40) + "!"), by: h.sam)
            var q = RequestQuery(limit: 10)
            q.shape = ListShape(regex: "(a+)+$")
            let started = Date()
            XCTAssertThrowsError(try service.answer(.requests(q, count: true), caller: h.alice)) {
                XCTAssertEqual(($0 as? CommandError)?.code, ExitCode.dataErr, "the caller's input, not the store: \($0)")
                XCTAssertTrue("\($0)".contains("took longer than 1 s"), "\($0)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 10, "the read gave up at its budget, not after the match")
        }
    }

    func testTheDefaultOrderIsUnchangedWithoutAShape() throws {
        try eachBackend { h in
            let (service, made) = try self.world(h)
            XCTAssertEqual(ids(try service.answer(.review(search: nil, offset: 0, limit: 10), caller: h.alice)), made.reversed().map(\.id))
        }
    }
}
