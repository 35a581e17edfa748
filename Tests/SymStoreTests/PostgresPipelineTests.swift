import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

/// How the PostgreSQL backend saves round trips (docs/store.md, "Round trips"): statements sent together in one
/// libpq pipeline, statements prepared once per connection, and the statements of a write whose results are not
/// read sent with the next one. Each shortcut must fail as loudly as the long way would.
final class PostgresPipelineTests: XCTestCase {
    func connection(preparing: Bool = false) throws -> PostgresConnection {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        return try PostgresConnection(conninfo: conninfo, preparing: preparing)
    }

    func testAPipelineReturnsEachStatementsRowsInOrder() throws {
        let c = try connection()
        let rows = try c.executePipeline([PostgresStatement("SELECT $1::int + 1", ["1"]), PostgresStatement("SELECT 'b'"),
                                          PostgresStatement("SELECT x FROM generate_series(1, $1::int) x", ["3"])])
        XCTAssertEqual(rows, [[["2"]], [["b"]], [["1"], ["2"], ["3"]]])
    }

    func testAFailingStatementInAPipelineThrowsItsStateRunsNothingAfterItAndLeavesTheConnectionUsable() throws {
        let c = try connection()
        try c.execute("CREATE TABLE t(n int)")
        XCTAssertThrowsError(try c.executePipeline([PostgresStatement("INSERT INTO t VALUES (1)"), PostgresStatement("SELECT 1 / $1::int", ["0"]),
                                                    PostgresStatement("INSERT INTO t VALUES (3)")])) {
            XCTAssertEqual(($0 as? PostgresError)?.sqlState, "22012", "\($0)")
        }
        // Outside a transaction, a pipeline up to its sync is one implicit transaction: the first INSERT went too.
        XCTAssertEqual(try c.execute("SELECT count(*) FROM t"), [["0"]])
        XCTAssertTrue(c.isHealthy)
    }

    func testAPreparedStatementRunsAgainWithOtherParameters() throws {
        let c = try connection(preparing: true)
        for n in 1...3 {
            XCTAssertEqual(try c.executePipeline([PostgresStatement("SELECT $1::int * 10", [String(n)])]), [[[String(n * 10)]]])
        }
    }

    func testAStatementTheServerRefusedToPrepareIsPreparedAgainNextTime() throws {
        let c = try connection(preparing: true)
        let select = PostgresStatement("SELECT n FROM later WHERE n = $1::int", ["7"])
        XCTAssertThrowsError(try c.executePipeline([select])) { XCTAssertEqual(($0 as? PostgresError)?.sqlState, "42P01", "\($0)") }
        try c.execute("CREATE TABLE later(n int)")
        try c.execute("INSERT INTO later VALUES (7)")
        XCTAssertEqual(try c.executePipeline([select]), [[["7"]]], "not \"prepared statement does not exist\"")
    }

    func testAStatementAfterAFailedOneInTheSamePipelineIsPreparedWhenItRunsAgain() throws {
        let c = try connection(preparing: true)
        let second = PostgresStatement("SELECT $1::text || '!'", ["hi"])
        XCTAssertThrowsError(try c.executePipeline([PostgresStatement("SELECT 1 / $1::int", ["0"]), second]))
        XCTAssertEqual(try c.executePipeline([second]), [[["hi!"]]])
    }

    // MARK: the store's writes

    func store() throws -> PostgresStore {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        return try PostgresStore(conninfo: conninfo)
    }

    func testAQueuedChangeThatFailsFailsTheWholeWrite() throws {
        let store = try store()
        let r = try store.write { try $0.insert(SF.request()) }
        XCTAssertThrowsError(try store.write { tx in
            var held = try XCTUnwrap(tx.request(id: r.id))
            held.extends = 999_999   // no such request: the row's foreign key refuses it, when the statement reaches the server
            XCTAssertTrue(try tx.update(held, expectedState: .pending))
            try tx.append(SF.draft(held), at: SF.at(2))
        }) { XCTAssertTrue("\($0)".contains("foreign key"), "\($0)") }
        XCTAssertNil(try store.read { try $0.request(id: r.id) }?.extends)
        XCTAssertEqual(try store.read { try $0.lastSeq() }, 0, "the write's event went with it")
    }

