import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// The notification outbox of a PostgreSQL store delivered by two daemons at once: each notification once.
final class FleetNotificationTests: XCTestCase {
    func testTwoDaemonsDeliveringOneOutboxSendEachNotificationOnce() throws {
        let h = try EngineHarness(self, backend: .postgresql)
        var config = h.engine.config
        config.notifications = Notifications(channels: [Channel(name: "script", type: .command, command: "/bin/true"),
                                                        Channel(name: "terminals", type: .tty)],
                                             defaultChannels: ["script", "terminals"])
        h.engine.reload(config)
        let conninfo = try XCTUnwrap(h.postgres).conninfo
        let script = RecordingSender(), terminals = RecordingSender()
        var policy = NotificationPolicy()
        policy.pollInterval = 0.01; policy.perRecipientPerMinute = 10_000
        let loops = ["bastion-a", "bastion-b"].map { host -> RunningLoop<NotificationLoop> in
            let loop = NotificationLoop(config: config, openStore: { try PostgresStore(conninfo: conninfo, hostName: host, migrate: false) },
                                        policy: policy)
            loop.claimLease = 60
            loop.log = { _ in }
            loop.senderFor = { c, _ in c.name == "script" ? script : terminals }
            return RunningLoop(loop)
        }
        defer { loops.forEach { $0.stop() } }
        var made: [AccessRequest] = []
        for _ in 0..<20 {
            made.append(try h.request(by: h.rita))
            loops.forEach { $0.loop.poke() }
        }
        let queued = try made.flatMap { try h.store.notifications(requestId: $0.id) }
        XCTAssertEqual(queued.count, 60, "a script copy and one terminal line per approver, for each request")
        XCTAssertTrue(eventually(within: 20) { script.items.count + terminals.items.count >= 60 })
        usleep(300_000)   // a second delivery would have happened by now
        let sent = (script.items + terminals.items).map(\.id)
        XCTAssertEqual(sent.count, 60, "sent \(sent.count) for 60 queued")
        XCTAssertEqual(Set(sent).count, sent.count, "a notification was sent twice")
        XCTAssertTrue(eventually { (try? made.flatMap { try h.store.notifications(requestId: $0.id) }.allSatisfy { $0.deliveredAt != nil }) == true })
    }
}
