import Foundation
import XCTest
import SymModel
@testable import SymStore

/// `update` writes only the columns whose value changed: SQLite rewrites every index naming a column of the SET
/// list, and each rewritten index is a page more in the WAL and its fsync. `UPDATE OF col` triggers fire when `col`
/// is in the SET list, whatever its value, so they show what the statement named.
final class RequestUpdateTests: XCTestCase {
    func storeWithTriggers() throws -> Store {
        let store = try SF.store(self)
        try store.db.execute("CREATE TEMP TABLE fired(col TEXT)")
        for col in ["requester", "state", "target", "fields", "created_at", "decided_at"] {
            try store.db.execute("CREATE TEMP TRIGGER set_\(col) AFTER UPDATE OF \(col) ON requests BEGIN INSERT INTO fired VALUES('\(col)'); END")
        }
        return store
    }

    func fired(_ store: Store) throws -> [String] {
        var out: [String] = []
        try store.db.query("SELECT col FROM fired ORDER BY col") { out.append($0.text(0)) }
        try store.db.execute("DELETE FROM fired")
        return out
    }

    func testAnUpdateSetsOnlyTheColumnsThatChanged() throws {
        let store = try storeWithTriggers()
        var r = try SF.insert(store, SF.request())
        r.state = .approved
        r.decidedAt = SF.at(10)
        XCTAssertTrue(try store.write { try $0.update(r, expectedState: .pending) })
        XCTAssertEqual(try fired(store), ["decided_at", "state"])
        let back = try XCTUnwrap(try store.request(id: r.id))
        XCTAssertEqual(back.state, .approved)
        XCTAssertEqual(back.decidedAt, SF.at(10))
        XCTAssertEqual(back.requester, "rita")
    }

    func testAnUpdateThatChangesNothingSetsNothingAndStillSucceeds() throws {
        let store = try storeWithTriggers()
        let r = try SF.insert(store, SF.request())
        XCTAssertTrue(try store.write { try $0.update(r) })
        XCTAssertTrue(try store.write { try $0.update(r, expectedState: .pending) })
        XCTAssertEqual(try fired(store), [])
    }

    func testAnUnchangedUpdateStillLosesItsCompareAndSet() throws {
        let store = try storeWithTriggers()
        let r = try SF.insert(store, SF.request())
        XCTAssertFalse(try store.write { try $0.update(r, expectedState: .approved) })
        XCTAssertEqual(try fired(store), [])
    }

    func testAnUpdateOfARequestThatDoesNotExistIsFalse() throws {
        let store = try SF.store(self)
        var r = SF.request()
        r.id = 999
        XCTAssertFalse(try store.write { try $0.update(r) })
    }

    func testEveryColumnAnUpdateMayWriteIsReadBackAsWritten() throws {
        let store = try storeWithTriggers()
        var r = try SF.insert(store, SF.request())
        r.requester = "ruth"; r.target = "db"; r.targetLabel = "the DB"; r.state = .active
        r.fields = ["reason": .string("why not")]; r.durationSeconds = 60; r.createdAt = SF.at(1); r.requestExpiresAt = SF.at(2)
        r.decidedAt = SF.at(3); r.accessStartsAt = SF.at(4); r.accessExpiresAt = SF.at(5); r.requiredApprovals = 2
        r.stuck = true; r.error = "boom"; r.attempts = 3; r.nextAttemptAt = SF.at(6); r.stepOutput = "out"
        XCTAssertTrue(try store.write { try $0.update(r) })
        XCTAssertEqual(try fired(store), ["created_at", "decided_at", "fields", "requester", "state", "target"])
        let back = try XCTUnwrap(try store.request(id: r.id))
        XCTAssertEqual(back.requester, "ruth"); XCTAssertEqual(back.target, "db"); XCTAssertEqual(back.targetLabel, "the DB")
        XCTAssertEqual(back.state, .active); XCTAssertEqual(back.fields, r.fields); XCTAssertEqual(back.durationSeconds, 60)
        XCTAssertEqual(back.createdAt, SF.at(1)); XCTAssertEqual(back.requestExpiresAt, SF.at(2)); XCTAssertEqual(back.decidedAt, SF.at(3))
        XCTAssertEqual(back.accessStartsAt, SF.at(4)); XCTAssertEqual(back.accessExpiresAt, SF.at(5)); XCTAssertEqual(back.requiredApprovals, 2)
        XCTAssertTrue(back.stuck); XCTAssertEqual(back.error, "boom"); XCTAssertEqual(back.attempts, 3)
        XCTAssertEqual(back.nextAttemptAt, SF.at(6)); XCTAssertEqual(back.stepOutput, "out")
    }
}
