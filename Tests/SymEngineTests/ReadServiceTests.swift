import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import Synchronization
@testable import SymEngine

/// The daemon's read API: what a call may ask, how requests and events travel, who the answers are for, the change
/// feed, and how many connections one user may hold.
final class ReadServiceTests: EngineBackendCase {
    func parse(_ text: String) throws -> DaemonCall { try DaemonCall.parse(try JSONValue.parse(text)) }

    func refusal(_ text: String) -> CommandError? {
        do { _ = try parse(text); return nil } catch { return error as? CommandError }
    }

    func testEveryReadRoundTripsThroughItsJSON() throws {
        var q = RequestQuery(states: [.pending, .active], requester: "rita", limit: 50, offset: 10)
        q.search = "prod"; q.ids = [3, 4]; q.flow = "access"; q.target = "db"; q.newestFirst = false
        let calls: [ReadCall] = [
            .requests(q, count: true), .review(search: "x", offset: 5, limit: 20), .request(id: 7),
            .events(afterSeq: 9, limit: 100, requestId: 3, since: Date(timeIntervalSince1970: 1_800_000_000), until: nil),
            .events(afterSeq: 0, limit: 10, requestId: nil, since: nil, until: nil),
            .audit(search: nil, offset: 0, limit: 40), .lastEvents(count: 3), .status, .delivery, .subscribe, .subscribeReview,
            .report(since: Date(timeIntervalSince1970: 1_800_000_000.123)),
        ]
        for c in calls { XCTAssertEqual(try parse(DaemonCall.read(c).json.compact), .read(c), "\(c)") }
    }

