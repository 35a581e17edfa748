import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

/// A sender the test controls: records what it gets; fails or stalls while told to.
final class RecordingSender: NotificationSender, @unchecked Sendable {
    private let lock = NSLock()
    private var got: [OutboxItem] = []
    private var failing = false
    private var delay: TimeInterval = 0
    var items: [OutboxItem] { lock.withLock { got } }
    func fail(_ on: Bool) { lock.withLock { failing = on } }
    func stall(_ seconds: TimeInterval) { lock.withLock { delay = seconds } }

    func deliver(_ item: OutboxItem, notification: JSONValue) throws -> DeliveryResult {
        let (f, d) = lock.withLock { (failing, delay) }
        if d > 0 { Thread.sleep(forTimeInterval: d) }
        if f { throw DeliveryError("receiver is down") }
        lock.withLock { got.append(item) }
        return .delivered
    }
}

extension RunningLoop where Loop == NotificationLoop {
    convenience init(_ loop: NotificationLoop) { self.init(loop, run: { $0.run(until: $1) }, wake: { $0.poke() }) }
}

final class NotificationOutboxTests: XCTestCase {
    /// The harness's engine with two channels: `script` (one copy) and `terminals` (one per recipient).
    func harness(perMinute: Int = 20) throws -> (EngineHarness, Config) {
        let h = try EngineHarness(self)
        var config = h.engine.config
        config.notifications = Notifications(channels: [Channel(name: "script", type: .command, command: "/bin/true"),
                                                        Channel(name: "terminals", type: .tty)],
                                             defaultChannels: ["script", "terminals"])
        h.engine.reload(config)
        return (h, config)
    }

    func loop(_ h: EngineHarness, _ config: Config, senders: [String: RecordingSender], perMinute: Int = 20) -> NotificationLoop {
        var policy = NotificationPolicy()
        policy.retry.base = 0.2; policy.retry.cap = 0.4; policy.pollInterval = 0.05; policy.perRecipientPerMinute = perMinute
        let loop = NotificationLoop(config: config, storePath: h.store.path, policy: policy)
        loop.log = { _ in }
        loop.senderFor = { c, _ in senders[c.name]! }
        return loop
    }

    func testARequestQueuesOneRowPerChannelAndRecipientAndOneNotifyEvent() throws {
        let (h, _) = try harness()
        let r = try h.request(by: h.rita)
        let rows = try h.store.notifications(requestId: r.id)
        XCTAssertEqual(rows.map { "\($0.channel):\($0.recipient)" }.sorted(), ["script:", "terminals:alice", "terminals:bob"])
        XCTAssertTrue(rows.allSatisfy { $0.kind == "request" && $0.deliveredAt == nil })
        XCTAssertEqual(try h.events(r), [.request, .notify])
        let notify = try XCTUnwrap(try h.store.events(requestId: r.id).last)
        XCTAssertEqual(notify.actor, "system")
        XCTAssertEqual(notify.data["kind"], .string("request"))
        XCTAssertEqual(notify.data["recipients"], .array([.string("alice"), .string("bob")]))
        XCTAssertEqual(notify.data["channels"], .array([.string("script"), .string("terminals")]))
    }

    func testTheRequesterIsNeverAmongTheApproversNotified() throws {
        let (h, _) = try harness()
        let r = try h.request(by: h.alice)
        XCTAssertEqual(try h.store.notifications(requestId: r.id).filter { $0.channel == "terminals" }.map(\.recipient), ["bob"])
    }

    func testTheOutboxIsWrittenInTheTransactionOfTheChange() throws {
        let (h, _) = try harness()
        // Without its outbox the change cannot commit: the request and its events are not written either.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [h.store.path, "DROP TABLE notifications"]
        try sqlite.run(); sqlite.waitUntilExit()
        XCTAssertEqual(sqlite.terminationStatus, 0)
        let events = try h.store.lastSeq()
        XCTAssertNotNil(h.refusal(.request(flow: "access", target: nil, fields: [:], duration: "1h", reason: nil), by: h.rita))
        XCTAssertEqual(try h.store.lastSeq(), events)
        XCTAssertEqual(try h.store.count(RequestQuery()), 0)
    }

