import Foundation
import XCTest
import SymModel
@testable import SymStore

// The store contract, on every backend (StoreContractFixture.swift): requests, due work and the audit chain.

// MARK: - requests

final class StoreRequestContractTests: StoreContractCase {
    func testInsertAssignsIncreasingIDs() throws {
        try eachBackend { store, db in
            let a = try insert(store, SF.request())
            let b = try insert(store, SF.request())
            XCTAssertGreaterThan(a.id, 0)
            XCTAssertGreaterThan(b.id, a.id)
        }
    }

    func testARequestKeepsTheRoutingItWasMadeWith() throws {
        try eachBackend { store, db in
            var r = SF.request()
            r.routing = Routing(approvers: Approvers(users: ["alice"], groups: ["oncall"]))
            r = try insert(store, r)
            var decided = r
            decided.state = .approved
            decided.routing = nil
            XCTAssertTrue(try store.write { try $0.update(decided) })
            XCTAssertEqual(try db.request(id: r.id)?.routing, r.routing)
            XCTAssertEqual(try db.reviewCandidates(user: "alice", groups: [], flows: ["prod"], selfFlows: [], eligibleFlows: [], stepFlows: []).count, 0,
                       "decided: in no queue")
            XCTAssertEqual(try db.count(RequestQuery()), 1)
        }
    }

    func testEveryRequestColumnRoundTrips() throws {
        try eachBackend { store, db in
            var r = SF.request(state: .deescalating, extends: nil)
            r = try insert(store, r)
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
            XCTAssertEqual(try db.request(id: r.id), r)
        }
    }

    func testAnExtensionKeepsTheGrantItExtends() throws {
        try eachBackend { store, db in
            let grant = try insert(store, SF.request(state: .active))
            let ext = try insert(store, SF.request(extends: grant.id))
            XCTAssertEqual(try db.request(id: ext.id)?.extends, grant.id)
        }
    }

    func testEveryFieldTypeRoundTrips() throws {
        try eachBackend { store, db in
            var r = SF.request()
            r.fields = ["s": .string("text with \"quotes\", commas and 日本"), "i": .int(-9_007_199_254_740_991), "b": .bool(true),
                    "d": .duration(TimeSpan(seconds: 5400)), "sl": .strList(["a", "b,c", ""]), "il": .intList([1, -2, 3]),
                    "u": .user("nobody"), "ul": .userList(["root", "nobody"]), "empty": .strList([])]
        XCTAssertEqual(Set(r.fields.values.map(\.typeName)), Set(FieldType.allCases.map(\.rawValue)))
        let id = try insert(store, r).id
        XCTAssertEqual(try db.request(id: id)?.fields, r.fields)
        }
    }

    func testAnUpdateWritesTheNewState() throws {
        try eachBackend { store, db in
            var r = try insert(store, SF.request())
            r.state = .approved
            XCTAssertTrue(try store.write { try $0.update(r) })
            XCTAssertEqual(try db.request(id: r.id)?.state, .approved)
        }
    }

    func testACompareAndSetUpdateWinsWhenTheStateIsAsExpected() throws {
        try eachBackend { store, db in
            var r = try insert(store, SF.request())
            r.state = .approved
            XCTAssertTrue(try store.write { try $0.update(r, expectedState: .pending) })
            XCTAssertEqual(try db.request(id: r.id)?.state, .approved)
        }
    }

    func testACompareAndSetUpdateLosesWhenTheStateChanged() throws {
        try eachBackend { store, db in
            var r = try insert(store, SF.request())
            r.state = .denied
            XCTAssertTrue(try store.write { try $0.update(r) })
            var stale = r
            stale.state = .approved
            stale.approvals = [Approval(user: "alice", at: SF.at(5), reason: nil, isSelf: false)]
            XCTAssertFalse(try store.write { try $0.update(stale, expectedState: .pending) })
            let now = try XCTUnwrap(try db.request(id: r.id))
            XCTAssertEqual(now.state, .denied)
            XCTAssertTrue(now.approvals.isEmpty, "a lost compare-and-set writes no approvals")
        }
    }

