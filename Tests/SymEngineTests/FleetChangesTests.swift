import Foundation
import XCTest
import SymModel
@testable import SymStore
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
        let listener = try XCTUnwrap(FleetChanges.start(store: mine, feed: feed, wake: { _ in wakes.count.add(1, ordering: .sequentiallyConsistent) }))
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
        // The wake follows the feed: its work is read first (a new request: its TTL).
        while wakes.count.load(ordering: .sequentiallyConsistent) == 0 && Date() < deadline { usleep(5_000) }
        XCTAssertGreaterThanOrEqual(wakes.count.load(ordering: .sequentiallyConsistent), 1)
    }

    /// Commits made between the daemon's start and its listener's first LISTEN were heard by nobody: whoever
    /// subscribed meanwhile reads again.
    func testTheListenersFirstConnectionTellsTheFeedThatAnythingMayHaveChanged() throws {
        let conninfo = try PostgresCluster.shared().freshSchema().conninfo
        let feed = ChangeFeed()
        let listener = try XCTUnwrap(FleetChanges.start(store: try PostgresStore(conninfo: conninfo), feed: feed, wake: { _ in }))
        defer { listener.stop() }
        let deadline = Date().addingTimeInterval(30)
        while !listener.isConnected && Date() < deadline { usleep(10_000) }
        let version = feed.version.load(ordering: .sequentiallyConsistent)
        XCTAssertEqual(version, 1)
        XCTAssertNil(feed.changes(since: 0, through: version), "anything may have changed")
    }

    /// Another bastion's commit wakes this daemon's grant loop only for work it made: a new request brings its TTL, an
    /// approved grant work at once, an approval-only decision nothing.
    func testAnotherDaemonsCommitWakesTheGrantLoopOnlyForTheWorkItMade() throws {
        let conninfo = try PostgresCluster.shared().freshSchema().conninfo
        let store = try PostgresStore(conninfo: conninfo)
        let work = FleetChanges.WorkOfChanges(store: store)
        let now = Date()
        func insert(_ state: RequestState, target: String?) throws -> AccessRequest {
            try store.write { tx in
                try tx.insert(AccessRequest(flow: "prod", target: target, targetLabel: nil, requester: "rita", state: state, durationSeconds: nil,
                                            createdAt: now, requestExpiresAt: now.addingTimeInterval(3600), requiredApprovals: 1, extends: nil))
            }
        }
        let pending = try insert(.pending, target: "db"), grant = try insert(.approved, target: "db"), note = try insert(.approved, target: nil)
        XCTAssertEqual(work.of([pending.id]), .at(try XCTUnwrap(store.read { try $0.request(id: pending.id) }).requestExpiresAt))
        XCTAssertEqual(work.of([note.id]), LoopWork.none)
        XCTAssertEqual(work.of([pending.id, grant.id, note.id]), .now)
        XCTAssertEqual(work.of(nil), .now, "anything may have changed")
        XCTAssertEqual(work.of([]), LoopWork.none)
    }

    /// This version's notices say the work their rows leave: the grant loop is woken for it and no request is read.
    /// The notices here name a request that does not exist, so reading it would find no work.
    func testANoticeThatSaysItsWorkWakesTheGrantLoopWithoutReadingTheRequests() throws {
        let conninfo = try PostgresCluster.shared().freshSchema().conninfo
        let mine = try PostgresStore(conninfo: conninfo, hostName: "a")
        let woken = Mutex<[LoopWork]>([])
        let listener = try XCTUnwrap(FleetChanges.start(store: mine, feed: ChangeFeed(), wake: { w in woken.withLock { $0.append(w) } }))
        defer { listener.stop() }
        let deadline = Date().addingTimeInterval(30)
        while !listener.isConnected && Date() < deadline { usleep(10_000) }
        let other = PostgresNotifier(conninfo: conninfo, sender: "other daemon")
        func heard(after post: () -> Void) -> LoopWork? {
            let before = woken.withLock { $0.count }
            post()
            while woken.withLock({ $0.count }) == before && Date() < deadline { usleep(5_000) }
            return woken.withLock { $0.count > before ? $0[before] : nil }
        }
        XCTAssertEqual(heard { other.post([999_999], work: .now) }, .now, "said: taken as said")
        let at = Date(timeIntervalSince1970: 2_000_000_000)
        XCTAssertEqual(heard { other.post([999_999], work: .at(at)) }, .at(at))
        XCTAssertEqual(heard { other.post([999_999], work: nil) }, LoopWork.none, "not said: read, and there is no such request")
    }

    func testADaemonOnSQLiteListensToNoFleet() throws {
        let dir = NSTemporaryDirectory() + "symtui-fleet-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = StoreWriter(try Store.openForWriting(path: dir + "/s.db"))
        XCTAssertNil(FleetChanges.start(store: store, feed: ChangeFeed(), wake: { _ in }))
    }
}
