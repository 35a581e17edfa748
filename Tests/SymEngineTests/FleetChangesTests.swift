import Foundation
import XCTest
import SymModel
import SymStore
import SymTestSupport
import Synchronization
@testable import SymEngine

/// A daemon on a PostgreSQL store hears the other daemons' commits: they reach its change feed with their ids (its
/// subscribers read again) and wake its grant loop. Two `PostgresStore`s on the run's real cluster are the two daemons.
final class FleetChangesTests: XCTestCase {
    final class Wakes: Sendable { let count = Atomic<Int>(0) }

    func testAnotherDaemonsCommitReachesThisDaemonsChangeFeedWithItsIDsAndWakesItsGrantLoop() throws {
        let cluster = try PostgresCluster.shared()
        let conninfo = try cluster.freshSchema().conninfo
        let mine = try PostgresStore(conninfo: conninfo, hostName: "a"), other = try PostgresStore(conninfo: conninfo, hostName: "b")
        let feed = ChangeFeed()
        let wakes = Wakes()
        let listener = try XCTUnwrap(FleetChanges.start(store: mine, feed: feed, wake: { wakes.count.add(1, ordering: .sequentiallyConsistent) }))
        defer { listener.stop() }
        let deadline = Date().addingTimeInterval(30)
        while !listener.isConnected && Date() < deadline { usleep(10_000) }
        let before = feed.version.load(ordering: .sequentiallyConsistent)
        let r = try other.write { tx in
            try tx.insert(AccessRequest(flow: "prod", target: nil, targetLabel: nil, requester: "rita", state: .pending, durationSeconds: nil,
                                        createdAt: Date(), requestExpiresAt: Date().addingTimeInterval(3600), requiredApprovals: 1, extends: nil))
        }
        while feed.version.load(ordering: .sequentiallyConsistent) == before && Date() < deadline { usleep(5_000) }
        let after = feed.version.load(ordering: .sequentiallyConsistent)
        XCTAssertGreaterThan(after, before, "the other daemon's commit reached the feed")
        XCTAssertEqual(feed.changes(since: before, through: after), [r.id])
        XCTAssertGreaterThanOrEqual(wakes.count.load(ordering: .sequentiallyConsistent), 1)
    }

    /// Commits made between the daemon's start and its listener's first LISTEN were heard by nobody: whoever
    /// subscribed meanwhile reads again.
    func testTheListenersFirstConnectionTellsTheFeedThatAnythingMayHaveChanged() throws {
        let conninfo = try PostgresCluster.shared().freshSchema().conninfo
        let feed = ChangeFeed()
        let listener = try XCTUnwrap(FleetChanges.start(store: try PostgresStore(conninfo: conninfo), feed: feed, wake: {}))
        defer { listener.stop() }
        let deadline = Date().addingTimeInterval(30)
        while !listener.isConnected && Date() < deadline { usleep(10_000) }
        let version = feed.version.load(ordering: .sequentiallyConsistent)
        XCTAssertEqual(version, 1)
        XCTAssertNil(feed.changes(since: 0, through: version), "anything may have changed")
    }

    func testADaemonOnSQLiteListensToNoFleet() throws {
        let dir = NSTemporaryDirectory() + "symtui-fleet-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = StoreWriter(try Store.openForWriting(path: dir + "/s.db"))
        XCTAssertNil(FleetChanges.start(store: store, feed: ChangeFeed(), wake: {}))
    }
}
