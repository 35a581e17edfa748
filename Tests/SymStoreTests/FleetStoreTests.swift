import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

// The fleet in the store, on every backend: a request's host and runs_on, the due strategy steps of one host, the
// heartbeat table, and the work waiting per host.

final class FleetStoreContractTests: StoreContractCase {
    func work(_ state: RequestState = .escalating, host: String? = "bastion-a", runsOn: String?, nextAttempt: Double? = nil) -> AccessRequest {
        var r = SF.request(state: state)
        r.host = host
        r.runsOn = runsOn
        r.nextAttemptAt = nextAttempt.map(SF.at)
        return r
    }

    func testARequestKeepsTheHostItWasMadeOnAndTheHostThatRunsIt() throws {
        try eachBackend { store, db in
            let r = try insert(store, work(.pending, host: "bastion-a", runsOn: "bastion-b"))
            var decided = r
            decided.state = .approved
            decided.host = "elsewhere"; decided.runsOn = nil
            XCTAssertTrue(try store.write { try $0.update(decided) })
            let read = try db.request(id: r.id)
            XCTAssertEqual(read?.host, "bastion-a", "fixed when made: an update does not move it")
            XCTAssertEqual(read?.runsOn, "bastion-b")
        }
    }

    func testTheDueStepsOfOneHostAreItsOwnAndThoseAnyHostMayRun() throws {
        try eachBackend { store, db in
            let mine = try insert(store, work(runsOn: "bastion-a"))
            let anyone = try insert(store, work(.deescalating, runsOn: nil))
            let theirs = try insert(store, work(runsOn: "bastion-b"))
            let theirRetry = try insert(store, work(.deescalating, runsOn: "bastion-b", nextAttempt: 1))
            XCTAssertEqual(Set(try db.strategyWorkDue(now: SF.at(10), limit: 10, host: "bastion-a").map(\.id)), [mine.id, anyone.id])
            XCTAssertEqual(Set(try db.strategyWorkDue(now: SF.at(10), limit: 10, host: "bastion-b").map(\.id)), [anyone.id, theirs.id, theirRetry.id])
            XCTAssertEqual(try db.strategyWorkDue(now: SF.at(10), limit: 10, host: "bastion-c").map(\.id), [anyone.id])
            XCTAssertEqual(try db.strategyWorkDue(now: SF.at(10), limit: 10).count, 4, "without a host: everything due")
        }
    }

    func testAnotherHostsOverdueRetryIsNotThisHostsNextDueTime() throws {
        try eachBackend { store, db in
            try insert(store, work(runsOn: "bastion-b", nextAttempt: 5))
            XCTAssertNil(try db.nextDueTime(host: "bastion-a"), "bastion-b's retry must not keep bastion-a's loop awake")
            XCTAssertEqual(try db.nextDueTime(host: "bastion-b"), SF.at(5))
            try insert(store, work(runsOn: nil, nextAttempt: 7))
            XCTAssertEqual(try db.nextDueTime(host: "bastion-a"), SF.at(7), "a step any host runs is everyone's")
            XCTAssertEqual(try db.nextDueTime(), SF.at(5))
        }
    }

    func testAHeartbeatKeepsOneRowPerHostWithItsLatestValues() throws {
        try eachBackend { store, db in
            try store.write { try $0.recordHeartbeat(HostRecord(host: "bastion-b", version: "0.1.0", pid: 10, startedAt: SF.at(0), seenAt: SF.at(1))) }
            try store.write { try $0.recordHeartbeat(HostRecord(host: "bastion-a", version: "0.1.0", pid: 20, startedAt: SF.at(0), seenAt: SF.at(2))) }
            try store.write { try $0.recordHeartbeat(HostRecord(host: "bastion-b", version: "0.2.0", pid: 11, startedAt: SF.at(3), seenAt: SF.at(4))) }
            XCTAssertEqual(try db.fleetHosts(), [
                HostRecord(host: "bastion-a", version: "0.1.0", pid: 20, startedAt: SF.at(0), seenAt: SF.at(2)),
                HostRecord(host: "bastion-b", version: "0.2.0", pid: 11, startedAt: SF.at(3), seenAt: SF.at(4)),
            ])
            XCTAssertEqual(try db.lastSeq(), 0, "a heartbeat is no audit event")
        }
    }

    func testWorkWaitingIsCountedByTheHostItWaitsForAndOnlyWhenDue() throws {
        try eachBackend { store, db in
            try insert(store, work(runsOn: "bastion-a"))
            try insert(store, work(.deescalating, runsOn: "bastion-a", nextAttempt: 5))
            try insert(store, work(runsOn: "bastion-b", nextAttempt: 500))   // a retry not due yet
            try insert(store, work(runsOn: nil))
            try insert(store, work(.active, runsOn: "bastion-b"))            // no step to run
            XCTAssertEqual(try db.strategyWorkWaiting(now: SF.at(10)), [HostWork(host: nil, count: 1), HostWork(host: "bastion-a", count: 2)])
            XCTAssertEqual(try db.strategyWorkWaiting(now: SF.at(600)),
                           [HostWork(host: nil, count: 1), HostWork(host: "bastion-a", count: 2), HostWork(host: "bastion-b", count: 1)])
        }
    }
}

