import Foundation
import XCTest
@testable import SymTUI

/// Real curses, headless: newterm on /dev/null, reading the virtual screen back.
final class TerminalTests: XCTestCase {
    func testHeadlessTerminalDrawsABufferIncludingWideCharacters() throws {
        let terminal = try Terminal.headless(rows: 24, cols: 80)
        defer { terminal.close() }
        XCTAssertEqual(terminal.size.rows, 24)
        XCTAssertEqual(terminal.size.cols, 80)
        let app = startedApp(standardBackend(), rows: 24, cols: 80)
        let buffer = app.screen
        terminal.draw(buffer)
        XCTAssertTrue(terminal.row(0).contains("2 Review"), terminal.row(0))
        let rows = (0..<24).map { terminal.row($0) }
        XCTAssertTrue(rows.contains { $0.contains("carol") })
        XCTAssertTrue(terminal.utf8, "headless runs under a UTF-8 locale")
        XCTAssertTrue(rows.contains { $0.contains("田中") }, rows.joined(separator: "\n"))
        XCTAssertTrue(terminal.row(23).contains("alice"))
    }
}

/// The real loop on a real terminal: run by hand or in tmux with `SYMTUI_INTERACTIVE=1` (skipped otherwise).
final class InteractiveSmokeTests: XCTestCase {
    func testRunOnTheControllingTerminal() throws {
        guard ProcessInfo.processInfo.environment["SYMTUI_INTERACTIVE"] == "1" else { throw XCTSkip("set SYMTUI_INTERACTIVE=1 in a terminal") }
        let backend = standardBackend()
        let status = ConsoleApp(backend: backend).run()
        print("console exited with \(status); sent: \(backend.sent)")
    }
}
