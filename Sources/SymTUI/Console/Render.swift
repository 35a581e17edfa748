import Foundation
import SymModel

/// Draws the whole console for `state` into a buffer of `size`; pure, no terminal needed.
public func render(state: ConsoleState, size: (rows: Int, cols: Int)) -> ScreenBuffer {
    var b = ScreenBuffer(rows: size.rows, cols: size.cols)
    let layout = Layout(rows: size.rows, cols: size.cols)
    if layout.isTooSmall {
        let msg = "terminal too small (need \(Layout.minimumCols)×\(Layout.minimumRows), have \(size.cols)×\(size.rows))"
        let hint = "enlarge the window, or press q to quit"
        let r = max(0, size.rows / 2 - 1)
        b.put(msg, row: r, col: max(0, (size.cols - DisplayWidth.of(msg)) / 2), style: .refusal)
        b.put(hint, row: r + 1, col: max(0, (size.cols - DisplayWidth.of(hint)) / 2))
        return b
    }
    var p = Painter(buffer: b, state: state, layout: layout)
    p.drawTabs()
    if state.helpScroll != nil {
        p.drawHelp()
    } else {
        switch state.view {
        case .request: if state.form != nil { p.drawForm() } else { p.drawRequestList() }
        case .review, .mine, .grants, .audit: p.drawList(state.view)
        case .stats: p.drawStats()
        }
    }
    p.drawMessage()
    p.drawPromptLine()
    p.drawStatus()
    b = p.buffer
    return b
}

/// Makes user-supplied text inert before it reaches a cell.
@inline(__always) func safe(_ s: String?) -> String { SafeText.display(s ?? "") }

/// A list column: a title, a minimum width, an optional maximum and a share of the spare width.
struct Column {
    var title: String
    var width: Int
    var grow: Int = 0
    /// The widest it may grow; nil lets it take whatever is left.
    var max: Int? = nil

    /// Widths for `columns` filling `total` columns (one space between columns). A column is never narrower
    /// than its title; spare width is shared by `grow` up to each `max`; the last growing column without a
    /// maximum takes the rest.
    static func widths(_ columns: [Column], total: Int) -> [Int] {
        var out = columns.map { Swift.max($0.width, DisplayWidth.of($0.title)) }
        let gaps = Swift.max(0, columns.count - 1)
        let spare = total - (out.reduce(0, +) + gaps)
        guard spare > 0 else { return out }
        let shares = columns.reduce(0) { $0 + $1.grow }
        guard shares > 0 else { return out }
        for (i, c) in columns.enumerated() where c.grow > 0 {
            var add = spare * c.grow / shares
            if let m = c.max { add = Swift.min(add, Swift.max(0, m - out[i])) }
            out[i] += add
        }
        let rest = total - (out.reduce(0, +) + gaps)
        if rest > 0, let last = columns.lastIndex(where: { $0.grow > 0 && $0.max == nil }) ?? columns.lastIndex(where: { $0.grow > 0 }) {
            out[last] += rest
        }
        return out
    }

    /// Where each column starts, for widths `w`: the one layout both the header and the rows use.
    static func starts(_ w: [Int]) -> [Int] {
        var x = 0
        return w.map { width in defer { x += width + 1 }; return x }
    }
}

/// Draw functions over one buffer; every user-supplied string goes through `safe`.
struct Painter {
    var buffer: ScreenBuffer
    let state: ConsoleState
    let layout: Layout

    var cols: Int { layout.cols }

    // MARK: bars

    mutating func drawTabs() {
        buffer.fill(row: 0, style: .tabInactive)
        buffer.put(state.readOnly ? TabBar.readOnlyTitle : TabBar.title, row: 0, col: 0, style: state.readOnly ? .banner : .title)
        var end = 0
        for tab in TabBar.tabs(state) {   // the layout a mouse click is matched against
            buffer.put(tab.label, row: 0, col: tab.col, style: tab.view == state.view ? .tabActive : .tabInactive)
            end = tab.col + tab.width
        }
        if end <= cols - 8 { buffer.put("? help", row: 0, col: cols - 7, style: .dim) }
    }

