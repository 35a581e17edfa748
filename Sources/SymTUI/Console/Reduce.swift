import Foundation
import SymModel

/// Something the console asks its loop to do; handlers never draw or call the backend themselves.
public enum Effect: Equatable, Sendable {
    case send(ConsoleAction)
    /// Fetch the visible window of a list view.
    case load(ConsoleView)
    case loadFlows
    /// Fetch the Stats view's report of requests created since then.
    case loadStats(since: Date)
    /// Status, review queue head and the current view.
    case refresh
    case bell
    case quit
}

/// Everything that can happen to the console.
public enum ConsoleEvent: Sendable {
    case key(Key)
    case tick(Date)
    case resized(rows: Int, cols: Int)
    case flowsLoaded([FlowSummary])
    case flowsFailed(String)
    case pageLoaded(ConsoleView, ConsolePage)
    case pageFailed(ConsoleView, String)
    /// The health check's answer. (The review count comes with the review head and the Review pages.)
    case status(daemonHealthy: Bool)
    /// Audit delivery falling behind (nil when every destination is up to date).
    case reporting(String?)
    /// The first rows of the unfiltered review queue (newest first), to find new requests.
    case reviewHead(ConsolePage)
    case actionFinished(ConsoleAction, ActionResult)
    /// Another process committed a change to the store (or the daemon said so).
    case storeChanged
    /// Something other approvers must be told at once (a break-glass self-approval): a banner and the bell.
    case announcement(String)
    /// A mouse click at a screen cell (0-based row and column), mapped by `render`'s layout.
    case click(row: Int, col: Int)
    case wheel(WheelDirection)
    case statsLoaded(ActivityReport)
    case statsFailed(String)
}

/// The console's pure state transitions.
public enum Console {
    /// Seconds the console waits for the daemon's answer to a command before saying it did not come.
    public static let answerTimeout: TimeInterval = 10

    /// What the message line says when the daemon has not answered `action` within `answerTimeout`.
    public static func noAnswerMessage(_ action: ConsoleAction) -> String {
        action.progressText + ": the daemon did not answer within \(Int(answerTimeout)) s; the request may still be decided"
            + " — check the Mine/Review view (the answer is shown when it comes)"
    }

    /// Applies a key.
    public static func reduce(_ state: ConsoleState, _ key: Key) -> (ConsoleState, [Effect]) {
        reduce(state, .key(key))
    }

    /// Applies one event; returns the new state and what the loop must do.
    public static func reduce(_ state: ConsoleState, _ event: ConsoleEvent) -> (ConsoleState, [Effect]) {
        var s = state
        var fx: [Effect] = []
        switch event {
        case let .key(key):
            handleKey(&s, key, &fx)
        case let .tick(now):
            s.now = now
            for i in s.pending.indices where !s.pending[i].overdue && now.timeIntervalSince(s.pending[i].since) >= answerTimeout {
                s.pending[i].overdue = true
                s.message = ConsoleMessage(kind: .warning, text: noAnswerMessage(s.pending[i].action))
                s.daemonHealthy = false
            }
            statsTick(&s, &fx)
        case .storeChanged:
            fx.append(.refresh)
            statsChanged(&s, &fx)
        case let .click(row, col): click(&s, row: row, col: col, &fx)
        case let .wheel(direction): wheel(&s, direction, &fx)
        case let .statsLoaded(report): statsLoaded(&s, report)
        case let .statsFailed(message): s.stats.error = message
        case let .resized(rows, cols):
            s.rows = rows; s.cols = cols
            for v in ConsoleView.allCases where v.isPaged { ensureVisible(&s, v, &fx) }
            if s.view.isPaged, !fx.contains(.load(s.view)) { fx.append(.load(s.view)) }
        case let .flowsLoaded(flows):
            s.flows = flows; s.flowsError = nil
            s.requestList.page = nil
            s.requestList.selected = min(s.requestList.selected, max(0, s.choices.count - 1))
            ensureVisible(&s, .request, &fx)
        case let .flowsFailed(msg):
            s.flowsError = msg
        case let .pageLoaded(view, page):
            pageLoaded(&s, view, page, &fx)
        case let .pageFailed(view, msg):
            s.lists[view]?.error = msg
            if msg.contains("store unavailable") { s.storeUnavailable = true }
        case let .status(healthy):
            s.daemonHealthy = healthy
            // Recovers by itself: the store may be back although nothing announced a change.
            if healthy && s.storeUnavailable && s.view.isPaged && !fx.contains(.load(s.view)) { fx.append(.load(s.view)) }
        case let .reporting(note):
            s.reportingNote = note
        case let .announcement(text):
            s.message = ConsoleMessage(kind: .refused, text: text)
            return (s, [.bell])
        case let .reviewHead(page):
            // The head is the whole queue unfiltered: its total is the count, from the same read as the rows.
            s.reviewCount = page.total
            let ids = page.requests.map(\.id)
            if let seen = s.reviewSeenThrough {
                let fresh = ids.filter { $0 > seen }
                if !fresh.isEmpty {
                    s.newRequestIds.formUnion(fresh)
                    s.reviewSeenThrough = fresh.max()
                    fx.append(.bell)
                }
            } else {
                s.reviewSeenThrough = ids.max() ?? 0
            }
        case let .actionFinished(action, result):
            // The refresh below checks the daemon again, so the status line follows the answer at once.
            if let i = s.pending.firstIndex(where: { $0.action == action }) { s.pending.remove(at: i) }
            switch result {
            case let .ok(m): s.message = ConsoleMessage(kind: .ok, text: m)
            case let .refused(m): s.message = ConsoleMessage(kind: .refused, text: m)
            }
            if case .submit = action {
                s.form?.submitting = false
                if case .ok = result { s.form = nil }
            }
            fx.append(.refresh)
        }
        return (s, fx)
    }

