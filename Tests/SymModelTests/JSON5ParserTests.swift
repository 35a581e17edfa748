import Foundation
import XCTest
@testable import SymModel

private func document(_ text: String) throws -> ParsedDocument {
    var p = JSON5Parser(text)
    return try p.parseDocument()
}

private func parseError(_ text: String) -> JSONParseError? {
    do { _ = try document(text); return nil } catch { return error as? JSONParseError }
}

final class JSON5ParserTests: XCTestCase {
    func testLineCommentsAreIgnored() throws {
        XCTAssertEqual(try JSONValue.parse("// hi\n{ a: 1 // one\n}"), .object([("a", .int(1))]))
    }

    func testBlockCommentsAreIgnored() throws {
        XCTAssertEqual(try JSONValue.parse("/* a\n b */ [1, /* two */ 2]"), .array([.int(1), .int(2)]))
    }

    func testTrailingCommasAreAllowed() throws {
        XCTAssertEqual(try JSONValue.parse("{ a: [1, 2,], }"), .object([("a", .array([.int(1), .int(2)]))]))
    }

    func testUnquotedAndSingleQuotedKeysAndStrings() throws {
        XCTAssertEqual(try JSONValue.parse("{ name: 'x', \"b\": \"y\", $c_1: null }"),
                       .object([("name", .string("x")), ("b", .string("y")), ("$c_1", .null)]))
    }

    func testHexAndSignedNumbers() throws {
        XCTAssertEqual(try JSONValue.parse("[0x1F, +3, -2, .5, 1e3]"), .array([.int(31), .int(3), .int(-2), .double(0.5), .double(1000)]))
    }

    func testHugeIntegerBecomesADouble() throws {
        XCTAssertEqual(try JSONValue.parse("123456789012345678901234567890"), .double(1.2345678901234568e29))
    }

    func testStringEscapes() throws {
        XCTAssertEqual(try JSONValue.parse(#""a\n\t\u00e9\x41""#), .string("a\n\téA"))
    }

    func testLinesOfEveryPathAreRecorded() throws {
        let d = try document("{\n  flows: [\n    { name: \"a\",\n      prompt_fields: [ { default: 1 } ] },\n  ],\n}")
        XCTAssertEqual(d.lines["flows"], 2)
        XCTAssertEqual(d.lines["flows[0]"], 3)
        XCTAssertEqual(d.lines["flows[0].name"], 3)
        XCTAssertEqual(d.lines["flows[0].prompt_fields[0].default"], 4)
    }

    func testLinesCountLinesInsideBlockComments() throws {
        XCTAssertEqual(try document("/*\n\n*/\n{ a: 1 }").lines["a"], 4)
    }

    func testErrorCarriesItsLine() {
        let e = parseError("{\n  a: 1,\n  b: ,\n}")
        XCTAssertEqual(e?.line, 3)
    }

    func testMissingCommaIsAnError() {
        XCTAssertEqual(parseError("{\n a: 1\n b: 2 }")?.line, 3)
    }

    func testUnclosedStringNamesItsOpeningLine() {
        let e = parseError("{\n a: \"open\n}")
        XCTAssertEqual(e?.line, 2)
    }

    func testUnclosedBlockCommentIsAnError() {
        XCTAssertTrue(parseError("{ a: 1 } /* never")?.message.contains("never closed") ?? false)
    }

    func testDuplicateKeyIsAnError() {
        XCTAssertTrue(parseError("{ a: 1,\n a: 2 }")?.message.contains("appears twice") ?? false)
    }

    func testDuplicateKeyInABigObjectIsAnError() {
        let keys = (0..<40).map { "k\($0): \($0)" }
        XCTAssertTrue(parseError("{ " + (keys + ["k3: 0"]).joined(separator: ", ") + " }")?.message.contains("'k3' appears twice") ?? false)
        XCTAssertTrue(parseError("{ " + (keys + ["k39: 0"]).joined(separator: ", ") + " }")?.message.contains("'k39' appears twice") ?? false)
        XCTAssertEqual(try JSONValue.parse("{ " + keys.joined(separator: ", ") + " }").objectValue?.count, 40)
    }

    func testStringsWithAndWithoutEscapesDecodeAlike() throws {
        XCTAssertEqual(try JSONValue.parse(#"["héllo", "h\u00e9llo", "tab\there", "a\\b", "", "\n"]"#),
                       .array([.string("héllo"), .string("héllo"), .string("tab\there"), .string("a\\b"), .string(""), .string("\n")]))
        XCTAssertTrue(parseError("[\"\u{FF}\"]") == nil)   // U+00FF is valid UTF-8 when written as text
    }

    func testInvalidUTF8InAStringIsAnError() {
        var bytes = Array(#"["ab"]"#.utf8)
        bytes[2] = 0xFF
        XCTAssertThrowsError(try JSONValue.parse(data: Data(bytes)))
    }

    func testEmptyDocumentIsAnError() {
        XCTAssertTrue(parseError("  // nothing\n")?.message.contains("empty") ?? false)
    }

    func testTextAfterTheDocumentIsAnError() {
        XCTAssertNotNil(parseError("{} {}"))
    }

    func testDeepNestingIsAnErrorNotACrash() {
        XCTAssertTrue(parseError(String(repeating: "[", count: 100_000))?.message.contains("nested deeper") ?? false)
    }

    func testTruncatedInputsNeverCrash() {
        let full = "{ a: [1, 'two', { b: null, c: 0x1f, d: -12.5e3 }], /* c */ e: \"\\u00e9\" }"
        for n in 0..<full.utf8.count {
            let prefix = String(decoding: Array(full.utf8.prefix(n)), as: UTF8.self)
            _ = try? JSONValue.parse(prefix)
        }
        XCTAssertNoThrow(try JSONValue.parse(full))
    }
}

/// Numbers JSON cannot carry back out are refused, so that parse → print → parse never changes a value.
final class JSON5NumberTests: XCTestCase {
    func testInfinityAndNaNAreRefused() {
        for text in ["Infinity", "-Infinity", "NaN", "{a: +Infinity}"] {
            XCTAssertThrowsError(try JSONValue.parse(text), text)
        }
    }

    func testNumbersThatOverflowADoubleAreRefused() {
        XCTAssertThrowsError(try JSONValue.parse("1e400"))
        XCTAssertThrowsError(try JSONValue.parse("-2888e307"))
    }
}