    func testUpdatingAMissingRequestReturnsFalse() throws {
        try eachBackend { store, db in
            var r = SF.request()
            r.id = 999
            XCTAssertFalse(try store.write { try $0.update(r) })
        }
    }

    func testApprovalsRoundTrip() throws {
        try eachBackend { store, db in
            var r = try insert(store, SF.request())
            r.approvals = [Approval(user: "alice", at: SF.at(1.5), reason: nil, isSelf: false),
                       Approval(user: "rita", at: SF.at(2), reason: "on fire", isSelf: true, step: "security")]
        try store.write { try $0.update(r) }
        XCTAssertEqual(try db.request(id: r.id)?.approvals, r.approvals)
        // Writing the request again does not duplicate its approvals.
        try store.write { try $0.update(r) }
        XCTAssertEqual(try db.request(id: r.id)?.approvals.count, 2)
        }
    }

    func testListingIsNewestFirstAndPages() throws {
        try eachBackend { store, db in
            var ids: [Int64] = []
            for i in 0..<25 { ids.append(try insert(store, SF.request(created: Double(i))).id) }
            let newestFirst = Array(ids.reversed())
            XCTAssertEqual(try db.requests(RequestQuery(limit: 10)).map(\.id), Array(newestFirst[0..<10]))
            XCTAssertEqual(try db.requests(RequestQuery(limit: 10, offset: 10)).map(\.id), Array(newestFirst[10..<20]))
            XCTAssertEqual(try db.requests(RequestQuery(limit: 10, offset: 20)).map(\.id), Array(newestFirst[20..<25]))
            XCTAssertEqual(try db.requests(RequestQuery(limit: 10, offset: 30)).count, 0)
        }
    }

    func testListingFiltersByStateAndRequester() throws {
        try eachBackend { store, db in
            try insert(store, SF.request(requester: "rita"))
            try insert(store, SF.request(requester: "rita", state: .active))
            try insert(store, SF.request(requester: "sam", state: .active))
            XCTAssertEqual(try db.requests(RequestQuery(states: [.active])).map(\.requester).sorted(), ["rita", "sam"])
            XCTAssertEqual(try db.requests(RequestQuery(requester: "rita")).count, 2)
            XCTAssertEqual(try db.requests(RequestQuery(states: [.active, .pending], requester: "sam")).count, 1)
        }
    }

    func testCountMatchesTheFilter() throws {
        try eachBackend { store, db in
            for i in 0..<7 { try insert(store, SF.request(requester: i % 2 == 0 ? "rita" : "sam", state: i < 3 ? .pending : .ended)) }
            XCTAssertEqual(try db.count(RequestQuery()), 7)
            XCTAssertEqual(try db.count(RequestQuery(states: [.pending])), 3)
            XCTAssertEqual(try db.count(RequestQuery(requester: "sam")), 3)
            XCTAssertEqual(try db.count(RequestQuery(states: [.ended], requester: "rita")), 2)
        }
    }
}

// MARK: - due work

final class StoreDueWorkContractTests: StoreContractCase {
    func withTimes(_ r: AccessRequest, expires: Double? = nil, next: Double? = nil) -> AccessRequest {
        var r = r
        r.accessExpiresAt = expires.map(SF.at)
        r.nextAttemptAt = next.map(SF.at)
        return r
    }

    func testPendingPastTTLFindsOnlyPendingRequestsWhoseTTLHasPassed() throws {
        try eachBackend { store, db in
            let due = try insert(store, SF.request(created: 0))        // expires at 3600
            try insert(store, SF.request(created: 100))                // expires at 3700
            try insert(store, SF.request(state: .approved, created: 0))
            XCTAssertEqual(try db.pendingPastTTL(now: SF.at(3600), limit: 10).map(\.id), [due.id])
            XCTAssertEqual(try db.pendingPastTTL(now: SF.at(3599), limit: 10).count, 0)
        }
    }