    // MARK: keys

    private static func handleKey(_ s: inout ConsoleState, _ key: Key, _ fx: inout [Effect]) {
        if s.layout.isTooSmall, key == .char("q") || key == .escape, s.mode != .prompt {
            s.quitting = true; fx.append(.quit); return
        }
        guard let b = Keymap.binding(for: key, mode: s.mode, view: s.view, in: s.keymap) else { return }
        if s.mode != .prompt { s.message = nil }
        if s.readOnly, let refusal = readOnlyRefusal(b.action, view: s.view) { s.message = refusal; return }
        apply(&s, b.action, key, &fx)
    }

    static func apply(_ s: inout ConsoleState, _ action: KeyAction, _ key: Key, _ fx: inout [Effect]) {
        let v = s.view
        if let top = s.helpScroll {
            let room = max(1, s.layout.bodyHeight - 2)
            let lines = Keymap.helpLines(s.keymap)
            let step: Int
            switch action {
            case .moveUp: step = -1
            case .moveDown: step = 1
            case .pageUp: step = -room
            // The next page starts where this one stopped (a heading kept for the next page included).
            case .pageDown: step = Keymap.helpPage(first: top, room: room, lines: lines).count
            default: step = 0
            }
            if step != 0 {
                s.helpScroll = max(0, min(top + step, lines.count - room))
                return
            }
        }
        switch action {
        case .moveUp: move(&s, by: -1, &fx)
        case .moveDown: move(&s, by: 1, &fx)
        case .pageUp: move(&s, by: -pageSize(s, v), &fx)
        case .pageDown: move(&s, by: pageSize(s, v), &fx)
        case .first: move(&s, by: -Int.max / 2, &fx)
        case .last: move(&s, by: Int.max / 2, &fx)
        case .open:
            if v == .request { openForm(&s) } else { s.detailExpanded.toggle(); ensureVisible(&s, v, &fx); fx.append(.load(v)) }
        case .back:
            if s.detailExpanded { s.detailExpanded = false; fx.append(.load(v)) } else if v.isPaged, !(s.lists[v]?.filter.isEmpty ?? true) {
                s.lists[v]?.filter = ""; resetWindow(&s, v); fx.append(.load(v))
            }
        case .nextView: switchView(&s, ConsoleView(rawValue: v.rawValue % ConsoleView.allCases.count + 1)!, &fx)
        case .previousView: switchView(&s, ConsoleView(rawValue: (v.rawValue + ConsoleView.allCases.count - 2) % ConsoleView.allCases.count + 1)!, &fx)
        case let .showView(target): switchView(&s, target, &fx)
        case .startFilter: s.filterEditing = true; s.filterLine = s.list(v).filter; s.filterError = nil
        case .showHelp: s.helpScroll = 0
        case .quit: s.quitting = true; fx.append(.quit)
        case .approve:
            guard let r = pendingSelection(&s, verb: "approve") else { return }
            let mine = r.requester == s.identity.user
            s.prompt = PromptState(kind: .approve(id: r.id, selfApproval: mine), subject: subject(r))
        case .deny:
            guard let r = pendingSelection(&s, verb: "deny") else { return }
            s.prompt = PromptState(kind: .deny(id: r.id), subject: subject(r))
        case .revoke:
            guard let r = activeSelection(&s, verb: "revoke") else { return }
            s.prompt = PromptState(kind: .revoke(id: r.id), subject: subject(r))
        case .cancel:
            guard let r = pendingSelection(&s, verb: "cancel") else { return }
            s.prompt = PromptState(kind: .confirmCancel(id: r.id), subject: subject(r))
        case .release:
            guard let r = activeSelection(&s, verb: "release") else { return }
            s.prompt = PromptState(kind: .confirmRelease(id: r.id), subject: subject(r))
        case .extend:
            guard let r = activeSelection(&s, verb: "extend") else { return }
            s.prompt = PromptState(kind: .extendDuration(id: r.id), subject: subject(r))
        case .promptConfirm: confirmPrompt(&s, &fx)
        case .promptCancel: s.prompt = nil; s.message = ConsoleMessage(kind: .info, text: "cancelled: nothing was sent")
        case .promptBackspace:
            if s.prompt?.text.isEmpty == false { s.prompt?.text.removeLast() }
            s.prompt?.error = nil
        case .insert:
            guard case let .char(c) = key else { return }
            insert(&s, c, &fx)
        case .filterApply:
            s.filterEditing = false
            if let e = s.filterError { s.message = ConsoleMessage(kind: .refused, text: e + "; the filter stays " + quotedFilter(s, v)) }
            s.filterError = nil
        case .filterClear:
            s.filterEditing = false; s.filterLine = ""; s.filterError = nil
            if v.isPaged { s.lists[v]?.filter = ""; resetWindow(&s, v); fx.append(.load(v)) }
        case .filterBackspace:
            if v.isPaged, !s.filterLine.isEmpty { s.filterLine.removeLast(); takeFilterLine(&s, &fx) }
        case .closeHelp: s.helpScroll = nil
        case .openCommandLine, .cycleSort, .reverseSort, .requestAgain, .commandRun, .commandClose, .commandComplete,
             .commandBackspace, .commandHistory:
            applyCommandLine(&s, action, &fx)
        case .formNext: s.form.map { f in s.form?.focus = (f.focus + 1) % f.focusCount }
        case .formPrevious: s.form.map { f in s.form?.focus = (f.focus + f.focusCount - 1) % f.focusCount }
        case .formSpace:
            guard let ff = s.form?.focused else { return }
            switch ff.input {
            case .text: insert(&s, " ", &fx)
            case .multiple: toggleMultiple(&s)
            default: cycle(&s, 1)
            }
        case let .formArrow(d):
            guard let ff = s.form?.focused else { return }
            switch ff.input {
            case .text: moveCursor(&s) { $0 + d }
            case .multiple: moveMultiple(&s, d)
            default: cycle(&s, d)
            }
        case .formHome: moveCursor(&s) { _ in 0 }
        case .formEnd: moveCursor(&s) { _ in Int.max }
        case .formBackspace: editText(&s) { t, c in
            guard c > 0 else { return }
            t.remove(at: t.index(t.startIndex, offsetBy: c - 1)); c -= 1
        }
        case .formDelete: editText(&s) { t, c in
            guard c < t.count else { return }
            t.remove(at: t.index(t.startIndex, offsetBy: c))
        }
        case .formEnter:
            guard let f = s.form else { return }
            if f.onSubmit || f.onStart { submit(&s, &fx) } else { s.form?.focus += 1 }
        case .formBack: s.form = nil
        }
    }

