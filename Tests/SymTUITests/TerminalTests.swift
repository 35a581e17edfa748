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
        if terminal.utf8 {
            XCTAssertTrue(rows.contains { $0.contains("田中") }, rows.joined(separator: "\n"))
        }
        XCTAssertTrue(terminal.row(23).contains("alice"))
    }
}
