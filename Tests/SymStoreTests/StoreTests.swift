import Foundation
import XCTest
import SymModel
@testable import SymStore

// MARK: - schema

final class StoreSchemaTests: XCTestCase {
    func testAnEmptyFileIsMigratedToTheCurrentSchema() throws {
        let store = try SF.store(self)
        XCTAssertEqual(store.schemaVersion, Schema.version)
        var tables = Set<String>()
        try store.db.query("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')") { tables.insert($0.text(0)) }
        XCTAssertTrue(tables.isSuperset(of: ["meta", "requests", "approvals", "events", "delivery", "events_no_update", "events_no_delete"]),
                      "\(tables)")
    }

    func testReopeningAMigratedStoreKeepsItsData() throws {
        let dir = try SF.directory(self)
        let id = try SF.insert(try Store.openForWriting(path: dir + "/s.db"), SF.request()).id
        let again = try Store.openForWriting(path: dir + "/s.db")
        XCTAssertEqual(again.schemaVersion, Schema.version)
        XCTAssertEqual(try again.request(id: id)?.requester, "rita")
    }

    func testTheStoreAndItsWALFilesGetTheConfiguredMode() throws {
        let dir = try SF.directory(self)
        _ = try Store.openForWriting(path: dir + "/s.db", mode: 0o640)
        for file in ["s.db", "s.db-wal", "s.db-shm"] {
            let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/" + file)
            XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o640, file)
        }
    }

    func testAReadOnlyOpenOfANewerSchemaIsRefused() throws {
        let dir = try SF.directory(self)
        let store = try Store.openForWriting(path: dir + "/s.db")
        try store.db.execute("PRAGMA user_version = \(Schema.version + 1)")
        XCTAssertThrowsError(try Store.openReadOnly(path: dir + "/s.db"))
    }

    func testTheWriterRefusesAStoreOfANewerSchema() throws {
        let dir = try SF.directory(self)
        let store = try Store.openForWriting(path: dir + "/s.db")
        try store.db.execute("PRAGMA user_version = \(Schema.version + 1)")
        XCTAssertThrowsError(try Store.openForWriting(path: dir + "/s.db")) { error in
            XCTAssertTrue("\(error)".contains("newer symtui"), "\(error)")
        }
    }

    /// Migration 4 fills `approver_keys` for requests made before it, exactly as the writer fills it for new ones.
    func testMigrationFourGivesOldRequestsTheApproverKeysTheWriterWouldGive() throws {
        let path = try SF.directory(self) + "/s.db"
        let routings = [
            Routing(approvers: Approvers(users: ["alice", "root"])),
            Routing(approvers: Approvers(users: ["alice"], groups: ["oncall", "dba"]), requiredApprovals: 2),
            Routing(approvers: Approvers(), steps: [ApprovalStep(name: "peer", approvers: Approvers(groups: ["dev"])),
                                                     ApprovalStep(name: "boss", approvers: Approvers(users: ["carol"]), required: 2)]),
            Routing(approvers: Approvers()),
            Routing(approvers: Approvers(users: ["évé", "x\u{1F}u:bob"], groups: ["o'neil"])),
        ]
        do {
            let old = try Database(path: path, readOnly: false, create: true)
            for v in 0..<3 { try old.execute(Schema.migrations[v]) }
            try old.execute("PRAGMA user_version = 3")
            for routing in routings + [nil] {
                try old.run("""
                    INSERT INTO requests(flow, requester, state, fields, created_at, request_expires_at, required_approvals, routing)
                    VALUES('f', 'rita', 'pending', '{}', 0, 1, 1, ?)
                    """, [routing.map { .text($0.json.compact) } ?? .null])
            }
        }
        let store = try Store.openForWriting(path: path)
        XCTAssertEqual(store.schemaVersion, Schema.version)
        var stored: [String?] = []
        try store.db.query("SELECT approver_keys FROM requests ORDER BY id") { stored.append($0.optText(0)) }
        XCTAssertEqual(stored, routings.map(Store.approverKeys) + [nil])
        XCTAssertEqual(stored[0], "\u{1F}u:alice\u{1F}u:root\u{1F}")
    }

    func testOpeningAMissingStoreReadOnlyIsAnError() throws {
        XCTAssertThrowsError(try Store.openReadOnly(path: try SF.directory(self) + "/nope.db"))
    }
}