    private static func subject(_ r: AccessRequest) -> String {
        let target = r.targetLabel ?? r.target
        return "#\(r.id) " + SafeText.display(r.requester) + " " + SafeText.display(r.flow)
            + (target.map { " → " + SafeText.display($0) } ?? "")
    }

    private static func pendingSelection(_ s: inout ConsoleState, verb: String) -> AccessRequest? {
        guard let r = s.selectedRequest(s.view) else {
            s.message = ConsoleMessage(kind: .refused, text: "nothing selected to \(verb)"); return nil
        }
        if let out = s.pendingAction(for: r.id) { stillOut(&s, out, r.id); return nil }
        guard r.state == .pending else {
            s.message = ConsoleMessage(kind: .refused, text: "cannot \(verb) #\(r.id): it is \(r.state.rawValue), not pending"); return nil
        }
        return r
    }

    private static func activeSelection(_ s: inout ConsoleState, verb: String) -> AccessRequest? {
        guard let r = s.selectedRequest(s.view) else {
            s.message = ConsoleMessage(kind: .refused, text: "nothing selected to \(verb)"); return nil
        }
        if let out = s.pendingAction(for: r.id) { stillOut(&s, out, r.id); return nil }
        guard r.state == .active else {
            s.message = ConsoleMessage(kind: .refused, text: "cannot \(verb) #\(r.id): it is \(r.state.rawValue), not active"); return nil
        }
        return r
    }

