import Foundation
import XCTest
import CSQLite3
import SymModel
@testable import SymStore

/// The writer's VFS gathers a commit's WAL writes into one: what it writes is what SQLite asked for, durable and
/// visible to readers exactly as without it.
final class GatheringVFSTests: XCTestCase {
    /// Write system calls this process has made (/proc/self/io).
    func writeCalls() throws -> Int {
        let io = try String(contentsOfFile: "/proc/self/io", encoding: .utf8)
        let line = try XCTUnwrap(io.split(separator: "\n").first { $0.hasPrefix("syscw:") })
        return try XCTUnwrap(Int(line.dropFirst("syscw:".count).trimmingCharacters(in: .whitespaces)))
    }

    /// What `PRAGMA integrity_check` says of `db`.
    func integrity(_ db: Database) throws -> String {
        var out: [String] = []
        try db.query("PRAGMA integrity_check") { out.append($0.text(0)) }
        return out.joined(separator: "; ")
    }

    /// `n` rows of `size` bytes each into `db`'s meta table, keys `tag-0`…
    func insertRows(_ db: Database, _ n: Int, size: Int, tag: String) throws {
        for i in 0..<n {
            try db.run("INSERT INTO meta(key, value) VALUES(?, ?)", [.text("\(tag)-\(i)"), .text(String(repeating: "x", count: size))])
        }
    }

    /// `insertRows` in one transaction of `store`.
    func writeRows(_ store: Store, _ n: Int, size: Int, tag: String) throws {
        try store.db.transaction(.immediate) { try insertRows(store.db, n, size: size, tag: tag) }
    }

    func testOnlyTheWriterOpensTheStoreThroughTheGatheringVFS() throws {
        let dir = try SF.directory(self)
        let writer = try Store.openForWriting(path: dir + "/s.db")
        XCTAssertEqual(writer.db.vfsName, GatheringVFS.name)
        let reader = try Store.openReadOnly(path: dir + "/s.db")
        XCTAssertNotEqual(reader.db.vfsName, GatheringVFS.name)
        XCTAssertNotNil(reader.db.vfsName)
    }

    func testACommitOfManyPagesReachesTheWALInOneWrite() throws {
        let store = try SF.store(self)
        try writeRows(store, 1, size: 10, tag: "warm")
        let before = try writeCalls()
        try writeRows(store, 8, size: 3_000, tag: "pages")   // 8 rows of 3 KB: a page each, and their index entries
        let after = try writeCalls()
        // One gathered write (SQLite alone makes two a frame, header and page: 22 here). The count is the whole
        // process's, so a little room is left for another test's thread writing meanwhile.
        XCTAssertLessThanOrEqual(after - before, 6)
    }