// MARK: - requests

final class StoreRequestTests: XCTestCase {
    func testInsertAssignsIncreasingIDs() throws {
        let store = try SF.store(self)
        let a = try SF.insert(store, SF.request())
        let b = try SF.insert(store, SF.request())
        XCTAssertGreaterThan(a.id, 0)
        XCTAssertGreaterThan(b.id, a.id)
    }

    func testARequestKeepsTheRoutingItWasMadeWith() throws {
        let store = try SF.store(self)
        var r = SF.request()
        r.routing = Routing(approvers: Approvers(users: ["alice"], groups: ["oncall"]))
        r = try SF.insert(store, r)
        var decided = r
        decided.state = .approved
        decided.routing = nil
        XCTAssertTrue(try store.write { try $0.update(decided) })
        XCTAssertEqual(try store.request(id: r.id)?.routing, r.routing)
        XCTAssertEqual(try store.db.scalarInt("SELECT count(*) FROM requests WHERE approver_keys = ?", [.text(Store.approverKeys(r.routing!))]), 1)
    }

    func testEveryRequestColumnRoundTrips() throws {
        let store = try SF.store(self)
        var r = SF.request(state: .deescalating, extends: nil)
        r = try SF.insert(store, r)
        r.endReason = .revoked
        r.decidedAt = SF.at(10.5)
        r.accessStartsAt = SF.at(11.25)
        r.accessExpiresAt = SF.at(3611.25)
        r.endedAt = SF.at(4000)
        r.denial = Denial(user: "bob", at: SF.at(12), reason: "no \"way\"\n")
        r.stuck = true
        r.error = "boom ✗"
        r.attempts = 3
        r.nextAttemptAt = SF.at(4010.125)
        r.stepOutput = #"{"token":"abc"}"#
        r.requiredApprovals = 2
        r.fields = ["reason": .string("because")]
        XCTAssertTrue(try store.write { try $0.update(r) })
        XCTAssertEqual(try store.request(id: r.id), r)
    }

    func testAnExtensionKeepsTheGrantItExtends() throws {
        let store = try SF.store(self)
        let grant = try SF.insert(store, SF.request(state: .active))
        let ext = try SF.insert(store, SF.request(extends: grant.id))
        XCTAssertEqual(try store.request(id: ext.id)?.extends, grant.id)
    }

    func testEveryFieldTypeRoundTrips() throws {
        let store = try SF.store(self)
        var r = SF.request()
        r.fields = ["s": .string("text with \"quotes\", commas and 日本"), "i": .int(-9_007_199_254_740_991), "b": .bool(true),
                    "d": .duration(TimeSpan(seconds: 5400)), "sl": .strList(["a", "b,c", ""]), "il": .intList([1, -2, 3]),
                    "u": .user("nobody"), "ul": .userList(["root", "nobody"]), "empty": .strList([])]
        XCTAssertEqual(Set(r.fields.values.map(\.typeName)), Set(FieldType.allCases.map(\.rawValue)))
        let id = try SF.insert(store, r).id
        XCTAssertEqual(try store.request(id: id)?.fields, r.fields)
    }

    func testAnUpdateWritesTheNewState() throws {
        let store = try SF.store(self)
        var r = try SF.insert(store, SF.request())
        r.state = .approved
        XCTAssertTrue(try store.write { try $0.update(r) })
        XCTAssertEqual(try store.request(id: r.id)?.state, .approved)
    }