    /// A second command for a request whose first has not been answered would race it: say so instead.
    private static func stillOut(_ s: inout ConsoleState, _ out: PendingAction, _ id: Int64) {
        s.message = ConsoleMessage(kind: .info, text: "#\(id): \(out.action.verb) was sent and awaits the daemon's answer")
    }

    private static func confirmPrompt(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        guard let p = s.prompt else { return }
        let text = p.text.trimmingCharacters(in: .whitespaces)
        let reason: String? = text.isEmpty ? nil : text
        func send(_ a: ConsoleAction, _ what: String) {
            s.prompt = nil
            s.message = ConsoleMessage(kind: .info, text: what + "…")
            s.pending.append(PendingAction(action: a, since: s.now))
            fx.append(.send(a))
        }
        switch p.kind {
        case let .approve(id, selfApproval):
            if selfApproval, reason == nil { s.prompt?.error = "approving your own request needs a reason"; return }
            send(.approve(id: id, reason: reason), "approving #\(id)")
        case let .deny(id):
            guard let reason else { s.prompt?.error = "a reason is required to deny"; return }
            send(.deny(id: id, reason: reason), "denying #\(id)")
        case let .revoke(id):
            send(.revoke(id: id, reason: reason), "revoking #\(id)")
        case let .extendDuration(id):
            guard let span = TimeSpan(parsing: text) else { s.prompt?.error = "not a duration (e.g. 30m, 1h, 1h30m)"; return }
            s.prompt = PromptState(kind: .extendReason(id: id, duration: span), subject: p.subject)
        case let .extendReason(id, span):
            send(.extend(id: id, duration: span, reason: reason), "extending #\(id) by \(span)")
        case let .confirmCancel(id):
            send(.cancel(id: id), "cancelling #\(id)")
        case let .confirmRelease(id):
            send(.release(id: id), "releasing #\(id)")
        }
    }

    private static func insert(_ s: inout ConsoleState, _ c: Character, _ fx: inout [Effect]) {
        switch s.mode {
        case .prompt:
            guard let p = s.prompt, p.kind.takesText, p.text.count < 500 else { return }
            s.prompt?.text.append(c); s.prompt?.error = nil
        case .filter:
            guard s.view.isPaged, s.filterLine.count < 100 else { return }
            s.filterLine.append(c); takeFilterLine(&s, &fx)
        case .command:
            guard var line = s.commandLine, line.text.count < 500 else { return }
            line.text.append(c); line.error = nil; line.historyIndex = nil
            s.commandLine = line
        case .form:
            editText(&s) { t, cursor in
                guard t.count < 500 else { return }
                t.insert(c, at: t.index(t.startIndex, offsetBy: cursor)); cursor += 1
            }
        case .list, .help:
            return
        }
    }

    // MARK: lists

    private static func pageSize(_ s: ConsoleState, _ v: ConsoleView) -> Int {
        v == .request ? s.layout.listHeight() : s.listHeight(v, layout: s.layout)
    }

    private static func total(_ s: ConsoleState, _ v: ConsoleView) -> Int {
        v == .request ? s.choices.count : s.list(v).total
    }