    mutating func drawStatus() {
        let id = state.identity
        let groups = id.groups.isEmpty ? "" : " (" + id.groups.map(safe).joined(separator: ",") + ")"
        let waiting: String
        switch state.reviewCount {
        case nil: waiting = "queue unknown"
        case 0?: waiting = "nothing waits for you"
        case 1?: waiting = "1 request waits for you"
        case let n?: waiting = "\(n) requests wait for you"
        }
        var daemon = !state.daemonHealthy ? "⚠ daemon not answering" : state.storeUnavailable ? "⚠ store unavailable" : "daemon ok"
        if !state.pending.isEmpty {
            let waiting = state.pending.contains(where: \.overdue) ? "no answer yet" : "sending…"
            daemon += " │ " + (state.pending.count == 1 ? waiting : "\(state.pending.count) commands " + waiting)
        }
        if let note = state.reportingNote { daemon += " │ " + safe(note) }
        var text = " " + safe(id.user) + groups + " │ " + waiting + " │ " + daemon + " │ store " + safe(id.storePath)
        if DisplayWidth.of(text) > cols {
            // Compact form: the store path matters more than the wording.
            let short = state.reviewCount.map { "\($0) waiting" } ?? "queue ?"
            text = " " + safe(id.user) + groups + " │ " + short + " │ " + daemon + " │ " + safe(id.storePath)
        }
        let style: Style = state.daemonHealthy && !state.storeUnavailable && state.reportingNote == nil ? .status : .statusWarn
        buffer.fill(row: layout.statusRow, style: style)
        buffer.put(text, row: layout.statusRow, col: 0, style: style)
    }

    mutating func drawMessage() {
        let row = layout.messageRow
        if let err = state.prompt?.error ?? state.commandLine?.error ?? (state.filterEditing ? state.filterError : nil) {
            buffer.put("✗ " + safe(err), row: row, col: 1, style: .refusal); return
        }
        guard let m = state.message else { return }
        switch m.kind {
        case .info: buffer.put(safe(m.text), row: row, col: 1)
        case .ok: buffer.put("✓ " + safe(m.text), row: row, col: 1, style: .message)
        case .refused: buffer.put("✗ refused: " + safe(m.text), row: row, col: 1, style: .refusal)
        case .warning: buffer.put("⚠ " + safe(m.text), row: row, col: 1, style: .refusal)
        }
    }

    mutating func drawPromptLine() {
        let row = layout.promptRow
        if let p = state.prompt {
            let q: String
            switch p.kind {
            case let .approve(_, selfApproval): q = "Approve \(p.subject) — reason (\(selfApproval ? "required: your own request" : "optional")): "
            case .deny: q = "Deny \(p.subject) — reason (required): "
            case .revoke: q = "Revoke \(p.subject) — reason (optional): "
            case .extendDuration: q = "Extend \(p.subject) by (e.g. 1h): "
            case let .extendReason(_, d): q = "Extend \(p.subject) by \(d) — reason (optional): "
            case .confirmCancel: q = "Cancel \(p.subject)? Enter cancels it, Esc keeps it"
            case .confirmRelease: q = "Release \(p.subject) now? Enter releases, Esc keeps it"
            }
            buffer.fill(row: row, style: .prompt)
            let text = p.kind.takesText ? q + safe(p.text) + "_" : q
            // Keep the end of a long answer (where the cursor is) in view.
            let w = DisplayWidth.of(text)
            let shown = w <= cols ? text : "…" + String(text.suffix(cols - 1))
            buffer.put(shown, row: row, col: 0, style: .prompt)
            return
        }
        if drawCommandLine(row: row) { return }
        if state.filterEditing {
            buffer.put("/" + safe(state.filterLine) + "_", row: row, col: 0, style: .prompt)
            buffer.put("Enter keep  Esc clear", row: row, col: cols - 22, style: .dim)
            return
        }
        buffer.put(Keymap.hints(mode: state.mode, view: state.view, in: state.keymap), row: row, col: 1, style: .dim)
    }