    func testACompareAndSetUpdateWinsWhenTheStateIsAsExpected() throws {
        let store = try SF.store(self)
        var r = try SF.insert(store, SF.request())
        r.state = .approved
        XCTAssertTrue(try store.write { try $0.update(r, expectedState: .pending) })
        XCTAssertEqual(try store.request(id: r.id)?.state, .approved)
    }

    func testACompareAndSetUpdateLosesWhenTheStateChanged() throws {
        let store = try SF.store(self)
        var r = try SF.insert(store, SF.request())
        r.state = .denied
        XCTAssertTrue(try store.write { try $0.update(r) })
        var stale = r
        stale.state = .approved
        stale.approvals = [Approval(user: "alice", at: SF.at(5), reason: nil, isSelf: false)]
        XCTAssertFalse(try store.write { try $0.update(stale, expectedState: .pending) })
        let now = try XCTUnwrap(try store.request(id: r.id))
        XCTAssertEqual(now.state, .denied)
        XCTAssertTrue(now.approvals.isEmpty, "a lost compare-and-set writes no approvals")
    }

    func testUpdatingAMissingRequestReturnsFalse() throws {
        let store = try SF.store(self)
        var r = SF.request()
        r.id = 999
        XCTAssertFalse(try store.write { try $0.update(r) })
    }

    func testApprovalsRoundTrip() throws {
        let store = try SF.store(self)
        var r = try SF.insert(store, SF.request())
        r.approvals = [Approval(user: "alice", at: SF.at(1.5), reason: nil, isSelf: false),
                       Approval(user: "rita", at: SF.at(2), reason: "on fire", isSelf: true, step: "security")]
        try store.write { try $0.update(r) }
        XCTAssertEqual(try store.request(id: r.id)?.approvals, r.approvals)
        // Writing the request again does not duplicate its approvals.
        try store.write { try $0.update(r) }
        XCTAssertEqual(try store.request(id: r.id)?.approvals.count, 2)
    }

    func testListingIsNewestFirstAndPages() throws {
        let store = try SF.store(self)
        var ids: [Int64] = []
        for i in 0..<25 { ids.append(try SF.insert(store, SF.request(created: Double(i))).id) }
        let newestFirst = Array(ids.reversed())
        XCTAssertEqual(try store.requests(RequestQuery(limit: 10)).map(\.id), Array(newestFirst[0..<10]))
        XCTAssertEqual(try store.requests(RequestQuery(limit: 10, offset: 10)).map(\.id), Array(newestFirst[10..<20]))
        XCTAssertEqual(try store.requests(RequestQuery(limit: 10, offset: 20)).map(\.id), Array(newestFirst[20..<25]))
        XCTAssertEqual(try store.requests(RequestQuery(limit: 10, offset: 30)).count, 0)
    }

    func testListingFiltersByStateAndRequester() throws {
        let store = try SF.store(self)
        try SF.insert(store, SF.request(requester: "rita"))
        try SF.insert(store, SF.request(requester: "rita", state: .active))
        try SF.insert(store, SF.request(requester: "sam", state: .active))
        XCTAssertEqual(try store.requests(RequestQuery(states: [.active])).map(\.requester).sorted(), ["rita", "sam"])
        XCTAssertEqual(try store.requests(RequestQuery(requester: "rita")).count, 2)
        XCTAssertEqual(try store.requests(RequestQuery(states: [.active, .pending], requester: "sam")).count, 1)
    }

    func testCountMatchesTheFilter() throws {
        let store = try SF.store(self)
        for i in 0..<7 { try SF.insert(store, SF.request(requester: i % 2 == 0 ? "rita" : "sam", state: i < 3 ? .pending : .ended)) }
        XCTAssertEqual(try store.count(RequestQuery()), 7)
        XCTAssertEqual(try store.count(RequestQuery(states: [.pending])), 3)
        XCTAssertEqual(try store.count(RequestQuery(requester: "sam")), 3)
        XCTAssertEqual(try store.count(RequestQuery(states: [.ended], requester: "rita")), 2)
    }
}