    static func move(_ s: inout ConsoleState, by delta: Int, _ fx: inout [Effect]) {
        let v = s.view
        let n = total(s, v)
        guard n > 0 else { return }
        var l = s.list(v)
        l.selected = max(0, min(n - 1, l.selected + delta))
        if v == .request { s.requestList = l } else { s.lists[v] = l }
        ensureVisible(&s, v, &fx)
        if v.isPaged, let r = s.selectedRequest(v) {
            s.lists[v]?.selectedId = r.id
            if v == .review { s.newRequestIds.remove(r.id) }
        } else if v == .audit, let e = s.selectedEvent() {
            s.lists[v]?.selectedId = e.seq
        }
    }

    /// Scrolls so the selection is visible; asks for a load when the window leaves the loaded page.
    static func ensureVisible(_ s: inout ConsoleState, _ v: ConsoleView, _ fx: inout [Effect]) {
        var l = s.list(v)
        let h = pageSize(s, v)
        let n = total(s, v)
        if l.selected >= n { l.selected = max(0, n - 1) }
        if l.selected < l.top { l.top = l.selected }
        if l.selected >= l.top + h { l.top = l.selected - h + 1 }
        l.top = max(0, min(l.top, max(0, n - h)))
        if v == .request { s.requestList = l; return }
        s.lists[v] = l
        if let p = l.page, !p.covers(from: l.top, count: h), !fx.contains(.load(v)) { fx.append(.load(v)) }
    }

    static func resetWindow(_ s: inout ConsoleState, _ v: ConsoleView) {
        s.lists[v]?.selected = 0; s.lists[v]?.top = 0; s.lists[v]?.selectedId = nil
    }

    static func switchView(_ s: inout ConsoleState, _ v: ConsoleView, _ fx: inout [Effect]) {
        s.view = v
        s.detailExpanded = false
        if v.isPaged { fx.append(.load(v)) }
        if v == .stats { statsShown(&s, &fx) }
    }

    private static func pageLoaded(_ s: inout ConsoleState, _ v: ConsoleView, _ page: ConsolePage, _ fx: inout [Effect]) {
        guard v.isPaged, var l = s.lists[v] else { return }
        l.page = page
        s.storeUnavailable = false
        // An unfiltered Review page counts the queue: the status line never disagrees with the rows drawn.
        if v == .review && l.filter.isEmpty { s.reviewCount = page.total }
        l.error = nil
        if let id = l.selectedId {
            let ids: [Int64] = v == .audit ? page.events.map(\.seq) : page.requests.map(\.id)
            if let i = ids.firstIndex(of: id) { l.selected = page.offset + i }
        }
        s.lists[v] = l
        var more: [Effect] = []
        ensureVisible(&s, v, &more)
        // Ask again only when the window moved: a short page for the window we asked for must not loop.
        if s.lists[v]?.top != page.offset { fx += more }
        let id = v == .audit ? s.selectedEvent()?.seq : s.selectedRequest(v)?.id
        s.lists[v]?.selectedId = id
    }

    // MARK: the request form

    static func openForm(_ s: inout ConsoleState) {
        let choices = s.choices
        guard s.requestList.selected < choices.count else { return }
        let (flow, target) = choices[s.requestList.selected]
        let fields = flow.promptFields.filter(\.visible).map { f -> FormField in
            if let allowed = f.allowedValues, !allowed.isEmpty, f.type.isList {
                return FormField(field: f, input: .multiple([], cursor: 0, allowed: allowed))
            }
            if let allowed = f.allowedValues, !allowed.isEmpty {
                // An optional field without a default starts at "none" (-1): it may be sent without a value.
                let i = f.defaultValue.flatMap { allowed.firstIndex(of: $0) } ?? (f.required ? 0 : -1)
                return FormField(field: f, input: .choice(i, allowed: allowed))
            }
            if f.type == .bool {
                if case let .bool(b)? = f.defaultValue { return FormField(field: f, input: .toggle(b)) }
                return FormField(field: f, input: .toggle(false))
            }
            let text = f.defaultValue?.description ?? ""
            return FormField(field: f, input: .text(text), cursor: text.count)
        }
        s.form = FormState(flow: flow.name, target: target?.name, fields: fields)
        if FormState.takesStart(flow) { s.form?.start = FormState.startInput() }
    }

