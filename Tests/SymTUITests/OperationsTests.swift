import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// `symtui metrics`' text exposition and the completion scripts and man page made from the command table.
final class OperationsTests: XCTestCase {
    func sample() throws -> JSONValue {
        try JSONValue.parse("""
        {"requests":{"pending":2,"active":1},"grants_active":1,"grants_stuck":0,"handler_failures_total":3,
         "reporting_backlog":[{"destination":"file:/var/log/a \\"b\\"\\\\c\\n","backlog":7}],
         "approval_latency":{"bounds":[1,10.5],"counts":[1,2],"count":4,"sum_seconds":99.25},"head_seq":12}
        """)
    }

    func testEveryFamilyHasHelpAndTypeBeforeItsSamples() throws {
        let text = Exposition.render(try sample())
        var declared = Set<String>()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") { declared.insert(String(line.split(separator: " ")[2])); continue }
            if line.hasPrefix("#") { continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { n, s in n.hasSuffix(s) && declared.contains(String(n.dropLast(s.count))) ? String(n.dropLast(s.count)) : n }
            XCTAssertTrue(declared.contains(family), "\(line) before its # TYPE")
        }
        XCTAssertTrue(text.hasSuffix("\n"))
    }

    func testLabelValuesAreNeutralisedThenEscapeQuotesAndBackslashes() throws {
        let text = Exposition.render(try sample())
        // The line break is config text neutralised to a space: a label never spans lines.
        XCTAssertTrue(text.contains(#"symtui_reporting_backlog{destination="file:/var/log/a \"b\"\\c "} 7"#), text)
    }

    func testTheHistogramEndsWithInfSumAndCount() throws {
        let text = Exposition.render(try sample())
        XCTAssertTrue(text.contains("symtui_approval_latency_seconds_bucket{le=\"1\"} 1\nsymtui_approval_latency_seconds_bucket{le=\"10.5\"} 2\n"
                                    + "symtui_approval_latency_seconds_bucket{le=\"+Inf\"} 4\nsymtui_approval_latency_seconds_sum 99.25\n"
                                    + "symtui_approval_latency_seconds_count 4\n"), text)
        XCTAssertTrue(text.contains("# TYPE symtui_handler_failures_total counter\nsymtui_handler_failures_total 3\n"))
    }

    func testEveryCommandOfTheTableIsInEveryCompletionScriptAndTheManPage() {
        let bash = Completion.bash(), fish = Completion.fish(), man = ManPage.symtui()
        for c in CLI.commands {
            XCTAssertTrue(bash.contains("'\(c.name)')"), "bash: \(c.name)")
            XCTAssertTrue(fish.contains("-a \(c.words.last!)"), "fish: \(c.name)")
            XCTAssertTrue(man.contains(".SS \"\(ManPage.escape(c.name))\""), "man: \(c.name)")
            for o in c.options where o.name != "help" {
                XCTAssertTrue(fish.contains("-l \(o.name)"), "fish: \(c.name) --\(o.name)")
                XCTAssertTrue(man.contains("\\fB\\-\\-\(ManPage.escape(o.name))\\fR"), "man: \(c.name) --\(o.name)")
            }
        }
    }

    func testTheBashScriptLoadsInRealBashAndCompletesACommand() throws {
        let script = NSTemporaryDirectory() + "symtui-completion-\(getpid()).bash"
        try Completion.bash().write(toFile: script, atomically: true, encoding: .utf8)
        defer { unlink(script) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["--norc", "--noprofile", "-c", "source \(script) && complete -p symtui && COMP_WORDS=(symtui aud) COMP_CWORD=1 && _symtui && echo \"${COMPREPLY[*]}\""]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(text, "complete -F _symtui symtui\naudit\n")
    }

    func testManTextEscapesLeadingDotsBackslashesAndDashes() {
        XCTAssertEqual(ManPage.escape(".x --y a\\b"), "\\&.x \\-\\-y a\\eb")
    }
}
