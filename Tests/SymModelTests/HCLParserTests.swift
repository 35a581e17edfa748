import Foundation
import XCTest
@testable import SymModel

/// The HCL subset Sym configurations use: blocks, attributes, templates, lists, maps, heredocs, functions.
final class HCLParserTests: XCTestCase {
    private func parse(_ text: String) throws -> HCLBody { try HCLParser.parse(text, file: "t.tf") }

    private func evaluate(_ text: String, _ attribute: String = "v", directory: String = "/m") throws -> HCLValue {
        let body = try parse(text)
        let evaluator = try HCLEvaluator(moduleDirectory: directory, files: [("t.tf", body)])
        let holder = body.blocks("resource").first?.body ?? body
        return try evaluator.evaluate(XCTUnwrap(holder.attribute(attribute)).value, file: "t.tf")
    }

    private func error(_ text: String) -> HCLError? {
        do { _ = try HCLParser.parse(text, file: "t.tf"); return nil } catch { return error }
    }

    func testBlocksHaveTypeLabelsAndLines() throws {
        let body = try parse("# c\nresource \"sym_flow\" \"this\" {\n  name = \"x\"\n}\n")
        let block = try XCTUnwrap(body.blocks.first)
        XCTAssertEqual(block.type, "resource")
        XCTAssertEqual(block.labels, ["sym_flow", "this"])
        XCTAssertEqual(block.line, 2)
        XCTAssertEqual(block.body.attribute("name")?.line, 3)
    }

    func testNestedBlocksAndOneLineBlocks() throws {
        let body = try parse("a {\n  b { c = 1 }\n  b {\n    c = 2\n  }\n}\n")
        XCTAssertEqual(body.blocks("a").first?.body.blocks("b").count, 2)
    }

    func testCommentsOfAllThreeKindsAreIgnored() throws {
        let body = try parse("// one\n# two\n/* three\n still */ x = 1 # trailing\ny = 2 // trailing\n")
        XCTAssertEqual(body.attributes.map(\.name), ["x", "y"])
    }

