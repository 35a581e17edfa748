import Foundation
import XCTest
@testable import SymModel

/// The byte writer must produce exactly what the hashed chain was always built from.
final class JSONWriterTests: XCTestCase {
    /// The string escaping the canonical form was specified with (docs/audit.md), written scalar by scalar.
    private func reference(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20 || c.value == 0x7f || (0x80...0x9f).contains(c.value)
                || c.value == 0x2028 || c.value == 0x2029:
                out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    func testEveryScalarUpToU3000IsEscapedAsSpecified() {
        for v in UInt32(0)...0x3000 {
            guard let u = Unicode.Scalar(v) else { continue }
            let s = "a" + String(Character(u)) + "\u{2028}z"
            XCTAssertEqual(JSONValue.string(s).compact, reference(s), "U+\(String(v, radix: 16))")
        }
    }

    func testAstralAndMixedStringsAreWrittenAsIs() {
        for s in ["🚀 déjà vu 日本語", "\u{E2}\u{80}", "€\u{2027}\u{202A}", "\u{1F600}\u{0}\u{9F}\u{A0}", ""] {
            XCTAssertEqual(JSONValue.string(s).compact, reference(s))
        }
    }

    func testCanonicalSortsKeysByUTF8BytesAtEveryLevel() {
        let v: JSONValue = .object([("b", .int(1)), ("a", .object([("é", .null), ("z", .bool(true)), ("Z", .double(1.5))])),
                                    ("A", .array([.object([("y", .int(2)), ("x", .int(1))])]))])
        XCTAssertEqual(v.canonical, #"{"A":[{"x":1,"y":2}],"a":{"Z":1.5,"z":true,"é":null},"b":1}"#)
        XCTAssertEqual(v.compact, #"{"b":1,"a":{"é":null,"z":true,"Z":1.5},"A":[{"y":2,"x":1}]}"#)
    }

    func testPrettyIndentsWithTwoSpaces() {
        let v: JSONValue = .object([("a", .array([.int(1), .string("x")])), ("b", .object([])), ("c", .array([]))])
        XCTAssertEqual(v.pretty, "{\n  \"a\": [\n    1,\n    \"x\"\n  ],\n  \"b\": {},\n  \"c\": []\n}")
    }

    func testNumbersKeepTheirForm() {
        XCTAssertEqual(JSONValue.array([.int(-42), .double(3.0), .double(0.1), .double(1e20), .double(-1.25e-7), .double(.nan)]).compact,
                       "[-42,3,0.1,1e+20,-1.25e-07,null]")
    }
}
