import Foundation
import XCTest
import SymModel
@testable import SymStore

final class AuditVerifyTests: XCTestCase {
    private var dir = ""
    private var dbPath: String { dir + "/audit.db" }

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: AuditFixture.sqlite3), "needs the sqlite3 shell (apt-get install sqlite3)")
        dir = try AuditFixture.tempDirectory()
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// The page-by-page verifier's answer, checked to be the parallel one's too (ranges on 3 threads).
    private func verify() throws -> AuditVerification {
        let store = try Store.openReadOnly(path: dbPath)
        let paged = try AuditVerifier(store: store, pageSize: 64, parallelFrom: .max).verify()
        XCTAssertEqual(try AuditVerifier(store: store, pageSize: 64, parallelFrom: 1, workers: 3).verify(), paged,
                       "the parallel verifier disagrees with the page-by-page one")
        return paged
    }

    func testAnIntactChainVerifiesToItsHead() throws {
        let store = try AuditFixture.store(in: dir, count: 300)
        let result = try verify()
        XCTAssertNil(result.problem)
        XCTAssertEqual(result.checked, 300)
        XCTAssertEqual(result.headSeq, 300)
        XCTAssertEqual(result.headHash, try store.event(seq: 300)?.hash)
    }

    func testAnEmptyStoreVerifies() throws {
        _ = try AuditFixture.store(in: dir, count: 0)
        let result = try verify()
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.checked, 0)
    }

    func testHashSurvivesTheStoreRoundTripWithUnicodeNestedObjectsAndNumbers() throws {
        let store = try AuditFixture.store(in: dir, count: 0)
        let data: JSONValue = .obj([
            ("zeta", .string("naïve café — 日本語 🚀 \u{202E}rtl \u{1B}[31m")), ("Alpha", .int(-42)),
            ("nested", .obj([("b", .array([.double(0.1), .double(1e-9), .double(2.5e300), .int(Int64.min)])),
                             ("a", .obj([("é", .bool(false)), ("e", .null)]))])),
            ("whole", .double(3.0)), ("quote", .string("\"\\/\n\r\t\u{0}\u{7F}\u{85}\u{2028}")),
        ])
        let written = try store.write { tx in
            try tx.append(EventDraft(type: .handler, requestId: 7, flow: "ƒlow", target: "tärget", requester: "zoë",
                                     actor: "handler:on_request", reason: "ünïcödé", data: data), at: Date())
        }
        let read = try XCTUnwrap(try Store.openReadOnly(path: dbPath).event(seq: 1))
        XCTAssertEqual(read.unhashedJSON.canonical, written.unhashedJSON.canonical)
        XCTAssertEqual(read.computedHash, read.hash)
        XCTAssertEqual(read.hash, written.hash)
        XCTAssertTrue(try verify().ok)
    }

    func testANulInsideAnEventsTextIsStoredWholeAndTheChainVerifies() throws {
        let store = try AuditFixture.store(in: dir, count: 0)
        let written = try store.write { tx in
            try tx.append(EventDraft(type: .handler, requestId: 7, flow: "flow", target: "t", requester: "zoë",
                                     actor: "handler:on_request", reason: "before\u{0}after", data: .obj([])), at: Date())
        }
        let read = try XCTUnwrap(try Store.openReadOnly(path: dbPath).event(seq: 1))
        XCTAssertEqual(read.reason, "before\u{0}after", "the text after the NUL was lost")
        XCTAssertEqual(read.hash, written.hash)
        XCTAssertTrue(try verify().ok)
    }

    func testAChangedByteIsReportedAsEditedAtThatSeq() throws {
        _ = try AuditFixture.store(in: dir, count: 300)
        try AuditFixture.tamper(dbPath, "UPDATE events SET data = replace(data, 'urgent', 'urgfnt') WHERE seq = 157;")
        let result = try verify()
        XCTAssertEqual(result.problem?.seq, 157)
        XCTAssertEqual(result.problem?.kind, .edited)
        XCTAssertEqual(result.headSeq, 156)
    }

    func testAChangedActorIsReportedAsEdited() throws {
        _ = try AuditFixture.store(in: dir, count: 50)
        try AuditFixture.tamper(dbPath, "UPDATE events SET actor = 'mallory' WHERE seq = 12;")
        let result = try verify()
        XCTAssertEqual(result.problem?.seq, 12)
        XCTAssertEqual(result.problem?.kind, .edited)
    }

    func testADeletedRowIsReportedAsMissing() throws {
        _ = try AuditFixture.store(in: dir, count: 300)
        try AuditFixture.tamper(dbPath, "DELETE FROM events WHERE seq = 200;")
        let result = try verify()
        XCTAssertEqual(result.problem?.seq, 200)
        XCTAssertEqual(result.problem?.kind, .missing)
    }

    func testADeletedFirstRowIsReportedAsMissingSeqOne() throws {
        _ = try AuditFixture.store(in: dir, count: 20)
        try AuditFixture.tamper(dbPath, "DELETE FROM events WHERE seq = 1;")
        XCTAssertEqual(try verify().problem?.seq, 1)
        XCTAssertEqual(try verify().problem?.kind, .missing)
    }

    func testSwappedRowsAreDetectedAsReordered() throws {
        _ = try AuditFixture.store(in: dir, count: 300)
        try AuditFixture.tamper(dbPath, """
            UPDATE events SET seq = -seq WHERE seq IN (40, 90);
            UPDATE events SET seq = 90 WHERE seq = -40;
            UPDATE events SET seq = 40 WHERE seq = -90;
            """)
        let result = try verify()
        XCTAssertEqual(result.problem?.seq, 40)
        XCTAssertEqual(result.problem?.kind, .reordered)
    }

    func testSwappedContentsUnderTheSameSeqsAreDetected() throws {
        _ = try AuditFixture.store(in: dir, count: 300)
        let columns = "id, time, type, request_id, flow, target, requester, actor, reason, data, prev_hash, hash"
        try AuditFixture.tamper(dbPath, """
            CREATE TEMP TABLE saved AS SELECT * FROM events WHERE seq IN (70, 71);
            UPDATE events SET id = 'x-' || id WHERE seq IN (70, 71);
            UPDATE events SET (\(columns)) = (SELECT \(columns) FROM saved WHERE seq = 71) WHERE seq = 70;
            UPDATE events SET (\(columns)) = (SELECT \(columns) FROM saved WHERE seq = 70) WHERE seq = 71;
            """)
        let result = try verify()
        XCTAssertEqual(result.problem?.seq, 70)
        XCTAssertEqual(result.problem?.kind, .reordered)
    }

    func testARecomputedEventBreaksTheLinkToTheNext() throws {
        let store = try AuditFixture.store(in: dir, count: 30)
        var e = try XCTUnwrap(try store.event(seq: 10))
        e.reason = "nothing to see here"
        e.hash = e.computedHash
        try AuditFixture.tamper(dbPath, "UPDATE events SET reason = '\(e.reason!)', hash = '\(e.hash)' WHERE seq = 10;")
        let result = try verify()
        XCTAssertEqual(result.problem?.seq, 11)
        XCTAssertEqual(result.problem?.kind, .brokenLink)
    }

    func testAConsistentlyRewrittenChainPassesVerifyButNotAgainstAnEarlierExport() throws {
        let store = try AuditFixture.store(in: dir, count: 300)
        let earlier = try AuditFixture.exportJSONL(store)
        // The attacker edits seq 120 and recomputes every hash from there on.
        try AuditFixture.rewriteConsistently(store, dbPath, from: 120, through: 300)
        XCTAssertTrue(try verify().ok, "a consistent rewrite is invisible to the chain alone")
        let against = try AuditVerifier(store: try Store.openReadOnly(path: dbPath)).verify(against: AuditFixture.lines(earlier), source: "earlier.jsonl")
        XCTAssertEqual(against.problem?.seq, 120)
        XCTAssertEqual(against.problem?.kind, .differs)
    }

    func testAStoreCutShortIsCaughtOnlyAgainstAnExport() throws {
        let store = try AuditFixture.store(in: dir, count: 100)
        let earlier = try AuditFixture.exportJSONL(store)
        try AuditFixture.tamper(dbPath, "DELETE FROM events WHERE seq > 90;")
        XCTAssertTrue(try verify().ok)
        let against = try AuditVerifier(store: try Store.openReadOnly(path: dbPath)).verify(against: AuditFixture.lines(earlier), source: "earlier.jsonl")
        XCTAssertEqual(against.problem?.seq, 91)
        XCTAssertEqual(against.problem?.kind, .missing)
    }

    func testAnUntouchedStoreMatchesItsExport() throws {
        let store = try AuditFixture.store(in: dir, count: 120)
        let export = try AuditFixture.exportJSONL(store)
        try AuditFixture.append(5, to: store)
        let result = try AuditVerifier(store: try Store.openReadOnly(path: dbPath)).verify(against: AuditFixture.lines(export), source: "x")
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.checked, 120)
    }

    /// Signing and off-host comparison together: the `hmac` field of a signed event is not part of its hash.
    func testAnUntouchedSignedStoreMatchesItsExport() throws {
        let store = try Store.openForWriting(path: dbPath)
        store.signer = HMACSHA256(key: Array("a key only the daemon reads".utf8))
        try AuditFixture.append(40, to: store)
        let export = try AuditFixture.exportJSONL(store)
        XCTAssertTrue(AuditFixture.lines(export).allSatisfy { $0.contains("\"hmac\":") }, "the export carries the signatures")
        let result = try AuditVerifier(store: try Store.openReadOnly(path: dbPath)).verify(against: AuditFixture.lines(export), source: "x")
        XCTAssertTrue(result.ok, result.problem?.description ?? "")
        XCTAssertEqual(result.checked, 40)
    }

    func testAChangedHashInASignedExportIsStillCaught() throws {
        let store = try Store.openForWriting(path: dbPath)
        store.signer = HMACSHA256(key: Array("k".utf8))
        try AuditFixture.append(5, to: store)
        var lines = AuditFixture.lines(try AuditFixture.exportJSONL(store))
        lines[2] = lines[2].replacingOccurrences(of: "\"system\"", with: "\"systen\"")
        XCTAssertThrowsError(try AuditVerifier(store: try Store.openReadOnly(path: dbPath)).verify(against: lines, source: "x"))
    }

    func testALineThatIsNotAnEventIsAnError() throws {
        _ = try AuditFixture.store(in: dir, count: 3)
        XCTAssertThrowsError(try AuditVerifier(store: try Store.openReadOnly(path: dbPath)).verify(against: ["{\"seq\":1}"], source: "bad.jsonl"))
    }

    /// Prints the speed (no timed assertion). The target is ≥ 200,000 events/s in a release build; debug builds are
    /// 10–20× slower. Measure with `swift test -c release --filter AuditVerifyTests.testVerifySpeedIsMeasured`.
    func testVerifySpeedIsMeasured() throws {
        let count = 20_000
        let store = try AuditFixture.store(in: dir, count: count) { i in
            EventDraft(type: .approve, requestId: Int64(i), flow: "prod-access", target: "prod-ssh", requester: "alice",
                       actor: "bob", reason: "looks fine", data: .obj([("step", .string("oncall")), ("approvals", .int(1))]))
        }
        _ = store
        let verifier = AuditVerifier(store: try Store.openReadOnly(path: dbPath))
        let started = DispatchTime.now().uptimeNanoseconds
        let result = try verifier.verify()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.checked, Int64(count))
        print("audit verify: \(count) events in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / seconds)) events/s")
    }

    func testDroppedAppendOnlyTriggersAreNamedAndPutBack() throws {
        let store = try AuditFixture.store(in: dir, count: 3)
        XCTAssertEqual(try store.restoreAppendOnlyTriggers(), [], "a store as made has both")
        try AuditFixture.tamper(dbPath, "SELECT 1;")   // drops both triggers, as an attacker would
        let writer = try Store.openForWriting(path: dbPath)
        XCTAssertEqual(try writer.restoreAppendOnlyTriggers(), ["events_no_update", "events_no_delete"])
        XCTAssertThrowsError(try writer.db.execute("UPDATE events SET reason = 'x' WHERE seq = 1"), "append-only again")
        XCTAssertThrowsError(try writer.db.execute("DELETE FROM events WHERE seq = 3"))
    }
}

