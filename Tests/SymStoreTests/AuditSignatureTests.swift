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

    /// The page-by-page verifier's answer, checked to be the parallel one's too (ranges on 3 threads).
    private func verify(with key: HMACSHA256?) throws -> AuditVerification {
        let store = try Store.openReadOnly(path: dbPath)
        let paged = try AuditVerifier(store: store, pageSize: 64, key: key, parallelFrom: .max).verify()
        XCTAssertEqual(try AuditVerifier(store: store, pageSize: 64, key: key, parallelFrom: 1, workers: 3).verify(), paged,
                       "the parallel verifier disagrees with the page-by-page one")
        return paged
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
        try AuditFixture.rewriteConsistently(store, dbPath, from: 40, through: 60)
        XCTAssertTrue(try verify(with: nil).ok, "the chain alone cannot see a consistent rewrite")
        let result = try verify(with: key)
        XCTAssertEqual(result.problem?.seq, 40)
        XCTAssertEqual(result.problem?.kind, .badSignature)
    }

    /// Signs `count` events, runs `sql` on the file, and verifies with the key.
    private func verifyWithKey(afterSigning count: Int, then sql: String) throws -> AuditProblem? {
        _ = try signedStore(count: count)
        try AuditFixture.tamper(dbPath, sql)
        return try verify(with: key).problem
    }

    func testAStrippedSignatureAfterSignedEventsIsUnsigned() throws {
        let problem = try verifyWithKey(afterSigning: 30, then: "UPDATE events SET hmac = NULL WHERE seq >= 25;")
        XCTAssertEqual(problem?.seq, 25)
        XCTAssertEqual(problem?.kind, .unsigned)
    }

    func testAStoreWithNoSignatureAtAllFailsWithAKey() throws {
        let problem = try verifyWithKey(afterSigning: 12, then: "UPDATE events SET hmac = NULL;")
        XCTAssertEqual(problem?.kind, .unsigned)
        XCTAssertEqual(problem?.seq, 12)
    }
}
