import Foundation
import XCTest
import SymModel
@testable import SymStore

/// What `symtui metrics` and `symtui backup` ask of the store: counts from indexes, and a consistent standalone copy.
final class StoreOperationsTests: XCTestCase {
    func decided(_ r: AccessRequest, after seconds: Double, state: RequestState = .ended, denied: Bool = false, stuck: Bool = false) -> AccessRequest {
        var r = r
        r.state = state
        r.decidedAt = r.createdAt.addingTimeInterval(seconds)
        r.stuck = stuck
        if denied { r.denial = Denial(user: "ann", at: r.decidedAt!, reason: "no") }
        return r
    }

    func testMetricsCountRequestsByStateActiveAndStuckGrants() throws {
        let store = try SF.store(self)
        for _ in 0..<3 { try SF.insert(store, SF.request()) }
        try SF.insert(store, decided(SF.request(), after: 5, state: .active))
        try SF.insert(store, decided(SF.request(), after: 5, state: .deescalating, stuck: true))
        try SF.insert(store, decided(SF.request(), after: 5, state: .denied, denied: true))
        let m = try store.metrics()
        XCTAssertEqual(m.requestsByState[.pending], 3)
        XCTAssertEqual(m.requestsByState[.active], 1)
        XCTAssertEqual(m.requestsByState[.expired], 0, "every state is there, zeros included")
        XCTAssertEqual(m.requestsByState.count, RequestState.allCases.count)
        XCTAssertEqual(m.grantsActive, 1)
        XCTAssertEqual(m.grantsStuck, 1)
    }

    func testApprovalLatencyBucketsAreCumulativeAndLeaveOutDenials() throws {
        let store = try SF.store(self)
        try SF.insert(store, decided(SF.request(), after: 0.5))
        try SF.insert(store, decided(SF.request(), after: 45))
        try SF.insert(store, decided(SF.request(), after: 7_000))
        try SF.insert(store, decided(SF.request(), after: 3, state: .denied, denied: true))
        let h = try store.metrics().approvalLatency
        XCTAssertEqual(h.count, 3)
        XCTAssertEqual(h.sumSeconds, 7_045.5, accuracy: 0.001)
        let bucket = { (b: Double) in h.counts[h.bounds.firstIndex(of: b)!] }
        XCTAssertEqual([bucket(1), bucket(10), bucket(60), bucket(3600), bucket(7200), bucket(86400)], [1, 1, 2, 2, 3, 3])
    }

    func testHandlerFailuresCountOnlyRunsThatRecordedAnError() throws {
        let store = try SF.store(self)
        let r = try SF.insert(store, SF.request())
        try store.write { tx in
            _ = try tx.append(EventDraft(.handler, for: r, actor: "handler:on_request", reason: "timed out"), at: SF.at(1))
            _ = try tx.append(EventDraft(.handler, for: r, actor: "handler:on_request", reason: nil), at: SF.at(2))
            _ = try tx.append(EventDraft(.request, for: r, actor: "rita", reason: "a reason, not a failure"), at: SF.at(3))
        }
        XCTAssertEqual(try store.metrics().handlerFailures, 1)
    }

    func testMetricsQueriesReadIndexesNotTheWholeTables() throws {
        let store = try SF.store(self)
        var plans: [String] = []
        for sql in ["SELECT count(*) FROM events INDEXED BY events_handler_failures WHERE type = 'handler' AND reason IS NOT NULL",
                    "SELECT count(*) FROM requests INDEXED BY requests_approval_time WHERE decided_at - created_at > 0 AND decided_at - created_at <= 9 AND decided_at IS NOT NULL AND denial IS NULL",
                    "SELECT state, count(*) FROM requests GROUP BY state"] {
            try store.db.query("EXPLAIN QUERY PLAN " + sql) { plans.append($0.text(3)) }
        }
        for p in plans { XCTAssertTrue(p.contains("INDEX"), p) }
    }

    func testACopyIsAStandaloneStoreWhoseChainVerifies() throws {
        let dir = try SF.directory(self)
        let store = try Store.openForWriting(path: dir + "/symtui.db")
        for i in 0..<20 {
            let r = try SF.insert(store, SF.request())
            try store.write { tx in _ = try tx.append(SF.draft(r, n: i), at: SF.at(Double(i))) }
        }
        let copyPath = dir + "/copy.db"
        let reader = try Store.openReadOnly(path: dir + "/symtui.db")
        try reader.copy(into: copyPath)
        XCTAssertFalse(FileManager.default.fileExists(atPath: copyPath + "-wal"))
        let copy = try Store.openReadOnly(path: copyPath)
        let v = try AuditVerifier(store: copy).verify()
        XCTAssertTrue(v.ok)
        XCTAssertEqual(v.headSeq, 20)
        XCTAssertEqual(try copy.db.scalarInt("SELECT count(*) FROM requests"), 20)
    }

    func testACopyIsRefusedOverAFileThatIsNotEmpty() throws {
        let dir = try SF.directory(self)
        let store = try Store.openForWriting(path: dir + "/symtui.db")
        FileManager.default.createFile(atPath: dir + "/taken.db", contents: Data("not empty".utf8))
        XCTAssertThrowsError(try store.copy(into: dir + "/taken.db"))
        XCTAssertEqual(try String(contentsOfFile: dir + "/taken.db", encoding: .utf8), "not empty")
    }
}
