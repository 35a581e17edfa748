import Foundation
import XCTest
import SymModel
@testable import SymStore

/// The parallel verifier (seq ranges on several threads, linked up in order) reports exactly what the page-by-page one
/// reports. AuditVerifyTests and AuditSignatureTests run every tampering case through both; these cover the ranges.
final class AuditParallelTests: XCTestCase {
    private var dir = ""
    private var dbPath: String { dir + "/audit.db" }

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: AuditFixture.sqlite3), "needs the sqlite3 shell (apt-get install sqlite3)")
        dir = try AuditFixture.tempDirectory()
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func both() throws -> (paged: AuditVerification, ranged: AuditVerification) {
        let store = try Store.openReadOnly(path: dbPath)
        return (try AuditVerifier(store: store, parallelFrom: .max).verify(),
                try AuditVerifier(store: store, parallelFrom: 1, workers: 2).verify())
    }

    func testAnIntactChainVerifiesInRangesToTheSameHead() throws {
        let store = try AuditFixture.store(in: dir, count: 3_000)
        let (paged, ranged) = try both()
        XCTAssertTrue(ranged.ok)
        XCTAssertEqual(ranged.checked, 3_000)
        XCTAssertEqual(ranged.headHash, try store.event(seq: 3_000)?.hash)
        XCTAssertEqual(ranged, paged)
    }

    func testAnEditInTheLastRangeIsReportedAtItsSeq() throws {
        _ = try AuditFixture.store(in: dir, count: 3_000)
        try AuditFixture.tamper(dbPath, "UPDATE events SET actor = 'mallory' WHERE seq = 2990;")
        let (paged, ranged) = try both()
        XCTAssertEqual(ranged.problem?.seq, 2_990)
        XCTAssertEqual(ranged.problem?.kind, .edited)
        XCTAssertEqual(ranged.checked, 2_989)
        XCTAssertEqual(ranged, paged)
    }

    func testABrokenLinkAtARangeBoundaryIsFound() throws {
        // 3,000 events on 2 workers: 16 ranges of 188; seq 189 starts the second range.
        let store = try AuditFixture.store(in: dir, count: 3_000)
        var e = try XCTUnwrap(try store.event(seq: 188))
        e.reason = "rewritten"
        e.hash = e.computedHash
        try AuditFixture.tamper(dbPath, "UPDATE events SET reason = 'rewritten', hash = '\(e.hash)' WHERE seq = 188;")
        let (paged, ranged) = try both()
        XCTAssertEqual(ranged.problem?.seq, 189)
        XCTAssertEqual(ranged.problem?.kind, .brokenLink)
        XCTAssertEqual(ranged, paged)
    }

    func testAMissingLastRowOfARangeIsMissing() throws {
        _ = try AuditFixture.store(in: dir, count: 3_000)
        try AuditFixture.tamper(dbPath, "DELETE FROM events WHERE seq = 376;")
        let (paged, ranged) = try both()
        XCTAssertEqual(ranged.problem?.seq, 376)
        XCTAssertEqual(ranged.problem?.kind, .missing)
        XCTAssertEqual(ranged, paged)
    }

    func testEventsWithControlsQuotesAndNonASCIIHashAlikeOnBothPaths() throws {
        let odd = ["tab\there", "quote \" and \\ backslash", "line\nbreak", "c1 \u{85} and \u{9B}", "ls \u{2028} ps \u{2029}",
                   "del \u{7F}", "日本語 🚀", ""]
        _ = try AuditFixture.store(in: dir, count: 2_000) { i in
            var d = AuditFixture.draft(i)
            d.reason = odd[i % odd.count]
            d.requester = i % 4 == 0 ? nil : odd[(i + 3) % odd.count]
            d.flow = i % 5 == 0 ? nil : d.flow
            return d
        }
        let (paged, ranged) = try both()
        XCTAssertTrue(paged.ok, "\(paged)")
        XCTAssertEqual(ranged, paged)
    }

    // MARK: verify --since

    private func since(_ seq: Int64) throws -> AuditVerification {
        let store = try Store.openReadOnly(path: dbPath)
        let paged = try AuditVerifier(store: store, parallelFrom: .max).verify(since: seq)
        XCTAssertEqual(try AuditVerifier(store: store, parallelFrom: 1, workers: 2).verify(since: seq), paged)
        return paged
    }

    func testVerifySinceChecksOnlyTheEventsFromThatSeqOn() throws {
        let store = try AuditFixture.store(in: dir, count: 3_000)
        let result = try since(2_001)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.checked, 1_000)
        XCTAssertEqual(result.headSeq, 3_000)
        XCTAssertEqual(result.headHash, try store.event(seq: 3_000)?.hash)
    }

    func testVerifySinceDoesNotLookAtEarlierEventsButSeesLaterEdits() throws {
        _ = try AuditFixture.store(in: dir, count: 3_000)
        try AuditFixture.tamper(dbPath, "UPDATE events SET actor = 'mallory' WHERE seq IN (100, 2500);")
        XCTAssertEqual(try since(1).problem?.seq, 100)
        let later = try since(2_001)
        XCTAssertEqual(later.problem?.seq, 2_500)
        XCTAssertEqual(later.problem?.kind, .edited)
        XCTAssertEqual(later.checked, 499)
    }

    func testVerifySinceSeesANewEventThatDoesNotLinkToTheVerifiedPrefix() throws {
        let store = try AuditFixture.store(in: dir, count: 200)
        var e = try XCTUnwrap(try store.event(seq: 150))
        e.prevHash = String(repeating: "ab", count: 32)
        e.hash = e.computedHash
        try AuditFixture.tamper(dbPath, "UPDATE events SET prev_hash = '\(e.prevHash)', hash = '\(e.hash)' WHERE seq = 150;")
        let result = try since(150)
        XCTAssertEqual(result.problem?.seq, 150)
        XCTAssertEqual(result.problem?.kind, .brokenLink)
    }

    func testVerifySinceTheNextSeqChecksNothingAndBeyondIsMissing() throws {
        _ = try AuditFixture.store(in: dir, count: 50)
        let next = try since(51)
        XCTAssertTrue(next.ok)
        XCTAssertEqual(next.checked, 0)
        XCTAssertEqual(try since(60).problem?.kind, .missing)
    }
}
