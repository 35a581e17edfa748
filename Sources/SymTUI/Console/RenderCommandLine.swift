import Foundation
import SymModel

// Drawing of the `:` command line, the sort arrow in a column header and the highlighted `/` matches.

extension Painter {
    /// The `:` line on the prompt row, its Tab candidates on the message row; false when it is closed.
    mutating func drawCommandLine(row: Int) -> Bool {
        guard let line = state.commandLine else { return false }
        buffer.fill(row: row, style: .prompt)
        let text = ":" + safe(line.text) + "_"
        let shown = DisplayWidth.of(text) <= cols ? text : "…" + String(text.suffix(cols - 1))
        buffer.put(shown, row: row, col: 0, style: .prompt)
        if line.error == nil, let hint = line.hint { buffer.put(safe(hint), row: layout.messageRow, col: 1, style: .dim) }
        return true
    }

    /// The columns with ▲ (the column's own order) or ▼ (reversed) after the title the list is sorted by.
    func sortMarked(_ cs: [Column], _ v: ConsoleView) -> [Column] {
        let l = state.list(v)
        let title: String?
        if let c = l.sort { title = v.sortColumns.first { $0.column == c }?.title } else if l.descending {
            title = v == .audit ? "Seq" : "ID"
        } else { title = nil }
        guard let title else { return cs }
        // Without a column, reversed means oldest first: ascending ids.
        let arrow = l.sort == nil ? "▲" : (l.descending ? "▼" : "▲")
        return cs.map { c in
            var c = c
            if c.title == title { c.title += " " + arrow }
            return c
        }
    }

    /// Restyles what `regex` matches in each cell of a row (the first cell, the row marker, is left alone).
    mutating func highlight(_ values: [String], _ w: [Int], row: Int, regex: NSRegularExpression?, selected: Bool) {
        guard let regex else { return }
        let style: Style = selected ? .selectedMatch : .match
        for (i, (value, (x, width))) in zip(values, zip(Column.starts(w), w)).enumerated() where i > 0 && !value.isEmpty {
            for m in regex.matches(in: value, range: NSRange(value.startIndex..., in: value)) {
                guard m.range.length > 0, let r = Range(m.range, in: value) else { continue }
                let before = DisplayWidth.of(String(value[..<r.lowerBound]))
                guard before < width else { break }
                let span = min(DisplayWidth.of(String(value[r])), width - before)
                buffer.restyle(row: row, col: x + before, width: span, style: style)
            }
        }
    }
}