    func testAnUpdateExpectingAnotherStateThanTheHeldRowHasChangesNothing() throws {
        let store = try store()
        let r = try store.write { try $0.insert(SF.request()) }
        let changed = try store.write { tx -> Bool in
            var held = try XCTUnwrap(tx.request(id: r.id))
            held.state = .denied
            return try tx.update(held, expectedState: .approved)
        }
        XCTAssertFalse(changed)
        XCTAssertEqual(try store.read { try $0.request(id: r.id) }?.state, .pending)
    }

    func testAHeldRowUpdatedTwiceInOneWriteExpectsItsNewState() throws {
        let store = try store()
        let r = try store.write { try $0.insert(SF.request()) }
        try store.write { tx in
            var held = try XCTUnwrap(tx.request(id: r.id))
            held.state = .approved
            XCTAssertTrue(try tx.update(held, expectedState: .pending))
            XCTAssertFalse(try tx.update(held, expectedState: .pending), "it is approved now")
            held.state = .active
            XCTAssertTrue(try tx.update(held, expectedState: .approved))
        }
        XCTAssertEqual(try store.read { try $0.request(id: r.id) }?.state, .active)
    }

    func testARequestRecordedAfterThePendingCountIsStoredUnderTheIDItWasGiven() throws {
        let store = try store()
        let first = try store.write { tx -> AccessRequest in
            XCTAssertEqual(try tx.pendingCount(requester: "rita"), 0)
            return try tx.insert(SF.request())
        }
        XCTAssertEqual(try store.read { try $0.request(id: first.id) }?.requester, "rita")
        // A count that recorded nothing burns its id, as a rolled-back insert does; the next request is still later.
        _ = try store.write { try $0.pendingCount(requester: "rita") }
        let second = try store.write { tx -> AccessRequest in
            XCTAssertEqual(try tx.pendingCount(requester: "rita"), 1)
            return try tx.insert(SF.request())
        }
        XCTAssertGreaterThan(second.id, first.id)
        XCTAssertEqual(try store.read { try $0.requests(RequestQuery(limit: 10)) }.map(\.id).sorted(), [first.id, second.id])
    }

    func testAWriteThatSendsNoStatementLeavesNoTransactionOpen() throws {
        let store = try store()
        XCTAssertEqual(try store.write { _ in 42 }, 42)
        _ = try store.write { try $0.insert(SF.request()) }
        let open = try store.execute("""
            SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'
            """)
        XCTAssertEqual(open, [["0"]])
    }
}

/// A server that stops answering (hung, or cut off while TCP still trusts the connection) fails the call after the
/// connection's reply timeout, as a lost connection ("store unavailable" to the daemon), instead of holding it.
final class PostgresReplyTimeoutTests: XCTestCase {
    func testACallToAServerThatStoppedAnsweringFailsAfterTheReplyTimeoutAndClosesTheConnection() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let c = try PostgresConnection(conninfo: conninfo, replyTimeout: 0.5)
        let backend = c.backendPID
        XCTAssertEqual(kill(backend, SIGSTOP), 0)
        defer { kill(backend, SIGCONT) }
        let start = Date()
        XCTAssertThrowsError(try c.execute("SELECT 1")) { error in
            XCTAssertTrue((error as? PostgresError)?.isConnectionFailure ?? false, "\(error)")
            XCTAssertTrue("\(error)".contains("did not answer"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertFalse(c.isHealthy, "closed: the next call opens a new one")
    }

    func testAPipelineToAServerThatStoppedAnsweringFailsTheSameWay() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let c = try PostgresConnection(conninfo: conninfo, preparing: true, replyTimeout: 0.5)
        let backend = c.backendPID
        XCTAssertEqual(kill(backend, SIGSTOP), 0)
        defer { kill(backend, SIGCONT) }
        XCTAssertThrowsError(try c.executePipeline([PostgresStatement("SELECT $1::int", ["1"]), PostgresStatement("SELECT 2")])) {
            XCTAssertTrue("\($0)".contains("did not answer"), "\($0)")
        }
        XCTAssertFalse(c.isHealthy)
    }

    func testAStatementThatFailsOnTheServerStillReportsItsOwnError() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let c = try PostgresConnection(conninfo: conninfo, replyTimeout: 5)
        XCTAssertThrowsError(try c.executeScript("SELECT 1; SELECT 1 / 0; SELECT 3")) {
            XCTAssertEqual(($0 as? PostgresError)?.sqlState, "22012", "\($0)")
        }
        XCTAssertEqual(try c.executeScript("SELECT 1; SELECT 2"), [["2"]], "a script's last statement's rows")
    }
}
