import Foundation
import XCTest
import SymModel
@testable import SymStore

final class AuditExportTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws { dir = try AuditFixture.tempDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    static let hostile = [
        "\u{1B}[2J\u{1B}]0;pwned\u{07}cleared", "=cmd|' /C calc'!A0", "line one\nline two\r\nthree",
        "a, b, \"quoted\", c", "+1+1", "-2", "@SUM(A1)", "\tTAB", "\u{202E}gnp.exe", "ok",
    ]

    /// A store whose events carry hostile text in every user-text field.
    private func hostileStore() throws -> Store {
        try AuditFixture.store(in: dir, count: Self.hostile.count) { i in
            let t = Self.hostile[i]
            return EventDraft(type: .request, requestId: Int64(i + 1), flow: t, target: t, requester: t, actor: t, reason: t,
                              data: .obj([("fields", .obj([("reason", .string(t))]))]))
        }
    }

    func testJSONLHasOneLinePerEventWithTheSpecKeysInOrder() throws {
        let store = try hostileStore()
        let text = try AuditFixture.exportJSONL(store)
        let lines = AuditFixture.lines(text)
        XCTAssertEqual(lines.count, Self.hostile.count)
        XCTAssertFalse(text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x0D })
        for (i, line) in lines.enumerated() {
            let json = try JSONValue.parse(line)
            XCTAssertEqual(json.objectValue?.map(\.0), ["seq", "id", "time", "type", "request_id", "flow", "target", "requester",
                                                        "actor", "reason", "data", "prev_hash", "hash"])
            XCTAssertEqual(json["reason"]?.stringValue, Self.hostile[i], "JSONL keeps the exact text")
        }
    }

    func testCSVHasTheHeaderAndOneRecordPerEventWithHostileText() throws {
        let store = try hostileStore()
        var csv = AuditExport.csvHeader
        try store.forEachEvent { csv += AuditExport.csvRecord($0) }
        let records = csv.components(separatedBy: "\r\n").dropLast()
        XCTAssertEqual(records.count, Self.hostile.count + 1)
        XCTAssertEqual(records.first, "seq,id,time,type,request_id,flow,target,requester,actor,reason,data,prev_hash,hash")
        XCTAssertFalse(csv.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E })
        XCTAssertFalse(csv.replacingOccurrences(of: "\r\n", with: "").contains { $0 == "\n" || $0 == "\r" })
    }

    func testCSVParsesBackIntoThirteenInertCellsPerRecord() throws {
        let store = try hostileStore()
        let path = dir + "/export.csv"
        var csv = AuditExport.csvHeader
        try store.forEachEvent { csv += AuditExport.csvRecord($0) }
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        let script = """
            import csv, json, sys
            rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
            print(json.dumps(rows))
            """
        let (status, out, err) = try AuditFixture.run(AuditFixture.python, ["-c", script, path])
        XCTAssertEqual(status, 0, err)
        let rows = try XCTUnwrap(try JSONValue.parse(out).arrayValue)
        XCTAssertEqual(rows.count, Self.hostile.count + 1)
        for row in rows.dropFirst() {
            let cells = try XCTUnwrap(row.arrayValue?.compactMap(\.stringValue))
            XCTAssertEqual(cells.count, 13)
            for cell in cells {
                XCTAssertFalse(["=", "+", "-", "@", "\t", "\r"].contains(where: cell.hasPrefix), "formula-like cell: \(cell)")
            }
        }
        let formula = try XCTUnwrap(rows[2].arrayValue?[9].stringValue)
        XCTAssertEqual(formula, "'=cmd|' /C calc'!A0")
    }

    func testFormulaLikeCellsGetALeadingQuote() {
        XCTAssertEqual(AuditExport.csvCell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0")
        XCTAssertEqual(AuditExport.csvCell("+1"), "'+1")
        XCTAssertEqual(AuditExport.csvCell("-1"), "'-1")
        XCTAssertEqual(AuditExport.csvCell("@x"), "'@x")
        XCTAssertEqual(AuditExport.csvCell("\tx"), "' x")
        XCTAssertEqual(AuditExport.csvCell("plain"), "plain")
        XCTAssertEqual(AuditExport.csvCell("a,\"b\""), "\"a,\"\"b\"\"\"")
    }

    func testFiltersSelectByTimeWindowAndRequest() throws {
        let store = try AuditFixture.store(in: dir, count: 40)
        let all = AuditFixture.lines(try AuditFixture.exportJSONL(store)).map { try! JSONValue.parse($0) }
        let since = try XCTUnwrap(Timestamp.parse(all[10]["time"]!.stringValue!))
        let until = try XCTUnwrap(Timestamp.parse(all[20]["time"]!.stringValue!))
        let window = AuditFixture.lines(try AuditFixture.exportJSONL(store, AuditFilter(since: since, until: until)))
        XCTAssertEqual(window.compactMap { try? JSONValue.parse($0)["seq"]?.intValue }, Array(11...20))
        let one = AuditFixture.lines(try AuditFixture.exportJSONL(store, AuditFilter(requestId: 3)))
        XCTAssertEqual(one.compactMap { try? JSONValue.parse($0)["request_id"]?.intValue }, [3, 3, 3, 3, 3])
    }

    func testExportStreamsInPages() throws {
        let store = try AuditFixture.store(in: dir, count: 25)
        var seqs: [Int64] = []
        try store.forEachEvent(pageSize: 7) { seqs.append($0.seq) }
        XCTAssertEqual(seqs, Array(1...25))
    }

    // MARK: the documented Python verifier

    private func documentedPython() throws -> String {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/audit.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "```python\n"))
        let end = try XCTUnwrap(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        let path = dir + "/verify.py"
        try String(text[start.upperBound..<end.lowerBound]).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTheDocumentedPythonSnippetVerifiesAnExport() throws {
        let store = try AuditFixture.store(in: dir, count: 60)
        try AuditFixture.append(Self.hostile.count, to: store) { i in
            EventDraft(type: .handler, requestId: nil, flow: nil, target: nil, requester: nil, actor: "handler:x",
                       reason: Self.hostile[i % Self.hostile.count],
                       data: .obj([("text", .string(Self.hostile[i % Self.hostile.count] + "\u{7F}\u{85}\u{2028}\u{0}")),
                                   ("n", .double(0.1 * Double(i))), ("e", .double(1e-300)), ("m", .int(-5))]))
        }
        let export = dir + "/export.jsonl"
        try AuditFixture.exportJSONL(store).write(toFile: export, atomically: true, encoding: .utf8)
        let (status, out, err) = try AuditFixture.run(AuditFixture.python, [try documentedPython(), export])
        XCTAssertEqual(status, 0, "python: \(out) \(err)")
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "ok, head \(try store.event(seq: try store.lastSeq())!.hash)")
    }

    func testTheDocumentedPythonSnippetVerifiesASignedExport() throws {
        let store = try Store.openForWriting(path: dir + "/signed.db")
        store.signer = HMACSHA256(key: Array("secret".utf8))
        try AuditFixture.append(12, to: store)
        let export = dir + "/signed.jsonl"
        try AuditFixture.exportJSONL(store).write(toFile: export, atomically: true, encoding: .utf8)
        XCTAssertTrue(try String(contentsOfFile: export, encoding: .utf8).contains("\"hmac\":"))
        let (status, out, err) = try AuditFixture.run(AuditFixture.python, [try documentedPython(), export])
        XCTAssertEqual(status, 0, "python: \(out) \(err)")
    }

    func testTheDocumentedPythonSnippetRejectsAnEditedExport() throws {
        let store = try AuditFixture.store(in: dir, count: 30)
        var lines = AuditFixture.lines(try AuditFixture.exportJSONL(store))
        lines[11] = lines[11].replacingOccurrences(of: "\"alice\"", with: "\"alicf\"")
        let export = dir + "/export.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: export, atomically: true, encoding: .utf8)
        let (status, _, err) = try AuditFixture.run(AuditFixture.python, [try documentedPython(), export])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("seq 12"), err)
    }
}