    // MARK: help

    mutating func drawHelp() {
        let top = layout.bodyTop
        let h = layout.bodyHeight
        buffer.put("Keys — generated from the keymap", row: top, col: 1, style: .header)
        let lines = Keymap.helpLines(state.keymap)
        let first = state.helpScroll ?? 0
        let page = Keymap.helpPage(first: first, room: h - 2, lines: lines)
        for (i, n) in page.enumerated() {
            let line = lines[n]
            buffer.put(line, row: top + 1 + i, col: 1, style: Keymap.isHelpHeading(line) ? .helpKey : .normal)
        }
        let more = page.upperBound < lines.count ? "↓ more (j, PgDn)" : "end"
        buffer.put("\(more) — lines \(page.lowerBound + 1)–\(page.upperBound) of \(lines.count)", row: top + h - 1, col: 1, style: .dim)
    }

    // MARK: the Request view

    mutating func drawRequestList() {
        let top = layout.bodyTop
        let h = layout.listHeight()
        let choices = state.choices
        let cs = [Column(title: "", width: 1), Column(title: "Flow", width: 22, grow: 2), Column(title: "Target", width: 22, grow: 2),
                  Column(title: "Approvers", width: 20, grow: 3)]
        let w = Column.widths(cs, total: cols - 1)
        header(cs, w, row: top)
        if let e = state.flowsError {
            buffer.put("✗ could not read flows: " + safe(e), row: top + 1, col: 1, style: .refusal)
        } else if choices.isEmpty {
            buffer.put("No flows you may request.", row: top + 1, col: 1, style: .dim)
        }
        let l = state.requestList
        for i in 0..<h where l.top + i < choices.count {
            let (f, t) = choices[l.top + i]
            let sel = l.top + i == l.selected
            let flow = safe(f.label) + (f.allowSelfApproval ? " ⚠self" : "")
            let target = t.map { safe($0.label) } ?? "(approval only)"
            cellsRow([sel ? "▸" : " ", flow, target, f.approvers.map(safe).joined(separator: ", ")], w, row: top + 1 + i, style: sel ? .selected : .normal)
        }
        let dTop = top + 1 + h
        separator(row: dTop, title: "Flow")
        var r = dTop + 1
        guard l.selected < choices.count else { return }
        let (f, t) = choices[l.selected]
        if f.allowSelfApproval {
            bannerLine(row: r, "⚠ This flow allows self-approval: approving your own request needs a reason and is announced to the other approvers")
            r += 1
        }
        buffer.put(safe(f.label) + " (" + safe(f.name) + ")" + (t.map { " → " + safe($0.label) + " (" + safe($0.name) + ")" } ?? " — approval only, nothing is granted"), row: r, col: 1, style: .title); r += 1
        let need = f.requiredApprovals == 1 ? "1 approval" : "\(f.requiredApprovals) approvals"
        buffer.put("Approvers: " + (f.approvers.isEmpty ? "decided by a rule" : f.approvers.map(safe).joined(separator: ", ")) + " · " + need + " needed", row: r, col: 1); r += 1
        let fields = f.promptFields.filter(\.visible).map { pf -> String in
            var d = safe(pf.name) + " (" + pf.type.rawValue + (pf.required ? ", required" : "")
            if let a = pf.allowedValues { d += ", " + a.map { safe($0.description) }.joined(separator: "|") }
            if let v = pf.defaultValue { d += ", default " + safe(v.description) }
            return d + ")"
        }
        buffer.put("Fields: " + (fields.isEmpty ? "none" : fields.joined(separator: ", ")), row: r, col: 1); r += 1
        if let m = f.maxDuration { buffer.put("Longest grant: \(m)", row: r, col: 1); r += 1 }
        buffer.put("Enter opens the request form.", row: r, col: 1, style: .dim)
    }