    func testActivePastExpiryFindsOnlyActiveGrantsWhoseTimeRanOut() throws {
        try eachBackend { store, db in
            let due = try insert(store, withTimes(SF.request(state: .active), expires: 50))
            try insert(store, withTimes(SF.request(state: .active), expires: 500))
            try insert(store, withTimes(SF.request(state: .deescalating), expires: 10))
            XCTAssertEqual(try db.activePastExpiry(now: SF.at(100), limit: 10).map(\.id), [due.id])
        }
    }

    func testApprovedAwaitingEscalationSkipsApprovalOnlyRequestsAndExtensions() throws {
        try eachBackend { store, db in
            let access = try insert(store, SF.request(state: .approved))
            try insert(store, SF.request(flow: "reindex", target: nil, state: .approved))
            try insert(store, SF.request(state: .approved, extends: access.id))
            try insert(store, SF.request(state: .pending))
            XCTAssertEqual(try db.approvedAwaitingEscalation(now: Date(), limit: 10).map(\.id), [access.id])
        }
    }

    func testStrategyWorkDueIsNewResumedOrRetryDueWork() throws {
        try eachBackend { store, db in
            let fresh = try insert(store, SF.request(state: .escalating))
            let retryDue = try insert(store, withTimes(SF.request(state: .deescalating), next: 50))
            try insert(store, withTimes(SF.request(state: .escalating), next: 500))
            try insert(store, SF.request(state: .active))
            XCTAssertEqual(Set(try db.strategyWorkDue(now: SF.at(100), limit: 10).map(\.id)), [fresh.id, retryDue.id])
        }
    }

    func testNextDueTimeIsTheEarliestOfTTLsExpiriesAndRetries() throws {
        try eachBackend { store, db in
            XCTAssertNil(try db.nextDueTime())
            try insert(store, SF.request(created: 0))                                   // TTL at 3600
            XCTAssertEqual(try db.nextDueTime(), SF.at(3600))
            try insert(store, withTimes(SF.request(state: .active), expires: 1800))
            XCTAssertEqual(try db.nextDueTime(), SF.at(1800))
            try insert(store, withTimes(SF.request(state: .deescalating), next: 900))
            XCTAssertEqual(try db.nextDueTime(), SF.at(900))
            try insert(store, withTimes(SF.request(state: .ended), expires: 1))           // ended grants are never due
            XCTAssertEqual(try db.nextDueTime(), SF.at(900))
        }
    }

    func testPendingReachingAgeFindsTheRequestsThatCrossedAThresholdInTheWindow() throws {
        try eachBackend { store, db in
            let a = try insert(store, SF.request(created: 0))      // reminders due at 600, 1200, …; TTL ends at 3600
            let b = try insert(store, SF.request(created: 500))    // at 1100, 1700, …
            try insert(store, SF.request(state: .approved, created: 0))
            func ids(_ since: Double?, _ now: Double, every: Int? = 600, after: Int64 = 0, limit: Int = 10) throws -> [Int64] {
                try db.pendingReachingAge(PendingAgeQuery(flow: a.flow, age: 600, every: every, since: since.map(SF.at), now: SF.at(now),
                                                          afterID: after, limit: limit)).map(\.id)
            }
            XCTAssertEqual(try ids(nil, 599), [])
            XCTAssertEqual(try ids(nil, 1100), [a.id, b.id], "without a previous sweep: every request past the age")
            XCTAssertEqual(try ids(700, 1100), [b.id], "only what crossed since the last sweep")
            XCTAssertEqual(try ids(1100, 1199), [])
            XCTAssertEqual(try ids(1100, 1200), [a.id], "the next period")
            XCTAssertEqual(try ids(1100, 1800, every: nil), [], "a single threshold is crossed once")
            XCTAssertEqual(try ids(nil, 3600), [b.id], "a request at the end of its TTL is left to expire")
            XCTAssertEqual(try ids(nil, 1100, limit: 1), [a.id])
            XCTAssertEqual(try ids(nil, 1100, after: a.id, limit: 1), [b.id], "pages in id order")
        }
    }

