import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// Layout and editing behaviours found on real screenshots.
final class PolishTests: XCTestCase {
    func testHeadersStartExactlyWhereTheirCellsStartWithAGapBetweenColumns() {
        for (rows, cols) in [(24, 80), (40, 120), (30, 200)] {
            let app = startedApp(standardBackend(), rows: rows, cols: cols)
            for key in ["2", "3", "4", "5"] {
                app.press(.char(Character(key)))
                let v = app.state.view
                let p = Painter(buffer: ScreenBuffer(rows: rows, cols: cols), state: app.state, layout: app.state.layout)
                let cs = p.columns(v)
                let w = Column.widths(cs, total: cols - 1)
                let starts = Column.starts(w)
                let header = Array(app.screen.line(1)), row = Array(app.screen.line(2))
                for (i, c) in cs.enumerated() where i > 0 {
                    let title = Array(c.title)
                    XCTAssertEqual(String(header[starts[i]..<starts[i] + title.count]), c.title, "\(v) header \(c.title) at \(cols)")
                    XCTAssertEqual(header[starts[i] - 1], " ", "\(v) \(c.title) touches the column before it")
                    XCTAssertEqual(row[starts[i] - 1], " ", "\(v) row: no gap before \(c.title)")
                    XCTAssertGreaterThanOrEqual(w[i], DisplayWidth.of(c.title), "\(v) \(c.title) is cut")
                }
            }
        }
    }

    func testAuditTargetStaysNarrowAndReasonTakesTheRest() {
        let backend = standardBackend()
        backend.events.append(event(7, .request, request: 110, actor: "bob", reason: String(repeating: "a long reason ", count: 8), minutesAgo: 1))
        let app = startedApp(backend, rows: 40, cols: 160)
        app.press(.char("5"))
        let p = Painter(buffer: ScreenBuffer(rows: 40, cols: 160), state: app.state, layout: app.state.layout)
        let cs = p.columns(.audit)
        let w = Column.widths(cs, total: 159)
        let target = cs.firstIndex { $0.title == "Target" }!, reason = cs.firstIndex { $0.title == "Reason" }!
        XCTAssertLessThanOrEqual(w[target], 20)
        XCTAssertGreaterThanOrEqual(w[reason], 60)
        XCTAssertEqual(w.reduce(0, +) + w.count - 1, 159, "the columns fill the width")
    }

    func testFormLabelsAreSizedFromTheLongestLabel() {
        let backend = standardBackend()
        backend.flowList[0].promptFields.append(PromptField(name: "justification", type: .string, label: "Business justification for auditors", required: true))
        for (rows, cols) in [(40, 120), (40, 100)] {
            let app = startedApp(backend, rows: rows, cols: cols)
            app.press(.char("1"), .enter)
            let text = app.screen.text
            XCTAssertTrue(text.contains("Business justification for auditors *"), "label cut at \(cols):\n\(text)")
            XCTAssertTrue(text.contains("Ticket number "))
        }
    }

    func testExpandedDetailsKeepTheListAndTheSelectionVisible() {
        let backend = standardBackend()
        backend.rows[.review] = (1...40).map { request(Int64($0), "bob", reason: "reason number \($0) " + String(repeating: "with more words ", count: 12)) }
        for (rows, cols) in [(24, 80), (40, 120)] {
            let app = startedApp(backend, rows: rows, cols: cols)
            for _ in 0..<9 { app.press(.char("j")) }
            let collapsed = app.state.listHeight(.review, layout: app.state.layout)
            app.press(.enter)
            let h = app.state.listHeight(.review, layout: app.state.layout)
            XCTAssertGreaterThanOrEqual(h, max(3, app.state.layout.bodyHeight / 3), "expanded details leave \(h) list rows at \(rows)")
            XCTAssertLessThanOrEqual(h, collapsed)
            let screen = app.screen.text
            XCTAssertTrue(screen.contains("▸  #31"), "the selected row is on screen:\n\(screen)")
            XCTAssertTrue(screen.contains("with more words reason") || screen.contains("with more"), "the reason is wrapped, not cut")
            let s = app.state
            XCTAssertTrue(s.shownDetailLines(.review, layout: s.layout).allSatisfy { DisplayWidth.of($0.0) <= cols - 2 })
            // Short content: the pane is no taller than collapsed.
            backend.rows[.review] = (1...40).map { request(Int64($0), "bob") }
            app.perform([.refresh])
            XCTAssertEqual(app.state.listHeight(.review, layout: app.state.layout), collapsed)
            backend.rows[.review] = (1...40).map { request(Int64($0), "bob", reason: "reason number \($0) " + String(repeating: "with more words ", count: 12)) }
        }
    }

