/// Terminal column widths by Unicode East Asian Width, independent of the process locale.
public enum DisplayWidth {
    /// Wide (W) and fullwidth (F) ranges, plus emoji presented as wide; sorted, non-overlapping.
    private static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
        0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693, 0x26A1...0x26A1,
        0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA,
        0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B,
        0x2728...0x2728, 0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
        0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55,
        0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F,
        0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
        0x16FE0...0x16FE4, 0x17000...0x18AFF, 0x1B000...0x1B2FF, 0x1F004...0x1F004, 0x1F0CF...0x1F0CF,
        0x1F18E...0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F202, 0x1F210...0x1F23B, 0x1F240...0x1F248,
        0x1F250...0x1F251, 0x1F260...0x1F265, 0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C,
        0x1F37E...0x1F393, 0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0, 0x1F3F4...0x1F3F4,
        0x1F3F8...0x1F43E, 0x1F440...0x1F440, 0x1F442...0x1F4FC, 0x1F4FF...0x1F53D, 0x1F54B...0x1F54E,
        0x1F550...0x1F567, 0x1F57A...0x1F57A, 0x1F595...0x1F596, 0x1F5A4...0x1F5A4, 0x1F5FB...0x1F64F,
        0x1F680...0x1F6C5, 0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7, 0x1F6EB...0x1F6EC,
        0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F90C...0x1F93A, 0x1F93C...0x1F945, 0x1F947...0x1F9FF,
        0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    /// Zero-width scalars: combining marks, variation selectors, format characters.
    private static let zero: [ClosedRange<UInt32>] = [
        0x0300...0x036F, 0x0483...0x0489, 0x0591...0x05BD, 0x0610...0x061A, 0x064B...0x065F, 0x0E31...0x0E31,
        0x0E34...0x0E3A, 0x0E47...0x0E4E, 0x1AB0...0x1AFF, 0x1DC0...0x1DFF, 0x200B...0x200F, 0x2028...0x202E,
        0x2060...0x2064, 0x20D0...0x20FF, 0x302A...0x302D, 0x3099...0x309A, 0xFE00...0xFE0F, 0xFE20...0xFE2F,
        0xFEFF...0xFEFF, 0xE0000...0xE01EF,
    ]

    private static func contains(_ table: [ClosedRange<UInt32>], _ v: UInt32) -> Bool {
        var lo = 0, hi = table.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if v < table[mid].lowerBound { hi = mid - 1 } else if v > table[mid].upperBound { lo = mid + 1 } else { return true }
        }
        return false
    }

    /// Columns one scalar takes: 0, 1 or 2 (controls count as 1: the buffer replaces them).
    public static func of(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x300 { return 1 }
        if contains(zero, v) { return 0 }
        return contains(wide, v) ? 2 : 1
    }

    /// Columns one grapheme cluster takes: the width of its base, or 2 for an emoji presentation sequence.
    public static func of(_ ch: Character) -> Int {
        var width = 0
        for (i, s) in ch.unicodeScalars.enumerated() {
            if i == 0 { width = of(s) } else if s.value == 0xFE0F, width == 1, s.properties.isEmoji { width = 2 }
        }
        return width
    }

    /// Columns a string takes.
    public static func of(_ text: String) -> Int {
        var n = 0
        for ch in text { n += of(ch) }
        return n
    }

    /// `text` cut to at most `width` columns, ending in "…" when it was cut.
    public static func truncate(_ text: String, to width: Int) -> String {
        guard width > 0 else { return "" }
        if text.utf8.count <= width, text.utf8.allSatisfy({ $0 < 0x80 }) { return text }  // ASCII fast path
        if of(text) <= width { return text }
        var out = ""
        var used = 0
        for ch in text {
            let w = of(ch)
            if used + w > width - 1 { break }
            out.append(ch)
            used += w
        }
        return out + "…"
    }

    /// `text` truncated or padded with spaces to exactly `width` columns.
    public static func pad(_ text: String, to width: Int) -> String {
        let t = truncate(text, to: width)
        return t + String(repeating: " ", count: max(0, width - of(t)))
    }

    /// `text` broken into lines of at most `width` columns, at spaces where it can, inside words where it must.
    public static func wrap(_ text: String, to width: Int) -> [String] {
        guard width > 0 else { return [text] }
        var lines: [String] = []
        var line = "", used = 0
        var word = "", wordW = 0
        func flushWord() {
            if used > 0, used + 1 + wordW <= width { line += " " + word; used += 1 + wordW }
            else if used == 0, wordW <= width { line = word; used = wordW }
            else {
                if used > 0 { lines.append(line); line = ""; used = 0 }
                for ch in word {  // a word longer than a line is cut where it must be
                    let w = of(ch)
                    if used + w > width { lines.append(line); line = ""; used = 0 }
                    line.append(ch); used += w
                }
            }
            word = ""; wordW = 0
        }
        for ch in text {
            if ch == " " { if wordW > 0 { flushWord() } } else { word.append(ch); wordW += of(ch) }
        }
        if wordW > 0 { flushWord() }
        lines.append(line)
        return lines
    }
}