    func testStringEscapesAndLiteralDollarBraces() throws {
        XCTAssertEqual(try evaluate(#"v = "a\"b\n\u00e9 $${x} %%{y}""#), .string("a\"b\né ${x} %{y}"))
    }

    func testInterpolationOfLocalsAndVariableDefaults() throws {
        let text = """
        variable "env" { default = "prod" }
        locals {
          prefix = "${var.env}-sym"
        }
        v = "${local.prefix}/x"
        """
        XCTAssertEqual(try evaluate(text), .string("prod-sym/x"))
    }

    func testAVariableWithoutADefaultStaysAReference() throws {
        XCTAssertEqual(try evaluate("variable \"org\" {}\nv = var.org\n"), .reference("var.org"))
    }

    func testResourceReferencesStayReferences() throws {
        XCTAssertEqual(try evaluate("v = [sym_target.a.id, sym_target.b.id]\n"),
                       .list([.reference("sym_target.a.id"), .reference("sym_target.b.id")]))
    }

    func testPathModuleIsTheModuleDirectory() throws {
        XCTAssertEqual(try evaluate("v = \"${path.module}/impl.py\"\n", directory: "/etc/tf"), .string("/etc/tf/impl.py"))
    }

    func testMapsTakeEqualsOrColonAndCommasOrNewlines() throws {
        let v = try evaluate("v = {\n  a = 1, \"b-c\": true\n  d = null\n}\n")
        XCTAssertEqual(v, .object([HCLPair(key: "a", value: .number(1)), HCLPair(key: "b-c", value: .bool(true)),
                                   HCLPair(key: "d", value: .null)]))
    }

    func testListsMaySpanLinesWithATrailingComma() throws {
        XCTAssertEqual(try evaluate("v = [\n  \"a\",\n  \"b\",\n]\n"), .list([.string("a"), .string("b")]))
    }

    func testHeredocKeepsItsLines() throws {
        XCTAssertEqual(try evaluate("v = <<EOT\nline one\n  line two\nEOT\n"), .string("line one\n  line two\n"))
    }

    func testIndentedHeredocRemovesTheCommonIndent() throws {
        let body = try parse("x {\n  v = <<-EOT\n    a\n      b\n    EOT\n}\n")
        let evaluator = try HCLEvaluator(moduleDirectory: "/", files: [("t.tf", body)])
        let value = try evaluator.evaluate(XCTUnwrap(body.blocks.first?.body.attribute("v")).value, file: "t.tf")
        XCTAssertEqual(value, .string("a\n  b\n"))
    }

    func testHeredocInterpolates() throws {
        XCTAssertEqual(try evaluate("locals { n = \"x\" }\nv = <<EOT\nhello ${local.n}\nEOT\n"), .string("hello x\n"))
    }

    func testJsonencodeMakesJSONText() throws {
        let v = try evaluate("v = jsonencode([{ name = \"reason\", required = true, n = 2 }])\n")
        XCTAssertEqual(v, .string(#"[{"name":"reason","required":true,"n":2}]"#))
    }

    func testFileReadsRelativeToTheModule() throws {
        let dir = NSTemporaryDirectory() + "hcl-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "print(1)\n".write(toFile: dir + "/impl.py", atomically: true, encoding: .utf8)
        XCTAssertEqual(try evaluate("v = file(\"impl.py\")\n", directory: dir), .file(path: dir + "/impl.py", text: "print(1)\n"))
    }

    func testIndexingALocalMap() throws {
        XCTAssertEqual(try evaluate("locals { m = { a = [\"x\", \"y\"] } }\nv = local.m.a[1]\n"), .string("y"))
    }

    func testNegativeAndFractionalNumbers() throws {
        XCTAssertEqual(try evaluate("v = [-1, 2.5, 1e3]\n"), .list([.number(-1), .number(2.5), .number(1000)]))
    }

    func testAnAttributeSetTwiceIsAnError() {
        XCTAssertEqual(error("a = 1\na = 2\n")?.line, 2)
    }

    func testAMissingClosingBraceNamesTheBlocksLine() {
        let e = error("\nresource \"a\" \"b\" {\n  x = 1\n")
        XCTAssertEqual(e?.line, 2)
        XCTAssertTrue(e?.message.contains("not closed") ?? false)
    }

    func testTwoAttributesOnOneLineAreAnError() {
        XCTAssertEqual(error("a = 1 b = 2\n")?.line, 1)
    }

    func testErrorDescriptionIsFileColonLine() {
        XCTAssertEqual(HCLError(file: "main.tf", line: 7, message: "boom").description, "main.tf:7: boom")
    }

    func testDeepNestingIsRefusedWithALine() {
        let e = error("v = " + String(repeating: "[", count: 5000) + "\n")
        XCTAssertEqual(e?.line, 1)
        XCTAssertTrue(e?.message.contains("nested more than") ?? false)
    }

    /// Bytes of the fixtures changed at random: the parser answers (a body or an error with a line), never crashes.
    func testMutatedFixturesGiveABodyOrAnErrorWithALine() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sym-terraform").path
        let texts = try [dir + "/okta-access-v2/main.tf", dir + "/approval-and-sso-v1.tf"].map { try Array(Data(contentsOf: URL(fileURLWithPath: $0))) }
        var rng = SplitMix64(seed: 18)
        let alphabet = Array("{}[]()\"=,.:$%<>-#/*\\\n \tabc019~".utf8)
        for round in 0..<3000 {
            var bytes = texts[round % texts.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            do {
                _ = try HCLParser.parse(text, file: "m.tf")
            } catch {
                XCTAssertTrue((1...lines).contains(error.line), "round \(round): line \(error.line) of \(lines): \(error.message)")
            }
        }
    }

    /// Every file of Tests/Fixtures/sym-terraform/malformed starts with "# expect LINE: TEXT".
    func testMalformedCorpusFailsWithTheExpectedLineAndMessage() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sym-terraform/malformed").path
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tf") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 15)
        for name in names {
            let path = dir + "/" + name
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let header = try XCTUnwrap(text.split(separator: "\n").first, name)
            let match = try XCTUnwrap(header.wholeMatch(of: /# expect (\d+): (.+)/), "\(name): no '# expect LINE: TEXT' header")
            do {
                let (directory, files) = try SymTerraform.sources(at: path)
                _ = try SymTerraform.translate(files: files, moduleDirectory: directory)
                XCTFail("\(name) was accepted")
            } catch let SymTerraformError.invalid(error) {
                XCTAssertEqual(error.line, Int(match.1), "\(name): \(error)")
                XCTAssertTrue(error.message.contains(match.2), "\(name): '\(error.message)' lacks '\(match.2)'")
                XCTAssertEqual(error.file, path, name)
                XCTAssertEqual(SymTerraformError.invalid(error).exitCode, 65)
            } catch {
                XCTFail("\(name): unexpected \(error)")
            }
        }
    }
}

