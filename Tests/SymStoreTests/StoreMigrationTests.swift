import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

/// `symtui store migrate`: a SQLite store copied into an empty PostgreSQL store, whole, its chain verifying there.
final class StoreMigrationTests: XCTestCase {
    func sqliteStore(requests: Int) throws -> Store {
        let store = try SF.store(self)
        for chunk in stride(from: 0, to: requests, by: 1_000) {
            try store.write { tx in
                for i in chunk..<min(chunk + 1_000, requests) {
                    var r = try tx.insert(SF.request(requester: "u\(i % 37)", created: Double(i)))
                    try tx.append(SF.draft(r, n: i), at: SF.at(Double(i)))
                    if i % 3 == 0 {
                        r.state = .approved
                        r.approvals = [Approval(user: "alice", at: SF.at(Double(i) + 1), reason: "ok", isSelf: false)]
                        try tx.update(r)
                        try tx.append(SF.draft(r, .approve, actor: "alice", n: i), at: SF.at(Double(i) + 1))
                    }
                }
            }
        }
        try store.write { tx in
            try tx.recordDelivered("siem", through: 42, at: SF.at(5))
            try tx.enqueue(OutboxItem(requestId: 1, kind: "request", channel: "mail", recipient: "alice", payload: "{}", createdAt: SF.at(1)))
        }
        return store
    }

    func testAStoreOfTenThousandRequestsArrivesWholeAndItsChainVerifies() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let source = try sqliteStore(requests: 10_000)
        let target = try PostgresStore(conninfo: conninfo)
        let counts = try StoreMigration.copy(from: source, to: target)
        XCTAssertEqual(counts.requests, 10_000)
        XCTAssertEqual(counts.events, Int(try source.lastSeq()))
        XCTAssertEqual(counts.approvals, 3_334)
        XCTAssertEqual(counts.cursors, 1)
        XCTAssertEqual(counts.notifications, 1)
        XCTAssertEqual(try target.read { try $0.count(RequestQuery()) }, 10_000)
        XCTAssertEqual(try target.read { try $0.count(RequestQuery(states: [.approved])) }, try source.count(RequestQuery(states: [.approved])))
        let v = try AuditVerifier(store: target).verify()
        XCTAssertTrue(v.ok, "\(v.problem.map { "\($0)" } ?? "")")
        XCTAssertEqual(v.headSeq, try source.lastSeq())
        XCTAssertEqual(v.headHash, try source.events(afterSeq: try source.lastSeq() - 1, limit: 1).first?.hash)
        for id: Int64 in [1, 4, 5_000, 10_000] { XCTAssertEqual(try target.read { try $0.request(id: id) }, try source.request(id: id)) }
        XCTAssertEqual(try target.read { try $0.delivery("siem") }.seq, 42)
        // The copy continues where the source stopped: the next id and the next seq follow on, the chain still links.
        let next = try target.write { tx -> AccessRequest in
            let r = try tx.insert(SF.request())
            try tx.append(SF.draft(r), at: SF.at(20_000))
            return r
        }
        XCTAssertEqual(next.id, 10_001)
        XCTAssertTrue(try AuditVerifier(store: target).verify().ok)
    }

    func testATargetThatIsNotEmptyIsRefusedAndLeftAsItWas() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let source = try sqliteStore(requests: 3)
        let target = try PostgresStore(conninfo: conninfo)
        try target.write { tx in try tx.append(SF.draft(try tx.insert(SF.request(requester: "zed"))), at: SF.at(1)) }
        XCTAssertThrowsError(try StoreMigration.copy(from: source, to: target)) { XCTAssertTrue("\($0)".contains("not empty"), "\($0)") }
        XCTAssertEqual(try target.read { try $0.requests(RequestQuery()) }.map(\.requester), ["zed"])
        XCTAssertEqual(try target.read { try $0.lastSeq() }, 1)
    }
}
