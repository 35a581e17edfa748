import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

/// The daemon signs only with a key no one else can read or change; a verifier only needs to read it.
final class AuditKeyTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try Fixture.tempDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func keyFile(bytes: Int = 32, mode: mode_t = 0o400, owner: uid_t? = nil) throws -> String {
        let path = dir + "/audit-\(bytes)-\(String(mode, radix: 8)).key"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data((0..<bytes).map { UInt8($0 % 251) })))
        XCTAssertEqual(chmod(path, mode), 0)
        if let owner { XCTAssertEqual(chown(path, owner, getegid()), 0) }
        return path
    }

    func refusal(_ path: String, private p: Bool = true) -> CommandError? {
        do { _ = try AuditKey.load(path: path, private: p); return nil } catch let e as AuditKeyError { return CommandError(e.exitCode, e.message) } catch { return nil }
    }

    func testAPrivateKeyOfTheDaemonsUserSignsAsHMACOfItsBytes() throws {
        let path = try keyFile()
        let key = try AuditKey.load(path: path, private: true)
        XCTAssertEqual(key.hex("abc"), HMACSHA256(key: (0..<32).map { UInt8($0) }).hex("abc"))
    }

    func testAKeyOthersMayReadIsRefusedByTheDaemonButReadByAVerifier() throws {
        let path = try keyFile(mode: 0o644)
        let e = refusal(path)
        XCTAssertEqual(e?.code, ExitCode.dataErr)
        XCTAssertTrue(e?.message.contains("chmod 0400") ?? false, e?.message ?? "")
        XCTAssertNil(refusal(path, private: false))
    }

    func testAKeyOwnedBySomeoneElseIsRefusedByTheDaemon() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root to give the file away")
        let e = refusal(try keyFile(owner: 65534))
        XCTAssertTrue(e?.message.contains("must be owned by the daemon's user") ?? false, e?.message ?? "")
    }

    func testAShortKeyAMissingOneAndADirectoryAreRefused() throws {
        XCTAssertTrue(refusal(try keyFile(bytes: 16))?.message.contains("16 bytes") ?? false)
        XCTAssertEqual(refusal(dir + "/nope.key")?.code, ExitCode.noInput)
        XCTAssertTrue(refusal(dir)?.message.contains("not a regular file") ?? false)
    }
}
