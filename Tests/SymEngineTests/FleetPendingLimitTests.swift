import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// `limits.pending_per_user` on a store shared by several daemons: the count of a user's pending requests and the
/// insert of a new one happen in one transaction, and two daemons recording requests for the same user take turns
/// (the store's requester lock), so the limit holds across the fleet.
final class FleetPendingLimitTests: XCTestCase {
    func testTwoDaemonsAdmittingRequestsForOneUserAtOnceKeepToPendingPerUser() throws {
        let h = try EngineHarness(self, backend: .postgresql)
        let a = try XCTUnwrap(h.postgres)
        let b = try PostgresStore(conninfo: a.conninfo, hostName: "bastion-b")
        var config = h.engine.config
        config.limits.pendingPerUser = 3
        let clock = h.clock
        let engines = [Engine(config: config, store: a, now: { clock.now }), Engine(config: config, store: b, now: { clock.now })]
        let threadsPerEngine = 8
        // A round per user: without the lock, two daemons count the same pending requests in some round of six.
        for user in [h.rita, h.alice, h.bob, h.sam, h.olga, h.mallory] {
            let outcomes = Outcomes()
            DispatchQueue.concurrentPerform(iterations: threadsPerEngine * engines.count) { t in
                let call = ChangeCall.request(flow: "access", target: "db", fields: [:], duration: "1h", reason: nil)
                switch engines[t % engines.count].execute(call, by: user) {
                case .success: outcomes.add("admitted")
                case let .failure(e) where e.message.contains("limits.pending_per_user"): outcomes.add("refused")
                case let .failure(e): outcomes.add("\(e.code) \(e.message)")
                }
            }
            XCTAssertEqual(outcomes.counts, ["admitted": 3, "refused": threadsPerEngine * engines.count - 3], user.name)
            XCTAssertEqual(try h.store.requests(RequestQuery(states: [.pending], requester: user.name)).count, 3, user.name)
        }
        XCTAssertEqual(try h.store.writer.read { try $0.lastSeq() }, 6 * 3, "one request event each, none for a refusal")
    }
}

private final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String: Int] = [:]
    func add(_ outcome: String) { lock.withLock { seen[outcome, default: 0] += 1 } }
    var counts: [String: Int] { lock.withLock { seen } }
}
