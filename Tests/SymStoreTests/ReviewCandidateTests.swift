import Foundation
import XCTest
import SymModel
@testable import SymStore

/// Who a request is routed to is kept as rows (request_approvers), written with the request and backfilled by
/// the migration that added them.
final class ReviewCandidateTests: XCTestCase {
    func pending(_ requester: String, routing: Routing) -> AccessRequest {
        var r = AccessRequest(flow: "f", target: nil, targetLabel: nil, requester: requester, createdAt: Date(),
                              requestExpiresAt: Date().addingTimeInterval(3600))
        r.routing = routing
        return r
    }

    func testRequestsRoutedToAUserOrTheirGroupsOrASteppedGroupAreCandidates() throws {
        let store = try SF.store(self)
        let byName = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(users: ["bob"])))) }
        let byGroup = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(groups: ["oncall"])))) }
        let bySteps = try store.write { tx in
            try tx.insert(pending("alice", routing: Routing(approvers: Approvers(), steps: [
                ApprovalStep(name: "peer", approvers: Approvers(groups: ["dba"]))])))
        }
        _ = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(users: ["carol"])))) }
        let found = try store.reviewCandidates(user: "bob", groups: ["oncall", "dba"], flows: ["f"], selfFlows: [])
        XCTAssertEqual(found.map(\.id), [bySteps.id, byGroup.id, byName.id])
        XCTAssertEqual(found.map(\.exact), [false, true, true], "steps need the full policy check")
    }

    func testTheMigrationBackfillsApproversOfExistingRequests() throws {
        let dir = NSTemporaryDirectory() + "symtui-rc-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/s.db"
        do {
            let store = try Store.openForWriting(path: path)
            _ = try store.write { try $0.insert(pending("alice", routing: Routing(approvers: Approvers(users: ["bob"], groups: ["ops"])))) }
            // As a store written before migration 4 would be.
            try store.db.execute("DROP TABLE request_approvers; PRAGMA user_version = 3;")
        }
        let store = try Store.openForWriting(path: path)
        XCTAssertEqual(store.schemaVersion, Schema.version)
        XCTAssertEqual(try store.reviewCandidates(user: "bob", groups: [], flows: ["f"], selfFlows: []).count, 1)
        XCTAssertEqual(try store.reviewCandidates(user: "zed", groups: ["ops"], flows: ["f"], selfFlows: []).count, 1)
        XCTAssertEqual(try store.reviewCandidates(user: "zed", groups: [], flows: ["f"], selfFlows: []).count, 0)
    }
}
