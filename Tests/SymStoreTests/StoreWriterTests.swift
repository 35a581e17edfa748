import Foundation
import XCTest
import Synchronization
import SymModel
@testable import SymStore

// MARK: - the writer serialises by construction

final class StoreWriterTests: XCTestCase {
    func testWritesFromManyThreadsNeverOverlapAndAllCommit() throws {
        let writer = StoreWriter(try SF.store(self))
        let inside = Atomic<Int>(0)
        let overlaps = Atomic<Int>(0)
        let threads = 8, writesEach = 25
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<writesEach {
                do {
                    try writer.write { tx in
                        if inside.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue != 1 { overlaps.add(1, ordering: .relaxed) }
                        defer { inside.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
                        let r = try tx.insert(SF.request(requester: "u\(t)"))
                        usleep(100)   // give another thread every chance to come in meanwhile
                        try tx.append(SF.draft(r, n: i), at: SF.at(Double(i)))
                    }
                    _ = try writer.read { reads in
                        if inside.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue != 1 { overlaps.add(1, ordering: .relaxed) }
                        defer { inside.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
                        return try reads.lastSeq()
                    }
                } catch {
                    XCTFail("thread \(t) write \(i): \(error)")
                }
            }
        }
        XCTAssertEqual(overlaps.load(ordering: .relaxed), 0, "a read or write ran while another was inside the writer")
        let total = try writer.read { try $0.count(RequestQuery(limit: 10_000)) }
        XCTAssertEqual(total, threads * writesEach)
        let chain = try AuditVerifier(store: try Store.openReadOnly(path: writer.location)).verify()
        XCTAssertEqual(chain.checked, Int64(threads * writesEach))
        XCTAssertNil(chain.problem)
    }

    func testAReadInsideAWriteSeesTheWrite() throws {
        let writer = StoreWriter(try SF.store(self))
        try writer.write { tx in
            let r = try tx.insert(SF.request(requester: "wendy"))
            XCTAssertEqual(try tx.request(id: r.id)?.requester, "wendy")
            var moved = r
            moved.state = .denied
            try tx.update(moved)
            XCTAssertEqual(try tx.request(id: r.id)?.state, .denied)
            try tx.append(SF.draft(r), at: SF.at(0))
            XCTAssertEqual(try tx.lastSeq(), 1)
        }
    }

    func testAWriteThatThrowsLeavesNothingBehind() throws {
        let writer = StoreWriter(try SF.store(self))
        struct Boom: Error {}
        XCTAssertThrowsError(try writer.write { tx in
            let r = try tx.insert(SF.request())
            try tx.append(SF.draft(r), at: SF.at(0))
            throw Boom()
        })
        XCTAssertEqual(try writer.read { try $0.count(RequestQuery()) }, 0)
        XCTAssertEqual(try writer.read { try $0.lastSeq() }, 0)
    }

    /// The daemon's writer on a new store, and a second connection to it that gives up on a lock after 50 ms.
    private func writerAndAnotherConnection() throws -> (StoreWriter, Store) {
        let dir = try SF.directory(self)
        let writer = try StoreWriter.open(path: dir + "/s.db")
        let other = try Store.openForWriting(path: dir + "/s.db")
        try other.db.execute("PRAGMA busy_timeout = 50")
        return (writer, other)
    }

    func testAWriteThatOnlyReadsTakesNoWriteLock() throws {
        let (writer, other) = try writerAndAnotherConnection()
        try writer.write { tx in
            XCTAssertEqual(try tx.count(RequestQuery()), 0)
            // Another connection can commit meanwhile: this write has not begun a transaction.
            XCTAssertNoThrow(try SF.insert(other, SF.request(requester: "olga")))
        }
        XCTAssertEqual(try writer.read { try $0.requests(RequestQuery()) }.map(\.requester), ["olga"])
    }

    func testAWriteHoldsTheWriteLockFromItsFirstChangeToItsEnd() throws {
        let (writer, other) = try writerAndAnotherConnection()
        try writer.write { tx in
            _ = try tx.insert(SF.request())
            XCTAssertThrowsError(try SF.insert(other, SF.request(requester: "olga"))) { error in
                XCTAssertTrue((error as? SQLiteError)?.isBusy ?? false, "\(error)")
            }
        }
        XCTAssertNoThrow(try SF.insert(other, SF.request(requester: "olga")))
    }

    func testAWriteThatWillAppendEventsHoldsTheWriteLockFromThenOn() throws {
        let (writer, other) = try writerAndAnotherConnection()
        try writer.write { tx in
            try tx.willAppendEvents()
            XCTAssertThrowsError(try SF.insert(other, SF.request(requester: "olga"))) { error in
                XCTAssertTrue((error as? SQLiteError)?.isBusy ?? false, "\(error)")
            }
        }
        XCTAssertNoThrow(try SF.insert(other, SF.request(requester: "olga")))
    }

    func testTheReadsAfterWillAppendEventsRunInsideTheWritesTransaction() throws {
        let writer = StoreWriter(try SF.store(self))
        try writer.write { tx in
            let db = try XCTUnwrap(tx as? StoreTransaction).db
            XCTAssertFalse(db.inTransaction, "nothing has begun before the first change or willAppendEvents")
            try tx.willAppendEvents()
            XCTAssertTrue(db.inTransaction)
            XCTAssertEqual(try tx.pendingCount(requester: "wendy"), 0)
            XCTAssertTrue(db.inTransaction, "a read after willAppendEvents is one of the transaction's statements")
            let r = try tx.insert(SF.request(requester: "wendy"))
            try tx.append(SF.draft(r), at: SF.at(0))
        }
        XCTAssertEqual(try writer.read { try $0.lastSeq() }, 1)
    }

    func testAWriteThatThrowsAfterWillAppendEventsLeavesNothingAndTheNextWriteCommits() throws {
        let writer = StoreWriter(try SF.store(self))
        struct Boom: Error {}
        XCTAssertThrowsError(try writer.write { tx in
            try tx.willAppendEvents()
            _ = try tx.request(id: 1)
            throw Boom()
        })
        try writer.write { tx in
            try tx.willAppendEvents()
            let r = try tx.insert(SF.request(requester: "wendy"))
            try tx.append(SF.draft(r), at: SF.at(0))
        }
        XCTAssertEqual(try writer.read { try $0.requests(RequestQuery()) }.map(\.requester), ["wendy"])
        XCTAssertEqual(try writer.read { try $0.lastSeq() }, 1)
    }

    func testTheWriterOffersAReaderOfItsOwn() throws {
        let writer = StoreWriter(try SF.store(self))
        let id = try writer.write { try $0.insert(SF.request(requester: "rhea")).id }
        let reader = try writer.openReader()
        XCTAssertEqual(try reader.request(id: id)?.requester, "rhea")
    }
}

// MARK: - rows decoded by column name

final class ColumnNameDecodingTests: XCTestCase {
    func testARequestDecodesFromAReorderedSelect() throws {
        let store = try SF.store(self)
        var r = SF.request(requester: "rita")
        r.fields = ["reason": .string("ticket 7")]
        r.routing = Routing(approvers: Approvers(users: ["alice"]))
        let id = try SF.insert(store, r).id
        let columns = Store.requestColumns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        var decoded: [AccessRequest] = []
        try store.db.query("SELECT \(columns.reversed().joined(separator: ", ")) FROM requests WHERE id = ?", [.int(id)],
                           layout: RequestColumns.self) { decoded.append(try Store.decodeRequest($0, $1)) }
        XCTAssertEqual(decoded.count, 1)
        XCTAssertEqual(decoded.first, try store.request(id: id).map { var x = $0; x.approvals = []; return x })
    }