    mutating func drawForm() {
        guard let form = state.form else { return }
        let top = layout.bodyTop
        let flow = state.flow(named: form.flow)
        var r = top
        let targetLabel = flow?.targets.first { $0.name == form.target }?.label ?? form.target
        buffer.put("Request: " + safe(flow?.label ?? form.flow) + (targetLabel.map { " → " + safe($0) } ?? " (approval only)"), row: r, col: 1, style: .title); r += 1
        if let head = flow?.headerText, !head.isEmpty { buffer.put(safe(head), row: r, col: 1); r += 1 }
        if flow?.allowSelfApproval == true {
            bannerLine(row: r, "⚠ This flow allows self-approval: your own approval needs a reason and is announced"); r += 1
        }
        let approvers = flow?.approvers.map(safe).joined(separator: ", ") ?? ""
        buffer.put("Approvers: " + (approvers.isEmpty ? "decided by a rule" : approvers) + "   (* required)", row: r, col: 1, style: .dim); r += 1
        r += 1
        // The label column fits the longest label (up to two fifths of the width); the input takes what is
        // left after room for a field error, up to 60 columns.
        let longest = form.fields.map { DisplayWidth.of(safe($0.field.label)) + ($0.field.required ? 2 : 0) }.max() ?? 0
        let labelW = max(8, min(longest, cols * 2 / 5))
        let inputW = max(10, min(60, cols - (2 + labelW + 1) - 2 - 30))
        let room = layout.bodyTop + layout.bodyHeight - r - 2
        let first = max(0, min(form.focus, form.fields.count - 1) - room + 1)
        for (n, i) in (first..<form.fields.count).enumerated() where n < room {
            let ff = form.fields[i]
            let focused = i == form.focus
            let row = r + n
            buffer.put(focused ? "▸" : " ", row: row, col: 0, style: focused ? .fieldFocus : .normal)
            buffer.put(safe(ff.field.label) + (ff.field.required ? " *" : ""), row: row, col: 2, width: labelW, style: .fieldLabel)
            let input: String
            var cursorAt: Int?
            switch ff.input {
            case let .text(t):
                let (shown, at) = Painter.textWindow(t, cursor: focused ? ff.cursor : nil, width: inputW)
                input = "[" + DisplayWidth.pad(shown, to: inputW) + "]"
                cursorAt = at.map { 2 + labelW + 1 + 1 + $0 }
            case let .toggle(v): input = v ? "[x] yes" : "[ ] no"
            case let .multiple(picked, cursor, allowed):
                var line = "", at = 0
                for (n, v) in allowed.enumerated() {
                    if n == cursor { at = DisplayWidth.of(line) }
                    line += (n > 0 ? "  " : "") + (picked.contains(n) ? "[x] " : "[ ] ") + safe(v.description)
                }
                input = line
                if focused { cursorAt = 2 + labelW + 1 + at + (cursor > 0 ? 2 : 0) + 1 }
            case let .choice(k, allowed) where k < 0: input = "‹ — ›  (none; one of " + allowed.map { safe($0.description) }.joined(separator: " ") + ")"
            case let .choice(k, allowed): input = "‹ " + safe(allowed[k].description) + " ›  (\(k + 1) of \(allowed.count): " + allowed.map { safe($0.description) }.joined(separator: " ") + ")"
            }
            let used = buffer.put(input, row: row, col: 2 + labelW + 1, width: ff.error == nil ? nil : inputW + 2, style: focused ? .fieldFocus : .normal)
            if let e = ff.error { buffer.put("✗ " + e, row: row, col: 2 + labelW + 2 + used, style: .fieldError) }
            if let x = cursorAt {
                buffer.restyle(row: row, col: x, width: max(1, Int(buffer[row, min(x, cols - 1)].width)), style: .cursor)
                buffer.cursor = CursorPosition(row: row, col: x)
            }
        }
        let buttonRow = r + min(room, form.fields.count - first) + 1
        let onSubmit = form.onSubmit
        buffer.put(onSubmit ? "▸" : " ", row: buttonRow, col: 0, style: onSubmit ? .buttonFocus : .normal)
        let button = buffer.put(form.submitting ? "[ Submitting… ]" : "[ Submit ]", row: buttonRow, col: 2 + labelW + 1, style: onSubmit ? .buttonFocus : .button)
        if let start = form.start {
            drawStart(start, focused: form.onStart, row: buttonRow, col: 2 + labelW + 1 + button + 2, errorCol: 2 + labelW + 1)
        }
    }

