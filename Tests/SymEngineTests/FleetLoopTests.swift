import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// Two bastions' daemons on one store (docs/deployment.md, "A fleet of bastions"): each runs only the strategy steps
/// its host runs (a target's `runs_on`), while expiry and decisions are anyone's. On SQLite, two writers on one file
/// (WAL) in this process; on PostgreSQL, two connections to one real cluster.
final class FleetLoopTests: XCTestCase {
    /// One daemon of the fleet: its engine (with its `host_name`) and its grant loop.
    struct Bastion {
        let engine: Engine
        let loop: GrantLoop
        init(config: Config, store: any RequestStore, clock: TestClock) {
            engine = Engine(config: config, store: store, now: { clock.now })
            engine.escalationRetry = RetryPolicy(name: "test escalation", base: 0.001, cap: 0.001, budget: 2)
            engine.deescalationRetry = RetryPolicy(name: "test deescalation", base: 0.001, cap: 0.001, budget: nil)
            loop = GrantLoop(engine: engine, parallelism: 2)
            loop.log = { _, _ in }
        }
        func execute(_ command: ChangeCall, by who: Identity) throws -> AccessRequest {
            switch engine.execute(command, by: who) {
            case let .success(r): return r
            case let .failure(e): throw e
            }
        }
    }

    /// The harness's config with two more targets of its command strategy (`api`: any host; `pinned`: bastion-b's),
    /// as bastion `host`.
    static func config(_ base: Config, host: String) -> Config {
        var c = base
        c.hostName = host
        c.strategies[0].targets += [Target(name: "api", runsOn: .any), Target(name: "pinned", runsOn: .host("bastion-b"))]
        return c
    }

    /// Bastions a and b on the harness's SQLite file (the harness's engine is bastion a's).
    func sqliteFleet() throws -> (h: EngineHarness, a: Bastion, b: Bastion) {
        let h = try EngineHarness(self)
        let base = h.engine.config
        let a = Bastion(config: Self.config(base, host: "bastion-a"), store: h.store.writer, clock: h.clock)
        let b = Bastion(config: Self.config(base, host: "bastion-b"), store: StoreWriter(try Store.openForWriting(path: h.store.path)),
                        clock: h.clock)
        return (h, a, b)
    }

    func request(_ on: Bastion, target: String, by h: EngineHarness) throws -> AccessRequest {
        try on.execute(.request(flow: "access", target: target, fields: [:], duration: "1h", reason: nil), by: h.rita)
    }

    func ranOn(_ h: EngineHarness, _ r: AccessRequest, _ type: EventType) throws -> [String?] {
        try h.store.events(requestId: r.id).filter { $0.type == type }.map { $0.data["host"]?.stringValue }
    }

    func testARequestIsStampedWithTheBastionThatAdmittedItAndWhereItsStepsRun() throws {
        let (h, a, b) = try sqliteFleet()
        let local = try request(a, target: "db", by: h)
        let anywhere = try request(a, target: "api", by: h)
        let pinned = try request(b, target: "pinned", by: h)
        let note = try a.execute(.request(flow: "job", target: nil, fields: [:], duration: nil, reason: nil), by: h.rita)
        XCTAssertEqual([local, anywhere, pinned, note].map(\.host), ["bastion-a", "bastion-a", "bastion-b", "bastion-a"])
        XCTAssertEqual(try h.current(local).runsOn, "bastion-a", "command: requester_host")
        XCTAssertNil(try h.current(anywhere).runsOn, "runs_on any")
        XCTAssertEqual(try h.current(pinned).runsOn, "bastion-b")
        XCTAssertNil(try h.current(note).runsOn, "approval-only: no steps")
    }

