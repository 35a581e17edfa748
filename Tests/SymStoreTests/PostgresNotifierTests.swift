import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

/// A store's change notices leave after its commits, from the notifier's own connection (docs/store.md, "The change
/// feed across daemons"): they name what the commits changed, merge while one is on its way, and stop with the daemon.
final class PostgresNotifierTests: XCTestCase {
    /// A connection that LISTENs on the store's channel, and what it heard.
    final class Heard {
        let connection: PostgresConnection
        var notices: [PostgresChangeNotice] = []
        init(_ conninfo: String) throws {
            connection = try PostgresConnection(conninfo: conninfo)
            try connection.execute("LISTEN \(PostgresChangeNotice.channel)")
        }
        /// Reads what arrived until `done` holds or `seconds` pass; whether it held.
        func wait(seconds: Double = 10, until done: ([PostgresChangeNotice]) -> Bool) throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while true {
                notices += try connection.receivedNotifications().map { PostgresChangeNotice(payload: $0.payload) }
                if done(notices) { return true }
                if Date() >= deadline { return false }
                usleep(5_000)
            }
        }
        var ids: Set<Int64> { notices.reduce(into: Set<Int64>()) { $0.formUnion($1.ids ?? []) } }
    }

    func conninfo() throws -> String { try PostgresCluster.shared().freshSchema().conninfo }

    func testACommitsNoticeNamesTheRequestsItChangedAndComesFromTheStore() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let store = try PostgresStore(conninfo: c)
        let r = try store.write { try $0.insert(SF.request()) }
        XCTAssertTrue(try heard.wait { !$0.isEmpty })
        XCTAssertEqual(heard.notices.first?.ids, [r.id])
        XCTAssertEqual(heard.notices.first?.sender, store.instance)
    }

    /// The work a commit's rows leave for a grant loop goes with its notice: a new request its TTL, a decision on
    /// an approval-only request nothing, an event alone nothing.
    func testACommitsNoticeSaysTheWorkItsRowsLeave() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let store = try PostgresStore(conninfo: c)
        var r = try store.write { try $0.insert(SF.request(target: nil)) }
        XCTAssertTrue(try heard.wait { $0.count == 1 })
        let expiry = (r.requestExpiresAt.timeIntervalSince1970 * 1000).rounded(.up) / 1000
        XCTAssertEqual(heard.notices[0].work, .at(Date(timeIntervalSince1970: expiry)))
        r.state = .approved
        try store.write { tx in _ = try tx.update(r, expectedState: .pending) }
        XCTAssertTrue(try heard.wait { $0.count == 2 })
        XCTAssertEqual(heard.notices[1].work, LoopWork.none, "approved, and no target: nothing for a grant loop")
        try store.write { tx in _ = try tx.append(EventDraft(.handler, for: r, actor: "handler:x"), at: Date()) }
        XCTAssertTrue(try heard.wait { $0.count == 3 })
        XCTAssertEqual(heard.notices[2].ids, [r.id])
        XCTAssertEqual(heard.notices[2].work, LoopWork.none, "an event alone changes no deadline")
    }

    func testNoticesPostedWhileOneIsOnItsWayAreMergedAndNoneIsLost() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let notifier = PostgresNotifier(conninfo: c, sender: "s")
        for id in 1...200 { notifier.post([Int64(id)]) }
        XCTAssertTrue(try heard.wait { _ in heard.ids.count == 200 }, "heard \(heard.ids.count) of 200")
        XCTAssertLessThan(heard.notices.count, 200, "merged: \(heard.notices.count) notices")
    }

    func testCommitsFasterThanTheGapAreSentAtMostOneNoticePerGap() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let notifier = PostgresNotifier(conninfo: c, sender: "s", minimumGap: 0.05)
        let start = Date()
        for id in 1...100 { notifier.post([Int64(id)]); usleep(5_000) }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertTrue(try heard.wait { _ in heard.ids.count == 100 }, "heard \(heard.ids.count) of 100")
        XCTAssertLessThanOrEqual(heard.notices.count, Int(elapsed / 0.05) + 2,
                                 "\(heard.notices.count) notices in \(elapsed) s with a 50 ms gap")
    }

    func testAnIdleStoresNoticeIsNotHeldBackButTheNextOneWaitsForTheGap() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let notifier = PostgresNotifier(conninfo: c, sender: "s", minimumGap: 1.5)
        let start = Date()
        notifier.post([1])
        XCTAssertTrue(try heard.wait(seconds: 1) { $0.count == 1 }, "the first notice leaves at once")
        notifier.post([2])
        XCTAssertTrue(try heard.wait { $0.count == 2 })
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 1.4, "the second waited for the gap")
        XCTAssertEqual(heard.notices.map(\.ids), [[1], [2]])
    }

    func testMoreRequestsThanANoticeNamesAreSentAsAnythingChanged() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let notifier = PostgresNotifier(conninfo: c, sender: "s")
        notifier.post(Set((1...Int64(PostgresChangeNotice.maxIDs + 1))))
        XCTAssertTrue(try heard.wait { !$0.isEmpty })
        XCTAssertNil(heard.notices[0].ids)
    }

    func testFinishingSendsWhatWaitsAndNothingAfter() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let store = try PostgresStore(conninfo: c)
        let r = try store.write { try $0.insert(SF.request()) }
        store.finishNotices()
        XCTAssertTrue(try heard.wait(seconds: 2) { _ in heard.ids.contains(r.id) }, "sent before finishing")
        _ = try store.write { try $0.insert(SF.request()) }
        XCTAssertFalse(try heard.wait(seconds: 0.5) { $0.count > 1 }, "nothing after: \(heard.notices)")
    }

    func testAnIdleNotifierClosesItsConnectionAndOpensItAgainForTheNextCommit() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let notifier = PostgresNotifier(conninfo: c, sender: "s", idleTimeout: 0.2)
        notifier.post([1])
        XCTAssertTrue(try heard.wait { !$0.isEmpty })
        func notifierSessions() throws -> String? {
            try heard.connection.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'symtui notifier'").first?[0] ?? nil
        }
        let deadline = Date().addingTimeInterval(10)
        while try notifierSessions() != "0" && Date() < deadline { usleep(20_000) }
        XCTAssertEqual(try notifierSessions(), "0", "closed after 0.2 s idle")
        notifier.post([2])
        XCTAssertTrue(try heard.wait { _ in heard.ids.contains(2) })
    }
}
