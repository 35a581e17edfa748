import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// Every read of the daemon's read API answers alike on both store backends: the SQLite file through read-only
/// connections, PostgreSQL through connections of the reader's own.
final class ReadBackendTests: EngineBackendCase {
    func ids(_ pairs: [(String, JSONValue?)], _ key: String = "requests") -> [Int64] {
        JSONValue.obj(pairs)[key]?.arrayValue?.compactMap { $0["id"]?.intValue ?? $0["seq"]?.intValue } ?? []
    }

    func seqs(_ pairs: [(String, JSONValue?)]) -> [Int64] {
        JSONValue.obj(pairs)["events"]?.arrayValue?.compactMap { $0["seq"]?.intValue } ?? []
    }

    func types(_ pairs: [(String, JSONValue?)]) -> [String] {
        JSONValue.obj(pairs)["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
    }

    func testARequestIsReadWithItsEventsInChainOrder() throws {
        try eachBackend { h in
            let grant = try h.activeGrant()
            let pairs = try h.readService().answer(.request(id: grant.id), caller: h.rita)
            XCTAssertEqual(JSONValue.obj(pairs)["request"]?["state"]?.stringValue, "active")
            XCTAssertEqual(types(pairs), ["request", "approve", "escalate"])
        }
    }

    func testEventsAreReadAfterASeqForOneRequestAndWithinATimeWindow() throws {
        try eachBackend { h in
            let first = try h.request()
            h.clock.advance(60)
            let second = try h.request()
            try h.execute(.approve(id: second.id, reason: nil), by: h.alice)
            let service = h.readService()
            let all = seqs(try service.answer(.events(afterSeq: 0, limit: 100, requestId: nil, since: nil, until: nil), caller: h.rita))
            XCTAssertEqual(all, [1, 2, 3])
            XCTAssertEqual(seqs(try service.answer(.events(afterSeq: 1, limit: 1, requestId: nil, since: nil, until: nil), caller: h.rita)), [2])
            XCTAssertEqual(seqs(try service.answer(.events(afterSeq: 0, limit: 100, requestId: second.id, since: nil, until: nil), caller: h.rita)),
                           [2, 3])
            XCTAssertEqual(seqs(try service.answer(.events(afterSeq: 0, limit: 100, requestId: first.id, since: nil, until: nil), caller: h.rita)),
                           [1])
            let later = EngineHarness.t0.addingTimeInterval(30)
            XCTAssertEqual(seqs(try service.answer(.events(afterSeq: 0, limit: 100, requestId: nil, since: later, until: nil), caller: h.rita)),
                           [2, 3], "since is inclusive of what came after it")
            XCTAssertEqual(seqs(try service.answer(.events(afterSeq: 0, limit: 100, requestId: nil, since: nil, until: later), caller: h.rita)),
                           [1], "until is exclusive")
        }
    }

    func testTheAuditLogPagesNewestFirstWithItsTotalSearchedAndShaped() throws {
        try eachBackend { h in
            let r = try h.request(by: h.rita)
            _ = try h.request("job", by: h.sam)
            try h.execute(.approve(id: r.id, reason: nil), by: h.alice)
            let service = h.readService()
            let page = try service.answer(.audit(search: nil, offset: 1, limit: 1), caller: h.rita)
            XCTAssertEqual(seqs(page), [2])
            XCTAssertEqual(JSONValue.obj(page)["total"]?.intValue, 3)
            let sam = try service.answer(.audit(search: "sam", offset: 0, limit: 10), caller: h.rita)
            XCTAssertEqual(seqs(sam), [2])
            XCTAssertEqual(JSONValue.obj(sam)["total"]?.intValue, 1)
            let shaped = try service.answer(.audit(search: nil, offset: 0, limit: 10, shape: ListShape(regex: "^approve$")), caller: h.rita)
            XCTAssertEqual(seqs(shaped), [3])
            XCTAssertEqual(JSONValue.obj(shaped)["total"]?.intValue, 1)
            XCTAssertEqual(seqs(try service.answer(.lastEvents(count: 2), caller: h.rita)), [2, 3], "the newest, oldest first")
        }
    }

    func testAReviewSearchNarrowsTheQueueAndKeepsItsOrder() throws {
        try eachBackend { h in
            let a = try h.request("access", by: h.rita)
            _ = try h.request("job", by: h.rita)
            let c = try h.request("access", by: h.sam)
            let pairs = try h.readService().answer(.review(search: "access", offset: 0, limit: 10), caller: h.alice)
            XCTAssertEqual(ids(pairs), [c.id, a.id])
            XCTAssertEqual(JSONValue.obj(pairs)["total"]?.intValue, 2)
        }
    }

    func testAReviewQueueFollowsTheCommitsOfTheDaemon() throws {
        try eachBackend { h in
            let feed = ChangeFeed()
            h.opened?.afterCommit = { feed.committed($0) }
            h.postgres?.afterCommit = { feed.committed($0) }
            let service = h.readService(feed: feed)
            func queue() throws -> [Int64] { ids(try service.answer(.review(search: nil, offset: 0, limit: 10), caller: h.alice)) }
            let r = try h.request()
            XCTAssertEqual(try queue(), [r.id])
            let s = try h.request(by: h.sam)
            XCTAssertEqual(try queue(), [s.id, r.id])
            try h.execute(.approve(id: r.id, reason: nil), by: h.alice)
            XCTAssertEqual(try queue(), [s.id], "decided: out of the queue")
        }
    }

    func testMetricsAndDeliveryCountTheStore() throws {
        try eachBackend { h in
            _ = try h.activeGrant()
            let denied = try h.request()
            try h.execute(.deny(id: denied.id, reason: "no"), by: h.alice)
            _ = try h.request()
            let service = h.readService()
            let m = JSONValue.obj(try service.answer(.metrics, caller: h.rita))
            XCTAssertEqual(m["requests"]?["active"]?.intValue, 1)
            XCTAssertEqual(m["requests"]?["denied"]?.intValue, 1)
            XCTAssertEqual(m["requests"]?["pending"]?.intValue, 1)
            XCTAssertEqual(m["requests"]?["expired"]?.intValue, 0)
            XCTAssertEqual(m["grants_active"]?.intValue, 1)
            XCTAssertEqual(m["approval_latency"]?["count"]?.intValue, 1)
            XCTAssertEqual(m["approval_latency"]?["counts"]?.arrayValue?.first?.intValue, 1, "approved at once: within the first bound")
            let head = try h.store.lastSeq()
            XCTAssertEqual(m["head_seq"]?.intValue, head)
            let d = JSONValue.obj(try service.answer(.delivery, caller: h.rita))
            XCTAssertEqual(d["head_seq"]?.intValue, head)
            XCTAssertEqual(d["destinations"]?.arrayValue?.count, 0)
        }
    }

    func testShapedRequestListsSortAndMatchAlike() throws {
        try eachBackend { h in
            let made = [try h.request("access", by: h.rita), try h.request("job", duration: nil, by: h.sam), try h.request("two", by: h.rita)]
            let service = h.readService()
            var q = RequestQuery(limit: 10)
            q.shape = ListShape(sort: .requester)
            XCTAssertEqual(ids(try service.answer(.requests(q, count: true), caller: h.rita)), [made[2].id, made[0].id, made[1].id])
            q.shape = ListShape(regex: "^1h$", invert: true)
            let pairs = try service.answer(.requests(q, count: true), caller: h.rita)
            XCTAssertEqual(ids(pairs), [made[1].id], "only the job has no 1h duration")
            XCTAssertEqual(JSONValue.obj(pairs)["total"]?.intValue, 1)
        }
    }
}

/// Decisions on a PostgreSQL store shared by two daemons: each is made exactly once, whichever daemon takes it.
final class FleetDecisionTests: XCTestCase {
    func testTwoDaemonsApprovingOneRequestAtOnceDecideItOnce() throws {
        let h = try EngineHarness(self, backend: .postgresql)
        let other = Engine(config: h.engine.config, store: try PostgresStore(conninfo: try XCTUnwrap(h.postgres).conninfo, hostName: "bastion-b"),
                           now: { [clock = h.clock] in clock.now })
        for _ in 0..<10 {
            let r = try h.request()
            let outcomes = NSLock()
            nonisolated(unsafe) var won = 0
            nonisolated(unsafe) var lost: [String] = []
            let engines = [h.engine, other]
            let approvers = [h.alice, h.bob]
            DispatchQueue.concurrentPerform(iterations: 8) { i in
                let approver = approvers[(i / 2) % 2]
                switch engines[i % 2].execute(.approve(id: r.id, reason: nil), by: approver) {
                case .success: outcomes.withLock { won += 1 }
                case let .failure(e): outcomes.withLock { lost.append(e.message) }
                }
            }
            XCTAssertEqual(won, 1, "approved once: \(lost)")
            XCTAssertEqual(lost.count, 7)
            XCTAssertEqual(try h.events(r).filter { $0 == .approve }.count, 1)
            XCTAssertEqual(try h.current(r).state, .approved)
        }
        let verification = try h.store.writer.read { reads in try reads.lastSeq() }
        XCTAssertEqual(verification, 20, "10 requests, 10 approvals: one gapless chain")
    }
}