    func testARequesterHostGrantMadeOnAIsEscalatedByAsDaemonEvenWhenBDecidesIt() throws {
        let (h, a, b) = try sqliteFleet()
        let r = try request(a, target: "db", by: h)
        _ = try b.execute(.approve(id: r.id, reason: nil), by: h.alice)
        try b.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .escalating, "b may start the escalation (a decision), not run it")
        XCTAssertEqual(h.runs("escalate"), [])
        try a.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .active)
        XCTAssertEqual(h.runs("escalate"), ["escalate rita db \(r.id)"])
        XCTAssertEqual(try ranOn(h, r, .escalate), ["bastion-a"])
    }

    func testAnAnyHostTargetIsEscalatedByWhicheverDaemonGetsToItFirst() throws {
        let (h, a, b) = try sqliteFleet()
        let r = try request(a, target: "api", by: h)
        _ = try a.execute(.approve(id: r.id, reason: nil), by: h.alice)
        try b.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .active)
        XCTAssertEqual(try ranOn(h, r, .escalate), ["bastion-b"])
    }

    func testATargetNamingAHostIsRunOnlyByThatHostsDaemon() throws {
        let (h, a, b) = try sqliteFleet()
        let r = try request(a, target: "pinned", by: h)
        _ = try a.execute(.approve(id: r.id, reason: nil), by: h.alice)
        try a.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .escalating)
        XCTAssertEqual(h.runs("escalate"), [])
        try b.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .active)
        XCTAssertEqual(try ranOn(h, r, .escalate), ["bastion-b"])
    }

    /// A is down while its grant expires: B marks the expiry (anyone's) but leaves the deescalation; A's daemon, started
    /// again (a fresh loop), runs its due queue at once.
    func testADaemonThatWasDownCatchesUpOnItsHostsDueWorkWhenItReturns() throws {
        let (h, a, b) = try sqliteFleet()
        let r = try request(a, target: "db", by: h)
        _ = try b.execute(.approve(id: r.id, reason: nil), by: h.alice)
        try a.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .active)
        h.clock.advance(3601)
        try b.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .deescalating, "b marks the expiry")
        XCTAssertEqual(h.runs("deescalate"), [])
        let restarted = Bastion(config: a.engine.config, store: StoreWriter(try Store.openForWriting(path: h.store.path)), clock: h.clock)
        try restarted.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .ended)
        XCTAssertEqual(h.runs("deescalate"), ["deescalate rita db \(r.id)"])
        XCTAssertEqual(try ranOn(h, r, .deescalate), ["bastion-a"])
    }

    /// Failed attempts are retried only where they ran: B never runs A's retry, and A's overdue retry does not keep B's
    /// loop awake (its next wake-up is not in the past).
    func testAnotherHostsRetryIsNeitherRunNorWaitedForByThisDaemon() throws {
        let (h, a, b) = try sqliteFleet()
        h.breakScript("escalate")
        let r = try request(a, target: "db", by: h)
        _ = try a.execute(.approve(id: r.id, reason: nil), by: h.alice)
        // Passes until the failed attempt is recorded, with its retry time.
        XCTAssertTrue(try eventually { try a.loop.step(); return try h.current(r).nextAttemptAt != nil })
        let failed = try h.current(r)
        XCTAssertEqual(failed.state, .escalating)
        XCTAssertEqual(try ranOn(h, r, .escalateFailed), ["bastion-a"])
        let retryAt = try XCTUnwrap(failed.nextAttemptAt)
        h.clock.advance(60)
        XCTAssertLessThan(retryAt, h.clock.now, "the retry is overdue")
        let next = try b.loop.step()
        XCTAssertTrue(next == nil || next! > h.clock.now, "b's next wake-up \(String(describing: next)) is another host's overdue retry")
        usleep(50_000)
        XCTAssertEqual(h.runs("escalate").count, 1, "b ran a's retry")
        h.fixScript("escalate")
        try a.loop.runUntilIdle()
        XCTAssertEqual(try h.current(r).state, .active)
    }

    /// The same on PostgreSQL: two daemons with their own connections to one cluster.
    func testOnPostgresARequesterHostGrantIsEscalatedOnlyByTheBastionItWasMadeOn() throws {
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let h = try EngineHarness(self)
        let base = h.engine.config
        let a = Bastion(config: Self.config(base, host: "bastion-a"), store: try PostgresStore(conninfo: conninfo, hostName: "bastion-a"), clock: h.clock)
        let pgB = try PostgresStore(conninfo: conninfo, hostName: "bastion-b")
        let b = Bastion(config: Self.config(base, host: "bastion-b"), store: pgB, clock: h.clock)
        let local = try request(a, target: "db", by: h)
        let anywhere = try request(a, target: "api", by: h)
        for r in [local, anywhere] { _ = try b.execute(.approve(id: r.id, reason: nil), by: h.alice) }
        try b.loop.runUntilIdle()
        func read(_ r: AccessRequest) throws -> AccessRequest { try XCTUnwrap(try pgB.read { try $0.request(id: r.id) }) }
        XCTAssertEqual(try read(local).state, .escalating)
        XCTAssertEqual(try read(anywhere).state, .active, "any host: b ran it")
        try a.loop.runUntilIdle()
        XCTAssertEqual(try read(local).state, .active)
        let hosts = try pgB.read { s in try [local, anywhere].map { r in try s.events(requestId: r.id).first { $0.type == .escalate }?.data["host"]?.stringValue } }
        XCTAssertEqual(hosts, ["bastion-a", "bastion-b"])
        XCTAssertEqual(h.runs("escalate").count, 2)
    }
}