// MARK: - due work

final class StoreDueWorkTests: XCTestCase {
    func withTimes(_ r: AccessRequest, expires: Double? = nil, next: Double? = nil) -> AccessRequest {
        var r = r
        r.accessExpiresAt = expires.map(SF.at)
        r.nextAttemptAt = next.map(SF.at)
        return r
    }

    func testPendingPastTTLFindsOnlyPendingRequestsWhoseTTLHasPassed() throws {
        let store = try SF.store(self)
        let due = try SF.insert(store, SF.request(created: 0))        // expires at 3600
        try SF.insert(store, SF.request(created: 100))                // expires at 3700
        try SF.insert(store, SF.request(state: .approved, created: 0))
        XCTAssertEqual(try store.pendingPastTTL(now: SF.at(3600), limit: 10).map(\.id), [due.id])
        XCTAssertEqual(try store.pendingPastTTL(now: SF.at(3599), limit: 10).count, 0)
    }

    func testActivePastExpiryFindsOnlyActiveGrantsWhoseTimeRanOut() throws {
        let store = try SF.store(self)
        let due = try SF.insert(store, withTimes(SF.request(state: .active), expires: 50))
        try SF.insert(store, withTimes(SF.request(state: .active), expires: 500))
        try SF.insert(store, withTimes(SF.request(state: .deescalating), expires: 10))
        XCTAssertEqual(try store.activePastExpiry(now: SF.at(100), limit: 10).map(\.id), [due.id])
    }

    func testApprovedAwaitingEscalationSkipsApprovalOnlyRequestsAndExtensions() throws {
        let store = try SF.store(self)
        let access = try SF.insert(store, SF.request(state: .approved))
        try SF.insert(store, SF.request(flow: "reindex", target: nil, state: .approved))
        try SF.insert(store, SF.request(state: .approved, extends: access.id))
        try SF.insert(store, SF.request(state: .pending))
        XCTAssertEqual(try store.approvedAwaitingEscalation(now: Date(), limit: 10).map(\.id), [access.id])
    }

    func testStrategyWorkDueIsNewResumedOrRetryDueWork() throws {
        let store = try SF.store(self)
        let fresh = try SF.insert(store, SF.request(state: .escalating))
        let retryDue = try SF.insert(store, withTimes(SF.request(state: .deescalating), next: 50))
        try SF.insert(store, withTimes(SF.request(state: .escalating), next: 500))
        try SF.insert(store, SF.request(state: .active))
        XCTAssertEqual(Set(try store.strategyWorkDue(now: SF.at(100), limit: 10).map(\.id)), [fresh.id, retryDue.id])
    }

    func testNextDueTimeIsTheEarliestOfTTLsExpiriesAndRetries() throws {
        let store = try SF.store(self)
        XCTAssertNil(try store.nextDueTime())
        try SF.insert(store, SF.request(created: 0))                                   // TTL at 3600
        XCTAssertEqual(try store.nextDueTime(), SF.at(3600))
        try SF.insert(store, withTimes(SF.request(state: .active), expires: 1800))
        XCTAssertEqual(try store.nextDueTime(), SF.at(1800))
        try SF.insert(store, withTimes(SF.request(state: .deescalating), next: 900))
        XCTAssertEqual(try store.nextDueTime(), SF.at(900))
        try SF.insert(store, withTimes(SF.request(state: .ended), expires: 1))           // ended grants are never due
        XCTAssertEqual(try store.nextDueTime(), SF.at(900))
    }

