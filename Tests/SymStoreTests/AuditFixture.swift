import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

/// Small helpers that build stores with audit events and tamper with them as an attacker would.
enum AuditFixture {
    static let sqlite3 = "/usr/bin/sqlite3"
    static let python = "/usr/bin/python3"

    static func tempDirectory() throws -> String { try makeTemporaryDirectory(prefix: "symtui-audit-") }

    /// A varied event: unicode, nested objects, numbers, nulls, lists.
    static func draft(_ i: Int) -> EventDraft {
        let types: [EventType] = [.request, .approve, .escalate, .handler, .deescalate]
        let data: JSONValue = .obj([
            ("fields", .obj([("reason", .string("ticket #\(i) — déploiement 🚀 \"urgent\"")), ("duration", .string("1h"))])),
            ("attempt", .int(Int64(i % 7))), ("ratio", .double(Double(i) / 8)), ("big", .int(Int64.max - Int64(i))),
            ("negative", .double(-1.25e-7)), ("flags", .array([.bool(true), .null, .string("x\ty")])),
            ("nested", .obj([("z", .int(1)), ("a", .obj([("ü", .string("日本語")), ("A", .array([]))]))])),
        ])
        return EventDraft(type: types[i % types.count], requestId: Int64(i / 5 + 1), flow: "prod-access", target: "prod-ssh",
                          requester: "alice", actor: i % 5 == 1 ? "bob" : "system", reason: i % 3 == 0 ? "because #\(i)" : nil,
                          data: data)
    }

    /// A store at `dir/audit.db` with `count` events, written as the daemon writes them.
    static func store(in dir: String, count: Int, draft: (Int) -> EventDraft = AuditFixture.draft) throws -> Store {
        let store = try Store.openForWriting(path: dir + "/audit.db")
        try append(count, to: store, draft: draft)
        return store
    }

    static func append(_ count: Int, to store: Store, draft: (Int) -> EventDraft = AuditFixture.draft) throws {
        let start = Date(timeIntervalSince1970: 1_790_000_000.123)
        let first = Int(try store.lastSeq())
        try store.write { tx in
            for i in first..<(first + count) { try tx.append(draft(i), at: start.addingTimeInterval(Double(i) * 1.5)) }
        }
    }

    /// What an attacker who can write the file but not read a key does: change seq `from`'s reason and recompute every
    /// hash and link from there to `through`, so that the chain alone still verifies.
    static func rewriteConsistently(_ store: Store, _ dbPath: String, from: Int64, through: Int64, reason: String = "routine",
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        var sql = ""
        var prev = try XCTUnwrap(try store.event(seq: from - 1), file: file, line: line).hash
        for seq in from...through {
            var e = try XCTUnwrap(try store.event(seq: seq), file: file, line: line)
            if seq == from { e.reason = reason }
            e.prevHash = prev
            e.hash = e.computedHash
            prev = e.hash
            sql += "UPDATE events SET reason = \(e.reason.map { "'\($0)'" } ?? "NULL"), prev_hash = '\(e.prevHash)', hash = '\(e.hash)' WHERE seq = \(seq);\n"
        }
        try tamper(dbPath, "BEGIN; \(sql) COMMIT;", file: file, line: line)
    }

    /// Runs the sqlite3 shell on the store, dropping the append-only triggers first as an attacker would.
    static func tamper(_ dbPath: String, _ sql: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let script = "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete; " + sql
        let (status, _, err) = try run(sqlite3, [dbPath, script])
        XCTAssertEqual(status, 0, "sqlite3: \(err)", file: file, line: line)
    }

    /// Runs a program and returns its exit status, stdout and stderr.
    static func run(_ path: String, _ args: [String], stdin: String? = nil) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// The whole store as JSON Lines, as `audit export` writes it.
    static func exportJSONL(_ store: Store, _ filter: AuditFilter = AuditFilter()) throws -> String {
        var out = ""
        try store.forEachEvent(filter) { out += AuditExport.jsonlLine($0) + "\n" }
        return out
    }

    static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }
}
