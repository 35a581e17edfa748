import XCTest
import SymModel

final class SHA256BlockTests: XCTestCase {
    func testNISTVectorABC() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testNISTVectorEmptyMessage() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testNISTVector448Bits() {
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testNISTVector896Bits() {
        let m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        XCTAssertEqual(SHA256.hex(Array(m.utf8)), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testNISTVectorOneMillionAs() {
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testIncrementalUpdatesInOddPiecesMatchOneShot() {
        let bytes = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var s = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 3, 200, 0, 127] where i < bytes.count {
            s.update(bytes[i..<min(bytes.count, i + size)]); i += size
        }
        s.update(bytes[i...])
        XCTAssertEqual(s.finalize(), SHA256.digest(bytes))
    }

    func testNonContiguousSequencesHashLikeArrays() {
        let text = "stride and sequence"
        XCTAssertEqual(SHA256.hex(text.utf8.lazy.map { $0 }), SHA256.hex(Array(text.utf8)))
    }
}
