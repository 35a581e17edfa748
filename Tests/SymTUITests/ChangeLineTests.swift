import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// Change lines of the daemon's shape are read from their bytes; every line reads the same as with the full parser.
final class ChangeLineTests: XCTestCase {
    func full(_ text: String) -> ChangeLine? { (try? JSONValue.parse(text)).map(ChangeLine.init) }
    func fast(_ text: String) -> ChangeLine? { ChangeLine.fast(ArraySlice(Array(text.utf8))) }

    func testTheDaemonsLinesAreReadFromTheirBytes() {
        let lines = [
            #"{"v":1,"changed":true,"version":813,"ids":[4713,4709],"review":5002,"review_head":[4713,4709,4705]}"#,
            #"{"v":1,"changed":true,"version":814,"ids":[4690],"review":5002}"#,
            #"{"v":1,"changed":true,"version":815}"#,
            #"{"v":1,"changed":true,"version":816,"ids":[],"review":0,"review_head":[]}"#,
            #"{"changed":true}"#, "{}", #"{"a":null,"b":false,"c":-12,"d":0}"#,
        ]
        for line in lines {
            XCTAssertNotNil(fast(line), line)
            XCTAssertEqual(fast(line), full(line), line)
        }
        XCTAssertEqual(fast(lines[0]), ChangeLine(ids: [4713, 4709], review: 5002, reviewHead: [4713, 4709, 4705]))
        XCTAssertEqual(fast(lines[1]), ChangeLine(ids: [4690], review: 5002, reviewHead: nil))
        XCTAssertEqual(fast(lines[2]), ChangeLine(ids: nil), "no ids: anything may have changed")
    }

    func testAnyOtherShapeGoesToTheFullParserAndReadsTheSame() {
        let lines = [
            #"{ "ids": [1, 2] }"#, #"{"ids":[1,2],}"#, #"{"i\u0064s":[3]}"#, #"{"ids":[1.5]}"#, #"{"review":5e2}"#,
            #"{"ids":[01]}"#, #"{"ids":[1234567890123456789]}"#, #"{"ids":["1"]}"#, #"{"ids":[[1]]}"#, #"{"x":"text"}"#,
            #"{"ids":[1],"ids":[2]}"#, #"[1,2]"#, #"{"ids":[1]}x"#, #"{"ids":[1]"#, #"{"ids":[-]}"#, "", "{", "null",
            #"{"review":true,"review_head":7}"#, #"{"ids":{"a":1}}"#, #"{"é":1}"#,
        ]
        for line in lines {
            if let f = fast(line) { XCTAssertEqual(f, full(line), "read from bytes but differently: \(line)") }
            XCTAssertEqual(ChangeLine.read(ArraySlice(Array(line.utf8))), full(line), line)
        }
        XCTAssertNil(fast(#"{"ids":[1],"ids":[2]}"#), "a key twice is the full parser's to judge")
        XCTAssertNil(fast(#"{"i\u0064s":[3]}"#), "an escaped key is the full parser's to read")
    }

    func testRandomLinesOfTheDaemonsShapeReadAsTheFullParserReadsThem() {
        var g = SystemRandomNumberGenerator()
        let keys = ["v", "changed", "version", "ids", "review", "review_head", "other"]
        for _ in 0..<2_000 {
            var pairs: [(String, JSONValue)] = []
            for key in keys.shuffled(using: &g).prefix(Int.random(in: 0...keys.count, using: &g)) {
                switch Int.random(in: 0..<5, using: &g) {
                case 0: pairs.append((key, .int(Int64.random(in: -999_999_999_999...999_999_999_999, using: &g))))
                case 1: pairs.append((key, .bool(Bool.random(using: &g))))
                case 2: pairs.append((key, .null))
                default: pairs.append((key, .array((0..<Int.random(in: 0...70, using: &g)).map { _ in .int(Int64.random(in: 0...9_999_999, using: &g)) })))
                }
            }
            let text = JSONValue.object(pairs).compact
            XCTAssertNotNil(fast(text), text)
            XCTAssertEqual(fast(text), full(text), text)
        }
    }
}
