/// A key as the console sees it, independent of curses.
public enum Key: Hashable, Sendable {
    case char(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, tab, backTab, backspace, delete
    /// Control plus a letter (Ctrl-A is `.ctrl("a")`), for the ones that are not Tab, Enter or Backspace.
    case ctrl(Character)
}

/// Which keys are live: decided by what has the focus (see `ConsoleState.mode`).
public enum KeyMode: String, CaseIterable, Sendable {
    case list = "Lists"
    case form = "Request form"
    case prompt = "Prompt line"
    case filter = "Filter"
    case command = "Command line"
    case help = "Help"
}

/// What a key asks the console to do; `reduce` gives each its meaning.
public enum KeyAction: Equatable, Sendable {
    case moveUp, moveDown, pageUp, pageDown, first, last, open, back
    case nextView, previousView, showView(ConsoleView), startFilter, showHelp, quit
    case approve, deny, revoke, cancel, release, extend
    case formNext, formPrevious, formSpace, formEnter, formBack
    /// ← (-1) / → (+1): moves the cursor in a text field, cycles allowed values and bools.
    case formArrow(Int)
    case formHome, formEnd, formBackspace, formDelete
    case promptConfirm, promptCancel, promptBackspace
    case filterApply, filterClear, filterBackspace
    case closeHelp
    case openCommandLine, cycleSort, reverseSort, requestAgain
    case commandRun, commandClose, commandComplete, commandBackspace
    /// Up (-1) / Down (+1) through the command history.
    case commandHistory(Int)
    /// Printable text typed into the focused input.
    case insert
}

/// Which keys a binding answers to.
public enum KeyPattern: Sendable {
    case keys([Key])
    /// Any printable character (typing).
    case printable

    func matches(_ key: Key) -> Bool {
        switch self {
        case let .keys(ks): return ks.contains(key)
        case .printable:
            guard case let .char(c) = key else { return false }
            return !c.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
        }
    }
}

/// One row of the keymap: it drives both dispatch and the help screen (tig-style).
public struct KeyBinding: Sendable {
    public var pattern: KeyPattern
    /// How the keys are written in help and hints.
    public var label: String
    public var mode: KeyMode
    /// nil: every view.
    public var views: Set<ConsoleView>?
    public var action: KeyAction
    public var help: String
    /// A word or two for the hint line of its mode/view; nil keeps it out of the hint line.
    public var hint: String?

    public init(_ pattern: KeyPattern, _ label: String, _ mode: KeyMode, _ views: Set<ConsoleView>? = nil,
                _ action: KeyAction, _ help: String, hint: String? = nil) {
        self.pattern = pattern; self.label = label; self.mode = mode; self.views = views
        self.action = action; self.help = help; self.hint = hint
    }
}

/// The console's keys (contract §9b), as data.
public enum Keymap {
    private static func ch(_ s: String) -> [Key] { s.map { Key.char($0) } }