    func testACommitLargerThanTheBufferIsWrittenWholeAndReadByAnotherConnection() throws {
        let dir = try SF.directory(self)
        let writer = try Store.openForWriting(path: dir + "/s.db")
        // 600 KB in one commit: many times the buffer, and more than the system VFS takes in one write call.
        try writeRows(writer, 150, size: 4_000, tag: "big")
        let reader = try Store.openReadOnly(path: dir + "/s.db")
        XCTAssertEqual(try reader.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE 'big-%'"), 150)
        XCTAssertEqual(try reader.db.scalarInt("SELECT sum(length(value)) FROM meta WHERE key LIKE 'big-%'"), 600_000)
    }

    func testEveryCommitIsVisibleToAReaderAsSoonAsItReturns() throws {
        let dir = try SF.directory(self)
        let writer = try Store.openForWriting(path: dir + "/s.db")
        let reader = try Store.openReadOnly(path: dir + "/s.db")
        for i in 0..<50 {
            try writeRows(writer, 1 + i % 7, size: 500 + 37 * i, tag: "c\(i)")
            XCTAssertEqual(try reader.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE ?", [.text("c\(i)-%")]),
                           Int64(1 + i % 7), "commit \(i)")
        }
    }

    func testAStoreWrittenThroughTheVFSReopensWholeAfterCheckpoints() throws {
        let dir = try SF.directory(self)
        do {
            let writer = try Store.openForWriting(path: dir + "/s.db")
            // Enough WAL pages to pass the auto-checkpoint several times, so the WAL restarts from its start.
            for i in 0..<120 { try writeRows(writer, 20, size: 3_000, tag: "r\(i)") }
        }
        let again = try Store.openForWriting(path: dir + "/s.db")
        XCTAssertEqual(try integrity(again.db), "ok")
        XCTAssertEqual(try again.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE 'r%'"), 2_400)
    }

    func testARolledBackTransactionLeavesNothingAndTheNextCommitIsWhole() throws {
        let dir = try SF.directory(self)
        let writer = try Store.openForWriting(path: dir + "/s.db")
        try writeRows(writer, 3, size: 2_000, tag: "kept")
        XCTAssertThrowsError(try writer.db.transaction(.immediate) {
            try insertRows(writer.db, 10, size: 3_000, tag: "gone")
            throw StoreError("abandoned")
        })
        try writeRows(writer, 2, size: 2_000, tag: "after")
        let reader = try Store.openReadOnly(path: dir + "/s.db")
        XCTAssertEqual(try reader.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE 'gone-%'"), 0)
        XCTAssertEqual(try reader.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE 'kept-%' OR key LIKE 'after-%'"), 5)
        XCTAssertEqual(try integrity(reader.db), "ok")
    }

    func testPagesSpilledByATransactionThatRollsBackNeverReachAnotherWritersCommit() throws {
        let dir = try SF.directory(self)
        let a = try Store.openForWriting(path: dir + "/s.db")
        let b = try Store.openForWriting(path: dir + "/s.db")   // a reporting worker's writer, say
        try writeRows(a, 1, size: 10, tag: "first")
        try a.db.execute("PRAGMA cache_size = 8")   // a transaction of more pages spills them into the WAL
        XCTAssertThrowsError(try a.db.transaction(.immediate) {
            try insertRows(a.db, 60, size: 3_000, tag: "spilled")
            throw StoreError("abandoned")
        })
        try writeRows(b, 30, size: 3_000, tag: "b")
        _ = try a.db.scalarInt("SELECT count(*) FROM meta")   // a's next use of its WAL
        try writeRows(a, 1, size: 10, tag: "a-again")
        let reader = try Store.openReadOnly(path: dir + "/s.db")
        XCTAssertEqual(try integrity(reader.db), "ok")
        XCTAssertEqual(try reader.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE 'b-%'"), 30)
        XCTAssertEqual(try reader.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE 'spilled-%'"), 0)
        let reopened = try Store.openForWriting(path: dir + "/s.db")
        XCTAssertEqual(try integrity(reopened.db), "ok")
        XCTAssertEqual(try reopened.db.scalarInt("SELECT count(*) FROM meta WHERE key LIKE 'b-%'"), 30)
    }

    func testAConnectionThatWritesTheWALDropsWhatAnotherLeftGathered() throws {
        XCTAssertTrue(GatheringVFS.registered)
        let vfs = try XCTUnwrap(sqlite3_vfs_find(GatheringVFS.name))
        let dir = try SF.directory(self)
        let path = dir + "/x.db-wal"
        // The system VFS gives a WAL the database file's mode and owner, so that file must exist.
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/x.db", contents: Data()))
        let name = try XCTUnwrap(strdup(path))   // the system VFS keeps the name while the file is open
        defer { free(name) }
        func openWAL() throws -> UnsafeMutablePointer<sqlite3_file> {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: Int(vfs.pointee.szOsFile), alignment: 16)
            memory.initializeMemory(as: UInt8.self, repeating: 0, count: Int(vfs.pointee.szOsFile))
            let file = memory.assumingMemoryBound(to: sqlite3_file.self)
            var out: Int32 = 0
            let rc = vfs.pointee.xOpen(vfs, name, file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_WAL, &out)
            guard rc == SQLITE_OK else { throw StoreError("open: \(rc)") }
            return file
        }
        func write(_ file: UnsafeMutablePointer<sqlite3_file>, _ byte: UInt8, _ count: Int) {
            let bytes = [UInt8](repeating: byte, count: count)
            XCTAssertEqual(file.pointee.pMethods.pointee.xWrite(file, bytes, Int32(count), 0), SQLITE_OK)
        }
        let a = try openWAL(), b = try openWAL()
        write(a, 0x41, 4_096)   // gathered: the remains of a transaction of a's that will not commit
        write(b, 0x42, 100)     // b now holds the WAL's write lock, so what a gathered can only be stale
        XCTAssertEqual(b.pointee.pMethods.pointee.xSync(b, SQLITE_SYNC_NORMAL), SQLITE_OK)
        XCTAssertEqual(a.pointee.pMethods.pointee.xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK)
        for file in [a, b] {
            XCTAssertEqual(file.pointee.pMethods.pointee.xClose(file), SQLITE_OK)
            UnsafeMutableRawPointer(file).deallocate()
        }
        let onDisk = try XCTUnwrap(FileManager.default.contents(atPath: path))
        XCTAssertEqual(Array(onDisk), [UInt8](repeating: 0x42, count: 100), "a's gathered bytes were written over b's")
    }
}