    func testPendingCountCountsOnlyTheRequestersPendingRequests() throws {
        try eachBackend { store, db in
            try insert(store, SF.request(requester: "rita"))
            try insert(store, SF.request(requester: "rita"))
            try insert(store, SF.request(requester: "rita", state: .approved))
            try insert(store, SF.request(requester: "sam"))
            XCTAssertEqual(try db.pendingCount(requester: "rita"), 2)
            XCTAssertEqual(try db.pendingCount(requester: "olga"), 0)
        }
    }

    func testHoldsOtherGrantCountsOnlyTheSameUsersOtherLiveGrantsOfTheTarget() throws {
        try eachBackend { store, db in
            let mine = try insert(store, SF.request(requester: "rita", state: .deescalating))
            try insert(store, SF.request(requester: "rita", state: .active))
            try insert(store, SF.request(requester: "sam", state: .escalating))
            try insert(store, SF.request(requester: "tom", state: .ended))
            try insert(store, SF.request(requester: "uma", state: .deescalating))
            try insert(store, SF.request(target: "other", requester: "vic", state: .active))
            try insert(store, SF.request(flow: "other-flow", requester: "wes", state: .active))
            XCTAssertTrue(try db.holdsOtherGrant(requester: "rita", flows: ["prod"], target: "prod-ssh", excluding: mine.id))
            XCTAssertTrue(try db.holdsOtherGrant(requester: "sam", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "escalating counts")
            XCTAssertFalse(try db.holdsOtherGrant(requester: "tom", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "ended does not")
            XCTAssertFalse(try db.holdsOtherGrant(requester: "uma", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "deescalating does not")
            XCTAssertFalse(try db.holdsOtherGrant(requester: "vic", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "another target")
            XCTAssertFalse(try db.holdsOtherGrant(requester: "wes", flows: ["prod"], target: "prod-ssh", excluding: mine.id), "another flow")
            XCTAssertTrue(try db.holdsOtherGrant(requester: "wes", flows: ["prod", "other-flow"], target: "prod-ssh", excluding: mine.id))
            XCTAssertFalse(try db.holdsOtherGrant(requester: "rita", flows: [], target: "prod-ssh", excluding: mine.id))
        }
    }
}

// MARK: - audit chain

final class StoreAuditChainContractTests: StoreContractCase {
    func testTheChainStaysIntactOverManyWrites() throws {
        try eachBackend { store, db in
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
        let events = try allEvents(store)
        XCTAssertEqual(events.map(\.seq), Array(1...Int64(n)))
        XCTAssertEqual(events.first?.prevHash, AuditEvent.genesisHash)
        for (i, e) in events.enumerated() {
            XCTAssertEqual(e.hash, e.computedHash, "seq \(e.seq)")
            if i > 0 { XCTAssertEqual(e.prevHash, events[i - 1].hash, "seq \(e.seq)") }
        }
        XCTAssertEqual(Set(events.map(\.id)).count, n, "event ids are unique")
        XCTAssertEqual(try db.lastSeq(), Int64(n))
        }
    }

    /// The event `append` returns has the id, time (to the millisecond) and fields stored. SQLite places it in the
    /// chain at once; PostgreSQL at commit, so the event returned there has seq 0 and no hashes yet.
    func testAppendReturnsTheEventsIdTimeAndFieldsAsStored() throws {
        try eachBackend { store, db in
            let appended = try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1.2345)) }
            let stored = try allEvents(store)
            XCTAssertEqual(stored.count, 1)
            var placed = appended
            placed.seq = stored.first?.seq ?? -1
            placed.prevHash = stored.first?.prevHash ?? ""
            placed.hash = stored.first?.hash ?? ""
            placed.hmac = stored.first?.hmac
            XCTAssertEqual(stored, [placed])
            if store is PostgresStore {
                XCTAssertEqual([appended.seq, Int64(appended.hash.count)], [0, 0], "placed at commit")
            } else {
                XCTAssertEqual(stored, [appended], "placed at once")
            }
        }
    }

    /// Reads of events inside the transaction that appended them see them, in the chain, with the ones appended
    /// after the read following on.
    func testReadsOfEventsInTheTransactionThatAppendedThemSeeThem() throws {
        try eachBackend { store, db in
            try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request()), n: 0), at: SF.at(0)) }
            let (r, seen) = try store.write { tx -> (AccessRequest, [String]) in
                let r = try tx.insert(SF.request())
                try tx.append(SF.draft(r, .request, n: 1), at: SF.at(1))
                try tx.append(SF.draft(r, .approve, n: 2), at: SF.at(2))
                var seen = try tx.events(requestId: r.id).map { "\($0.seq) \($0.type.rawValue) \($0.hash == $0.computedHash)" }
                seen.append("last \(try tx.lastSeq()) count \(try tx.countEvents())")
                seen += try tx.events(afterSeq: 1, limit: 10).map { "after \($0.seq) \($0.reason ?? "")" }
                seen += try tx.eventsNewestFirst(offset: 0, limit: 1).map { "newest \($0.seq)" }
                seen.append("seq 3 \(try tx.event(seq: 3)?.reason ?? "none")")
                try tx.append(SF.draft(r, .escalate, n: 3), at: SF.at(3))
                return (r, seen)
            }
            XCTAssertEqual(seen, ["2 request true", "3 approve true", "last 3 count 3", "after 2 n1", "after 3 n2", "newest 3", "seq 3 n2"])
            XCTAssertEqual(try db.events(requestId: r.id).map(\.seq), [2, 3, 4])
            let events = try allEvents(store)
            XCTAssertEqual(events.map(\.seq), [1, 2, 3, 4])
            for i in 1..<events.count { XCTAssertEqual(events[i].prevHash, events[i - 1].hash, "seq \(events[i].seq)") }
            XCTAssertEqual(events.map { $0.hash == $0.computedHash }, [true, true, true, true])
        }
    }

    /// A transaction that read its own events (so they had their places in the chain) and then failed leaves
    /// neither them nor a gap: the next commit takes the seq after the last committed one.
    func testARolledBackWriteThatReadItsOwnEventsLeavesNoGap() throws {
        try eachBackend { store, db in
            struct Abort: Error {}
            try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request()), n: 1), at: SF.at(1)) }
            XCTAssertThrowsError(try store.write { tx in
                let r = try tx.insert(SF.request())
                try tx.append(SF.draft(r, n: 2), at: SF.at(2))
                XCTAssertEqual(try tx.events(requestId: r.id).map(\.seq), [2])
                try tx.append(SF.draft(r, n: 3), at: SF.at(3))
                throw Abort()
            })
            try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request()), n: 4), at: SF.at(4)) }
            let events = try allEvents(store)
            XCTAssertEqual(events.map(\.seq), [1, 2])
            XCTAssertEqual(events.map(\.reason), ["n1", "n4"])
            XCTAssertEqual(events.last?.prevHash, events.first?.hash)
            XCTAssertEqual(try db.lastSeq(), 2)
        }
    }

    func testARolledBackWriteLeavesNoEventAndNoGap() throws {
        try eachBackend { store, db in
            struct Abort: Error {}
            try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1)) }
            XCTAssertThrowsError(try store.write { tx in
            try tx.append(SF.draft(try tx.insert(SF.request()), n: 2), at: SF.at(2))
            throw Abort()
        })
        try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request()), n: 3), at: SF.at(3)) }
        let events = try allEvents(store)
        XCTAssertEqual(events.map(\.seq), [1, 2])
        XCTAssertEqual(events.map(\.reason), ["n0", "n3"])
        XCTAssertEqual(events[1].prevHash, events[0].hash)
        XCTAssertEqual(try db.count(RequestQuery()), 2)
        }
    }

    func testEventsCannotBeUpdated() throws {
        try eachBackend { store, db in
            try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1)) }
            XCTAssertThrowsError(try raw("UPDATE events SET actor = 'mallory'"))
            XCTAssertEqual(try allEvents(store).first?.actor, "rita")
        }
    }

    func testEventsCannotBeDeleted() throws {
        try eachBackend { store, db in
            try store.write { tx in try tx.append(SF.draft(try tx.insert(SF.request())), at: SF.at(1)) }
            XCTAssertThrowsError(try raw("DELETE FROM events"))
            XCTAssertEqual(try allEvents(store).count, 1)
        }
    }

    func testEventsOfARequestAndPagesNewestFirst() throws {
        try eachBackend { store, db in
            let (a, b) = try store.write { tx -> (AccessRequest, AccessRequest) in
            let a = try tx.insert(SF.request()), b = try tx.insert(SF.request())
            for i in 0..<6 { try tx.append(SF.draft(i % 2 == 0 ? a : b, n: i), at: SF.at(Double(i))) }
            return (a, b)
        }
        XCTAssertEqual(try db.events(requestId: a.id).map(\.seq), [1, 3, 5])
        XCTAssertEqual(try db.events(requestId: b.id).map(\.seq), [2, 4, 6])
        XCTAssertEqual(try db.eventsNewestFirst(offset: 1, limit: 3).map(\.seq), [5, 4, 3])
        XCTAssertEqual(try db.events(afterSeq: 4, limit: 10).map(\.seq), [5, 6])
        }
    }
}