    public static let bindings: [KeyBinding] = [
        // Lists (every view outside the form).
        KeyBinding(.keys([.up, .char("k")]), "↑ k", .list, nil, .moveUp, "move up"),
        KeyBinding(.keys([.down, .char("j")]), "↓ j", .list, nil, .moveDown, "move down"),
        KeyBinding(.keys([.pageUp]), "PgUp", .list, nil, .pageUp, "page up"),
        KeyBinding(.keys([.pageDown]), "PgDn", .list, nil, .pageDown, "page down"),
        KeyBinding(.keys([.char("g"), .home]), "g", .list, nil, .first, "first row"),
        KeyBinding(.keys([.char("G"), .end]), "G", .list, nil, .last, "last row"),
        KeyBinding(.keys([.enter]), "Enter", .list, [.request], .open, "open the request form", hint: "request"),
        KeyBinding(.keys([.enter]), "Enter", .list, [.review, .mine, .grants, .audit], .open, "open / close details"),
        KeyBinding(.keys([.escape]), "Esc", .list, nil, .back, "back: close details, clear filter"),
        KeyBinding(.keys([.char("a")]), "a", .list, [.review], .approve, "approve (reason optional)", hint: "approve"),
        KeyBinding(.keys([.char("d")]), "d", .list, [.review], .deny, "deny (reason required)", hint: "deny"),
        KeyBinding(.keys([.char("r")]), "r", .list, [.grants], .revoke, "revoke the grant", hint: "revoke"),
        KeyBinding(.keys([.char("c")]), "c", .list, [.mine], .cancel, "cancel a pending request", hint: "cancel"),
        KeyBinding(.keys([.char("x")]), "x", .list, [.mine], .release, "release an active grant", hint: "release"),
        KeyBinding(.keys([.char("e")]), "e", .list, [.mine], .extend, "extend an active grant", hint: "extend"),
        KeyBinding(.keys([.char("/")]), "/", .list, [.review, .mine, .grants, .audit], .startFilter, "filter (text or regex; ! inverts)", hint: "filter"),
        KeyBinding(.keys([.tab]), "Tab", .list, nil, .nextView, "next view"),
        KeyBinding(.keys([.backTab]), "S-Tab", .list, nil, .previousView, "previous view"),
        KeyBinding(.keys(ch("1")), "1", .list, nil, .showView(.request), "Request view"),
        KeyBinding(.keys(ch("2")), "2", .list, nil, .showView(.review), "Review view"),
        KeyBinding(.keys(ch("3")), "3", .list, nil, .showView(.mine), "Mine view"),
        KeyBinding(.keys(ch("4")), "4", .list, nil, .showView(.grants), "Grants view"),
        KeyBinding(.keys(ch("5")), "5", .list, nil, .showView(.audit), "Audit view"),
        KeyBinding(.keys(ch("6")), "6", .list, nil, .showView(.stats), "Stats view: approval times, outcomes, requests and grants per day"),
        KeyBinding(.keys([.char("s")]), "s", .list, [.review, .mine, .grants], .cycleSort, "sort by the next column"),
        KeyBinding(.keys([.char("S")]), "S", .list, [.review, .mine, .grants, .audit], .reverseSort, "reverse the order"),
        KeyBinding(.keys([.char("R")]), "R", .list, [.mine], .requestAgain, "request the same again (form pre-filled)"),
        KeyBinding(.keys([.char(":")]), ":", .list, nil, .openCommandLine, "command line (:approve ID, :sort COL, :help …)"),
        KeyBinding(.keys([.char("?")]), "?", .list, nil, .showHelp, "this help", hint: "help"),
        KeyBinding(.keys([.char("q")]), "q", .list, nil, .quit, "quit", hint: "quit"),
        // The request form.
        KeyBinding(.keys([.tab, .down]), "Tab ↓", .form, nil, .formNext, "next field", hint: "next field"),
        KeyBinding(.keys([.backTab, .up]), "S-Tab ↑", .form, nil, .formPrevious, "previous field"),
        KeyBinding(.keys([.char(" ")]), "Space", .form, nil, .formSpace, "toggle / cycle the value", hint: "toggle/cycle"),
        KeyBinding(.keys([.left]), "←", .form, nil, .formArrow(-1), "cursor left in text; previous allowed value"),
        KeyBinding(.keys([.right]), "→", .form, nil, .formArrow(1), "cursor right in text; next allowed value"),
        KeyBinding(.keys([.home, .ctrl("a")]), "Home C-a", .form, nil, .formHome, "cursor to the start of the text"),
        KeyBinding(.keys([.end, .ctrl("e")]), "End C-e", .form, nil, .formEnd, "cursor to the end of the text"),
        KeyBinding(.keys([.backspace]), "Bksp", .form, nil, .formBackspace, "delete the character before the cursor"),
        KeyBinding(.keys([.delete]), "Del", .form, nil, .formDelete, "delete the character at the cursor"),
        KeyBinding(.keys([.enter]), "Enter", .form, nil, .formEnter, "submit (on Submit) / next field", hint: "submit"),
        KeyBinding(.keys([.escape]), "Esc", .form, nil, .formBack, "back to the flow list", hint: "back"),
        KeyBinding(.printable, "text", .form, nil, .insert, "typing inserts at the cursor"),
        // The prompt line (reasons, durations, confirmations).
        KeyBinding(.keys([.enter]), "Enter", .prompt, nil, .promptConfirm, "confirm", hint: "confirm"),
        KeyBinding(.keys([.escape]), "Esc", .prompt, nil, .promptCancel, "cancel", hint: "cancel"),
        KeyBinding(.keys([.backspace, .delete]), "Bksp", .prompt, nil, .promptBackspace, "delete a character"),
        KeyBinding(.printable, "text", .prompt, nil, .insert, "typing edits the reason"),
        // The filter line.
        KeyBinding(.keys([.enter]), "Enter", .filter, nil, .filterApply, "keep the filter", hint: "keep"),
        KeyBinding(.keys([.escape]), "Esc", .filter, nil, .filterClear, "clear the filter", hint: "clear"),
        KeyBinding(.keys([.backspace, .delete]), "Bksp", .filter, nil, .filterBackspace, "delete a character"),
        KeyBinding(.printable, "text", .filter, nil, .insert, "typing filters the list"),
        // The command line.
        KeyBinding(.keys([.enter]), "Enter", .command, nil, .commandRun, "run the command", hint: "run"),
        KeyBinding(.keys([.escape]), "Esc", .command, nil, .commandClose, "close the line, nothing run", hint: "close"),
        KeyBinding(.keys([.tab]), "Tab", .command, nil, .commandComplete, "complete a command, view, column or request id", hint: "complete"),
        KeyBinding(.keys([.up]), "↑", .command, nil, .commandHistory(-1), "previous command"),
        KeyBinding(.keys([.down]), "↓", .command, nil, .commandHistory(1), "next command"),
        KeyBinding(.keys([.backspace, .delete]), "Bksp", .command, nil, .commandBackspace, "delete a character"),
        KeyBinding(.printable, "text", .command, nil, .insert, "typing edits the command"),
        // Help.
        KeyBinding(.keys([.escape, .char("?"), .char("q"), .enter]), "Esc ? q", .help, nil, .closeHelp, "close help", hint: "close"),
        KeyBinding(.keys([.up, .char("k")]), "↑ k", .help, nil, .moveUp, "scroll up", hint: "up"),
        KeyBinding(.keys([.down, .char("j")]), "↓ j", .help, nil, .moveDown, "scroll down", hint: "down"),
        KeyBinding(.keys([.pageUp]), "PgUp", .help, nil, .pageUp, "scroll a page up"),
        KeyBinding(.keys([.pageDown]), "PgDn", .help, nil, .pageDown, "scroll a page down"),
    ]

