import Foundation
import SymModel

/// Writing results: JSON for scripts, aligned tables for people. User text is neutralised first.
enum Output {
    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            FileHandle.standardError.write(Data(("symtui: " + line + "\n").utf8))
        }
    }

    static func json(_ value: JSONValue) { print(value.pretty) }

    /// An aligned table; every cell goes through SafeText.display.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let cells = rows.map { $0.map(SafeText.display) }
        var widths = header.map(DisplayWidth.of)
        for r in cells { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], min(48, DisplayWidth.of(c))) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in
                let t = DisplayWidth.truncate(c, to: widths[i])
                return i == r.count - 1 ? t : t + String(repeating: " ", count: max(0, widths[i] - DisplayWidth.of(t)))
            }.joined(separator: "  ")
        }
        return ([line(header)] + cells.map(line)).joined(separator: "\n")
    }
}

/// Terminal column widths of text (wide East Asian characters take two, combining marks none).
enum DisplayWidth {
    static func of(_ s: String) -> Int { s.unicodeScalars.reduce(0) { $0 + width($1) } }

    static func width(_ u: Unicode.Scalar) -> Int {
        let v = u.value
        if v == 0 { return 0 }
        if u.properties.generalCategory == .nonspacingMark || u.properties.generalCategory == .enclosingMark
            || u.properties.generalCategory == .format || (0x1160...0x11FF).contains(v) { return 0 }
        if (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) && v != 0x303F || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v) || (0x1F900...0x1F9FF).contains(v)
            || (0x20000...0x3FFFD).contains(v) { return 2 }
        return 1
    }

    /// Cuts to at most `width` columns, ending in "…" when cut.
    static func truncate(_ s: String, to width: Int) -> String {
        if of(s) <= width { return s }
        var out = ""
        var w = 0
        for ch in s {
            let cw = ch.unicodeScalars.reduce(0) { $0 + self.width($1) }
            if w + cw > width - 1 { break }
            out.append(ch)
            w += cw
        }
        return out + "…"
    }
}
