import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

/// What only the PostgreSQL backend promises: its schema and the guarantees that hold across many daemons (each
/// `PostgresStore` here is one daemon's connection) on one real PostgreSQL 15 cluster.
final class PostgresStoreTests: XCTestCase {
    func fresh() throws -> (cluster: PostgresCluster, schema: String, conninfo: String) {
        let cluster = try PostgresCluster.shared()
        let (schema, conninfo) = try cluster.freshSchema()
        return (cluster, schema, conninfo)
    }

    func pendingRequest(_ n: Int = 0) -> AccessRequest { SF.request(created: Double(n)) }

    func testAnEmptySchemaIsMigratedToTheCurrentVersion() throws {
        let (_, _, conninfo) = try fresh()
        let store = try PostgresStore(conninfo: conninfo)
        XCTAssertEqual(try store.execute("SELECT version FROM schema_version"), [[String(PostgresSchema.version)]])
        let tables = Set(try store.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").compactMap { $0[0] })
        XCTAssertTrue(tables.isSuperset(of: ["requests", "approvals", "events", "chain_head", "delivery", "notifications", "hosts"]), "\(tables)")
    }

    func testReconnectingToAMigratedStoreKeepsItsData() throws {
        let (_, _, conninfo) = try fresh()
        let id = try PostgresStore(conninfo: conninfo).write { try $0.insert(pendingRequest()) }.id
        let again = try PostgresStore(conninfo: conninfo, migrate: false)
        XCTAssertEqual(try again.read { try $0.request(id: id) }?.requester, "rita")
    }

    func testAStoreOfANewerSchemaIsRefused() throws {
        let (_, _, conninfo) = try fresh()
        let store = try PostgresStore(conninfo: conninfo)
        try store.execute("UPDATE schema_version SET version = version + 1")
        XCTAssertThrowsError(try PostgresStore(conninfo: conninfo)) { XCTAssertTrue("\($0)".contains("newer symtui"), "\($0)") }
    }

    func testEventsCannotBeTruncated() throws {
        let (_, _, conninfo) = try fresh()
        let store = try PostgresStore(conninfo: conninfo)
        try store.write { tx in try tx.append(SF.draft(try tx.insert(pendingRequest())), at: SF.at(1)) }
        XCTAssertThrowsError(try store.execute("TRUNCATE events")) { XCTAssertTrue("\($0)".contains("append-only"), "\($0)") }
        XCTAssertEqual(try store.read { try $0.lastSeq() }, 1)
    }

    /// docs/store.md: the daemon's own role may append events but holds no UPDATE, DELETE or TRUNCATE on them, so the
    /// log stays append-only in the database even when the trigger is gone.
    func testTheDaemonRoleCannotChangeEventsEvenWithoutTheTrigger() throws {
        let (cluster, schema, conninfo) = try fresh()
        let owner = try PostgresStore(conninfo: conninfo)
        let role = "d_" + schema
        try cluster.addLogin(role)
        try owner.grantDaemonPrivileges(to: role, schema: schema)
        try owner.execute("DROP TRIGGER events_no_update ON events; DROP TRIGGER events_no_truncate ON events")
        let daemon = try PostgresStore(conninfo: cluster.conninfo(user: role, schema: schema), migrate: false)
        try daemon.write { tx in
            var r = try tx.insert(pendingRequest())
            try tx.append(SF.draft(r), at: SF.at(1))
            r.state = .approved
            try tx.update(r)
            try tx.recordDelivered("siem", through: 1, at: SF.at(2))
            try tx.enqueue(OutboxItem(requestId: r.id, kind: "approved", channel: "mail", recipient: "rita", payload: "{}", createdAt: SF.at(2)))
        }
        for sql in ["UPDATE events SET actor = 'mallory'", "DELETE FROM events", "TRUNCATE events", "DROP TABLE events",
                    "CREATE TRIGGER x BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION symtui_append_only()"] {
            XCTAssertThrowsError(try daemon.execute(sql), sql) { XCTAssertTrue("\($0)".contains("denied") || "\($0)".contains("owner"), "\(sql): \($0)") }
        }
        XCTAssertEqual(try daemon.read { try $0.event(seq: 1) }?.actor, "rita")
    }

    /// Each transaction's events reach the chain when it commits (or when it first reads events): those of one
    /// transaction are consecutive and in the order it appended them, whichever daemon's come in between.
    func testSeveralDaemonsAppendingAtOnceKeepOneGaplessChainWithEachTransactionsEventsTogetherInOrder() throws {
        let (_, _, conninfo) = try fresh()
        let daemons = try (0..<3).map { _ in try PostgresStore(conninfo: conninfo) }
        let perThread = 40
        let types: [EventType] = [.request, .approve, .escalate, .deescalate]
        DispatchQueue.concurrentPerform(iterations: 6) { t in
            let store = daemons[t % 3]
            for i in 0..<perThread {
                do {
                    try store.write { tx in
                        let r = try tx.insert(SF.request(created: Double(i)))
                        for (k, type) in types.enumerated() {
                            try tx.append(SF.draft(r, type, n: t * 1000 + i), at: Date())
                            // Every third transaction reads its events half way: the first two are placed then.
                            if i % 3 == 0 && k == 1 { XCTAssertEqual(try tx.events(requestId: r.id).map(\.type), [.request, .approve]) }
                        }
                    }
                } catch { XCTFail("\(error)") }
            }
        }
        let total = 6 * perThread * types.count
        let v = try AuditVerifier(store: daemons[0]).verify()
        XCTAssertTrue(v.ok, "\(v.problem.map { "\($0)" } ?? "")")
        XCTAssertEqual(v.checked, Int64(total))
        let events = try daemons[1].read { try $0.events(afterSeq: 0, limit: 10_000) }
        XCTAssertEqual(events.map(\.seq), Array(1...Int64(total)))
        for r in Set(events.compactMap(\.requestId)) {
            let mine = events.filter { $0.requestId == r }
            XCTAssertEqual(mine.map(\.type), types, "request \(r): in the order appended")
            XCTAssertEqual(mine.map(\.seq), Array(mine[0].seq..<(mine[0].seq + Int64(types.count))), "request \(r): consecutive")
        }
    }

    /// The chain head is taken at commit, not at a transaction's first event: a daemon whose transaction appended
    /// and is still open does not hold up another daemon's commit of its own events.
    func testAnOpenTransactionThatAppendedDoesNotHoldUpAnotherDaemonsEvents() throws {
        let (_, _, conninfo) = try fresh()
        let a = try PostgresStore(conninfo: conninfo), b = try PostgresStore(conninfo: conninfo)
        let appended = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), aDone = DispatchSemaphore(value: 0)
        let t = Thread {
            _ = try? a.write { tx in
                try tx.append(SF.draft(try tx.insert(SF.request()), actor: "a"), at: SF.at(1))
                appended.signal()
                release.wait()
            }
            aDone.signal()
        }
        t.start()
        appended.wait()
        let bDone = DispatchSemaphore(value: 0)
        let bSeq = Box<Int64?>(nil)
        Thread {
            bSeq.value = try? b.write { tx in
                try tx.append(SF.draft(try tx.insert(SF.request()), actor: "b"), at: SF.at(2))
                return try tx.lastSeq()
            }
            bDone.signal()
        }.start()
        let committed = bDone.wait(timeout: .now() + 60) == .success
        release.signal()
        aDone.wait()
        if !committed { bDone.wait() }
        XCTAssertTrue(committed, "b's commit waited for a's open transaction")
        XCTAssertEqual(bSeq.value, 1, "b's event came first")
        XCTAssertEqual(try a.read { try $0.events(afterSeq: 0, limit: 10) }.map(\.actor), ["b", "a"])
        XCTAssertTrue(try AuditVerifier(store: a).verify().ok)
    }

