import Foundation
import SymModel

/// Writing results: JSON for scripts, aligned tables for people. User text is neutralised first.
enum Output {
    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Errors, one `symtui: ` line each; messages may quote user input, so every line is neutralised.
    static func error(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            FileHandle.standardError.write(Data(("symtui: " + SafeText.display(String(line)) + "\n").utf8))
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
