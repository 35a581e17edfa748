import Foundation
import XCTest
import SymModel
@testable import SymStore

/// `audit export` of a store file on several threads (AuditParallelExport.swift): chunks formatted apart and written in
/// order give the same bytes as the one-thread export, with filters, edited rows and gaps; a writer that fails stops it.
final class AuditParallelExportTests: XCTestCase {
    private var dir = ""
    private var dbPath: String { dir + "/audit.db" }

    override func setUpWithError() throws { dir = try AuditFixture.tempDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func export(_ store: Store, _ format: AuditExport.Format, _ filter: AuditFilter = AuditFilter(), workers: Int,
                        chunk: Int64 = 7) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try store.exportEvents(filter, format: format, workers: workers, parallelFrom: 1, chunkSeqs: chunk) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// What the export wrote before any fast path: one decoded event at a time.
    private func decoded(_ store: Store, _ format: AuditExport.Format, _ filter: AuditFilter = AuditFilter()) throws -> [UInt8] {
        var out = format == .csv ? AuditExport.csvHeader : ""
        try store.forEachEvent(filter) { e in out += format == .csv ? AuditExport.csvRecord(e) : AuditExport.jsonlLine(e) + "\n" }
        return Array(out.utf8)
    }

    private func assertSame(_ store: Store, _ filter: AuditFilter = AuditFilter(), file: StaticString = #filePath, line: UInt = #line) throws {
        for format in AuditExport.Format.allCases {
            let one = try export(store, format, filter, workers: 1)
            XCTAssertEqual(one, try decoded(store, format, filter), "\(format): one thread", file: file, line: line)
            for (workers, chunk) in [(2, Int64(7)), (3, 1), (4, 64), (3, 10_000)] {
                let many = try export(store, format, filter, workers: workers, chunk: chunk)
                XCTAssertTrue(many == one, "\(format): \(workers) threads, chunks of \(chunk): \(many.count) bytes, not the \(one.count) of one thread",
                              file: file, line: line)
            }
        }
    }

    func testExportOnSeveralThreadsIsByteForByteTheOneThreadExport() throws {
        let store = try AuditFixture.store(in: dir, count: 500)
        try assertSame(store)
    }

    func testSignedEventsExportTheSameOnSeveralThreads() throws {
        let store = try Store.openForWriting(path: dbPath)
        store.signer = HMACSHA256(key: Array("0123456789abcdef0123456789abcdef".utf8))
        try AuditFixture.append(120, to: store)
        try assertSame(store)
    }

    func testATimeWindowPicksTheSameEventsOnSeveralThreads() throws {
        let store = try AuditFixture.store(in: dir, count: 300)
        let start = Date(timeIntervalSince1970: 1_790_000_000.123)
        try assertSame(store, AuditFilter(since: start.addingTimeInterval(30), until: start.addingTimeInterval(200)))
        try assertSame(store, AuditFilter(since: start.addingTimeInterval(10_000)))
    }

    func testEditedAndMissingRowsExportTheSameOnSeveralThreads() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: AuditFixture.sqlite3), "needs the sqlite3 shell")
        let store = try AuditFixture.store(in: dir, count: 90)
        try AuditFixture.tamper(dbPath, """
            UPDATE events SET data = '{"a": 1}' WHERE seq = 5;
            UPDATE events SET type = 'made-up' WHERE seq = 9;
            DELETE FROM events WHERE seq BETWEEN 20 AND 34;
            DELETE FROM events WHERE seq = 1;
            """)
        try assertSame(store)
    }

    func testEventsAppendedDuringTheExportFollowInOrder() throws {
        let store = try AuditFixture.store(in: dir, count: 100)
        let writer = try Store.openForWriting(path: dbPath)
        var bytes: [UInt8] = []
        var appended = false
        try store.exportEvents(AuditFilter(), format: .jsonl, workers: 2, parallelFrom: 1, chunkSeqs: 10) { chunk in
            bytes.append(contentsOf: chunk)
            if !appended { appended = true; try AuditFixture.append(5, to: writer) }
        }
        let seqs = String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { try? JSONValue.parse(String($0))["seq"]?.intValue }
        XCTAssertEqual(seqs, Array(1...105), "the rows of the head seen at the start, then those appended meanwhile")
    }

    func testAWriterThatFailsStopsTheExportWithItsError() throws {
        struct Gone: Error {}
        let store = try AuditFixture.store(in: dir, count: 400)
        var calls = 0
        XCTAssertThrowsError(try store.exportEvents(AuditFilter(), format: .csv, workers: 3, parallelFrom: 1, chunkSeqs: 5) { _ in
            calls += 1
            if calls == 3 { throw Gone() }
        }) { XCTAssertTrue($0 is Gone, "\($0)") }
        XCTAssertEqual(calls, 3, "nothing is written after the failure")
    }
}
