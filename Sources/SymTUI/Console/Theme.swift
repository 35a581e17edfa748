import Foundation

/// What a cell is, for the theme to decide how it looks.
public enum Style: Int, CaseIterable, Sendable {
    case normal, title, tabActive, tabInactive, header, selected, newRow, selectedNew, dim
    case status, statusWarn, message, refusal, prompt, banner
    case fieldLabel, fieldFocus, fieldError, button, buttonFocus, helpKey
    /// The cell under the text cursor of the focused input.
    case cursor
    /// Text a `/` expression matched, in a row and in the selected row.
    case match, selectedMatch
}

/// Terminal text attributes (curses A_*).
public struct TextAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = TextAttributes(rawValue: 1)
    public static let reverse = TextAttributes(rawValue: 2)
    public static let underline = TextAttributes(rawValue: 4)
    public static let dim = TextAttributes(rawValue: 8)
}

/// The eight curses colours, plus the terminal's default.
public enum Colour: Int16, Sendable {
    case `default` = -1, black = 0, red, green, yellow, blue, magenta, cyan, white
}

/// How one style looks in colour and in monochrome.
public struct ThemeEntry: Sendable {
    public var style: Style
    public var foreground: Colour
    public var background: Colour
    public var colourAttributes: TextAttributes
    /// Attributes only: what the style looks like with `NO_COLOR` or no colours.
    public var monochromeAttributes: TextAttributes
}

/// The one theme table (htop-style): a colour column and a monochrome column per style.
/// Nothing is conveyed by colour alone: rows and messages also carry text markers (●, ✗, ⚠).
/// Black text is never bold: many terminals brighten bold black to grey, unreadable on cyan or yellow.
public enum Theme {
    public static let table: [ThemeEntry] = [
        ThemeEntry(style: .normal, foreground: .default, background: .default, colourAttributes: [], monochromeAttributes: []),
        ThemeEntry(style: .title, foreground: .cyan, background: .default, colourAttributes: [.bold], monochromeAttributes: [.bold]),
        ThemeEntry(style: .tabActive, foreground: .black, background: .cyan, colourAttributes: [], monochromeAttributes: [.reverse, .bold]),
        ThemeEntry(style: .tabInactive, foreground: .default, background: .default, colourAttributes: [], monochromeAttributes: []),
        ThemeEntry(style: .header, foreground: .default, background: .default, colourAttributes: [.bold, .underline], monochromeAttributes: [.bold, .underline]),
        ThemeEntry(style: .selected, foreground: .black, background: .white, colourAttributes: [], monochromeAttributes: [.reverse]),
        ThemeEntry(style: .newRow, foreground: .yellow, background: .default, colourAttributes: [.bold], monochromeAttributes: [.bold]),
        ThemeEntry(style: .selectedNew, foreground: .black, background: .yellow, colourAttributes: [], monochromeAttributes: [.reverse, .bold]),
        ThemeEntry(style: .dim, foreground: .default, background: .default, colourAttributes: [.dim], monochromeAttributes: [.dim]),
        ThemeEntry(style: .status, foreground: .white, background: .blue, colourAttributes: [], monochromeAttributes: [.reverse]),
        ThemeEntry(style: .statusWarn, foreground: .white, background: .red, colourAttributes: [.bold], monochromeAttributes: [.reverse, .bold]),
        ThemeEntry(style: .message, foreground: .green, background: .default, colourAttributes: [], monochromeAttributes: []),
        ThemeEntry(style: .refusal, foreground: .red, background: .default, colourAttributes: [.bold], monochromeAttributes: [.bold]),
        ThemeEntry(style: .prompt, foreground: .default, background: .default, colourAttributes: [.bold], monochromeAttributes: [.bold]),
        ThemeEntry(style: .banner, foreground: .black, background: .yellow, colourAttributes: [], monochromeAttributes: [.reverse, .bold]),
        ThemeEntry(style: .fieldLabel, foreground: .default, background: .default, colourAttributes: [], monochromeAttributes: []),
        ThemeEntry(style: .fieldFocus, foreground: .black, background: .cyan, colourAttributes: [], monochromeAttributes: [.reverse]),
        ThemeEntry(style: .fieldError, foreground: .red, background: .default, colourAttributes: [.bold], monochromeAttributes: [.bold]),
        ThemeEntry(style: .button, foreground: .default, background: .default, colourAttributes: [.bold], monochromeAttributes: [.bold]),
        ThemeEntry(style: .buttonFocus, foreground: .black, background: .green, colourAttributes: [], monochromeAttributes: [.reverse, .bold]),
        ThemeEntry(style: .helpKey, foreground: .cyan, background: .default, colourAttributes: [.bold], monochromeAttributes: [.bold]),
        // Inside a reversed focused field, an un-reversed underlined cell.
        ThemeEntry(style: .cursor, foreground: .black, background: .white, colourAttributes: [.underline], monochromeAttributes: [.underline]),
        ThemeEntry(style: .match, foreground: .yellow, background: .default, colourAttributes: [.bold, .underline], monochromeAttributes: [.bold, .underline]),
        ThemeEntry(style: .selectedMatch, foreground: .black, background: .white, colourAttributes: [.underline], monochromeAttributes: [.reverse, .underline]),
    ]

    private static let byStyle: [ThemeEntry] = Style.allCases.map { s in table.first { $0.style == s }! }

    /// The entry for `style`.
    public static func entry(_ style: Style) -> ThemeEntry { byStyle[style.rawValue] }

    /// `NO_COLOR` set and non-empty (no-color.org), or a terminal without colours, means attributes only.
    public static func isMonochrome(environment: [String: String] = ProcessInfo.processInfo.environment, terminalHasColours: Bool) -> Bool {
        if let v = environment["NO_COLOR"], !v.isEmpty { return true }
        return !terminalHasColours
    }
}