// MARK: - review candidates

/// The review queue's SQL finds requests routed to a user by name, through a group, or through an approval step.
final class ReviewCandidateContractTests: StoreContractCase {
    func pending(_ requester: String, routing: Routing) -> AccessRequest {
        var r = AccessRequest(flow: "f", target: nil, targetLabel: nil, requester: requester, createdAt: Date(),
                              requestExpiresAt: Date().addingTimeInterval(3600))
        r.routing = routing
        return r
    }

    func candidates(_ db: any StoreReading, _ user: String, _ groups: [String]) throws -> [ReviewCandidate] {
        try db.reviewCandidates(user: user, groups: groups, flows: ["f"], selfFlows: [], eligibleFlows: [], stepFlows: [])
    }

    func testRequestsRoutedToAUserOrTheirGroupsOrASteppedGroupAreCandidates() throws {
        try eachBackend { store, db in
            let byName = try insert(store, pending("alice", routing: Routing(approvers: Approvers(users: ["bob"]))))
            let byGroup = try insert(store, pending("alice", routing: Routing(approvers: Approvers(groups: ["oncall"]))))
            let bySteps = try insert(store, pending("alice", routing: Routing(approvers: Approvers(), steps: [
                ApprovalStep(name: "peer", approvers: Approvers(groups: ["dba"]))])))
            try insert(store, pending("alice", routing: Routing(approvers: Approvers(users: ["carol"]))))
            let found = try candidates(db, "bob", ["oncall", "dba"])
            XCTAssertEqual(found.map(\.id), [bySteps.id, byGroup.id, byName.id])
            XCTAssertEqual(found.map(\.exact), [false, true, true], "steps need the full policy check")
        }
    }

