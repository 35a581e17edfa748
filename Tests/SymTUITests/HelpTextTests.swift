import XCTest
@testable import SymTUI

/// `symtui help COMMAND`: names in one column, descriptions beside them.
final class HelpTextTests: XCTestCase {
    func testAnOptionWiderThanTheNameColumnIsNotCutAndItsDescriptionGoesOnTheNextLine() throws {
        let status = try XCTUnwrap(CLI.commands.first { $0.name == "status" })
        let lines = status.helpText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let i = try XCTUnwrap(lines.firstIndex(of: "  --format text|tmux|json"), status.helpText)
        XCTAssertEqual(lines[i + 1], String(repeating: " ", count: 24) + "text (default), tmux (with #[fg=…] colours) or json")
    }

    func testAShortOptionKeepsItsDescriptionOnItsLine() throws {
        let status = try XCTUnwrap(CLI.commands.first { $0.name == "status" })
        XCTAssertTrue(status.helpText.contains("\n  --json                machine-readable output\n"), status.helpText)
    }
}
