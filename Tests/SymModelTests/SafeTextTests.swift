import Foundation
import XCTest
@testable import SymModel

/// Scalars that must never reach a terminal from user text.
func isForbiddenOnATerminal(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x00...0x1F, 0x7F...0x9F: return true
    case 0x200B...0x200F, 0x202A...0x202E, 0x2066...0x2069, 0xFEFF: return true
    case 0xE0000...0xE007F: return true
    default: return false
    }
}

final class SafeTextTests: XCTestCase {
    /// Hostile input → what the terminal may see instead.
    let corpus: [(String, String)] = [
        ("\u{1b}[2J", "\u{241B}"),
        ("a\u{1b}[38;5;196mred\u{1b}[0m", "a\u{241B}red\u{241B}"),
        ("\u{1b}[?1049h", "\u{241B}"),
        ("\u{1b}]52;c;SGVsbG8=\u{07}after", "\u{241B}after"),
        ("\u{1b}]0;owned\u{1b}\\after", "\u{241B}after"),
        ("\u{1b}]8;;http://evil/\u{1b}\\link\u{1b}]8;;\u{1b}\\", "\u{241B}link\u{241B}"),
        ("\u{1b}P1$r0m\u{1b}\\x", "\u{241B}x"),
        ("\u{1b}c", "\u{241B}"),
        ("\u{1b}(B text", "\u{241B} text"),
        ("\u{9b}31mred", "\u{FFFD}red"),
        ("\u{9d}0;title\u{07}x", "\u{FFFD}x"),
        ("\u{9d}0;title\u{9c}x", "\u{FFFD}x"),
        ("\u{85}", "\u{FFFD}"),
        ("ding\u{07}", "ding\u{2407}"),
        ("abc\u{08}\u{08}\u{08}xyz", "abc\u{2408}\u{2408}\u{2408}xyz"),
        ("line1\nline2\r\nline3\tx", "line1 line2  line3 x"),
        ("\u{00}nul", "\u{2400}nul"),
        ("del\u{7f}", "del\u{2421}"),
        ("user\u{202E}txt.exe", "user\u{FFFD}txt.exe"),
        ("\u{2066}a\u{2067}b\u{2068}c\u{2069}", "\u{FFFD}a\u{FFFD}b\u{FFFD}c\u{FFFD}"),
        ("ad\u{200B}min", "ad\u{FFFD}min"),
        ("a\u{200D}b\u{FEFF}c", "a\u{FFFD}b\u{FFFD}c"),
        ("flag\u{E0041}\u{E007F}", "flag\u{FFFD}\u{FFFD}"),
    ]

    func testHostileSequencesAreNeutralised() {
        for (input, expected) in corpus {
            XCTAssertEqual(SafeText.display(input), expected, input.debugDescription)
        }
    }

    func testOrdinaryTextIsUnchanged() {
        for text in ["hello world", "Zoë café naïve", "日本語のテキスト", "데이터베이스", "emoji 🚀 👍🏽 🇩🇪", "ʕ•ᴥ•ʔ", "a-b_c.d/e:f@g", ""] {
            XCTAssertEqual(SafeText.display(text), text)
            XCTAssertTrue(SafeText.isClean(text), text)
        }
    }

    func testHostileTextIsNotClean() {
        for (input, _) in corpus { XCTAssertFalse(SafeText.isClean(input), input.debugDescription) }
    }

    func testAnUnterminatedEscapeAtTheEndIsStillShown() {
        XCTAssertEqual(SafeText.display("x\u{1b}"), "x\u{241B}")
        XCTAssertEqual(SafeText.display("x\u{1b}["), "x\u{241B}")
    }

    func testOutputNeverContainsAControlBidiOrZeroWidthScalar() {
        var rng = SplitMix64(seed: 0x5AFE_7E47)
        let interesting: [UInt32] = [0x00, 0x07, 0x08, 0x09, 0x0A, 0x0D, 0x1B, 0x1B, 0x1B, 0x5B, 0x5D, 0x50, 0x5C, 0x3B, 0x7F,
                                     0x80, 0x85, 0x90, 0x9B, 0x9C, 0x9D, 0x9F, 0x200B, 0x200D, 0x200E, 0x202A, 0x202E, 0x2066,
                                     0x2069, 0xFEFF, 0xE0001, 0xE0041, 0xE007F, 0x41, 0x61, 0x31, 0x6D, 0xE9, 0x65E5, 0x1F680]
        for _ in 0..<5_000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 40) {
                let pick = rng.next()
                let value: UInt32
                switch pick % 4 {
                case 0, 1: value = interesting[Int(rng.next() % UInt64(interesting.count))]
                case 2: value = UInt32(rng.next() % 0x300)
                default: value = UInt32(rng.next() % 0x110000)
                }
                if let u = Unicode.Scalar(value) { s.append(u) }
            }
            let input = String(s)
            let out = SafeText.display(input)
            if let bad = out.unicodeScalars.first(where: isForbiddenOnATerminal) {
                XCTFail("display(\(input.debugDescription)) contains U+\(String(bad.value, radix: 16))")
                return
            }
            XCTAssertEqual(SafeText.display(out), out, "display is idempotent for \(input.debugDescription)")
        }
    }
}

/// A small deterministic generator so that property tests repeat exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