    func testANameHoldingTheKeySeparatorMatchesNoOtherUser() throws {
        try eachBackend { store, db in
            try insert(store, pending("alice", routing: Routing(approvers: Approvers(users: ["x\u{1F}u:bob"]))))
            XCTAssertEqual(try candidates(db, "bob", []).map(\.id), [])
        }
    }

    func testARoutingStoredWithoutApproverKeysGoesToTheFullCheck() throws {
        try eachBackend { store, db in
            let r = try insert(store, pending("alice", routing: Routing(approvers: Approvers(users: ["carol"]))))
            try raw("UPDATE requests SET approver_keys = NULL WHERE id = \(r.id)")
            let found = try candidates(db, "bob", [])
            XCTAssertEqual(found.map(\.id), [r.id])
            XCTAssertEqual(found.map(\.exact), [false])
        }
    }

    func testAnApproverWhoApprovedNoLongerSeesTheRequest() throws {
        try eachBackend { store, db in
            var r = try insert(store, pending("alice", routing: Routing(approvers: Approvers(users: ["bob", "carol"]), requiredApprovals: 2)))
            r.approvals = [Approval(user: "bob", at: SF.at(1), reason: nil, isSelf: false)]
            _ = try store.write { try $0.update(r) }
            XCTAssertEqual(try candidates(db, "bob", []).map(\.id), [])
            XCTAssertEqual(try candidates(db, "carol", []).map(\.id), [r.id])
        }
    }
}

