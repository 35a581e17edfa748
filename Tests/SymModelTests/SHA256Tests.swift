import Foundation
import XCTest
@testable import SymModel

final class SHA256Tests: XCTestCase {
    func hex(_ s: String) -> String { SHA256.hex(Array(s.utf8)) }

    func testNISTShortMessages() {
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testNIST448BitMessage() {
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testNIST896BitMessage() {
        XCTAssertEqual(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testNISTOneMillionAs() {
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testPaddingBoundaries() {
        // Lengths around the 55/56/64-byte padding edges (checked against sha256sum).
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 55)), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 56)), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 64)), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    func testIncrementalUpdatesEqualOneShot() {
        var rng = SplitMix64(seed: 7)
        let message = (0..<10_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let oneShot = SHA256.digest(message)
        for chunk in [1, 3, 55, 56, 63, 64, 65, 1000] {
            var h = SHA256()
            var i = 0
            while i < message.count { h.update(message[i..<min(i + chunk, message.count)]); i += chunk }
            XCTAssertEqual(h.finalize(), oneShot, "chunk \(chunk)")
        }
    }

    func testDigestIs32Bytes() {
        XCTAssertEqual(SHA256.digest([UInt8]()).count, 32)
    }
}

/// HMAC-SHA-256 against RFC 4231 (test cases 1, 2 and 6: a short key, a text key, a key longer than a block).
final class HMACSHA256Tests: XCTestCase {
    private func hex(_ key: [UInt8], _ message: String) -> String { SHA256.hexEncoded(HMACSHA256(key: key).mac(Array(message.utf8))) }

    func testRFC4231Case1() {
        XCTAssertEqual(hex([UInt8](repeating: 0x0b, count: 20), "Hi There"),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    func testRFC4231Case2() {
        XCTAssertEqual(hex(Array("Jefe".utf8), "what do ya want for nothing?"),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testRFC4231Case6KeyLongerThanABlock() {
        XCTAssertEqual(hex([UInt8](repeating: 0xaa, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First"),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }
}