    func testBadReadsAreRefusedWith65AndSayWhy() {
        for (line, fragment) in [
            (#"{"read":"nosuch"}"#, "unknown read"),
            (#"{"read":"requests","limit":100000}"#, "limit"),
            (#"{"read":"requests","offset":-1}"#, "offset"),
            (#"{"read":"requests","states":["bogus"]}"#, "unknown state"),
            (#"{"read":"requests","ids":[0]}"#, "request ids"),
            (#"{"read":"request","id":0}"#, "\"id\""),
            (#"{"read":"review","bogus":1}"#, "unknown key"),
            (#"{"read":5}"#, "must name a read"),
            (#"{"read":"report"}"#, "since_ms"),
            (#"{"read":"report","since_ms":"yesterday"}"#, "since_ms"),
            (#"{"read":"status","v":2}"#, "protocol version"),
            (#"{"event":"ping","x":1}"#, "unknown key"),
        ] {
            let e = refusal(line)
            XCTAssertEqual(e?.code, ExitCode.dataErr, line)
            XCTAssertTrue(e?.message.contains(fragment) ?? false, "\(line): \(e?.message ?? "accepted")")
        }
    }

    func testTheProtocolVersionIsCheckedForEveryKindOfCallWithOneCode() {
        for line in [#"{"v":2,"event":"approve","request":1}"#, #"{"v":2,"event":"ping"}"#, #"{"v":2,"read":"status"}"#,
                     #"{"v":"1","event":"prefetch","flow":"f","field":"x"}"#] {
            XCTAssertEqual(refusal(line)?.code, ExitCode.dataErr, line)
        }
    }

    func testARequestTravelsWholeButWithoutItsStepOutput() {
        var r = AccessRequest(id: 12, flow: "access", target: "db", targetLabel: "Orders DB", requester: "rita", state: .active,
                              fields: ["reason": .string("deploy"), "duration": .duration(TimeSpan(seconds: 3600)), "n": .int(3)],
                              durationSeconds: 3600, createdAt: Date(timeIntervalSince1970: 1_800_000_000.123),
                              requestExpiresAt: Date(timeIntervalSince1970: 1_800_003_600), requiredApprovals: 1, extends: 9)
        r.approvals = [Approval(user: "alice", at: Date(timeIntervalSince1970: 1_800_000_010.5), reason: "ok", isSelf: false, step: "owners")]
        r.decidedAt = Date(timeIntervalSince1970: 1_800_000_010.5)
        r.accessStartsAt = r.decidedAt
        r.accessExpiresAt = Date(timeIntervalSince1970: 1_800_003_610.5)
        r.routing = Routing(approvers: Approvers(users: ["alice"], groups: ["oncall"]), requiredApprovals: 1)
        r.stepOutput = #"{"password":"hunter2"}"#
        r.error = "x"
        let wire = Wire.encode(r)
        XCTAssertFalse(wire.compact.contains("hunter2"), "step output left the daemon")
        var expected = r
        expected.stepOutput = nil
        XCTAssertEqual(Wire.decodeRequest(try! JSONValue.parse(wire.compact)), expected)
    }

    func testAnEventTravelsWhole() throws {
        var e = AuditEvent(seq: 5, id: "u-1", time: Date(timeIntervalSince1970: 1_800_000_000.25),
                           draft: EventDraft(type: .approve, requestId: 3, flow: "access", target: "db", requester: "rita",
                                             actor: "alice", reason: "ok", data: .obj([("self", .bool(false))])),
                           prevHash: String(repeating: "a", count: 64), hash: String(repeating: "b", count: 64))
        e.hmac = String(repeating: "c", count: 64)
        XCTAssertEqual(Wire.decodeEvent(try JSONValue.parse(Wire.encode(e).compact)), e)
    }

    func testTheReviewQueueIsComputedForTheCallerOnly() throws {
        try eachBackend { h in
            let rid = try h.request(by: h.rita).id
            let service = h.readService()
            func review(_ who: Identity) throws -> [Int64] {
                let pairs = try service.answer(.review(search: nil, offset: 0, limit: 100), caller: who)
                return JSONValue.obj(pairs)["requests"]?.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
            }
            XCTAssertEqual(try review(h.alice), [rid])
            XCTAssertEqual(try review(h.rita), [], "a requester does not review their own request")
            XCTAssertEqual(try review(h.mallory), [])
            let status = JSONValue.obj(try service.answer(.status, caller: h.rita))
            XCTAssertEqual(status["pending"]?.intValue, 1)
            XCTAssertEqual(status["user"]?.stringValue, "rita")
        }
    }

    func testTheReportCountsTheStoreForEveryCallerAlike() throws {
        try eachBackend { h in
            _ = try h.activeGrant()
            h.clock.advance(30)
            let pending = try h.request()
            try h.execute(.deny(id: pending.id, reason: "no"), by: h.alice)
            let service = h.readService(now: { [clock = h.clock] in clock.now })
            let since = h.clock.now.addingTimeInterval(-86_400)
            let answers = try [h.rita, h.alice, h.mallory].map { try ActivityReport(json: JSONValue.obj(service.answer(.report(since: since), caller: $0))) }
            XCTAssertEqual(answers[0], answers[2], "anyone who may read the log reads the same report")
            let r = try XCTUnwrap(answers[1])
            XCTAssertEqual([r.total.requests, r.total.approved, r.total.denied], [2, 1, 1])
            XCTAssertEqual(r.days.last?.grantsMax, 1)
            XCTAssertNotNil(r.total.approvalMedian)
            XCTAssertThrowsError(try service.answer(.report(since: h.clock.now.addingTimeInterval(3600)), caller: h.rita)) { error in
                XCTAssertEqual((error as? CommandError)?.code, ExitCode.dataErr, "a window that starts in the future")
            }
        }
    }

    func testAReadOfAMissingRequestIsRefusedWith65() throws {
        try eachBackend { h in
            let service = h.readService()
            XCTAssertThrowsError(try service.answer(.request(id: 999), caller: h.alice)) { error in
                XCTAssertEqual((error as? CommandError)?.code, ExitCode.dataErr)
            }
        }
    }

    func testTheFeedPushesOneLinePerCommitToEverySubscriberAndCoalescesBursts() throws {
        let feed = ChangeFeed()
        let stop = Atomic<Bool>(false)
        let t = Thread { feed.run(until: { stop.load(ordering: .sequentiallyConsistent) }) }
        t.start()
        defer { stop.store(true, ordering: .sequentiallyConsistent); usleep(600_000) }
        var pairs: [[Int32]] = []
        for _ in 0..<3 {
            var fds: [Int32] = [0, 0]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
            XCTAssertTrue(feed.subscribe(fd: fds[0], uid: 1000))
            pairs.append(fds)
        }
        usleep(50_000)
        for _ in 0..<50 { feed.committed() }
        usleep(200_000)
        for p in pairs {
            var buf = [UInt8](repeating: 0, count: 65_536)
            let n = recv(p[1], &buf, buf.count, Int32(MSG_DONTWAIT))
            XCTAssertGreaterThan(n, 0, "a subscriber heard nothing")
            let lines = String(decoding: buf[0..<max(0, n)], as: UTF8.self).split(separator: "\n")
            XCTAssertTrue(lines.allSatisfy { (try? JSONValue.parse(String($0)))?["changed"]?.boolValue == true }, "\(lines)")
            XCTAssertLessThan(lines.count, 50, "50 quick commits were not coalesced")
        }
        close(pairs[0][1])   // a subscriber hangs up: it is dropped
        usleep(700_000)
        XCTAssertEqual(feed.count, 2)
        for p in pairs.dropFirst() { close(p[1]) }
    }

    func testAUserMayHoldOnlySoManySubscriptions() {
        let feed = ChangeFeed()
        var opened: [Int32] = []
        defer { opened.forEach { close($0) } }
        var accepted = 0
        for _ in 0..<(ChangeFeed.maxPerUser + 5) {
            var fds: [Int32] = [0, 0]
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
            opened.append(fds[1])
            if feed.subscribe(fd: fds[0], uid: 1000) { accepted += 1 } else { close(fds[0]) }
        }
        XCTAssertEqual(accepted, ChangeFeed.maxPerUser)
        XCTAssertFalse(feed.hasRoom(for: 1000), "the daemon refuses before it confirms a subscription")
        XCTAssertTrue(feed.hasRoom(for: 1001))
        XCTAssertTrue(feed.hasRoom(for: 0), "root has no share of its own")
    }

    func testOneUserCannotTakeEveryConnectionAndApproversKeepTheirReserve() {
        let admission = Admission()
        var mallory = 0
        while admission.admit(uid: 1000, isApprover: { false }) == nil { mallory += 1 }
        XCTAssertEqual(mallory, Admission.perUser, "one user holds at most their share")
        XCTAssertTrue(admission.admit(uid: 1000, isApprover: { false })?.contains("too many connections from your user") ?? false)
        // Many users crowd the daemon up to its reserve: then only approvers and root get in.
        var uid: uid_t = 2000
        while admission.admit(uid: uid, isApprover: { false }) == nil { uid += 1 }
        XCTAssertNotNil(admission.admit(uid: 5000, isApprover: { false }))
        XCTAssertNil(admission.admit(uid: 5001, isApprover: { true }), "an approver was kept out")
        XCTAssertNil(admission.admit(uid: 0, isApprover: { false }), "root was kept out")
    }

    func testOnlyAConnectionServedAloneMayPollBeforeSleeping() {
        let admission = Admission()
        XCTAssertNil(admission.admit(uid: 1000, isApprover: { false }))
        XCTAssertTrue(admission.servesOne)
        XCTAssertNil(admission.admit(uid: 1001, isApprover: { false }))
        XCTAssertFalse(admission.servesOne, "with two connections the cores have other work than polling")
        admission.leave(uid: 1000)
        XCTAssertTrue(admission.servesOne)
    }

    func testAConnectionThatEndsGivesItsPlaceBack() {
        let admission = Admission()
        while admission.admit(uid: 1000, isApprover: { false }) == nil {}
        admission.leave(uid: 1000)
        XCTAssertNil(admission.admit(uid: 1000, isApprover: { false }))
    }
}