    func testHoldsOtherGrantCountsOnlyTheSameUsersOtherLiveGrantsOfTheTarget() throws {
        let store = try SF.store(self)
        let mine = try SF.insert(store, SF.request(requester: "rita", state: .deescalating))
        try SF.insert(store, SF.request(requester: "rita", state: .active))
        try SF.insert(store, SF.request(requester: "sam", state: .escalating))
        try SF.insert(store, SF.request(requester: "tom", state: .ended))
        try SF.insert(store, SF.request(requester: "uma", state: .deescalating))
        try SF.insert(store, SF.request(target: "other", requester: "vic", state: .active))
        try SF.insert(store, SF.request(flow: "other-flow", requester: "wes", state: .active))
        XCTAssertTrue(try store.holdsOtherGrant(requester: "rita", flows: ["prod"], target: "prod-ssh", excluding: mine.id))
        XCTAssertTrue(try store.holdsOtherGrant(requester: "sam", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "escalating counts")
        XCTAssertFalse(try store.holdsOtherGrant(requester: "tom", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "ended does not")
        XCTAssertFalse(try store.holdsOtherGrant(requester: "uma", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "deescalating does not")
        XCTAssertFalse(try store.holdsOtherGrant(requester: "vic", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "another target")
        XCTAssertFalse(try store.holdsOtherGrant(requester: "wes", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "another flow")
        XCTAssertTrue(try store.holdsOtherGrant(requester: "wes", flows: ["prod", "other-flow"], target: "prod-ssh", excluding: mine.id))
        XCTAssertFalse(try store.holdsOtherGrant(requester: "rita", flows: [], target: "prod-ssh", excluding: mine.id))
    }
}

// MARK: - audit chain

final class StoreAuditChainTests: XCTestCase {
    func testTheChainStaysIntactOverManyWrites() throws {
        let store = try SF.store(self)
        var n = 0
        for _ in 0..<40 {
            try store.write { tx in
                let r = try tx.insert(SF.request())
                for type in [EventType.request, .approve, .escalate, .deescalate, .handler] {
                    n += 1
                    try tx.append(SF.draft(r, type, n: n), at: SF.at(Double(n) + 0.0004))
                }
            }
        }
        let events = try SF.allEvents(store)
        XCTAssertEqual(events.map(\.seq), Array(1...Int64(n)))
        XCTAssertEqual(events.first?.prevHash, AuditEvent.genesisHash)
        for (i, e) in events.enumerated() {
            XCTAssertEqual(e.hash, e.computedHash, "seq \(e.seq)")
            if i > 0 { XCTAssertEqual(e.prevHash, events[i - 1].hash, "seq \(e.seq)") }
        }
        XCTAssertEqual(Set(events.map(\.id)).count, n, "event ids are unique")
        XCTAssertEqual(try store.lastSeq(), Int64(n))
    }

    func testAppendReturnsTheEventAsStored() throws {
        let store = try SF.store(self)
        let appended = try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1.2345)) }
        XCTAssertEqual(try SF.allEvents(store), [appended])
    }

    func testARolledBackWriteLeavesNoEventAndNoGap() throws {
        struct Abort: Error {}
        let store = try SF.store(self)
        try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1)) }
        XCTAssertThrowsError(try store.write { tx in
            try tx.append(SF.draft(try tx.insert(SF.request()), n: 2), at: SF.at(2))
            throw Abort()
        })
        try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request()), n: 3), at: SF.at(3)) }
        let events = try SF.allEvents(store)
        XCTAssertEqual(events.map(\.seq), [1, 2])
        XCTAssertEqual(events.map(\.reason), ["n0", "n3"])
        XCTAssertEqual(events[1].prevHash, events[0].hash)
        XCTAssertEqual(try store.count(RequestQuery()), 2)
    }

    func testEventsCannotBeUpdated() throws {
        let store = try SF.store(self)
        try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1)) }
        XCTAssertThrowsError(try store.db.execute("UPDATE events SET actor = 'mallory'"))
        XCTAssertEqual(try SF.allEvents(store).first?.actor, "rita")
    }

    func testEventsCannotBeDeleted() throws {
        let store = try SF.store(self)
        try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1)) }
        XCTAssertThrowsError(try store.db.execute("DELETE FROM events"))
        XCTAssertEqual(try SF.allEvents(store).count, 1)
    }

    func testEventsOfARequestAndPagesNewestFirst() throws {
        let store = try SF.store(self)
        let (a, b) = try store.write { tx -> (AccessRequest, AccessRequest) in
            let a = try tx.insert(SF.request()), b = try tx.insert(SF.request())
            for i in 0..<6 { try tx.append(SF.draft(i % 2 == 0 ? a : b, n: i), at: SF.at(Double(i))) }
            return (a, b)
        }
        XCTAssertEqual(try store.events(requestId: a.id).map(\.seq), [1, 3, 5])
        XCTAssertEqual(try store.events(requestId: b.id).map(\.seq), [2, 4, 6])
        XCTAssertEqual(try store.eventsNewestFirst(offset: 1, limit: 3).map(\.seq), [5, 4, 3])
        XCTAssertEqual(try store.events(afterSeq: 4, limit: 10).map(\.seq), [5, 6])
    }
}

