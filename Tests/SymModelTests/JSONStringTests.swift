import Foundation
import XCTest
@testable import SymModel

/// JSON strings are written a run of plain bytes at a time and read the same way: the output and the values are
/// exactly those of the rules, character by character (the audit chain hashes this output).
final class JSONStringTests: XCTestCase {
    /// The rules, one scalar at a time.
    private func reference(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00..<0x20, 0x7F, 0x80...0x9F, 0x2028, 0x2029:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// Plain and special characters of every UTF-8 length, the neighbours of the escaped ones included.
    private let alphabet: [String] = ["a", "Z", " ", "~", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{7f}", "\u{80}", "\u{85}",
                                      "\u{9f}", "\u{a0}", "é", "\u{2027}", "\u{2028}", "\u{2029}", "\u{202a}", "€", "東", "😀", "/"]

    private func randomStrings(_ count: Int) -> [String] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
        }
    }

    func testWrittenStringsFollowTheEscapingRulesExactly() {
        for s in randomStrings(5_000) + alphabet + ["", String(repeating: "plain ascii ", count: 200)] {
            XCTAssertEqual(JSONValue.string(s).compact, reference(s), "\(s.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    func testWrittenStringsReadBackToTheSameValue() throws {
        for s in randomStrings(5_000) + alphabet {
            XCTAssertEqual(try JSONValue.parse(JSONValue.string(s).compact), .string(s))
        }
    }

    func testEscapesAmongPlainRunsAreDecoded() throws {
        XCTAssertEqual(try JSONValue.parse(#""ab\u00e9cd\ud83d\ude00ef\n\"gh\\""#), .string("abécd😀ef\n\"gh\\"))
        XCTAssertEqual(try JSONValue.parse(#"{"k": "x\ty", "東": "京"}"#), .object([("k", .string("x\ty")), ("東", .string("京"))]))
        XCTAssertThrowsError(try JSONValue.parse(#""lone \ud800 surrogate""#))
        XCTAssertThrowsError(try JSONValue.parse("\"never closed"))
    }
}

/// Integers are read without building a String when they have at most 18 digits; longer ones take the general path.
final class JSONIntegerTests: XCTestCase {
    func testIntegersOfEveryLengthReadAsTheirValue() throws {
        var rng = SystemRandomNumberGenerator()
        for digits in 1...19 {
            for _ in 0..<200 {
                var text = String(Int.random(in: 1...9, using: &rng))
                for _ in 1..<digits { text += String(Int.random(in: 0...9, using: &rng)) }
                for sign in ["", "-", "+"] {
                    let expected: JSONValue = Int64(text).map { .int(sign == "-" ? -$0 : $0) } ?? .double(Double(sign + text)!)
                    XCTAssertEqual(try JSONValue.parse("[" + sign + text + "]"), .array([expected]), sign + text)
                }
            }
        }
        XCTAssertEqual(try JSONValue.parse("-0"), .int(0))
        XCTAssertEqual(try JSONValue.parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try JSONValue.parse("-9223372036854775808"), .int(Int64.min))
        XCTAssertEqual(try JSONValue.parse("12.5"), .double(12.5))
        XCTAssertEqual(try JSONValue.parse("1e3"), .double(1000))
    }
}
