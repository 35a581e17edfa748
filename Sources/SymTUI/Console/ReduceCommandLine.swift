import Foundation
import SymModel

// The reducer's part for the `:` command line, sorting (`s`/`S`), the regex filter, `R` (request again) and the
// read-only wallboard. Pure, like the rest of `Console.reduce`.

extension ListState {
    /// What the daemon is asked for: plain text goes to its search, a regular expression (or `!…`) and the sort
    /// to the list shape it applies before paging.
    public var query: (search: String, shape: ListShape) {
        var shape = ListShape(sort: sort, descending: descending)
        if filter.hasPrefix("!") {
            let pattern = String(filter.dropFirst())
            if !pattern.isEmpty { shape.regex = ConsoleFilter.isPlain(pattern) ? NSRegularExpression.escapedPattern(for: pattern) : pattern; shape.invert = true }
            return ("", shape)
        }
        if ConsoleFilter.isPlain(filter) { return (filter, shape) }
        shape.regex = filter
        return ("", shape)
    }

    /// The expression whose matches are highlighted in the rows (none for an inverted filter: nothing shown matches).
    public var highlightRegex: NSRegularExpression? {
        guard !filter.isEmpty, !filter.hasPrefix("!") else { return nil }
        let pattern = ConsoleFilter.isPlain(filter) ? NSRegularExpression.escapedPattern(for: filter) : filter
        return try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
    }
}

/// How the `/` line's text is read.
public enum ConsoleFilter {
    static let metacharacters = Set("\\^$.|?*+()[]{}")

    /// Text without regex metacharacters: the daemon's plain search answers it, over the whole list.
    public static func isPlain(_ text: String) -> Bool { !text.contains { metacharacters.contains($0) } }

    /// Why `text` cannot be a filter, or nil when it can.
    public static func problem(_ text: String) -> String? {
        let pattern = text.hasPrefix("!") ? String(text.dropFirst()) : text
        guard !isPlain(pattern) else { return nil }
        if case let .failure(e) = ListShape.compile(pattern) { return e.message }
        return nil
    }
}

extension ConsoleView {
    /// The columns `s` cycles through, in order, with the header title each one marks.
    public var sortColumns: [(column: ListShape.Column, title: String)] {
        switch self {
        case .review: return [(.id, "ID"), (.requester, "Requester"), (.flow, "Flow"), (.target, "Target"), (.age, "Age"), (.expires, "Expires")]
        case .mine: return [(.id, "ID"), (.flow, "Flow"), (.target, "Target"), (.state, "State"), (.expires, "Time")]
        case .grants: return [(.id, "ID"), (.requester, "User"), (.flow, "Flow"), (.target, "Target"), (.state, "State"), (.expires, "Left")]
        default: return []   // Request, Audit: not sorted by column
        }
    }
}

extension Console {
    static let readOnlyText = "read-only console"

    /// The refusal of a key that would change something on a read-only console, or nil when the key may run.
    static func readOnlyRefusal(_ action: KeyAction, view: ConsoleView) -> ConsoleMessage? {
        switch action {
        case .approve, .deny, .revoke, .cancel, .release, .extend, .requestAgain, .formEnter, .formSpace:
            return ConsoleMessage(kind: .refused, text: readOnlyText)
        case .open where view == .request:
            return ConsoleMessage(kind: .refused, text: readOnlyText)
        default:
            return nil
        }
    }

    static func applyCommandLine(_ s: inout ConsoleState, _ action: KeyAction, _ fx: inout [Effect]) {
        switch action {
        case .openCommandLine: s.commandLine = CommandLineState()
        case .commandClose: s.commandLine = nil
        case .commandBackspace:
            guard var line = s.commandLine, !line.text.isEmpty else { return }
            line.text.removeLast(); line.error = nil; line.hint = nil; line.historyIndex = nil
            s.commandLine = line
        case let .commandHistory(step): history(&s, step)
        case .commandComplete: complete(&s)
        case .commandRun: run(&s, &fx)
        case .cycleSort: cycleSort(&s, &fx)
        case .reverseSort: reverseSort(&s, &fx)
        case .requestAgain: requestAgain(&s, &fx)
        default: return
        }
    }

    // MARK: the command line

    private static func history(_ s: inout ConsoleState, _ step: Int) {
        guard var line = s.commandLine, !s.commandHistory.isEmpty else { return }
        let n = s.commandHistory.count
        let at = line.historyIndex ?? n
        let next = max(0, min(n, at + step))
        if line.historyIndex == nil { line.draft = line.text }
        line.historyIndex = next == n ? nil : next
        line.text = next == n ? line.draft : s.commandHistory[next]
        line.error = nil; line.hint = nil
        s.commandLine = line
    }