    /// Edits the focused text input at its cursor; `edit` gets the text and the cursor (clamped to the text).
    private static func editText(_ s: inout ConsoleState, _ edit: (inout String, inout Int) -> Void) {
        guard let ff = s.form?.focused, case var .text(t) = ff.input else { return }
        var cursor = max(0, min(ff.cursor, t.count))
        let before = t
        edit(&t, &cursor)
        s.form?.focused?.cursor = cursor
        guard t != before else { return }
        s.form?.focused?.input = .text(t)
        s.form?.focused?.error = nil
    }

    private static func moveCursor(_ s: inout ConsoleState, _ to: (Int) -> Int) {
        editText(&s) { t, cursor in
            let target = to(cursor)
            cursor = target < 0 ? 0 : min(target, t.count)
        }
    }

    private static func cycle(_ s: inout ConsoleState, _ d: Int) {
        guard let ff = s.form?.focused else { return }
        switch ff.input {
        case let .toggle(b): s.form?.focused?.input = .toggle(!b)
        case let .choice(i, allowed):
            // An optional field cycles through "none" (-1) too.
            let none = ff.field.required ? 0 : 1, n = allowed.count + none
            s.form?.focused?.input = .choice(((i + none + d) % n + n) % n - none, allowed: allowed)
        case .text, .multiple: return
        }
        s.form?.focused?.error = nil
    }

    private static func submit(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        guard var f = s.form, !f.submitting else { return }
        let maxDuration = s.flow(named: f.flow)?.maxDuration
        // Too large to send: refused before anything parses it, as the daemon does.
        let sizes = checkSizes(&f, limits: s.flow(named: f.flow)?.limits ?? Limits())
        if sizes.count > 0 {
            s.form = f
            s.message = ConsoleMessage(kind: .refused, text: sizes.whole ?? (sizes.count == 1 ? "1 field is too large" : "\(sizes.count) fields are too large"))
            return
        }
        var values: [String: FieldValue] = [:]
        var bad = 0
        for i in f.fields.indices {
            switch validate(f.fields[i], maxDuration: maxDuration) {
            case let .success(v?): values[f.fields[i].field.name] = v; f.fields[i].error = nil
            case .success(nil): f.fields[i].error = nil
            case let .failure(problems):
                f.fields[i].error = problems.map(\.message).joined(separator: "; ")
                if bad == 0 { f.focus = i }
                bad += 1
            }
        }
        var start: String?
        if let input = f.start {
            switch validateStart(input, now: s.now) {
            case let .success(text): start = text; f.start?.error = nil
            case let .failure(problem):
                f.start?.error = problem.message
                if bad == 0 { f.focus = f.startFocus }
                bad += 1
            }
        }
        if bad > 0 {
            s.form = f
            s.message = ConsoleMessage(kind: .refused, text: bad == 1 ? "1 field needs attention" : "\(bad) fields need attention")
            return
        }
        f.submitting = true
        s.form = f
        s.message = ConsoleMessage(kind: .info, text: "submitting…")
        let action = ConsoleAction.submit(flow: f.flow, target: f.target, fields: values, start: start)
        s.pending.append(PendingAction(action: action, since: s.now))
        fx.append(.send(action))
    }

    /// The typed value of a form field (nil when it is empty and optional), parsed and checked by the model's
    /// `FieldValues.resolve`, as the CLI's `--field` is: the same values are refused with the same messages.
    /// Whether a user exists is left to the daemon (it answers with the same message); reduce does no I/O.
    public static func validate(_ ff: FormField, maxDuration: TimeSpan?) -> Result<FieldValue?, [FieldProblem]> {
        FieldValues.resolve(input(of: ff), as: ff.field, maxDuration: maxDuration, userExists: { _ in true })
    }

    /// A form field's value as the input the daemon gets for it.
    static func input(of ff: FormField) -> FieldInput {
        switch ff.input {
        case let .text(t): return .text(t)
        case let .toggle(b): return .text(b ? "true" : "false")
        case let .choice(i, allowed): return .text(i < 0 ? "" : allowed[i].description)
        case let .multiple(picked, _, allowed): return multipleInput(picked, allowed)
        }
    }
}