    /// The Start input beside Submit: "starting [now]" (empty means now); its error on the line below.
    mutating func drawStart(_ ff: FormField, focused: Bool, row: Int, col: Int, errorCol: Int) {
        if focused { buffer.put("▸", row: row, col: 0, style: .fieldFocus) }
        let label = buffer.put("starting ", row: row, col: col, style: .fieldLabel)
        guard case let .text(t) = ff.input else { return }
        let inputW = max(10, min(24, cols - col - label - 2 - 20))
        let x = col + label
        let (shown, at) = t.isEmpty ? ("now", focused ? 0 : nil) : Painter.textWindow(t, cursor: focused ? ff.cursor : nil, width: inputW)
        let used = buffer.put("[" + DisplayWidth.pad(shown, to: inputW) + "]", row: row, col: x, style: focused ? .fieldFocus : .normal)
        if t.isEmpty { buffer.restyle(row: row, col: x + 1, width: 3, style: .dim) }
        if let e = ff.error {
            buffer.put("✗ " + e, row: row + 1, col: errorCol, style: .fieldError)
        } else if focused {
            buffer.put("now, in 1h, +30m, 2026-12-01T09:00:00Z", row: row, col: x + used + 1, style: .dim)
        }
        if let a = at {
            buffer.restyle(row: row, col: x + 1 + a, width: max(1, Int(buffer[row, min(x + 1 + a, cols - 1)].width)), style: .cursor)
            buffer.cursor = CursorPosition(row: row, col: x + 1 + a)
        }
    }

    /// The part of a text input shown in `width` columns, and the cursor's column in it: the cursor stays in
    /// view, "…" marks text cut off on either side. `cursor` nil: from the start, no cursor.
    static func textWindow(_ raw: String, cursor: Int?, width: Int) -> (String, Int?) {
        let parts = raw.map { safe(String($0)) }  // one shown piece per character the cursor counts
        let whole = parts.joined()
        guard let cursor else { return (DisplayWidth.truncate(whole, to: width), nil) }
        let c = max(0, min(cursor, parts.count))
        func w(_ r: Range<Int>) -> Int { parts[r].reduce(0) { $0 + DisplayWidth.of($1) } }
        // Everything fits, with a column for a cursor after the text.
        if w(0..<parts.count) + 1 <= width { return (whole, w(0..<c)) }
        // Cut on the right only: the cursor and the character under it stay clear of the "…".
        if w(0..<c) + 2 <= width - 1 { return (DisplayWidth.truncate(whole, to: width), w(0..<c)) }
        var start = c
        while start > 0, 1 + w((start - 1)..<c) + 2 <= width - 1 { start -= 1 }
        return (DisplayWidth.truncate("…" + parts[start...].joined(), to: width), 1 + w(start..<c))
    }

    // MARK: paged lists

