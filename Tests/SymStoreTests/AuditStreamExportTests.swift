import Foundation
import XCTest
import SymModel
@testable import SymStore

/// `Store.exportEvents` writes the same bytes as `AuditExport.jsonlLine` / `csvRecord` of every decoded event, whether
/// a row takes the direct path (plain ASCII, canonical data) or goes through the decoded event.
final class AuditStreamExportTests: XCTestCase {
    private var dir = ""
    private var dbPath: String { dir + "/audit.db" }

    override func setUpWithError() throws { dir = try AuditFixture.tempDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// What the export wrote before the direct path: one decoded event at a time.
    private func decodedExport(_ store: Store, _ format: AuditExport.Format, _ filter: AuditFilter = AuditFilter()) throws -> String {
        var out = format == .csv ? AuditExport.csvHeader : ""
        try store.forEachEvent(filter) { e in out += format == .csv ? AuditExport.csvRecord(e) : AuditExport.jsonlLine(e) + "\n" }
        return out
    }

    private func streamedExport(_ store: Store, _ format: AuditExport.Format, _ filter: AuditFilter = AuditFilter()) throws -> String {
        var bytes: [UInt8] = []
        try store.exportEvents(filter, format: format) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func assertSameExports(_ store: Store, _ filter: AuditFilter = AuditFilter(), file: StaticString = #filePath, line: UInt = #line) throws {
        for format in AuditExport.Format.allCases {
            let expected = try decodedExport(store, format, filter)
            let got = try streamedExport(store, format, filter)
            let (g, e) = (got.split(separator: "\n", omittingEmptySubsequences: false), expected.split(separator: "\n", omittingEmptySubsequences: false))
            XCTAssertEqual(g.count, e.count, "\(format): line count", file: file, line: line)
            for (a, b) in zip(g, e) where a != b {
                XCTFail("\(format): streamed\n\(a)\ndecoded\n\(b)", file: file, line: line)
                break
            }
        }
    }

    /// Plain events as the daemon writes them: ASCII text, integer data, some fields null, some signed.
    private static func plainDraft(_ i: Int) -> EventDraft {
        EventDraft(type: [.request, .approve, .escalate, .deescalate][i % 4], requestId: i % 9 == 0 ? nil : Int64(i / 3 + 1),
                   flow: i % 7 == 0 ? nil : "access", target: i % 5 == 0 ? nil : "db", requester: "user\(i % 13)",
                   actor: i % 11 == 0 ? "=cmd|' /C calc'!A0" : "alice", reason: i % 3 == 0 ? nil : "ticket OPS-\(i), \"urgent\"",
                   data: .obj([("duration_seconds", .int(3600)), ("n", .int(-Int64(i))),
                               ("fields", .obj([("reason", .string("line\nbreak\ttab \u{7}bell"))])), ("ok", .bool(i % 2 == 0)),
                               ("none", .null), ("list", .array([.int(1), .string("a,b")]))]))
    }

    func testPlainEventsExportAsTheDecodedEventsDo() throws {
        let store = try AuditFixture.store(in: dir, count: 400, draft: AuditStreamExportTests.plainDraft)
        try assertSameExports(store)
    }

    func testSignedEventsCarryTheirHmacInBothForms() throws {
        let store = try Store.openForWriting(path: dbPath)
        store.signer = HMACSHA256(key: Array("0123456789abcdef0123456789abcdef".utf8))
        try AuditFixture.append(50, to: store, draft: AuditStreamExportTests.plainDraft)
        XCTAssertTrue(try streamedExport(store, .jsonl).contains("\"hmac\":\""))
        try assertSameExports(store)
    }

    func testUnicodeDoublesAndNestedDataExportAsTheDecodedEventsDo() throws {
        let store = try AuditFixture.store(in: dir, count: 200)
        try assertSameExports(store)
    }

    func testEditedRowsExportAsTheDecodedEventsDo() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: AuditFixture.sqlite3), "needs the sqlite3 shell")
        let store = try AuditFixture.store(in: dir, count: 40, draft: AuditStreamExportTests.plainDraft)
        try AuditFixture.tamper(dbPath, """
            UPDATE events SET data = '1,"hash":"forged"' WHERE seq = 3;
            UPDATE events SET data = '{"a":1,"a":2}' WHERE seq = 4;
            UPDATE events SET data = '{"a": 1}' WHERE seq = 5;
            UPDATE events SET data = '{"a":"\\u0041"}' WHERE seq = 6;
            UPDATE events SET data = '{"a":1.5e3}' WHERE seq = 7;
            UPDATE events SET data = '{"a":99999999999999999999}' WHERE seq = 8;
            UPDATE events SET type = 'made-up' WHERE seq = 9;
            UPDATE events SET request_id = -4, reason = '@SUM(A1)' WHERE seq = 10;
            UPDATE events SET actor = '', id = '-1' WHERE seq = 11;
            UPDATE events SET data = '{"a":-0}' WHERE seq = 12;
            """)
        try assertSameExports(store)
        // The forged key never appears as a key of the line: the edited data is written as a string.
        let line = try streamedExport(store, .jsonl).split(separator: "\n")[2]
        XCTAssertTrue(line.contains(#""data":"1,\"hash\":\"forged\"""#), String(line))
    }

    func testFiltersPickTheSameEvents() throws {
        let store = try AuditFixture.store(in: dir, count: 300, draft: AuditStreamExportTests.plainDraft)
        try assertSameExports(store, AuditFilter(requestId: 7))
        let start = Date(timeIntervalSince1970: 1_790_000_000.123)
        try assertSameExports(store, AuditFilter(since: start.addingTimeInterval(30), until: start.addingTimeInterval(200)))
    }

    func testTheCanonicalCheckAcceptsOnlyTheWritersOwnForm() {
        func check(_ s: String) -> Bool { Array(s.utf8).withUnsafeBufferPointer { CanonicalJSONCheck.isCanonical($0) } }
        let written: [JSONValue] = [.obj([("a", .int(1)), ("b", .array([.bool(true), .null, .string("x\ny\u{1}\"\\")]))]), .int(Int64.min + 1),
                                    .obj([]), .array([]), .string("")]
        for v in written {
            XCTAssertTrue(check(v.compact), v.compact)
            XCTAssertEqual((try? JSONValue.parse(v.compact))?.compact, v.compact)
        }
        for s in ["{\"a\": 1}", "1.5", "\"\\u0041\"", "\"\\/\"", "01", "-0", "[1,]", "{\"a\":1", "nul", "\"é\"", "99999999999999999999", "{\"a\":1,\"a\":2}"] {
            XCTAssertFalse(check(s), s)
        }
    }
}