    /// The compare-and-set that decides a request: of every daemon trying at once, exactly one wins each request.
    func testOfManyDaemonsDecidingTheSameRequestsEachIsDecidedOnce() throws {
        let (_, _, conninfo) = try fresh()
        let seed = try PostgresStore(conninfo: conninfo)
        let ids = try seed.write { tx in try (0..<60).map { try tx.insert(self.pendingRequest($0)).id } }
        let daemons = try (0..<3).map { _ in try PostgresStore(conninfo: conninfo) }
        let wins = Counter()
        DispatchQueue.concurrentPerform(iterations: 6) { t in
            for id in ids.shuffled() {
                do {
                    let won = try daemons[t % 3].write { tx -> Bool in
                        guard var r = try tx.request(id: id), r.state == .pending else { return false }
                        r.state = .approved
                        r.approvals = [Approval(user: "approver\(t)", at: Date(), reason: nil, isSelf: false)]
                        guard try tx.update(r, expectedState: .pending) else { return false }
                        try tx.append(EventDraft(.approve, for: r, actor: "approver\(t)"), at: Date())
                        return true
                    }
                    if won { wins.add() }
                } catch { XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(wins.value, ids.count)
        let approvals = try seed.read { try $0.requests(ids: ids) }.map(\.approvals.count)
        XCTAssertEqual(approvals, Array(repeating: 1, count: ids.count), "the losers wrote no approval")
        XCTAssertEqual(try seed.read { try $0.lastSeq() }, Int64(ids.count), "one approve event each")
        XCTAssertTrue(try AuditVerifier(store: seed).verify().ok)
    }

    /// Due work is claimed with SKIP LOCKED: what one daemon's open transaction holds, another does not get.
    func testDueWorkHeldByOneDaemonIsSkippedByAnother() throws {
        let (_, _, conninfo) = try fresh()
        let a = try PostgresStore(conninfo: conninfo), b = try PostgresStore(conninfo: conninfo)
        let ids = try a.write { tx in try (0..<4).map { _ in try tx.insert(SF.request(state: .escalating)).id } }
        let claimed = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let heldByA = Box<[Int64]>([])
        let t = Thread {
            _ = try? a.write { tx -> Void in
                heldByA.value = try tx.strategyWorkDue(now: SF.at(10), limit: 2).map(\.id)
                claimed.signal()
                release.wait()
            }
        }
        t.start()
        claimed.wait()
        let seenByB = try b.write { tx in try tx.strategyWorkDue(now: SF.at(10), limit: 10).map(\.id) }
        release.signal()
        XCTAssertEqual(heldByA.value, Array(ids[0..<2]))
        XCTAssertEqual(seenByB, Array(ids[2..<4]))
        XCTAssertEqual(try b.read { try $0.strategyWorkDue(now: SF.at(10), limit: 10) }.count, 4, "a plain read skips nothing")
    }

    /// Two daemons that take a request row and the chain head in opposite orders deadlock (b takes the head early by
    /// reading the events it appended); PostgreSQL rolls one back and its write runs again: both commit, and the chain
    /// holds both events once each (the retry starts without the events of the attempt rolled back).
    func testADeadlockBetweenTwoDaemonsIsRetriedAndBothWritesCommit() throws {
        let (_, _, conninfo) = try fresh()
        let a = try PostgresStore(conninfo: conninfo), b = try PostgresStore(conninfo: conninfo)
        let r = try a.write { try $0.insert(self.pendingRequest()) }
        let aHoldsRow = DispatchSemaphore(value: 0), bHoldsHead = DispatchSemaphore(value: 0)
        let aFirst = Box(true), bFirst = Box(true)
        let aDone = DispatchSemaphore(value: 0)
        let aError = Box<String?>(nil)
        let t = Thread {
            do {
                try a.write { tx in
                    _ = try tx.request(id: r.id)                       // the row, FOR UPDATE
                    if aFirst.value { aFirst.value = false; aHoldsRow.signal(); bHoldsHead.wait(); usleep(200_000) }
                    try tx.append(SF.draft(r, .approve, actor: "a"), at: SF.at(1))   // then the head
                }
            } catch { aError.value = "\(error)" }
            aDone.signal()
        }
        t.start()
        aHoldsRow.wait()
        try b.write { tx in
            try tx.append(SF.draft(r, .deny, actor: "b"), at: SF.at(2))
            let placed = try tx.lastSeq()                              // b's event is placed: b holds the head
            if bFirst.value { bFirst.value = false; XCTAssertEqual(placed, 1); bHoldsHead.signal() }
            _ = try tx.request(id: r.id)                               // the row, held by a
        }
        aDone.wait()
        XCTAssertNil(aError.value)
        XCTAssertEqual(try a.read { try $0.events(requestId: r.id) }.map(\.actor).sorted(), ["a", "b"])
        XCTAssertEqual(try a.read { try $0.lastSeq() }, 2)
        XCTAssertTrue(try AuditVerifier(store: a).verify().ok)
    }

    func testAChangeIsAnnouncedToEveryListeningConnection() throws {
        let (_, _, conninfo) = try fresh()
        let listener = try PostgresConnection(conninfo: conninfo)
        try listener.execute("LISTEN symtui_changes")
        let store = try PostgresStore(conninfo: conninfo)
        try store.write { tx in _ = try tx.delivery("nothing") }
        XCTAssertEqual(try listener.notifications(), [], "a write that changed nothing announces nothing")
        try store.write { try $0.insert(self.pendingRequest()) }
        let deadline = Date().addingTimeInterval(10)
        var got: [String] = []
        while got.isEmpty && Date() < deadline { got = try listener.notifications(); if got.isEmpty { usleep(5_000) } }
        XCTAssertEqual(got, ["symtui_changes"])
    }

    /// The server restarting: a write in between fails with "store unavailable" (the CLI's 69), leaves nothing half
    /// written, and the next write after the restart goes through on a new connection.
    func testAfterTheServerRestartsTheStoreReconnects() throws {
        let (cluster, _, conninfo) = try fresh()
        let store = try PostgresStore(conninfo: conninfo)
        let reader = try store.openReader()
        try store.write { try $0.insert(self.pendingRequest()) }
        try cluster.stopImmediately()
        var restarted = false
        defer { if !restarted { try? cluster.start() } }
        XCTAssertThrowsError(try store.write { try $0.insert(self.pendingRequest()) }) {
            XCTAssertTrue("\($0)".contains("store unavailable"), "\($0)")
        }
        try cluster.start()
        restarted = true
        try store.write { try $0.insert(self.pendingRequest()) }
        XCTAssertEqual(try reader.count(RequestQuery()), 2)
    }

    func testTheLocationNeverShowsAPassword() {
        XCTAssertEqual(PostgresStore.redacted("postgresql://symtui:s3cret@db.example/symtui?sslmode=verify-full"),
                       "postgresql://symtui@db.example/symtui?sslmode=verify-full")
        XCTAssertEqual(PostgresStore.redacted("host=db password='a b' user=x"), "host=db password=… user=x")
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}