    private static func complete(_ s: inout ConsoleState) {
        guard var line = s.commandLine else { return }
        let v = s.view
        let ids = s.list(v).page?.requests.map { String($0.id) } ?? []
        let (text, candidates) = CommandCompletion.complete(line.text, views: ConsoleView.allCases.map { $0.title.lowercased() },
                                                            columns: v.sortColumns.map(\.column.rawValue), ids: ids)
        line.text = text
        line.error = nil
        switch candidates {
        case nil: line.hint = nil
        case let c? where c.isEmpty: line.hint = nil; line.error = "nothing to complete"
        case let c?: line.hint = c.prefix(12).joined(separator: "  ") + (c.count > 12 ? "  …" : "")
        }
        s.commandLine = line
    }

    private static func remember(_ s: inout ConsoleState, _ text: String) {
        if s.commandHistory.last != text { s.commandHistory.append(text) }
        if s.commandHistory.count > CommandLineState.historyLimit { s.commandHistory.removeFirst(s.commandHistory.count - CommandLineState.historyLimit) }
    }

    private static func run(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        guard let line = s.commandLine else { return }
        let text = line.text.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty { remember(&s, text) }
        func fail(_ message: String) {
            var l = line
            l.error = message; l.hint = nil; l.historyIndex = nil
            s.commandLine = l
        }
        let command: ConsoleCommand
        switch ConsoleCommand.parse(text) {
        case let .failure(e): fail(e.message); return
        case let .success(c): command = c
        }
        if s.readOnly, command.changes { fail(readOnlyText); return }
        switch command {
        case let .approve(id, reason):
            if let r = loadedRequest(s, id) {
                if let out = s.pendingAction(for: id) { fail("#\(id): \(out.action.verb) was sent and awaits the daemon's answer"); return }
                guard r.state == .pending else { fail("cannot approve #\(id): it is \(r.state.rawValue), not pending"); return }
                if r.requester == s.identity.user, reason == nil { fail("approving your own request needs a reason: :approve \(id) REASON"); return }
            }
            s.commandLine = nil
            send(&s, .approve(id: id, reason: reason), &fx)
        case let .deny(id, reason):
            if let r = loadedRequest(s, id) {
                if let out = s.pendingAction(for: id) { fail("#\(id): \(out.action.verb) was sent and awaits the daemon's answer"); return }
                guard r.state == .pending else { fail("cannot deny #\(id): it is \(r.state.rawValue), not pending"); return }
            }
            s.commandLine = nil
            send(&s, .deny(id: id, reason: reason), &fx)
        case let .revoke(id, reason):
            if let r = loadedRequest(s, id) {
                if let out = s.pendingAction(for: id) { fail("#\(id): \(out.action.verb) was sent and awaits the daemon's answer"); return }
                guard r.state == .active else { fail("cannot revoke #\(id): it is \(r.state.rawValue), not active"); return }
            }
            s.commandLine = nil
            send(&s, .revoke(id: id, reason: reason), &fx)
        case let .filter(text):
            guard s.view.isPaged else { fail("the Request view has no filter: :view review, mine, grants or audit first"); return }
            if let problem = ConsoleFilter.problem(text) { fail(problem + "; the filter stays " + quotedFilter(s, s.view)); return }
            s.commandLine = nil
            s.lists[s.view]?.filter = text
            resetWindow(&s, s.view); fx.append(.load(s.view))
        case let .sort(column, descending):
            let columns = s.view.sortColumns.map(\.column)
            guard columns.contains(column) else {
                fail(columns.isEmpty ? "the \(s.view.title) view is not sorted by column" :
                        "the \(s.view.title) view sorts by \(columns.map(\.rawValue).joined(separator: ", ")), not \(column.rawValue)")
                return
            }
            s.commandLine = nil
            setSort(&s, column, descending: descending, &fx)
        case let .view(v):
            s.commandLine = nil
            switchView(&s, v, &fx)
        case .help:
            s.commandLine = nil
            s.helpScroll = 0
        case .quit:
            s.commandLine = nil
            s.quitting = true; fx.append(.quit)
        }
    }

    /// The request `id` as loaded in any list, to check what the keys check before sending.
    private static func loadedRequest(_ s: ConsoleState, _ id: Int64) -> AccessRequest? {
        for v in [ConsoleView.review, .mine, .grants] {
            if let r = s.list(v).page?.requests.first(where: { $0.id == id }) { return r }
        }
        return nil
    }