    /// The binding for `key` in `mode` on `view`, first match wins.
    public static func binding(for key: Key, mode: KeyMode, view: ConsoleView, in bindings: [KeyBinding] = Keymap.bindings) -> KeyBinding? {
        bindings.first { $0.mode == mode && ($0.views?.contains(view) ?? true) && $0.pattern.matches(key) }
    }

    /// The hint line for a mode and view, e.g. "a approve · d deny · ? help".
    public static func hints(mode: KeyMode, view: ConsoleView, in bindings: [KeyBinding] = Keymap.bindings) -> String {
        bindings.filter { $0.hint != nil && $0.mode == mode && ($0.views?.contains(view) ?? true) }
            .map { "\($0.label) \($0.hint!)" }.joined(separator: "  ")
    }

    /// The help screen, generated from `bindings`: one section per mode.
    public static func helpLines(_ bindings: [KeyBinding] = Keymap.bindings) -> [String] {
        var lines: [String] = []
        for mode in KeyMode.allCases {
            let rows = bindings.filter { $0.mode == mode }
            guard !rows.isEmpty else { continue }
            if !lines.isEmpty { lines.append("") }
            lines.append(mode.rawValue)
            for b in rows {
                let where_ = b.views.map { v in " [" + ConsoleView.allCases.filter { v.contains($0) }.map(\.title).joined(separator: ",") + "]" } ?? ""
                lines.append("  " + DisplayWidth.pad(b.label, to: 9) + " " + b.help + where_)
            }
        }
        return lines
    }

    /// Whether a help line is a section heading (bindings are indented, separators empty).
    public static func isHelpHeading(_ line: String) -> Bool { !line.isEmpty && !line.hasPrefix(" ") }

    /// The help lines shown from `first` in `room` rows: a section heading (and the blank line before it)
    /// never ends a page; it moves to the next page with its first rows.
    public static func helpPage(first: Int, room: Int, lines: [String] = helpLines()) -> Range<Int> {
        let start = max(0, min(first, lines.count))
        var end = min(lines.count, start + max(1, room))
        while end - start > 1, end < lines.count, isHelpHeading(lines[end - 1]) || lines[end - 1].isEmpty { end -= 1 }
        return start..<end
    }
}
