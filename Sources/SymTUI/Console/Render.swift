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

/// A list column: a title, a minimum width and a share of the spare width.
struct Column {
    var title: String
    var width: Int
    var grow: Int = 0

    /// Widths for `columns` filling `total` columns (one space between columns).
    static func widths(_ columns: [Column], total: Int) -> [Int] {
        let used = columns.reduce(0) { $0 + $1.width } + columns.count - 1
        let spare = max(0, total - used)
        let shares = columns.reduce(0) { $0 + $1.grow }
        var out = columns.map { c in c.width + (shares > 0 ? spare * c.grow / shares : 0) }
        if shares > 0, let last = columns.lastIndex(where: { $0.grow > 0 }) {
            out[last] += total - (out.reduce(0, +) + columns.count - 1)
        }
        return out
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
        var x = buffer.put(" SymTUI ", row: 0, col: 0, style: .title) + 1
        for v in ConsoleView.allCases {
            var label = "\(v.rawValue) \(v.title)"
            if v == .review, let n = state.reviewCount, n > 0 { label += " (\(n))" }
            let active = v == state.view
            x += buffer.put(active ? "[\(label)]" : " \(label) ", row: 0, col: x, style: active ? .tabActive : .tabInactive) + 1
        }
        buffer.put("? help", row: 0, col: cols - 7, style: .dim)
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
        let daemon = state.daemonHealthy ? "daemon ok" : "⚠ daemon not answering"
        var text = " " + safe(id.user) + groups + " │ " + waiting + " │ " + daemon + " │ store " + safe(id.storePath)
        if DisplayWidth.of(text) > cols {
            // Compact form: the store path matters more than the wording.
            let short = state.reviewCount.map { "\($0) waiting" } ?? "queue ?"
            text = " " + safe(id.user) + groups + " │ " + short + " │ " + daemon + " │ " + safe(id.storePath)
        }
        let style: Style = state.daemonHealthy ? .status : .statusWarn
        buffer.fill(row: layout.statusRow, style: style)
        buffer.put(text, row: layout.statusRow, col: 0, style: style)
    }