    func testHelpNeverEndsAPageWithASectionHeading() {
        for rows in 24...60 {
            let room = max(1, Layout(rows: rows, cols: 80).bodyHeight - 2)
            let app = startedApp(standardBackend(), rows: rows, cols: 80)
            app.press(.char("?"))
            let lines = Keymap.helpLines()
            var seen = Set<Int>()
            for _ in 0..<30 {
                let page = Keymap.helpPage(first: app.state.helpScroll!, room: room, lines: lines)
                seen.formUnion(page)
                if page.upperBound < lines.count {
                    XCTAssertFalse(Keymap.isHelpHeading(lines[page.upperBound - 1]), "a heading ends the page at \(rows) rows")
                }
                app.press(.pageDown)
            }
            XCTAssertEqual(seen.count, lines.count, "every help line is reachable at \(rows) rows")
        }
    }

    func testBlackTextIsNeverBoldInColour() {
        for e in Theme.table where e.foreground == .black {
            XCTAssertFalse(e.colourAttributes.contains(.bold), "\(e.style): bold black turns grey on many terminals")
        }
        for s in [Style.tabActive, .selectedNew, .banner] {
            XCTAssertTrue(Theme.entry(s).monochromeAttributes.contains(.reverse), "\(s) must still stand out without colour")
        }
    }

