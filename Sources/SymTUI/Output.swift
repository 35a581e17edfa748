import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SymModel
import SymProtocol

/// Writing results: JSON for scripts, aligned tables for people. User text is neutralised first.
enum Output {
    /// A reader that went away (`| head`) ends the command quietly: FileHandle.write would trap on EPIPE.
    static func print(_ text: String) { write(1, text + "\n") }

    private static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBufferPointer { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE && fd == 1 { exit(ExitCode.ok) }
                return
            }
            off += n
        }
    }

    /// Errors, one `symtui: ` line each; messages may quote user input, so every line is neutralised.
    static func error(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            write(2, "symtui: " + SafeText.display(String(line)) + "\n")
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