    func testTheSameNotificationIsQueuedOnce() throws {
        let (h, _) = try harness()
        let r = try h.request(by: h.rita)
        let item = OutboxItem(requestId: r.id, kind: "request", channel: "script", recipient: "", payload: "{}", createdAt: Date())
        XCTAssertFalse(try h.store.write { try $0.enqueue(item) })
        XCTAssertEqual(try h.store.notifications(requestId: r.id).count, 3)
    }

    func testRemindersAreQueuedOncePerPeriodWithTheirNotifyEvent() throws {
        let (h, base) = try harness()
        var config = base
        config.flows[0].reminder = TimeSpan(seconds: 600)
        h.engine.reload(config)
        let r = try h.request(by: h.rita)
        XCTAssertEqual(try h.engine.queueDueNotices(), 0)
        h.clock.advance(601)
        XCTAssertEqual(try h.engine.queueDueNotices(), 1)
        XCTAssertEqual(try h.engine.queueDueNotices(), 0, "the same reminder is not queued twice")
        h.clock.advance(600)
        XCTAssertEqual(try h.engine.queueDueNotices(), 1)
        let reminders = try h.store.notifications(requestId: r.id).filter { $0.kind == "reminder" }
        XCTAssertEqual(Set(reminders.map(\.dedup)), ["1", "2"])
        XCTAssertEqual(reminders.filter { $0.channel == "terminals" }.map(\.recipient).sorted(), ["alice", "alice", "bob", "bob"])
        XCTAssertEqual(try h.events(r).filter { $0 == .notify }.count, 3)
    }

    /// `count` pending requests of flow `access` by rita, made now, written in one transaction (faster than commands).
    func pendingRequests(_ h: EngineHarness, count: Int) throws -> [AccessRequest] {
        let now = h.clock.now
        return try h.store.writer.write { tx in
            try (0..<count).map { _ in
                try tx.insert(AccessRequest(flow: "access", target: "db", targetLabel: nil, requester: "rita", durationSeconds: 3600,
                                            createdAt: now, requestExpiresAt: now.addingTimeInterval(86_400)))
            }
        }
    }

    func testTheNewestOfMoreThanAThousandPendingRequestsGetsItsReminder() throws {
        let (h, base) = try harness()
        var config = base
        config.flows[0].reminder = TimeSpan(seconds: 600)
        h.engine.reload(config)
        let pending = try pendingRequests(h, count: 1_001)
        h.clock.advance(601)
        XCTAssertEqual(try h.engine.queueDueNotices(), 1_001)
        let newest = try XCTUnwrap(pending.last)
        XCTAssertEqual(try h.store.notifications(requestId: newest.id).filter { $0.kind == "reminder" }.map(\.dedup), ["1", "1", "1"])
        XCTAssertEqual(try h.engine.queueDueNotices(), 0, "nothing new: no reminder is queued twice")
        h.clock.advance(600)
        XCTAssertEqual(try h.engine.queueDueNotices(), 1_001, "the second period reaches every one of them again")
    }

    func testTheNewestOfMoreThanAThousandPendingRequestsIsForwardedByItsTier() throws {
        let (h, base) = try harness()
        var config = base
        config.flows[0].escalation = [EscalationTier(after: TimeSpan(seconds: 900), approvers: Approvers(users: ["sam"]))]
        h.engine.reload(config)
        let pending = try pendingRequests(h, count: 1_001)
        h.clock.advance(901)
        _ = try h.engine.queueDueNotices()
        let newest = try XCTUnwrap(pending.last)
        XCTAssertEqual(try h.store.events(requestId: newest.id).filter { $0.type == .requestForward }.count, 1)
        XCTAssertEqual(try h.store.request(id: newest.id)?.routing?.approvers.users.contains("sam"), true)
    }

