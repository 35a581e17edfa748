import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

/// The fleet's change feed between daemons: each `PostgresStore` is one daemon's, each `PostgresListener` hears the
/// other daemons' commits to the same store through `LISTEN/NOTIFY` on the run's real PostgreSQL cluster.
final class PostgresListenerTests: XCTestCase {
    /// What a listener reported, in order, and a way to wait for a report that matches.
    final class Reports: @unchecked Sendable {
        private let lock = NSCondition()
        private var all: [Set<Int64>?] = []
        func add(_ ids: Set<Int64>?) { lock.lock(); all.append(ids); lock.broadcast(); lock.unlock() }
        var list: [Set<Int64>?] { lock.lock(); defer { lock.unlock() }; return all }
        /// Waits (generously) for a report that `matches`; false when none came.
        func wait(timeout: TimeInterval = 30, _ matches: (Set<Int64>?) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            lock.lock(); defer { lock.unlock() }
            while true {
                if all.contains(where: matches) { return true }
                guard lock.wait(until: deadline) else { return false }
            }
        }
    }

    private var listeners: [PostgresListener] = []
    override func tearDown() { listeners.forEach { $0.stop() }; listeners = [] }

    func fresh() throws -> (cluster: PostgresCluster, conninfo: String) {
        let cluster = try PostgresCluster.shared()
        let (_, conninfo) = try cluster.freshSchema()
        return (cluster, conninfo)
    }

    /// A started listener of `store` and what it reports; returns once it listens.
    func listening(_ store: PostgresStore, backoff: TimeInterval = 0.1) throws -> (PostgresListener, Reports) {
        let reports = Reports()
        let listener = store.makeListener { ids, _ in reports.add(ids) }
        listener.initialBackoff = backoff
        listener.maximumBackoff = 1
        listeners.append(listener)
        listener.start()
        let deadline = Date().addingTimeInterval(30)
        while !listener.isConnected && Date() < deadline { usleep(10_000) }
        XCTAssertTrue(listener.isConnected, "the listener did not connect")
        return (listener, reports)
    }

    func testACommitThroughOneStoreReachesAnotherStoresListenerWithItsIDs() throws {
        let (_, conninfo) = try fresh()
        let a = try PostgresStore(conninfo: conninfo, hostName: "a"), b = try PostgresStore(conninfo: conninfo, hostName: "b")
        let (_, heard) = try listening(b)
        let (r1, r2) = try a.write { tx in (try tx.insert(SF.request(created: 1)), try tx.insert(SF.request(created: 2))) }
        XCTAssertTrue(heard.wait { $0 != nil && !$0!.isEmpty }, "reports: \(heard.list)")
        XCTAssertEqual(heard.list.first, [r1.id, r2.id], "one report naming both requests of the commit")
    }

    func testAStoresOwnCommitsAreLeftToItsAfterCommit() throws {
        let (_, conninfo) = try fresh()
        let a = try PostgresStore(conninfo: conninfo, hostName: "a"), b = try PostgresStore(conninfo: conninfo, hostName: "b")
        let (_, heardByA) = try listening(a)
        let (_, heardByB) = try listening(b)
        let own = try a.write { try $0.insert(SF.request(created: 1)) }
        XCTAssertTrue(heardByB.wait { $0?.contains(own.id) ?? false }, "b hears a's commit")
        // b's listener heard a's notice; a's listener had the same notice to read and skipped it. A commit by b
        // afterwards is then the first thing a's listener reports.
        let other = try b.write { try $0.insert(SF.request(created: 2)) }
        XCTAssertTrue(heardByA.wait { $0?.contains(other.id) ?? false })
        XCTAssertEqual(heardByA.list, [[other.id]], "a's listener reports b's commit only")
    }

    func testACommitOfMoreRequestsThanANoticeNamesReportsThatAnythingChanged() throws {
        let (_, conninfo) = try fresh()
        let a = try PostgresStore(conninfo: conninfo), b = try PostgresStore(conninfo: conninfo)
        let (_, heard) = try listening(b)
        try a.write { tx in for n in 0...PostgresChangeNotice.maxIDs { _ = try tx.insert(SF.request(created: Double(n))) } }
        XCTAssertTrue(heard.wait { $0 == nil }, "reports: \(heard.list.map { $0?.count as Any })")
    }

    func testACommitToAStoreInAnotherSchemaOfTheDatabaseIsNotReported() throws {
        let (cluster, conninfo) = try fresh()
        let (_, otherSchema) = try cluster.freshSchema()
        let mine = try PostgresStore(conninfo: conninfo), elsewhere = try PostgresStore(conninfo: otherSchema)
        let (_, heard) = try listening(try PostgresStore(conninfo: conninfo))
        _ = try elsewhere.write { try $0.insert(SF.request(created: 1)) }
        let r = try mine.write { try $0.insert(SF.request(created: 2)) }
        XCTAssertTrue(heard.wait { $0?.contains(r.id) ?? false })
        XCTAssertEqual(heard.list, [[r.id]], "the other schema's commit (sent first) is not reported")
    }