// MARK: - delivery cursors and the notification outbox

final class StoreCursorAndOutboxContractTests: StoreContractCase {
    func testADeliveryCursorOnlyMovesForwardAndAFailureKeepsIt() throws {
        try eachBackend { store, db in
            XCTAssertEqual(try db.delivery("siem"), DeliveryRecord(destination: "siem"))
            try store.write { try $0.recordDelivered("siem", through: 7, at: SF.at(1)) }
            try store.write { try $0.recordDelivered("siem", through: 3, at: SF.at(2)) }
            try store.write { try $0.recordDeliveryFailure("siem", error: "HTTP 503", at: SF.at(3)) }
            try store.write { try $0.recordDeliveryFailure("siem", error: "HTTP 502", at: SF.at(4)) }
            let d = try db.delivery("siem")
            XCTAssertEqual(d.seq, 7)
            XCTAssertEqual(d.attempts, 2)
            XCTAssertEqual(d.lastError, "HTTP 502")
            XCTAssertEqual(d.lastAttemptAt, SF.at(4))
            XCTAssertEqual(d.deliveredAt, SF.at(2))
        }
    }

    func testTheSameNotificationIsQueuedOnce() throws {
        try eachBackend { store, db in
            let r = try insert(store, SF.request())
            let n = OutboxItem(requestId: r.id, kind: "request", channel: "mail", recipient: "bob", payload: "{}", createdAt: SF.at(1))
            XCTAssertTrue(try store.write { try $0.enqueue(n) })
            XCTAssertFalse(try store.write { try $0.enqueue(n) })
            var reminder = n
            reminder.dedup = "2"
            XCTAssertTrue(try store.write { try $0.enqueue(reminder) })
            XCTAssertEqual(try db.notifications(requestId: r.id).map(\.dedup), ["", "2"])
            XCTAssertTrue(try db.hasNotification(requestId: r.id, kind: "request", dedup: "2"))
            XCTAssertFalse(try db.hasNotification(requestId: r.id, kind: "request", dedup: "3"))
        }
    }

    func testGrantsEndingWithinTheWarningAreFoundUntilWarnedForTheirExpiry() throws {
        try eachBackend { store, db in
            func grant(start: Double, end: Double) -> AccessRequest {
                var g = SF.request(state: .active)
                g.accessStartsAt = SF.at(start)
                g.accessExpiresAt = SF.at(end)
                return g
            }
            let ending = try insert(store, grant(start: 0, end: 3600))
            try insert(store, grant(start: 0, end: 7200))           // ends later than the warning reaches
            try insert(store, grant(start: 3400, end: 3600))        // shorter than the warning: told when it began
            let q = EndingQuery(flow: "prod", warning: 300, now: SF.at(3400))
            XCTAssertEqual(try db.activeEndingUnwarned(q).map(\.id), [ending.id])
            let key = String(Int64((SF.at(3600).timeIntervalSince1970 * 1000).rounded()))
            try store.write { _ = try $0.enqueue(OutboxItem(requestId: ending.id, kind: "ending", dedup: key, channel: "mail",
                                                            recipient: "rita", payload: "{}", createdAt: SF.at(3400))) }
            XCTAssertEqual(try db.activeEndingUnwarned(q).map(\.id), [], "warned for this expiry")
            var extended = ending
            extended.accessExpiresAt = SF.at(3650)
            XCTAssertTrue(try store.write { try $0.update(extended) })
            XCTAssertEqual(try db.activeEndingUnwarned(q).map(\.id), [ending.id], "an extension's new expiry is warned again")
            XCTAssertEqual(try db.activeEndingUnwarned(EndingQuery(flow: "prod", warning: 300, now: SF.at(3400), afterID: ending.id)).count, 0)
        }
    }