final class FleetSQLiteStoreTests: XCTestCase {
    /// A store made before the fleet (schema 9) gives its requests the host of the daemon that migrates it, for both
    /// `host` and `runs_on`: a single bastion keeps running its grants' steps as before.
    func testMigrationGivesOlderRequestsTheMigratingDaemonsHost() throws {
        let path = try SF.directory(self) + "/old.db"
        let db = try Database(path: path, readOnly: false, create: true)
        for v in 0..<(Schema.fleetVersion - 1) { try db.execute(Schema.migrations[v]) }
        try db.execute("PRAGMA user_version = \(Schema.fleetVersion - 1)")
        try db.execute("""
            INSERT INTO requests(flow, target, requester, state, fields, created_at, request_expires_at, required_approvals)
            VALUES('prod', 'prod-ssh', 'rita', 'active', '{}', 0, 3600000, 1)
            """)
        let store = try Store.openForWriting(path: path, hostName: "bastion-old")
        let r = try XCTUnwrap(try store.request(id: 1))
        XCTAssertEqual(r.host, "bastion-old")
        XCTAssertEqual(r.runsOn, "bastion-old")
        XCTAssertEqual(store.schemaVersion, Schema.version)
        let fresh = try SF.insert(store, SF.request())
        XCTAssertNil(try store.request(id: fresh.id)?.host, "only rows made before the migration are given a host")
    }

    func testAHeartbeatTellsNoReaderOfAChange() throws {
        let store = try SF.store(self)
        let told = Box(0)
        store.afterCommit = { _ in told.value += 1 }
        let writer = StoreWriter(store)
        try writer.write { try $0.recordHeartbeat(HostRecord(host: "vm", version: "1", pid: 1, startedAt: SF.at(0), seenAt: SF.at(0))) }
        XCTAssertEqual(told.value, 0)
        XCTAssertEqual(try store.fleetHosts().map(\.host), ["vm"])
    }
}

final class FleetPostgresStoreTests: XCTestCase {
    /// With its host, a daemon's claim (SKIP LOCKED) never takes another host's step: that host's daemon still gets it
    /// while the first one's transaction is open.
    func testAClaimOfOneHostsStepsLeavesAnotherHostsStepsToIt() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let a = try PostgresStore(conninfo: conninfo, hostName: "bastion-a"), b = try PostgresStore(conninfo: conninfo, hostName: "bastion-b")
        func step(_ runsOn: String) -> AccessRequest { var r = SF.request(state: .escalating); r.runsOn = runsOn; return r }
        let (forA, forB) = try a.write { tx in (try tx.insert(step("bastion-a")).id, try tx.insert(step("bastion-b")).id) }
        let claimed = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let heldByA = Box<[Int64]>([])
        let t = Thread {
            _ = try? a.write { tx -> Void in
                heldByA.value = try tx.strategyWorkDue(now: SF.at(10), limit: 10, host: "bastion-a").map(\.id)
                claimed.signal()
                release.wait()
            }
        }
        t.start()
        claimed.wait()
        let seenByB = try b.write { tx in try tx.strategyWorkDue(now: SF.at(10), limit: 10, host: "bastion-b").map(\.id) }
        release.signal()
        XCTAssertEqual(heldByA.value, [forA])
        XCTAssertEqual(seenByB, [forB])
    }

    /// Schema 1 → 2 adds `runs_on`; requests made before run on the host they were made on.
    func testMigrationTwoGivesOlderRequestsRunsOnTheirHost() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let session = try PostgresSession(conninfo: conninfo, hostName: "bastion-a")
        _ = try session.transaction { () -> Void in
            try session.rows("CREATE TABLE schema_version(version INTEGER NOT NULL)")
            try session.rows(PostgresSchema.migrations[0])
            try session.rows("INSERT INTO schema_version(version) VALUES (1)")
            try session.rows("""
                INSERT INTO requests(flow, target, requester, state, fields, created_at, request_expires_at, required_approvals, host)
                VALUES('prod', 'prod-ssh', 'rita', 'active', '{}', 0, 3600000, 1, 'bastion-old')
                """)
        }
        let store = try PostgresStore(conninfo: conninfo, hostName: "bastion-a")
        XCTAssertEqual(try store.execute("SELECT version FROM schema_version"), [[String(PostgresSchema.version)]])
        let r = try XCTUnwrap(try store.read { try $0.request(id: 1) })
        XCTAssertEqual(r.host, "bastion-old")
        XCTAssertEqual(r.runsOn, "bastion-old")
    }

    func testStoreMigrateCarriesEachRequestsHostAndWhereItRuns() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let source = try SF.store(self)
        var r = SF.request(state: .active)
        r.host = "bastion-a"; r.runsOn = "bastion-c"
        let id = try SF.insert(source, r).id
        try StoreMigration.copy(from: source, to: try PostgresStore(conninfo: conninfo, hostName: "migrating-host"))
        let copied = try XCTUnwrap(try PostgresStore(conninfo: conninfo).read { try $0.request(id: id) })
        XCTAssertEqual(copied.host, "bastion-a")
        XCTAssertEqual(copied.runsOn, "bastion-c")
    }

    /// A SQLite store not yet migrated to this version (its daemon not started since the upgrade) is refused with what
    /// to do, before anything is written to the target.
    func testStoreMigrateRefusesASQLiteStoreOfAnOlderSchema() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let path = try SF.directory(self) + "/old.db"
        let db = try Database(path: path, readOnly: false, create: true)
        for v in 0..<(Schema.fleetVersion - 1) { try db.execute(Schema.migrations[v]) }
        try db.execute("PRAGMA user_version = \(Schema.fleetVersion - 1)")
        let source = try Store.openReadOnly(path: path)
        let target = try PostgresStore(conninfo: conninfo)
        XCTAssertThrowsError(try StoreMigration.copy(from: source, to: target)) { XCTAssertTrue("\($0)".contains("start this version's daemon"), "\($0)") }
        XCTAssertEqual(try target.execute("SELECT count(*) FROM requests"), [["0"]])
    }
}