    mutating func drawMessage() {
        let row = layout.messageRow
        if let err = state.prompt?.error {
            buffer.put("✗ " + err, row: row, col: 1, style: .refusal); return
        }
        guard let m = state.message else { return }
        switch m.kind {
        case .info: buffer.put(safe(m.text), row: row, col: 1)
        case .ok: buffer.put("✓ " + safe(m.text), row: row, col: 1, style: .message)
        case .refused: buffer.put("✗ refused: " + safe(m.text), row: row, col: 1, style: .refusal)
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
        if state.filterEditing {
            buffer.put("/" + safe(state.list(state.view).filter) + "_", row: row, col: 0, style: .prompt)
            buffer.put("Enter keep  Esc clear", row: row, col: cols - 22, style: .dim)
            return
        }
        buffer.put(Keymap.hints(mode: state.mode, view: state.view), row: row, col: 1, style: .dim)
    }

    // MARK: help

    mutating func drawHelp() {
        let top = layout.bodyTop
        let h = layout.bodyHeight
        buffer.put("Keys — generated from the keymap", row: top, col: 1, style: .header)
        let lines = Keymap.helpLines()
        let first = state.helpScroll ?? 0
        let room = h - 2
        for i in 0..<room where first + i < lines.count {
            let line = lines[first + i]
            buffer.put(line, row: top + 1 + i, col: 1, style: line.hasPrefix(" ") ? .normal : .helpKey)
        }
        let more = first + room < lines.count ? "↓ more (j, PgDn)" : "end"
        buffer.put("\(more) — lines \(first + 1)–\(min(lines.count, first + room)) of \(lines.count)", row: top + h - 1, col: 1, style: .dim)
    }

    // MARK: the Request view

    mutating func drawRequestList() {
        let top = layout.bodyTop
        let h = layout.listHeight(expanded: false)
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
        let labelW = 22, inputW = min(40, cols - labelW - 30)
        let room = layout.bodyTop + layout.bodyHeight - r - 2
        let first = max(0, min(form.focus, form.fields.count - 1) - room + 1)
        for (n, i) in (first..<form.fields.count).enumerated() where n < room {
            let ff = form.fields[i]
            let focused = i == form.focus
            let row = r + n
            buffer.put(focused ? "▸" : " ", row: row, col: 0, style: focused ? .fieldFocus : .normal)
            buffer.put(safe(ff.field.label) + (ff.field.required ? " *" : ""), row: row, col: 2, width: labelW, style: .fieldLabel)
            let input: String
            switch ff.input {
            case let .text(t):
                let shown = safe(t) + (focused ? "_" : "")
                let w = DisplayWidth.of(shown)
                input = "[" + DisplayWidth.pad(w <= inputW ? shown : "…" + String(shown.suffix(inputW - 1)), to: inputW) + "]"
            case let .toggle(v): input = v ? "[x] yes" : "[ ] no"
            case let .choice(k, allowed): input = "‹ " + safe(allowed[k].description) + " ›  (\(k + 1) of \(allowed.count): " + allowed.map { safe($0.description) }.joined(separator: " ") + ")"
            }
            let used = buffer.put(input, row: row, col: 2 + labelW + 1, width: ff.error == nil ? nil : inputW + 2, style: focused ? .fieldFocus : .normal)
            if let e = ff.error { buffer.put("✗ " + e, row: row, col: 2 + labelW + 2 + used, style: .fieldError) }
        }
        let buttonRow = r + min(room, form.fields.count - first) + 1
        let onSubmit = form.onSubmit
        buffer.put(onSubmit ? "▸" : " ", row: buttonRow, col: 0, style: onSubmit ? .buttonFocus : .normal)
        buffer.put(form.submitting ? "[ Submitting… ]" : "[ Submit ]", row: buttonRow, col: 2 + labelW + 1, style: onSubmit ? .buttonFocus : .button)
    }

    // MARK: paged lists

    mutating func drawList(_ v: ConsoleView) {
        let top = layout.bodyTop
        let h = layout.listHeight(expanded: state.detailExpanded)
        let l = state.list(v)
        let cs = columns(v)
        let w = Column.widths(cs, total: cols - 1)
        header(cs, w, row: top)
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
                cellsRow([sel ? "▸" : " "] + auditCells(events[k]), w, row: row, style: sel ? .selected : .normal)
            } else {
                let r = requests[k]
                let new = v == .review && state.newRequestIds.contains(r.id)
                let style: Style = sel ? (new ? .selectedNew : .selected) : (new ? .newRow : .normal)
                cellsRow([(sel ? "▸" : " ") + (new ? "●" : " ")] + requestCells(v, r), w, row: row, style: style)
            }
        }
        let dTop = top + 1 + h
        let more = page.total > h ? "rows \(l.top + 1)–\(min(page.total, l.top + h)) of \(page.total)" : "\(page.total) rows"
        separator(row: dTop, title: "Details", right: more)
        let dRows = layout.bodyTop + layout.bodyHeight - dTop - 1
        var lines: [(String, Style)] = []
        if v == .audit { if let e = state.selectedEvent() { lines = eventDetail(e) } } else if let r = state.selectedRequest(v) { lines = requestDetail(r, v) }
        for (i, line) in lines.prefix(dRows).enumerated() {
            if line.1 == .banner { bannerLine(row: dTop + 1 + i, line.0) } else { buffer.put(line.0, row: dTop + 1 + i, col: 1, style: line.1) }
        }
    }

    func columns(_ v: ConsoleView) -> [Column] {
        switch v {
        case .review:
            return [Column(title: "", width: 2), Column(title: "ID", width: 5), Column(title: "Requester", width: 9, grow: 1),
                    Column(title: "Flow", width: 11, grow: 2), Column(title: "Target", width: 12, grow: 2), Column(title: "Dur", width: 5),
                    Column(title: "Age", width: 6), Column(title: "Expires", width: 7), Column(title: "Reason", width: 8, grow: 4)]
        case .mine:
            return [Column(title: "", width: 2), Column(title: "ID", width: 5), Column(title: "Flow", width: 11, grow: 2),
                    Column(title: "Target", width: 12, grow: 2), Column(title: "State", width: 13), Column(title: "Time", width: 14),
                    Column(title: "Reason", width: 8, grow: 4)]
        case .grants:
            return [Column(title: "", width: 2), Column(title: "ID", width: 5), Column(title: "User", width: 9, grow: 1),
                    Column(title: "Flow", width: 11, grow: 2), Column(title: "Target", width: 12, grow: 2), Column(title: "Since", width: 6),
                    Column(title: "Left", width: 7), Column(title: "Reason", width: 8, grow: 4)]
        case .audit:
            return [Column(title: "", width: 1), Column(title: "Seq", width: 5), Column(title: "Time (UTC)", width: 14),
                    Column(title: "Type", width: 10), Column(title: "Req", width: 5), Column(title: "Actor", width: 9, grow: 1),
                    Column(title: "Requester", width: 9, grow: 1), Column(title: "Target", width: 8, grow: 2), Column(title: "Reason", width: 6, grow: 3)]
        case .request:
            return []
        }
    }

    func until(_ d: Date?) -> String {
        guard let d else { return "—" }
        return TimeSpan.countdown(Int(d.timeIntervalSince(state.now).rounded(.up)))
    }

    func ago(_ d: Date?) -> String {
        guard let d else { return "—" }
        return TimeSpan.countdown(Int(state.now.timeIntervalSince(d)))
    }

    static func reason(_ r: AccessRequest) -> String { safe(r.fields["reason"]?.description) }

    func target(_ r: AccessRequest) -> String { r.target == nil ? "(approval)" : safe(r.targetLabel ?? r.target) }

    func duration(_ r: AccessRequest) -> String { r.durationSeconds.map { TimeSpan(seconds: $0).description } ?? "—" }

    func stateText(_ r: AccessRequest) -> String {
        var t = r.state.rawValue
        if let e = r.endReason { t += ":" + e.rawValue }
        if r.stuck { t += " ⚠stuck" }
        return t
    }

    func timeText(_ r: AccessRequest) -> String {
        switch r.state {
        case .pending: return "expires " + until(r.requestExpiresAt)
        case .active: return r.accessExpiresAt == nil ? "until revoked" : until(r.accessExpiresAt) + " left"
        case .approved, .escalating: return "decided " + ago(r.decidedAt)
        case .deescalating: return "ending"
        default: return ago(r.endedAt ?? r.decidedAt ?? r.createdAt) + " ago"
        }
    }

    func requestCells(_ v: ConsoleView, _ r: AccessRequest) -> [String] {
        switch v {
        case .review:
            return ["#\(r.id)", safe(r.requester), safe(r.flow), target(r), duration(r), ago(r.createdAt), until(r.requestExpiresAt), Painter.reason(r)]
        case .mine:
            return ["#\(r.id)", safe(r.flow), target(r), stateText(r), timeText(r), Painter.reason(r)]
        default:
            let left = r.accessExpiresAt == nil ? "∞" : until(r.accessExpiresAt)
            return ["#\(r.id)", safe(r.requester), safe(r.flow), target(r), ago(r.accessStartsAt ?? r.decidedAt), left, Painter.reason(r)]
        }
    }

    func auditCells(_ e: AuditEvent) -> [String] {
        let t = Timestamp.format(e.time)
        let time = String(t.dropFirst(5).prefix(14)).replacingOccurrences(of: "T", with: " ")
        return ["\(e.seq)", time, e.type.rawValue, e.requestId.map { "#\($0)" } ?? "—", safe(e.actor), safe(e.requester), safe(e.target), safe(e.reason)]
    }

    func requestDetail(_ r: AccessRequest, _ v: ConsoleView) -> [(String, Style)] {
        var out: [(String, Style)] = []
        let mine = r.requester == state.identity.user
        if v == .review, mine, r.state == .pending {
            let allowed = state.flow(named: r.flow)?.allowSelfApproval ?? false
            out.append((allowed ? "⚠ Your own request: this flow allows self-approval, with a reason, announced to the other approvers"
                                : "⚠ Your own request: this flow does not allow self-approval", .banner))
        }
        out.append(("#\(r.id) " + safe(r.flow) + " → " + target(r) + (r.target.map { " (" + safe($0) + ")" } ?? "")
                    + " · requester " + safe(r.requester) + " · " + stateText(r), .title))
        var times = "duration " + duration(r) + " · created " + ago(r.createdAt) + " ago"
        switch r.state {
        case .pending: times += " · request expires in " + until(r.requestExpiresAt)
        case .active: times += r.accessExpiresAt.map { _ in " · access ends in " + until(r.accessExpiresAt) } ?? ""
        default: break
        }
        times += " · approvals \(r.approvals.count)/\(r.requiredApprovals)"
        out.append((times, .normal))
        let fields = r.fields.keys.sorted().map { safe($0) + "=" + safe(r.fields[$0]!.description) }
        if !fields.isEmpty { out.append(("fields: " + fields.joined(separator: ", "), .normal)) }
        for a in r.approvals {
            out.append(("✓ approved by " + safe(a.user) + (a.isSelf ? " (self)" : "") + " " + ago(a.at) + " ago" + (a.reason.map { ": " + safe($0) } ?? ""), .normal))
        }
        if let d = r.denial { out.append(("✗ denied by " + safe(d.user) + " " + ago(d.at) + " ago: " + safe(d.reason), .normal)) }
        if let e = r.error { out.append(("⚠ error: " + safe(e), .refusal)) }
        if let x = r.extends { out.append(("extends grant #\(x)", .normal)) }
        return out
    }

    func eventDetail(_ e: AuditEvent) -> [(String, Style)] {
        var out: [(String, Style)] = [
            ("event \(e.seq) · " + e.type.rawValue + " · " + Timestamp.format(e.time) + " · actor " + safe(e.actor), .title),
            ("request " + (e.requestId.map { "#\($0)" } ?? "—") + " · flow " + safe(e.flow) + " · target " + safe(e.target)
             + " · requester " + safe(e.requester), .normal),
        ]
        if let r = e.reason { out.append(("reason: " + safe(r), .normal)) }
        out.append(("data: " + safe(e.data.compact), .normal))
        out.append(("hash " + safe(e.hash) + " · prev " + safe(String(e.prevHash.prefix(16))) + "…", .dim))
        return out
    }

    // MARK: pieces

    mutating func header(_ cs: [Column], _ w: [Int], row: Int) {
        buffer.fill(row: row, style: .header)
        var x = 1
        for (c, width) in zip(cs, w) { buffer.put(c.title, row: row, col: x, width: width, style: .header); x += width + 1 }
    }

    mutating func cellsRow(_ values: [String], _ w: [Int], row: Int, style: Style) {
        buffer.fill(row: row, style: style)
        var x = 0
        for (i, (value, width)) in zip(values, w).enumerated() {
            buffer.put(value, row: row, col: x + (i == 0 ? 0 : 1), width: width, style: style)
            x += width + (i == 0 ? 0 : 1)
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