    mutating func drawList(_ v: ConsoleView) {
        let top = layout.bodyTop
        let h = state.listHeight(v, layout: layout)
        var l = state.list(v)
        // The selection stays on screen even when the pane's height changed since the last key.
        if l.selected >= l.top + h { l.top = l.selected - h + 1 }
        if l.selected < l.top { l.top = l.selected }
        let cs = sortMarked(columns(v), v)
        let w = Column.widths(cs, total: cols - 1)
        header(cs, w, row: top)
        let marks = l.highlightRegex
        if !l.filter.isEmpty || state.filterEditing {
            let f = " filter: " + safe(l.filter) + " (\(l.total) match) "
            buffer.put(f, row: top, col: max(0, cols - DisplayWidth.of(f) - 1), style: .prompt)
        }
        if let e = l.error { buffer.put("✗ could not load: " + safe(e), row: top + 1, col: 1, style: .refusal) }
        guard let page = l.page else {
            if l.error == nil { buffer.put("loading…", row: top + 1, col: 1, style: .dim) }
            return
        }
        if page.total == 0 {
            let empty: [ConsoleView: String] = [.review: "No requests wait for you.", .mine: "You have no requests.",
                                                .grants: "No active grants.", .audit: "No events."]
            buffer.put(l.filter.isEmpty ? empty[v] ?? "" : "Nothing matches the filter.", row: top + 1, col: 1, style: .dim)
        }
        let requests = page.requests, events = page.events
        for i in 0..<h where l.top + i < page.total {
            let idx = l.top + i
            let row = top + 1 + i
            let k = idx - page.offset
            let sel = idx == l.selected
            guard k >= 0, k < page.count else { buffer.put("  …", row: row, col: 0, style: .dim); continue }
            if v == .audit {
                let cells = [sel ? "▸" : " "] + auditCells(events[k])
                cellsRow(cells, w, row: row, style: sel ? .selected : .normal)
                highlight(cells, w, row: row, regex: marks, selected: sel)
            } else {
                let r = requests[k]
                let new = v == .review && state.newRequestIds.contains(r.id)
                let style: Style = sel ? (new ? .selectedNew : .selected) : (new ? .newRow : .normal)
                let cells = [(sel ? "▸" : " ") + (new ? "●" : " ")] + requestCells(v, r)
                cellsRow(cells, w, row: row, style: style)
                highlight(cells, w, row: row, regex: marks, selected: sel)
            }
        }
        let dTop = top + 1 + h
        let more = page.total > h ? "rows \(l.top + 1)–\(min(page.total, l.top + h)) of \(page.total)" : "\(page.total) rows"
        separator(row: dTop, title: "Details", right: more)
        let dRows = layout.bodyTop + layout.bodyHeight - dTop - 1
        let lines = state.shownDetailLines(v, layout: layout)
        for (i, line) in lines.prefix(dRows).enumerated() {
            if line.1 == .banner { bannerLine(row: dTop + 1 + i, line.0) } else { buffer.put(line.0, row: dTop + 1 + i, col: 1, style: line.1) }
        }
    }

    func columns(_ v: ConsoleView) -> [Column] {
        switch v {
        case .review:
            return [Column(title: "", width: 2), Column(title: "ID", width: 5), Column(title: "Requester", width: 9, grow: 1, max: 16),
                    Column(title: "Flow", width: 11, grow: 2, max: 24), Column(title: "Target", width: 12, grow: 2, max: 28),
                    Column(title: "Dur", width: 5), Column(title: "Age", width: 6), Column(title: "Expires", width: 7),
                    Column(title: "Reason", width: 8, grow: 4)]
        case .mine:
            return [Column(title: "", width: 2), Column(title: "ID", width: 5), Column(title: "Flow", width: 11, grow: 2, max: 24),
                    Column(title: "Target", width: 12, grow: 2, max: 28), Column(title: "State", width: 13, grow: 1, max: 20),
                    Column(title: "Time", width: 14), Column(title: "Reason", width: 8, grow: 4)]
        case .grants:
            return [Column(title: "", width: 2), Column(title: "ID", width: 5), Column(title: "User", width: 9, grow: 1, max: 16),
                    Column(title: "Flow", width: 11, grow: 2, max: 24), Column(title: "Target", width: 12, grow: 2, max: 28),
                    Column(title: "State", width: 6, grow: 1, max: 20), Column(title: "Since", width: 6), Column(title: "Left", width: 7),
                    Column(title: "Reason", width: 8, grow: 4)]
        case .audit:
            return [Column(title: "", width: 1), Column(title: "Seq", width: 5), Column(title: "Time (UTC)", width: 14),
                    Column(title: "Type", width: 10, grow: 1, max: 17), Column(title: "Req", width: 5),
                    Column(title: "Actor", width: 8, grow: 1, max: 16), Column(title: "Requester", width: 9, grow: 1, max: 16),
                    Column(title: "Target", width: 8, grow: 1, max: 20), Column(title: "Reason", width: 6, grow: 6)]
        case .request, .stats:
            return []
        }
    }

