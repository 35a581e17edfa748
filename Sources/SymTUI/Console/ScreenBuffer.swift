/// One terminal cell: a grapheme, the columns it takes, and its style.
public struct Cell: Equatable, Sendable {
    public var character: Character
    /// 1 for most characters, 2 for wide ones, 0 for the cell a wide character spills into.
    public var width: UInt8
    public var style: Style

    public static let blank = Cell(character: " ", width: 1, style: .normal)
}

/// A cell position on the screen.
public struct CursorPosition: Equatable, Sendable {
    public var row: Int
    public var col: Int
    public init(row: Int, col: Int) { self.row = row; self.col = col }
}

/// A frame of rows × cols cells, laid out by display width; what `render` produces and `Terminal` draws.
public struct ScreenBuffer: Equatable, Sendable {
    public let rows: Int
    public let cols: Int
    public private(set) var cells: [Cell]
    /// Where the terminal's own cursor goes (a text input's insertion point); nil hides it.
    public var cursor: CursorPosition?

    public init(rows: Int, cols: Int) {
        self.rows = max(0, rows); self.cols = max(0, cols)
        cells = Array(repeating: .blank, count: self.rows * self.cols)
    }

    public subscript(row: Int, col: Int) -> Cell { cells[row * cols + col] }

    /// Whether row `y` holds the same cells in both frames (of the same size).
    func rowEquals(_ other: ScreenBuffer, _ y: Int) -> Bool {
        guard other.cols == cols, y < rows, y < other.rows else { return false }
        return cells[(y * cols)..<((y + 1) * cols)] == other.cells[(y * cols)..<((y + 1) * cols)]
    }

    /// Restyles `width` cells from (row, col), keeping their characters.
    public mutating func restyle(row: Int, col: Int, width: Int = 1, style: Style) {
        guard row >= 0, row < rows else { return }
        for c in max(0, col)..<min(cols, col + width) { cells[row * cols + c].style = style }
    }

    /// Gives a whole row one style (for bars and highlighted rows).
    public mutating func fill(row: Int, style: Style, from col: Int = 0) {
        guard row >= 0, row < rows else { return }
        for c in max(0, col)..<cols {
            cells[row * cols + c].style = style
        }
    }

    /// Writes `text` at (row, col), at most `width` columns (default: to the right edge), cutting with "…".
    /// Control characters never reach a cell. Returns the columns used.
    @discardableResult
    public mutating func put(_ text: String, row: Int, col: Int, width: Int? = nil, style: Style = .normal) -> Int {
        guard row >= 0, row < rows, col >= 0, col < cols else { return 0 }
        let avail = min(width ?? (cols - col), cols - col)
        guard avail > 0 else { return 0 }
        let fitted = DisplayWidth.truncate(text, to: avail)
        var x = col
        for ch in fitted {
            var ch = ch
            var w = DisplayWidth.of(ch)
            if w == 0 { continue }  // a lone combining or format character: nothing to place
            if ch.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) { ch = "\u{FFFD}"; w = 1 }
            if x + w > col + avail { break }
            cells[row * cols + x] = Cell(character: ch, width: UInt8(w), style: style)
            if w == 2 { cells[row * cols + x + 1] = Cell(character: " ", width: 0, style: style) }
            x += w
        }
        return x - col
    }

    /// The row as text (continuation cells of wide characters skipped).
    public func line(_ row: Int) -> String {
        var s = ""
        for c in 0..<cols where cells[row * cols + c].width != 0 { s.append(cells[row * cols + c].character) }
        return s
    }

    /// All rows, trailing spaces trimmed, joined by newlines: the golden-snapshot form.
    public var text: String {
        (0..<rows).map { r in
            var l = line(r)
            while l.hasSuffix(" ") { l.removeLast() }
            return l
        }.joined(separator: "\n")
    }
}
