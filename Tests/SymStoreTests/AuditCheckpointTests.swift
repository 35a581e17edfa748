import Foundation
import XCTest
import SymModel
@testable import SymStore

/// The stored, signed checkpoint of the verified prefix (docs/audit.md, "Checkpoints"): recorded after a clean verify,
/// checked before the next one starts after it; a forged checkpoint or a changed row at its seq is reported.
final class AuditCheckpointTests: XCTestCase {
    private var dir = ""
    private var dbPath: String { dir + "/audit.db" }
    private let key = HMACSHA256(key: Array("0123456789abcdef0123456789abcdef".utf8))
    private let now = Date(timeIntervalSince1970: 1_800_000_000.5)

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: AuditFixture.sqlite3), "needs the sqlite3 shell (apt-get install sqlite3)")
        dir = try AuditFixture.tempDirectory()
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func store(count: Int, signer: HMACSHA256?) throws -> Store {
        let store = try Store.openForWriting(path: dbPath)
        store.signer = signer
        try AuditFixture.append(count, to: store)
        return store
    }

    /// Verifies the whole chain and records its head, as `audit verify` and the daemon do.
    @discardableResult
    private func verifyAndRecord(_ store: Store, hmacsChecked: Bool = true) throws -> AuditCheckpoint {
        let result = try AuditVerifier(store: store, key: store.signer).verify()
        XCTAssertTrue(result.ok, "\(String(describing: result.problem))")
        return try store.write { tx in try tx.recordAuditCheckpoint(seq: result.headSeq, hash: result.headHash, hmacsChecked: hmacsChecked, at: now) }
    }

    private func start(key: HMACSHA256?) throws -> CheckpointStart {
        try AuditVerifier.checkpointStart(store: try Store.openReadOnly(path: dbPath), key: key)
    }

    private func problem(_ s: CheckpointStart, file: StaticString = #filePath, line: UInt = #line) -> AuditProblem? {
        guard case let .problem(p) = s else { XCTFail("expected a problem, got \(s)", file: file, line: line); return nil }
        return p
    }

    func testACheckpointRecordsTheHeadItsHashAndTimeSignedWithTheStoresKey() throws {
        let store = try store(count: 30, signer: key)
        let c = try verifyAndRecord(store)
        XCTAssertEqual(c.seq, 30)
        XCTAssertEqual(c.hash, try store.event(seq: 30)?.hash)
        XCTAssertEqual(c.timeMs, Store.millis(now))
        XCTAssertEqual(c.hmac, key.hex("symtui audit checkpoint v1\n30\n\(c.hash)\n\(c.timeMs)"))
        XCTAssertEqual(try Store.openReadOnly(path: dbPath).auditCheckpoint(), .checkpoint(c), "stored, and read back the same")
    }

    func testTheNextVerifyStartsAfterTheCheckpointAndChecksOnlyTheNewEvents() throws {
        let store = try store(count: 40, signer: key)
        let c = try verifyAndRecord(store)
        try AuditFixture.append(7, to: store)
        guard case let .after(found) = try start(key: key) else { return XCTFail("the checkpoint was not used") }
        XCTAssertEqual(found, c)
        let result = try AuditVerifier(store: try Store.openReadOnly(path: dbPath), key: key).verify(since: found.seq + 1)
        XCTAssertNil(result.problem)
        XCTAssertEqual(result.checked, 7)
        XCTAssertEqual(result.headSeq, 47)
    }

    func testAnUnsignedCheckpointIsUsedWhenTheStoreHasNoKey() throws {
        let store = try store(count: 12, signer: nil)
        let c = try verifyAndRecord(store, hmacsChecked: false)
        XCTAssertNil(c.hmac)
        XCTAssertEqual(try start(key: nil), .after(c))
    }

    func testAForgedSignatureIsABadCheckpoint() throws {
        let store = try store(count: 20, signer: key)
        var c = try verifyAndRecord(store)
        c.seq = 19
        c.hash = try XCTUnwrap(store.event(seq: 19)).hash
        // The attacker moves the checkpoint without the key: the old signature no longer fits.
        try AuditFixture.tamper(dbPath, "UPDATE meta SET value = '\(c.json.compact)' WHERE key = 'audit_checkpoint';")
        let p = problem(try start(key: key))
        XCTAssertEqual(p?.kind, .badCheckpoint)
        XCTAssertEqual(p?.seq, 19)
        XCTAssertTrue(p?.detail.contains("does not match the key") == true, p?.detail ?? "")
    }

    func testAnUnsignedCheckpointIsRefusedWhenAKeyIsGiven() throws {
        let store = try store(count: 20, signer: key)
        var c = try verifyAndRecord(store)
        c.hmac = nil
        try AuditFixture.tamper(dbPath, "UPDATE meta SET value = '\(c.json.compact)' WHERE key = 'audit_checkpoint';")
        let p = problem(try start(key: key))
        XCTAssertEqual(p?.kind, .badCheckpoint)
        XCTAssertTrue(p?.detail.contains("unsigned") == true, p?.detail ?? "")
    }

    func testAnotherKeysSignatureIsABadCheckpoint() throws {
        let store = try store(count: 5, signer: key)
        try verifyAndRecord(store)
        XCTAssertEqual(problem(try start(key: HMACSHA256(key: Array("another key, another key, another".utf8))))?.kind, .badCheckpoint)
    }

    func testASignedCheckpointIsNotUsedWithoutTheKeyToCheckIt() throws {
        let store = try store(count: 5, signer: key)
        try verifyAndRecord(store)
        guard case let .full(note) = try start(key: nil) else { return XCTFail("a signed checkpoint was trusted without a key") }
        XCTAssertTrue(note?.contains("--key") == true, note ?? "")
    }

    func testAValueThatIsNotACheckpointIsABadCheckpoint() throws {
        _ = try store(count: 3, signer: nil)
        try AuditFixture.tamper(dbPath, "INSERT INTO meta(key, value) VALUES('audit_checkpoint', '{\"seq\":\"two\"}');")
        XCTAssertEqual(problem(try start(key: nil))?.kind, .badCheckpoint)
    }

    func testARowChangedAtTheCheckpointsSeqIsReportedThere() throws {
        let store = try store(count: 25, signer: key)
        try verifyAndRecord(store)
        try AuditFixture.rewriteConsistently(store, dbPath, from: 25, through: 25)
        let p = problem(try start(key: key))
        XCTAssertEqual(p?.seq, 25)
        XCTAssertEqual(p?.kind, .differs)
        XCTAssertTrue(p?.detail.contains("in the checkpoint") == true, p?.detail ?? "")
    }

    func testAStoreCutShortBeforeTheCheckpointIsReportedMissing() throws {
        let store = try store(count: 25, signer: nil)
        try verifyAndRecord(store, hmacsChecked: false)
        try AuditFixture.tamper(dbPath, "DELETE FROM events WHERE seq > 20;")
        let p = problem(try start(key: nil))
        XCTAssertEqual(p?.seq, 25)
        XCTAssertEqual(p?.kind, .missing)
        XCTAssertTrue(p?.detail.contains("ends at seq 20") == true, p?.detail ?? "")
    }

    func testAnEditBeforeTheCheckpointIsFoundOnlyByAVerifyFromSeqOne() throws {
        let store = try store(count: 30, signer: nil)
        try verifyAndRecord(store, hmacsChecked: false)
        try AuditFixture.tamper(dbPath, "UPDATE events SET reason = 'nothing to see' WHERE seq = 4;")
        guard case let .after(c) = try start(key: nil) else { return XCTFail("the checkpoint itself is intact") }
        let reader = try Store.openReadOnly(path: dbPath)
        XCTAssertTrue(try AuditVerifier(store: reader).verify(since: c.seq + 1).ok, "what the checkpoint covers is not read again")
        let full = try AuditVerifier(store: reader).verify()
        XCTAssertEqual(full.problem?.seq, 4)
        XCTAssertEqual(full.problem?.kind, .edited)
    }

    func testRecordingRefusesASeqNotInTheStoreAWrongHashAndMovingBack() throws {
        let store = try store(count: 10, signer: nil)
        let hash9 = try XCTUnwrap(store.event(seq: 9)).hash
        func record(_ seq: Int64, _ hash: String) throws -> AuditCheckpoint {
            try store.write { tx in try tx.recordAuditCheckpoint(seq: seq, hash: hash, hmacsChecked: false, at: now) }
        }
        XCTAssertThrowsError(try record(11, hash9)) { XCTAssertTrue("\($0)".contains("seq 11 is not in the store"), "\($0)") }
        XCTAssertThrowsError(try record(10, hash9)) { XCTAssertTrue("\($0)".contains("seq 10 has hash"), "\($0)") }
        try verifyAndRecord(store, hmacsChecked: false)
        XCTAssertThrowsError(try record(9, hash9)) { XCTAssertTrue("\($0)".contains("at seq 10, past 9"), "\($0)") }
        guard case let .checkpoint(c) = try store.auditCheckpoint() else { return XCTFail("no checkpoint") }
        XCTAssertEqual(c.seq, 10, "a refused call changes nothing")
    }

    func testAStoreThatSignsRecordsOnlyAfterAVerifyThatCheckedTheSignatures() throws {
        let store = try store(count: 4, signer: key)
        let hash = try XCTUnwrap(store.event(seq: 4)).hash
        XCTAssertThrowsError(try store.write { tx in try tx.recordAuditCheckpoint(seq: 4, hash: hash, hmacsChecked: false, at: now) }) {
            XCTAssertTrue("\($0)".contains("audit verify --key"), "\($0)")
        }
        XCTAssertEqual(try store.auditCheckpoint(), .none)
    }
}