    /// Sends a change exactly as the keys' prompts do: the row says "sending…" until the answer comes.
    static func send(_ s: inout ConsoleState, _ action: ConsoleAction, _ fx: inout [Effect]) {
        guard !s.readOnly else { s.message = ConsoleMessage(kind: .refused, text: readOnlyText); return }
        s.message = ConsoleMessage(kind: .info, text: action.progressText + "…")
        s.pending.append(PendingAction(action: action, since: s.now))
        fx.append(.send(action))
    }

    static func quotedFilter(_ s: ConsoleState, _ v: ConsoleView) -> String {
        let f = s.list(v).filter
        return f.isEmpty ? "empty" : "\"" + SafeText.display(f) + "\""
    }

    /// Takes the `/` line as the filter when it is valid; an invalid expression is shown and the old filter kept.
    static func takeFilterLine(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        let v = s.view
        guard v.isPaged else { return }
        if let problem = ConsoleFilter.problem(s.filterLine) { s.filterError = problem; return }
        s.filterError = nil
        guard s.lists[v]?.filter != s.filterLine else { return }
        s.lists[v]?.filter = s.filterLine
        resetWindow(&s, v); fx.append(.load(v))
    }

    // MARK: sorting

    private static func setSort(_ s: inout ConsoleState, _ column: ListShape.Column?, descending: Bool, _ fx: inout [Effect]) {
        let v = s.view
        s.lists[v]?.sort = column
        s.lists[v]?.descending = descending
        resetWindow(&s, v)
        fx.append(.load(v))
    }

    /// `s`: the next column of the view (after the last, back to newest first).
    private static func cycleSort(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        let columns = s.view.sortColumns.map(\.column)
        guard !columns.isEmpty else { return }
        let next: ListShape.Column?
        if let c = s.list(s.view).sort, let i = columns.firstIndex(of: c) { next = i + 1 < columns.count ? columns[i + 1] : nil } else { next = columns[0] }
        setSort(&s, next, descending: false, &fx)
        s.message = ConsoleMessage(kind: .info, text: next.map { "sorted by \($0.rawValue)" } ?? "newest first")
    }

    /// `S`: the same column the other way round (newest first becomes oldest first).
    private static func reverseSort(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        let v = s.view
        guard v.isPaged else { return }
        let l = s.list(v)
        setSort(&s, l.sort, descending: !l.descending, &fx)
    }

    // MARK: request again

    /// `R` in Mine: the Request form of the selected request's flow and target, its values filled in.
    private static func requestAgain(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        guard let r = s.selectedRequest(.mine) else { s.message = ConsoleMessage(kind: .refused, text: "nothing selected to request again"); return }
        guard s.flow(named: r.flow) != nil else {
            s.message = ConsoleMessage(kind: .refused, text: "#\(r.id): flow \(SafeText.display(r.flow)) is no longer in the config (or no longer yours to request)")
            return
        }
        guard let index = s.choices.firstIndex(where: { $0.flow.name == r.flow && $0.target?.name == r.target }) else {
            s.message = ConsoleMessage(kind: .refused, text: "#\(r.id): target \(SafeText.display(r.target ?? "")) of flow \(SafeText.display(r.flow)) is no longer in the config")
            return
        }
        switchView(&s, .request, &fx)
        s.requestList.selected = index
        ensureVisible(&s, .request, &fx)
        openForm(&s)
        guard var form = s.form else { return }
        for i in form.fields.indices {
            let name = form.fields[i].field.name
            var value = r.fields[name]
            if value == nil, name == "duration", let secs = r.durationSeconds { value = .duration(TimeSpan(seconds: secs)) }
            guard let value else { continue }
            switch form.fields[i].input {
            case .text:
                let text = value.description
                form.fields[i].input = .text(text); form.fields[i].cursor = text.count
            case .toggle:
                if case let .bool(b) = value { form.fields[i].input = .toggle(b) }
            case let .choice(_, allowed):
                if let k = allowed.firstIndex(of: value) { form.fields[i].input = .choice(k, allowed: allowed) }
            case let .multiple(_, cursor, allowed):
                let parts = Set(value.description.split(separator: ",").map(String.init))
                form.fields[i].input = .multiple(Set(allowed.indices.filter { parts.contains(allowed[$0].description) }), cursor: cursor, allowed: allowed)
            }
        }
        s.form = form
        s.message = ConsoleMessage(kind: .info, text: "request #\(r.id) again: check the values, then Submit")
    }
}