    func until(_ d: Date?) -> String { state.until(d) }
    func ago(_ d: Date?) -> String { state.ago(d) }
    static func reason(_ r: AccessRequest) -> String { ConsoleState.reason(r) }
    func target(_ r: AccessRequest) -> String { ConsoleState.targetText(r) }
    func duration(_ r: AccessRequest) -> String { ConsoleState.durationText(r) }
    func stateText(_ r: AccessRequest) -> String { ConsoleState.stateText(r) }
    func timeText(_ r: AccessRequest) -> String { state.timeText(r) }

    func requestCells(_ v: ConsoleView, _ r: AccessRequest) -> [String] {
        var cells = plainRequestCells(v, r)
        // The reason gives way to the command out for this row until its answer comes (8 columns at 80×24).
        if let out = state.pendingAction(for: r.id), !cells.isEmpty {
            cells[cells.count - 1] = out.overdue ? "no reply" : "sending…"
        }
        return cells
    }

    func plainRequestCells(_ v: ConsoleView, _ r: AccessRequest) -> [String] {
        switch v {
        case .review:
            return ["#\(r.id)", safe(r.requester), safe(r.flow), target(r), duration(r), ago(r.createdAt), until(r.requestExpiresAt), Painter.reason(r)]
        case .mine:
            return ["#\(r.id)", safe(r.flow), target(r), stateText(r), timeText(r), Painter.reason(r)]
        default:
            let left = r.accessExpiresAt == nil ? "∞" : until(r.accessExpiresAt)
            return ["#\(r.id)", safe(r.requester), safe(r.flow), target(r), stateText(r), ago(r.accessStartsAt ?? r.decidedAt), left, Painter.reason(r)]
        }
    }

    func auditCells(_ e: AuditEvent) -> [String] {
        let t = Timestamp.format(e.time)
        let time = String(t.dropFirst(5).prefix(14)).replacingOccurrences(of: "T", with: " ")
        return ["\(e.seq)", time, e.type.rawValue, e.requestId.map { "#\($0)" } ?? "—", safe(e.actor), safe(e.requester), safe(e.target), safe(e.reason)]
    }

    // MARK: pieces

    mutating func header(_ cs: [Column], _ w: [Int], row: Int) {
        cellsRow(cs.map(\.title), w, row: row, style: .header)
    }

    /// One row of cells on the shared column layout (`Column.starts`), each cut to its width.
    mutating func cellsRow(_ values: [String], _ w: [Int], row: Int, style: Style) {
        buffer.fill(row: row, style: style)
        for (value, (x, width)) in zip(values, zip(Column.starts(w), w)) {
            buffer.put(value, row: row, col: x, width: width, style: style)
        }
    }

    mutating func separator(row: Int, title: String, right: String = "") {
        buffer.put(String(repeating: "─", count: cols), row: row, col: 0, style: .dim)
        buffer.put(" " + title + " ", row: row, col: 2, style: .dim)
        if !right.isEmpty { buffer.put(" " + right + " ", row: row, col: cols - DisplayWidth.of(right) - 4, style: .dim) }
    }

    mutating func bannerLine(row: Int, _ text: String) {
        buffer.fill(row: row, style: .banner)
        buffer.put(" " + text, row: row, col: 0, style: .banner)
    }
}