    func testAnEventDecodesFromAReorderedSelect() throws {
        let store = try SF.store(self)
        let r = try SF.insert(store, SF.request())
        try store.write { try $0.append(SF.draft(r, .approve, actor: "alice", n: 3), at: SF.at(5)) }
        let columns = Store.eventColumns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var decoded: [AuditEvent] = []
        try store.db.query("SELECT \(columns.shuffled().joined(separator: ", ")) FROM events", layout: EventColumns.self) {
            decoded.append(Store.decodeEvent($0, $1))
        }
        XCTAssertEqual(decoded, try store.events(afterSeq: 0, limit: 10))
        XCTAssertEqual(decoded.first?.actor, "alice")
    }

    func testAQueryWithoutAColumnTheDecoderNeedsIsAnErrorNamingIt() throws {
        let store = try SF.store(self)
        _ = try SF.insert(store, SF.request())
        XCTAssertThrowsError(try store.db.query("SELECT id, flow FROM requests", layout: RequestColumns.self) { _, _ in }) { error in
            XCTAssertTrue("\(error)".contains("no column target"), "\(error)")
        }
    }

    func testColumnsAreFoundByTheirAlias() throws {
        let store = try SF.store(self)
        var seen: [Int64] = []
        try store.db.query("SELECT 7 AS b, 3 AS a") { s in
            let c = s.columns
            seen = [s.int(try c("a")), s.int(try c("b"))]
        }
        XCTAssertEqual(seen, [3, 7])
    }
}