// MARK: - readers

final class StoreReadOnlyTests: XCTestCase {
    func testAReadOnlyStoreSeesCommittedWrites() throws {
        let dir = try SF.directory(self)
        let writer = try Store.openForWriting(path: dir + "/s.db")
        let reader = try Store.openReadOnly(path: dir + "/s.db")
        XCTAssertTrue(reader.readOnly)
        let r = try SF.insert(writer, SF.request())
        XCTAssertEqual(try reader.request(id: r.id)?.requester, "rita")
    }

    func testAReadOnlyStoreCannotWrite() throws {
        let dir = try SF.directory(self)
        let writer = try Store.openForWriting(path: dir + "/s.db")
        try SF.insert(writer, SF.request())
        let reader = try Store.openReadOnly(path: dir + "/s.db")
        XCTAssertThrowsError(try reader.db.execute("INSERT INTO meta(key, value) VALUES('k', 'v')")) { error in
            XCTAssertTrue((error as? SQLiteError)?.isReadOnly ?? false, "\(error)")
        }
        XCTAssertThrowsError(try reader.db.execute("UPDATE requests SET state = 'active'"))
        XCTAssertEqual(try writer.request(id: 1)?.state, .pending)
    }

    /// contract §5: the daemon's store is readable by the console's users but writable by the daemon alone.
    func testAnotherUserCanReadButNotWriteTheStore() throws {
        try XCTSkipUnless(getuid() == 0, "needs root to act as another user")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                          && FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "needs setpriv and sqlite3")
        let dir = try SF.directory(self)
        let path = dir + "/s.db"
        let writer = try Store.openForWriting(path: path, mode: 0o644)
        for i in 0..<5 {
            try writer.write { tx in try tx.append(SF.draft(try tx.insert(SF.request()), n: i), at: SF.at(Double(i))) }
        }
        let asNobody = ["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "/usr/bin/sqlite3"]
        // The writer stays open: the readers must read the WAL, not a checkpointed file.
        let read = try SF.run("/usr/bin/setpriv", asNobody + ["-readonly", path, "select count(*) from events"])
        XCTAssertEqual(read.status, 0, read.output)
        XCTAssertEqual(read.output, "5")
        let write = try SF.run("/usr/bin/setpriv", asNobody + [path, "insert into meta(key, value) values('owned', 'yes')"])
        XCTAssertNotEqual(write.status, 0, "nobody wrote the store: \(write.output)")
        let tamper = try SF.run("/usr/bin/setpriv", asNobody + [path, "pragma writable_schema=1; drop trigger events_no_delete"])
        XCTAssertNotEqual(tamper.status, 0, tamper.output)
        XCTAssertEqual(try writer.db.scalarInt("SELECT count(*) FROM meta WHERE key = 'owned'"), 0)
        XCTAssertEqual(try SF.allEvents(writer).count, 5)
    }
}
