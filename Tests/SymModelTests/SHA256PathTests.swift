import Foundation
import XCTest
@testable import SymModel

/// Both SHA-256 implementations — the portable Swift code and the CSHA target's SHA-NI code — against the NIST
/// vectors and against each other.
final class SHA256PathTests: XCTestCase {
    static let vectors: [(message: [UInt8], digest: String)] = [
        (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8),
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]

    func streamed(_ message: [UInt8], portable: Bool) -> String {
        var h = SHA256(portable: portable)
        h.update(message)
        return SHA256.hexEncoded(h.finalize())
    }

    func testThePortableCodeMatchesTheNISTVectors() {
        for v in SHA256PathTests.vectors { XCTAssertEqual(streamed(v.message, portable: true), v.digest, "\(v.message.count) bytes") }
    }

    func testTheSHAExtensionsMatchTheNISTVectors() throws {
        try XCTSkipUnless(SHA256.accelerated, "this CPU has no SHA extensions")
        for v in SHA256PathTests.vectors {
            XCTAssertEqual(streamed(v.message, portable: false), v.digest, "streamed, \(v.message.count) bytes")
            XCTAssertEqual(SHA256.hex(v.message), v.digest, "one shot, \(v.message.count) bytes")
        }
    }

    func testBothImplementationsAgreeOnEveryLengthUpToThreeBlocksAndOnLongRandomInput() {
        var rng = SplitMix64(seed: 17)
        let bytes = (0..<70_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for n in Array(0...200) + [4_095, 4_096, 65_537, 70_000] {
            let m = Array(bytes.prefix(n))
            XCTAssertEqual(SHA256.hex(m), streamed(m, portable: true), "\(n) bytes")
            XCTAssertEqual(streamed(m, portable: false), streamed(m, portable: true), "\(n) bytes")
        }
    }

    func testTheSHAExtensionsAreUsedExactlyWhenTheCPUReportsThem() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        let has = flags.contains("sha_ni") && flags.contains("sse4_1") && flags.contains("ssse3")
        XCTAssertEqual(SHA256.accelerated, has)
    }
}
