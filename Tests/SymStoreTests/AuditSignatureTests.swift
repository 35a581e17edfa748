import Foundation
import XCTest
import SymModel
@testable import SymStore

/// `reporting.hmac_key_file`: each event carries an HMAC of its hash, and `verify --key` catches what the chain alone
/// cannot (a consistent rewrite, stripped signatures).
final class AuditSignatureTests: XCTestCase {
    private var dir = ""
    private var dbPath: String { dir + "/audit.db" }
    private let key = HMACSHA256(key: Array("0123456789abcdef0123456789abcdef".utf8))

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: AuditFixture.sqlite3), "needs the sqlite3 shell (apt-get install sqlite3)")
        dir = try AuditFixture.tempDirectory()
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func signedStore(count: Int, unsignedFirst: Int = 0) throws -> Store {
        let store = try Store.openForWriting(path: dbPath)
        try AuditFixture.append(unsignedFirst, to: store)
        store.signer = key
        try AuditFixture.append(count, to: store)
        return store
    }

    private func verify(with key: HMACSHA256?) throws -> AuditVerification {
        try AuditVerifier(store: try Store.openReadOnly(path: dbPath), pageSize: 64, key: key).verify()
    }

    func testEachEventCarriesTheHMACOfItsHash() throws {
        let store = try signedStore(count: 5)
        for e in try store.events(afterSeq: 0, limit: 10) {
            XCTAssertEqual(e.hmac, key.hex(e.hash))
            XCTAssertEqual(e.json["hmac"], .string(key.hex(e.hash)), "exports and destinations carry it")
        }
    }

    func testASignedChainVerifiesWithItsKey() throws {
        _ = try signedStore(count: 200)
        let result = try verify(with: key)
        XCTAssertNil(result.problem)
        XCTAssertEqual(result.signedFrom, 1)
        XCTAssertTrue(try verify(with: nil).ok, "without a key only the chain is checked")
    }

    func testEventsWrittenBeforeSigningWasTurnedOnAreAccepted() throws {
        _ = try signedStore(count: 10, unsignedFirst: 7)
        let result = try verify(with: key)
        XCTAssertNil(result.problem)
        XCTAssertEqual(result.signedFrom, 8)
    }

    func testAnotherKeyIsABadSignatureAtSeqOne() throws {
        _ = try signedStore(count: 10)
        let result = try verify(with: HMACSHA256(key: Array("another key, another key, another".utf8)))
        XCTAssertEqual(result.problem?.seq, 1)
        XCTAssertEqual(result.problem?.kind, .badSignature)
    }

    func testAConsistentlyRewrittenChainIsCaughtByTheKeyAtTheFirstRewrittenSeq() throws {
        let store = try signedStore(count: 60)
        var sql = ""
        var prev = try XCTUnwrap(try store.event(seq: 39)).hash
        for seq in Int64(40)...60 {
            var e = try XCTUnwrap(try store.event(seq: seq))
            if seq == 40 { e.reason = "routine" }
            e.prevHash = prev
            e.hash = e.computedHash
            prev = e.hash
            sql += "UPDATE events SET reason = \(e.reason.map { "'\($0)'" } ?? "NULL"), prev_hash = '\(e.prevHash)', hash = '\(e.hash)' WHERE seq = \(seq);\n"
        }
        try AuditFixture.tamper(dbPath, "BEGIN; \(sql) COMMIT;")
        XCTAssertTrue(try verify(with: nil).ok, "the chain alone cannot see a consistent rewrite")
        let result = try verify(with: key)
        XCTAssertEqual(result.problem?.seq, 40)
        XCTAssertEqual(result.problem?.kind, .badSignature)
    }

    func testAStrippedSignatureAfterSignedEventsIsUnsigned() throws {
        _ = try signedStore(count: 30)
        try AuditFixture.tamper(dbPath, "UPDATE events SET hmac = NULL WHERE seq >= 25;")
        let result = try verify(with: key)
        XCTAssertEqual(result.problem?.seq, 25)
        XCTAssertEqual(result.problem?.kind, .unsigned)
    }

    func testAStoreWithNoSignatureAtAllFailsWithAKey() throws {
        _ = try signedStore(count: 12)
        try AuditFixture.tamper(dbPath, "UPDATE events SET hmac = NULL;")
        let result = try verify(with: key)
        XCTAssertEqual(result.problem?.kind, .unsigned)
        XCTAssertEqual(result.problem?.seq, 12)
    }
}
