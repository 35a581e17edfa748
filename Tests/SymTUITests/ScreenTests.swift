import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// The screen buffer, display widths, the theme and hostile text.
final class ScreenTests: XCTestCase {
    func testWideCharactersTakeTwoColumns() {
        XCTAssertEqual(DisplayWidth.of("東京"), 4)
        XCTAssertEqual(DisplayWidth.of("abc"), 3)
        XCTAssertEqual(DisplayWidth.of("e\u{301}"), 1)
        XCTAssertEqual(DisplayWidth.of("한국"), 4)
        XCTAssertEqual(DisplayWidth.of("🚀"), 2)
        var b = ScreenBuffer(rows: 1, cols: 10)
        XCTAssertEqual(b.put("東京db", row: 0, col: 0), 6)
        XCTAssertEqual(b[0, 0].width, 2)
        XCTAssertEqual(b[0, 1].width, 0)
        XCTAssertEqual(b.line(0), "東京db    ")
    }

    func testTruncationEndsWithAnEllipsisAndNeverSplitsAWideCharacter() {
        XCTAssertEqual(DisplayWidth.truncate("production", to: 6), "produ…")
        XCTAssertEqual(DisplayWidth.truncate("東京データベース", to: 6), "東京…")
        XCTAssertEqual(DisplayWidth.truncate("東京データベース", to: 5), "東京…")
        var b = ScreenBuffer(rows: 1, cols: 5)
        b.put("東京データ", row: 0, col: 0)
        XCTAssertEqual(b.line(0), "東京…")
        XCTAssertEqual(DisplayWidth.of(b.line(0)), 5)
    }

    func testHostileStringsAreInertInTheBuffer() {
        let hostile = [
            "\u{1b}[2Jwiped", "\u{1b}]52;c;aGVsbG8=\u{07}clip", "\u{9b}31mred", "\u{202e}evil\u{202c}", "zero\u{200b}width",
            "bell\u{07}", "\u{1b}P1;2|dcs\u{1b}\\", "del\u{7f}", "nl\nbreak",
        ]
        let backend = standardBackend()
        backend.rows[.review] = hostile.enumerated().map { i, h in
            var r = request(Int64(200 + i), h, target: h, label: h, reason: h)
            r.fields["note"] = .string(h)
            return r
        }
        backend.identity = ConsoleIdentity(user: "\u{1b}[31mroot", groups: ["\u{9b}2J"], storePath: "/tmp/\u{1b}]0;title\u{07}db")
        backend.flowList[0].label = "\u{1b}[2J\u{202e}flow"
        let app = startedApp(backend, rows: 40, cols: 120)
        var screens = [app.screen]
        for i in 0..<hostile.count { if i > 0 { app.press(.char("j")) }; screens.append(app.screen) }
        app.press(.char("1")); screens.append(app.screen)
        app.press(.enter); screens.append(app.screen)
        for b in screens {
            for cell in b.cells {
                for u in cell.character.unicodeScalars {
                    XCTAssertFalse(u.value < 0x20 || (0x7F...0x9F).contains(u.value), "control U+\(String(u.value, radix: 16)) reached a cell")
                    XCTAssertFalse((0x202A...0x202E).contains(u.value) || (0x2066...0x2069).contains(u.value) || (0x200B...0x200F).contains(u.value),
                                   "bidi/zero-width U+\(String(u.value, radix: 16)) reached a cell")
                }
            }
        }
        XCTAssertTrue(screens[0].text.contains("␛"), "the escape is shown, visibly, as a stand-in")
    }