    /// The server restarting drops the listening connection: the listener connects again by itself (with backoff,
    /// while the server is down) and reports nil first, because the notices sent in between were lost; then the
    /// commits after the restart arrive with their ids again.
    func testAfterTheServerRestartsTheListenerReconnectsAndReportsThatAnythingMayHaveChanged() throws {
        let (cluster, conninfo) = try fresh()
        let a = try PostgresStore(conninfo: conninfo), b = try PostgresStore(conninfo: conninfo)
        let (listener, heard) = try listening(b)
        try cluster.stopImmediately()
        var restarted = false
        defer { if !restarted { try? cluster.start() } }
        let deadline = Date().addingTimeInterval(30)
        while listener.isConnected && Date() < deadline { usleep(20_000) }
        XCTAssertFalse(listener.isConnected, "the listener noticed the server going away")
        usleep(500_000)   // a few reconnect attempts fail meanwhile
        try cluster.start()
        restarted = true
        XCTAssertTrue(heard.wait { $0 == nil }, "a reconnect reports that anything may have changed; reports: \(heard.list)")
        XCTAssertGreaterThanOrEqual(listener.connections, 2)
        let r = try a.write { try $0.insert(SF.request(created: 1)) }
        XCTAssertTrue(heard.wait { $0?.contains(r.id) ?? false }, "commits after the restart arrive with their ids")
    }

    func testANoticeRoundTripsItsSenderSchemaAndIDs() {
        let notice = PostgresChangeNotice(sender: "s1", schema: "public", ids: [3, 1, 2])
        XCTAssertEqual(PostgresChangeNotice(payload: notice.payload), notice)
        XCTAssertEqual(notice.payload, #"{"from":"s1","ids":[1,2,3],"schema":"public"}"#)
    }

    func testANoticeWithoutIDsLeavesTheKeyOutAndEscapesItsStrings() {
        let notice = PostgresChangeNotice(sender: #"a"b"#, schema: "s\\1", ids: nil)
        XCTAssertEqual(notice.payload, #"{"from":"a\"b","schema":"s\\1"}"#)
        XCTAssertEqual(PostgresChangeNotice(payload: notice.payload), notice)
    }

    func testAPayloadIsKnownAsItsSendersByItsFirstKeyAlone() {
        let payload = PostgresChangeNotice(sender: "s1", schema: "public", ids: [1]).payload
        XCTAssertTrue(PostgresChangeNotice.payload(payload, isFrom: "s1"))
        XCTAssertFalse(PostgresChangeNotice.payload(payload, isFrom: "s"), "a prefix of the sender is another sender")
        XCTAssertFalse(PostgresChangeNotice.payload(payload, isFrom: "s12"))
        XCTAssertFalse(PostgresChangeNotice.payload(#"{"schema":"public","from":"s1"}"#, isFrom: "s1"),
                       "a payload written otherwise is read, not skipped")
    }

    func testANoticeSaysTheWorkItsRowsLeaveAsNowNoneOrADeadlineInMilliseconds() {
        for work in [LoopWork.now, LoopWork.none, LoopWork.at(Date(timeIntervalSince1970: 1_800_000_000.25))] {
            let notice = PostgresChangeNotice(sender: "s1", schema: "public", ids: [1], work: work)
            XCTAssertEqual(PostgresChangeNotice(payload: notice.payload), notice)
        }
        XCTAssertEqual(PostgresChangeNotice(sender: "s", schema: "p", ids: [1], work: .at(Date(timeIntervalSince1970: 1.0001))).payload,
                       #"{"from":"s","ids":[1],"schema":"p","work":1001}"#, "rounded up: a loop woken for it is not early")
        XCTAssertNil(PostgresChangeNotice(payload: #"{"from":"s","ids":[1],"schema":"p","work":"later"}"#).work,
                     "a work this version cannot read is not said")
        XCTAssertNil(PostgresChangeNotice(payload: #"{"from":"s","ids":[1],"schema":"p"}"#).work, "an older daemon's notice does not say its work")
    }

    func testAPayloadThatCannotBeReadMeansAnythingChanged() {
        XCTAssertNil(PostgresChangeNotice(payload: "").ids)
        XCTAssertNil(PostgresChangeNotice(payload: #"{"from":"x","ids":"1"}"#).ids)
        XCTAssertNil(PostgresChangeNotice(sender: "x", schema: "s", ids: Set(0...Int64(PostgresChangeNotice.maxIDs))).ids,
                     "more ids than a notice names")
    }
}