    func testRequestDetailsShowApproversApprovalsDenialErrorStuckAndExtension() {
        var r = request(120, "alice", state: .deescalating)
        r.routing = Routing(approvers: Approvers(users: ["bob"], groups: ["sre"]))
        r.approvals = [Approval(user: "alice", at: fixedNow, reason: "break glass", isSelf: true), Approval(user: "bob", at: fixedNow, reason: nil, isSelf: false)]
        r.stuck = true
        r.error = "revoke script exited 3"
        r.extends = 90
        var d = request(121, "bob", state: .denied)
        d.routing = Routing(approvers: Approvers(), steps: [ApprovalStep(name: "peer", approvers: Approvers(users: ["carol"], groups: ["sre"])),
                                                             ApprovalStep(name: "manager", approvers: Approvers(groups: ["mgr"]), required: 2)])
        let backend = standardBackend()
        backend.rows[.mine] = [r, d]
        backend.rows[.grants] = [r]
        let app = startedApp(backend, rows: 40, cols: 120)
        app.press(.char("3"), .char("j"))  // #120 (newest first: #121 is above it)
        let s = app.state
        let text = s.detailLines(.mine).map(\.0).joined(separator: "\n")
        XCTAssertTrue(text.contains("approvers: bob, group:sre"), text)
        XCTAssertTrue(text.contains("approved by alice ⚠ self"), text)
        XCTAssertTrue(text.contains("approved by bob"), text)
        XCTAssertTrue(text.contains("⚠ STUCK"), text)
        XCTAssertTrue(text.contains("⚠ error: revoke script exited 3"), text)
        XCTAssertTrue(text.contains("extends #90"), text)
        XCTAssertTrue(app.screen.text.contains("deescalating ⚠stuck"), "the list's state cell shows stuck")
        XCTAssertTrue(app.screen.text.contains("⚠ STUCK"))
        app.press(.char("k"))
        let denied = app.state.detailLines(.mine).map(\.0).joined(separator: "\n")
        XCTAssertTrue(denied.contains("approvers: peer: 1 of carol, group:sre · manager: 2 of group:mgr"), denied)
        XCTAssertTrue(denied.contains("✗ denied by carol"), denied)
        app.press(.char("4"))
        XCTAssertTrue(app.screen.text.contains("deescalating ⚠stuck"), "Grants shows stuck in its state cell")
        // Hostile text in the routing stays inert.
        var h = r; h.routing = Routing(approvers: Approvers(users: ["\u{1b}[2Jx"], groups: ["\u{9b}y"]))
        XCTAssertFalse(ConsoleState.approversText(h.routing!).unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x9b })
    }

    private func text(_ app: ConsoleApp) -> (String, Int) {
        let f = app.state.form!.fields[app.state.form!.focus]
        guard case let .text(t) = f.input else { return ("", -1) }
        return (t, f.cursor)
    }

    func testTextFieldsEditAtTheCursor() {
        let app = startedApp(standardBackend())
        app.press(.char("1"), .enter)  // focus: Why? (text)
        app.type("helo")
        XCTAssertTrue(text(app) == ("helo", 4))
        app.press(.left); app.type("l")
        XCTAssertTrue(text(app) == ("hello", 4))
        app.press(.home); app.type(">")
        XCTAssertTrue(text(app) == (">hello", 1))
        app.press(.delete)
        XCTAssertTrue(text(app) == (">ello", 1))
        app.press(.backspace)
        XCTAssertTrue(text(app) == ("ello", 0))
        app.press(.backspace)
        XCTAssertTrue(text(app) == ("ello", 0), "backspace at the start deletes nothing")
        app.press(.end); app.press(.delete)
        XCTAssertTrue(text(app) == ("ello", 4), "delete at the end deletes nothing")
        app.press(.ctrl("a")); app.press(.right)
        XCTAssertTrue(text(app) == ("ello", 1))
        app.press(.ctrl("e")); app.type("!")
        XCTAssertTrue(text(app) == ("ello!", 5))
        for _ in 0..<9 { app.press(.left) }
        XCTAssertTrue(text(app) == ("ello!", 0), "the cursor stops at the start")
        // The cursor is shown: its cell has the cursor style and the terminal cursor goes there.
        let b = app.screen
        let c = try! XCTUnwrap(b.cursor)
        XCTAssertEqual(b[c.row, c.col].style, .cursor)
        XCTAssertEqual(b[c.row, c.col].character, "e")
        XCTAssertEqual(b[c.row, c.col - 1].character, "[")
        // ← → still cycle allowed values and bools.
        app.press(.tab)
        guard case let .choice(i, _) = app.state.form!.fields[1].input else { return XCTFail("duration is a choice") }
        app.press(.right)
        guard case let .choice(j, _) = app.state.form!.fields[1].input else { return XCTFail() }
        XCTAssertEqual(j, i + 1)
        XCTAssertNil(app.screen.cursor, "no text cursor on a choice")
    }

    func testALongTextKeepsTheCursorInView() {
        let long = String(repeating: "abcdefghij", count: 10)
        let (shown, at) = Painter.textWindow(long, cursor: 100, width: 20)
        XCTAssertLessThanOrEqual(DisplayWidth.of(shown), 20)
        XCTAssertTrue(shown.hasPrefix("…") && shown.hasSuffix("j"))
        XCTAssertEqual(at, DisplayWidth.of(shown), "the cursor sits just after the last character")
        let (mid, at2) = Painter.textWindow(long, cursor: 50, width: 20)
        XCTAssertLessThan(at2!, 20)
        XCTAssertTrue(mid.hasPrefix("…") && mid.hasSuffix("…"))
        let (start, at3) = Painter.textWindow(long, cursor: 0, width: 20)
        XCTAssertEqual(at3, 0)
        XCTAssertTrue(start.hasPrefix("abc") && start.hasSuffix("…"))
        XCTAssertEqual(Painter.textWindow("東京", cursor: 1, width: 20).1, 2, "the cursor moves by display width")
    }

    func testCtrlLettersArriveAsKeys() {
        XCTAssertEqual(Keymap.binding(for: .ctrl("a"), mode: .form, view: .request)?.action, .formHome)
        XCTAssertEqual(Keymap.binding(for: .ctrl("e"), mode: .form, view: .request)?.action, .formEnd)
        XCTAssertNil(Keymap.binding(for: .ctrl("a"), mode: .list, view: .review))
    }
}

/// `symtui status`'s line: short, and inert in tmux's status line.
final class StatusLineTests: XCTestCase {
    func grant(_ target: String, expiresIn seconds: TimeInterval, now: Date) -> AccessRequest {
        var r = AccessRequest(id: 1, flow: "db", target: target, targetLabel: target, requester: "rita", state: .active,
                              createdAt: now, requestExpiresAt: now)
        r.accessExpiresAt = now.addingTimeInterval(seconds)
        return r
    }

    func testTheLineNamesWhatWaitsAndEachGrantWithItsTimeLeft() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        XCTAssertEqual(StatusLine.line(waiting: 3, grants: [grant("prod-ssh", expiresIn: 42 * 60, now: now)], now: now, tmux: false),
                       "⚑ 3 waiting · prod-ssh 42m left")
        XCTAssertEqual(StatusLine.line(waiting: 0, grants: [], now: now, tmux: false), "")
    }

    func testATargetNameCannotInjectTmuxFormatsOrEscapes() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let line = StatusLine.line(waiting: 0, grants: [grant("#(reboot)#[fg=red]\u{1b}[2J", expiresIn: 60, now: now)], now: now, tmux: true)
        XCTAssertFalse(line.contains("\u{1b}"))
        XCTAssertFalse(line.replacingOccurrences(of: "##", with: "").contains("#"), line)
    }
}