    func testTheBufferItselfRefusesControls() {
        var b = ScreenBuffer(rows: 1, cols: 10)
        b.put("a\u{1b}b\u{9b}", row: 0, col: 0)
        XCTAssertFalse(b.line(0).unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x9b })
    }

    func testNoColorMeansMonochrome() {
        XCTAssertTrue(Theme.isMonochrome(environment: ["NO_COLOR": "1"], terminalHasColours: true))
        XCTAssertFalse(Theme.isMonochrome(environment: ["NO_COLOR": ""], terminalHasColours: true))
        XCTAssertFalse(Theme.isMonochrome(environment: [:], terminalHasColours: true))
        XCTAssertTrue(Theme.isMonochrome(environment: [:], terminalHasColours: false))
    }

    func testThemeHasOneEntryPerStyleAndMonochromeStillDistinguishesWhatMatters() {
        XCTAssertEqual(Theme.table.count, Style.allCases.count)
        XCTAssertEqual(Set(Theme.table.map(\.style.rawValue)).count, Style.allCases.count)
        let normal = Theme.entry(.normal).monochromeAttributes
        for s in [Style.selected, .selectedNew, .newRow, .refusal, .tabActive, .status, .banner, .fieldFocus, .buttonFocus, .fieldError, .header] {
            XCTAssertNotEqual(Theme.entry(s).monochromeAttributes, normal, "\(s) looks like normal text without colour")
        }
        XCTAssertNotEqual(Theme.entry(.selected).monochromeAttributes, Theme.entry(.selectedNew).monochromeAttributes)
    }

    func testMeaningIsNotCarriedByColourAlone() {
        let backend = standardBackend()
        let app = startedApp(backend)
        backend.rows[.review]!.append(request(105, "dave", createdMinutesAgo: 0))
        app.perform([.refresh])
        let text = app.screen.text
        XCTAssertTrue(text.contains("▸ "), "the selection has a marker")
        XCTAssertTrue(text.contains(" ● #105") || text.contains("●"), "a new row has a marker")
        backend.healthy = false
        app.perform([.refresh])
        XCTAssertTrue(app.screen.text.contains("⚠ daemon not answering"))
    }

    func testHelpIsGeneratedFromTheKeymapAndListsEveryKey() {
        let help = Keymap.helpLines().joined(separator: "\n")
        for b in Keymap.bindings {
            XCTAssertTrue(help.contains(b.label + " ") || help.contains(b.label + "\n"), "help lacks \(b.label)")
            XCTAssertTrue(help.contains(b.help), "help lacks \(b.help)")
        }
        for key in ["↑ k", "↓ j", "PgUp", "PgDn", "g", "G", "Enter", "Esc", "/", "?", "q", "Tab", "1", "2", "3", "4", "5",
                    "a", "d", "r", "c", "x", "e", "Space", "←", "→"] {
            XCTAssertTrue(Keymap.bindings.contains { $0.label == key || $0.label.split(separator: " ").contains(Substring(key)) }, "no binding for \(key)")
        }
        // Every line is reachable on screen by scrolling.
        let app = startedApp(standardBackend())
        app.press(.char("?"))
        var seen = Set<String>()
        for _ in 0..<20 {
            for r in 0..<24 { seen.insert(app.screen.line(r).trimmingCharacters(in: .whitespaces)) }
            app.press(.pageDown)
        }
        for line in Keymap.helpLines() where !line.isEmpty {
            XCTAssertTrue(seen.contains(line.trimmingCharacters(in: .whitespaces)), "help line not shown: \(line)")
        }
    }

    func testEveryKeymapRowDispatches() {
        for b in Keymap.bindings {
            guard case let .keys(keys) = b.pattern else { continue }
            let view = b.views.map { v in ConsoleView.allCases.first { v.contains($0) }! } ?? .review
            for k in keys {
                XCTAssertEqual(Keymap.binding(for: k, mode: b.mode, view: view)?.action, b.action, "\(k) in \(b.mode) on \(view)")
            }
        }
    }

    func testAsciiTransliterationKeepsWidths() {
        XCTAssertEqual(Terminal.ascii(Cell(character: "東", width: 2, style: .normal)), "??")
        XCTAssertEqual(Terminal.ascii(Cell(character: "…", width: 1, style: .normal)), "~")
        XCTAssertEqual(Terminal.ascii(Cell(character: "é", width: 1, style: .normal)), "e")
        XCTAssertEqual(Terminal.ascii(Cell(character: "a", width: 1, style: .normal)), "a")
    }
}
