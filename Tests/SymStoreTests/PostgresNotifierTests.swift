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

    func testNoticesPostedWhileOneIsOnItsWayAreMergedAndNoneIsLost() throws {
        let c = try conninfo()
        let heard = try Heard(c)
        let notifier = PostgresNotifier(conninfo: c, sender: "s")
        for id in 1...200 { notifier.post([Int64(id)]) }
        XCTAssertTrue(try heard.wait { _ in heard.ids.count == 200 }, "heard \(heard.ids.count) of 200")
        XCTAssertLessThan(heard.notices.count, 200, "merged: \(heard.notices.count) notices")
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
