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

    func testAFrameThatChangesOneRowLeavesTheScreenEqualToIt() throws {
        let terminal = try Terminal.headless(rows: 24, cols: 80)
        defer { terminal.close() }
        func frame(_ marks: [Int: String]) -> ScreenBuffer {
            var b = ScreenBuffer(rows: 24, cols: 80)
            for y in 0..<24 { b.put("row \(y) " + (marks[y] ?? "same"), row: y, col: 0) }
            return b
        }
        func screen() -> [String] { (0..<24).map { terminal.row($0).trimmingCharacters(in: .whitespaces) } }
        terminal.draw(frame([:]))
        terminal.draw(frame([5: "12s left"]))
        XCTAssertEqual(screen(), (0..<24).map { $0 == 5 ? "row 5 12s left" : "row \($0) same" })
        terminal.draw(frame([5: "11s", 23: "last"]))
        XCTAssertEqual(screen(), (0..<24).map { $0 == 5 ? "row 5 11s" : $0 == 23 ? "row 23 last" : "row \($0) same" },
                       "a shorter text is not left with the end of the longer one")
        terminal.draw(frame([:]))
        XCTAssertEqual(screen(), (0..<24).map { "row \($0) same" })
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