    func testARequestMadeAfterASweepGetsItsReminderInALaterSweep() throws {
        let (h, base) = try harness()
        var config = base
        config.flows[0].reminder = TimeSpan(seconds: 600)
        h.engine.reload(config)
        let first = try h.request(by: h.rita)
        h.clock.advance(601)
        XCTAssertEqual(try h.engine.queueDueNotices(), 1)
        let second = try h.request(by: h.rita)
        h.clock.advance(300)
        XCTAssertEqual(try h.engine.queueDueNotices(), 0)
        h.clock.advance(301)
        XCTAssertEqual(try h.engine.queueDueNotices(), 2, "the second's first reminder and the first's second")
        XCTAssertEqual(try h.store.notifications(requestId: second.id).filter { $0.kind == "reminder" }.map(\.dedup), ["1", "1", "1"])
        XCTAssertEqual(Set(try h.store.notifications(requestId: first.id).filter { $0.kind == "reminder" }.map(\.dedup)), ["1", "2"])
    }

    func testTheExpiryWarningIsQueuedOnceForTheRequester() throws {
        let (h, _) = try harness()
        let g = try h.activeGrant(duration: "1h")
        XCTAssertEqual(try h.engine.queueDueNotices(), 0)
        h.clock.advance(3600 - 299)
        XCTAssertEqual(try h.engine.queueDueNotices(), 1)
        XCTAssertEqual(try h.engine.queueDueNotices(), 0)
        let ending = try h.store.notifications(requestId: g.id).filter { $0.kind == "ending" }
        XCTAssertEqual(ending.filter { $0.channel == "terminals" }.map(\.recipient), [g.requester])
    }

    /// More grants end within the warning than one page of the query holds: every one is warned, the last too (the
    /// grants already warned drop out of the query instead of filling its pages).
    func testTheLastOfMoreThanAThousandGrantsEndingTogetherGetsItsWarning() throws {
        let (h, _) = try harness()
        let now = h.clock.now
        let grants = try h.store.writer.write { tx in
            try (0..<1_001).map { _ -> AccessRequest in
                var g = AccessRequest(flow: "access", target: "db", targetLabel: nil, requester: "rita", state: .active, durationSeconds: 3600,
                                      createdAt: now, requestExpiresAt: now.addingTimeInterval(86_400))
                g.accessStartsAt = now
                g.accessExpiresAt = now.addingTimeInterval(3600)
                return try tx.insert(g)
            }
        }
        h.clock.advance(3600 - 299)
        XCTAssertEqual(try h.engine.queueDueNotices(), 1_001)
        let last = try XCTUnwrap(grants.last)
        XCTAssertEqual(try h.store.notifications(requestId: last.id).filter { $0.kind == "ending" }.map(\.recipient).sorted(), ["", "rita"])
        XCTAssertEqual(try h.engine.queueDueNotices(), 0, "nothing new: no warning is queued twice")
    }

    func testATierForwardsThePendingRequestSoItsApproversMayDecide() throws {
        let (h, base) = try harness()
        var config = base
        config.flows[0].escalation = [EscalationTier(after: TimeSpan(seconds: 900), approvers: Approvers(users: ["sam"]))]
        h.engine.reload(config)
        let r = try h.request(by: h.rita)
        XCTAssertEqual(h.refusal(.approve(id: r.id, reason: nil), by: h.sam)?.code, ExitCode.noPerm, "not before the tier")
        XCTAssertEqual(try ReviewQueue.ids(store: try h.store.readOnly(), config: config, actor: h.sam.actor), [])
        h.clock.advance(901)
        _ = try h.engine.queueDueNotices()
        XCTAssertEqual(try h.events(r).filter { $0 == .requestForward }.count, 1)
        let forward = try XCTUnwrap(try h.store.events(requestId: r.id).first { $0.type == .requestForward })
        XCTAssertEqual(forward.actor, "system")
        XCTAssertEqual(forward.data["tier"], .int(1))
        XCTAssertEqual(try h.store.notifications(requestId: r.id).filter { $0.kind == "forward" && $0.channel == "terminals" }.map(\.recipient), ["sam"])
        XCTAssertEqual(try ReviewQueue.ids(store: try h.store.readOnly(), config: config, actor: h.sam.actor), [r.id], "the review queue follows")
        _ = try h.engine.queueDueNotices()
        XCTAssertEqual(try h.events(r).filter { $0 == .requestForward }.count, 1, "forwarded once")
        XCTAssertEqual(try h.execute(.approve(id: r.id, reason: nil), by: h.sam).state, .approved)
    }