    func testNotificationsQueuedTogetherCountOnlyTheNewOnes() throws {
        try eachBackend { store, db in
            let r = try insert(store, SF.request())
            let bob = OutboxItem(requestId: r.id, kind: "request", channel: "mail", recipient: "bob", payload: "{}", createdAt: SF.at(1))
            var carol = bob
            carol.recipient = "carol"
            XCTAssertEqual(try store.write { try $0.enqueue(all: [bob]) }, 1)
            XCTAssertEqual(try store.write { try $0.enqueue(all: [bob, carol]) }, 1, "bob's was queued before")
            XCTAssertEqual(try store.write { try $0.enqueue(all: []) }, 0)
            XCTAssertEqual(try db.notifications(requestId: r.id).map(\.recipient), ["bob", "carol"])
        }
    }

    func testDueNotificationsFailuresRetriesAndDeliveries() throws {
        try eachBackend { store, db in
            let r = try insert(store, SF.request())
            for who in ["bob", "carol"] {
                try store.write { try $0.enqueue(OutboxItem(requestId: r.id, kind: "request", channel: "mail", recipient: who, payload: "{}",
                                                            createdAt: SF.at(10))) }
            }
            let due = try db.dueNotifications(channel: "mail", now: SF.at(10), limit: 10)
            XCTAssertEqual(due.map(\.recipient), ["bob", "carol"])
            XCTAssertEqual(try db.dueNotifications(channel: "mail", now: SF.at(9), limit: 10).count, 0)
            try store.write { try $0.recordNotificationFailure(due[0].id, error: "SMTP 451", at: SF.at(11), retryAt: SF.at(70)) }
            try store.write { try $0.markDelivered(due[1].id, at: SF.at(12)) }
            XCTAssertEqual(try db.nextNotificationDue(channel: "mail"), SF.at(70))
            XCTAssertEqual(try db.dueNotifications(channel: "mail", now: SF.at(69), limit: 10).count, 0)
            XCTAssertEqual(try db.deliveredCount(channel: "mail", recipient: "carol", since: SF.at(0)), 1)
            let backlog = try db.channelBacklogs(channels: ["mail", "slack"], now: SF.at(20))
            XCTAssertEqual(backlog, [ChannelBacklog(channel: "mail", backlog: 1, lastError: "SMTP 451", lastErrorAt: SF.at(11),
                                                    oldestSeconds: 10, delivered: 1), ChannelBacklog(channel: "slack")])
            try store.write { try $0.postpone(due[0].id, until: SF.at(100)) }
            XCTAssertEqual(try db.nextNotificationDue(channel: "mail"), SF.at(100))
            XCTAssertEqual(try db.notifications(requestId: nil).map(\.attempts), [1, 1], "a postponement is not an attempt")
        }
    }

    func testAnEscalationTierReplacesAPendingRequestsRouting() throws {
        try eachBackend { store, db in
            let r = try insert(store, SF.request())
            let tier = Routing(approvers: Approvers(users: ["boss"]))
            try store.write { try $0.updateRouting(r.id, tier) }
            XCTAssertEqual(try db.request(id: r.id)?.routing, tier)
            XCTAssertEqual(try db.reviewCandidates(user: "boss", groups: [], flows: ["prod"], selfFlows: [], eligibleFlows: [], stepFlows: [])
                            .map(\.id), [r.id])
        }
    }
}
