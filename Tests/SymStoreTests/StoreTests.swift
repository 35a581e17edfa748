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

    func testTheWriterCheckpointsEvery4000WALPages() throws {
        let store = try SF.store(self)
        XCTAssertEqual(try store.db.scalarInt("PRAGMA wal_autocheckpoint"), 4_000)
    }

    func testTheWALStaysBoundedUnderManySmallCommits() throws {
        let dir = try SF.directory(self)
        let store = try Store.openForWriting(path: dir + "/s.db")
        // Each row carries 5,000 bytes (an overflow page or two): 2,000 commits write ~10 MB, far past the threshold.
        var r = SF.request()
        r.error = String(repeating: "x", count: 5_000)
        for _ in 0..<2_000 { _ = try SF.insert(store, r) }
        func size(_ file: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: dir + "/" + file)[.size] as? NSNumber)?.intValue ?? 0
        }
        // The rows reached the database file (checkpoints ran) and the WAL, written again from its start after each,
        // never held much more than the threshold.
        XCTAssertGreaterThan(try size("s.db"), 8_000_000)
        XCTAssertLessThan(try size("s.db-wal"), (Store.walAutocheckpointPages + 200) * (4_096 + 24) + 32)
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
        // A name holding the separator is left out rather than read as two keys.
        XCTAssertEqual(stored[4], "\u{1F}u:évé\u{1F}g:o'neil\u{1F}")
    }

    func testOpeningAMissingStoreReadOnlyIsAnError() throws {
        XCTAssertThrowsError(try Store.openReadOnly(path: try SF.directory(self) + "/nope.db"))
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
