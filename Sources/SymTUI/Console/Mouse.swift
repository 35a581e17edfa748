import Foundation

/// Which way the mouse wheel turned.
public enum WheelDirection: Sendable, Equatable { case up, down }

/// Where the tabs are on the header row: the one layout `drawTabs` draws and a click is matched against.
struct TabBar {
    struct Tab { var view: ConsoleView; var label: String; var col: Int; var width: Int }

    static let title = " SymTUI "
    /// The title of a wallboard (`--readonly`).
    static let readOnlyTitle = " READ-ONLY "

    static func tabs(_ state: ConsoleState) -> [Tab] {
        var x = DisplayWidth.of(state.readOnly ? readOnlyTitle : title) + 1
        return ConsoleView.allCases.map { v in
            var label = "\(v.rawValue) \(v.title)"
            if v == .review, let n = state.reviewCount, n > 0 { label += " (\(n))" }
            let text = v == state.view ? "[\(label)]" : " \(label) "
            defer { x += DisplayWidth.of(text) + 1 }
            return Tab(view: v, label: text, col: x, width: DisplayWidth.of(text))
        }
    }
}

extension Console {
    /// Rows the wheel moves the selection by.
    public static let wheelStep = 3

    /// A click at a screen cell (0-based): on a tab it switches view, on a list row it selects that row. Outside the
    /// lists (the form, a prompt, the filter line, help) clicks do nothing: they never confirm or cancel anything.
    static func click(_ s: inout ConsoleState, row: Int, col: Int, _ fx: inout [Effect]) {
        guard !s.layout.isTooSmall, s.mode == .list else { return }
        if row == 0 {
            if let tab = TabBar.tabs(s).first(where: { col >= $0.col && col < $0.col + $0.width }), tab.view != s.view {
                s.message = nil
                switchView(&s, tab.view, &fx)
            }
            return
        }
        guard let index = listRow(s, screenRow: row) else { return }
        let v = s.view
        let n = v == .request ? s.choices.count : s.list(v).total
        guard index < n else { return }
        move(&s, by: index - s.list(v).selected, &fx)
    }

    /// The wheel moves the selection (and with it the window) a few rows.
    static func wheel(_ s: inout ConsoleState, _ direction: WheelDirection, _ fx: inout [Effect]) {
        guard !s.layout.isTooSmall, s.mode == .list || s.mode == .help else { return }
        if s.mode == .help {
            apply(&s, direction == .up ? .moveUp : .moveDown, .up, &fx)
            return
        }
        guard s.view != .stats else { return }
        move(&s, by: direction == .up ? -wheelStep : wheelStep, &fx)
    }

    /// The absolute list index drawn on `screenRow` of the current list view, if a list row is drawn there.
    static func listRow(_ s: ConsoleState, screenRow: Int) -> Int? {
        let v = s.view
        guard v != .stats, !(v == .request && s.form != nil) else { return nil }
        let first = s.layout.bodyTop + 1   // under the column header
        let h = v == .request ? s.layout.listHeight() : s.listHeight(v, layout: s.layout)
        guard screenRow >= first, screenRow < first + h else { return nil }
        var l = s.list(v)
        // The window as `render` draws it (it keeps the selection on screen when the pane's height changed).
        if l.selected >= l.top + h { l.top = l.selected - h + 1 }
        if l.selected < l.top { l.top = l.selected }
        return l.top + (screenRow - first)
    }
}