    func testNoChannelsMeansNothingQueuedAndNoNotifyEvent() throws {
        let h = try EngineHarness(self)
        let r = try h.request(by: h.rita)
        XCTAssertEqual(try h.store.notifications(requestId: r.id), [])
        XCTAssertEqual(try h.events(r), [.request])
    }

    func testEachChannelDeliversAndMarksItsRowsDelivered() throws {
        let (h, config) = try harness()
        let script = RecordingSender(), terminals = RecordingSender()
        let running = RunningLoop(loop(h, config, senders: ["script": script, "terminals": terminals]))
        defer { running.stop() }
        let r = try h.request(by: h.rita)
        running.loop.poke()
        XCTAssertTrue(eventually { script.items.count == 1 && terminals.items.count == 2 })
        XCTAssertTrue(eventually { (try? h.store.notifications(requestId: r.id).allSatisfy { $0.deliveredAt != nil }) == true })
        XCTAssertEqual(terminals.items.map(\.recipient).sorted(), ["alice", "bob"])
    }

    func testAFailingChannelIsRetriedWithBackoffAndLosesNothing() throws {
        let (h, config) = try harness()
        let script = RecordingSender(), terminals = RecordingSender()
        script.fail(true)
        let running = RunningLoop(loop(h, config, senders: ["script": script, "terminals": terminals]))
        defer { running.stop() }
        let r = try h.request(by: h.rita)
        running.loop.poke()
        XCTAssertTrue(eventually { terminals.items.count == 2 }, "the other channel is not held up")
        XCTAssertTrue(eventually { (try? h.store.notifications(requestId: r.id).first { $0.channel == "script" }?.attempts ?? 0 >= 2) == true })
        let status = try h.store.channelBacklogs(channels: ["script", "terminals"], now: Date())
        XCTAssertEqual(status.map(\.backlog), [1, 0])
        XCTAssertEqual(status[0].lastError, "receiver is down")
        XCTAssertTrue(status[0].isFailing)
        script.fail(false)
        XCTAssertTrue(eventually { script.items.count == 1 })
        XCTAssertTrue(eventually { (try? h.store.channelBacklogs(channels: ["script"], now: Date()).first?.backlog) == 0 })
        XCTAssertNil(try h.store.channelBacklogs(channels: ["script"], now: Date()).first?.lastError)
    }

    func testAStalledChannelDelaysNeitherADecisionNorAnotherChannel() throws {
        let (h, config) = try harness()
        let script = RecordingSender(), terminals = RecordingSender()
        script.stall(3)
        let running = RunningLoop(loop(h, config, senders: ["script": script, "terminals": terminals]))
        defer { running.stop() }
        let r = try h.request(by: h.rita)
        running.loop.poke()
        XCTAssertTrue(eventually(within: 2) { terminals.items.count == 2 })
        let t0 = Date()
        _ = try h.execute(.approve(id: r.id, reason: nil), by: h.bob)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 0.5, "the decision does not wait for a channel")
        XCTAssertTrue(eventually(within: 2) { terminals.items.contains { $0.kind == "decision" } })
        script.stall(0)
    }

    func testTheRateLimitPerRecipientPostponesInsteadOfDropping() throws {
        let (h, config) = try harness()
        let script = RecordingSender(), terminals = RecordingSender()
        let running = RunningLoop(loop(h, config, senders: ["script": script, "terminals": terminals], perMinute: 2))
        defer { running.stop() }
        for _ in 0..<4 { _ = try h.request("job", duration: nil, by: h.rita) }
        running.loop.poke()
        XCTAssertTrue(eventually { script.items.count == 4 }, "a channel without recipients is not limited")
        XCTAssertTrue(eventually { terminals.items.filter { $0.recipient == "alice" }.count == 2 })
        usleep(300_000)
        XCTAssertEqual(terminals.items.filter { $0.recipient == "alice" }.count, 2, "at most 2 a minute")
        let waiting = try h.store.notifications(requestId: nil).filter { $0.channel == "terminals" && $0.recipient == "alice" && $0.deliveredAt == nil }
        XCTAssertEqual(waiting.count, 2, "the others wait, they are not dropped")
        XCTAssertTrue(waiting.allSatisfy { $0.nextAttemptAt > Date() })
    }
}
