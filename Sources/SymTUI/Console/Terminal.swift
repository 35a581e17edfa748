import CNCursesW
import Foundation
import Synchronization

/// The signal that asked the console to stop (SIGINT/SIGTERM/SIGHUP), 0 while none has; set by the handlers.
let terminalStopSignal = Atomic<Int32>(0)

/// What the terminal delivered.
public enum TerminalInput: Equatable, Sendable {
    case key(Key)
    case resized(rows: Int, cols: Int)
    /// A left click at a screen cell (0-based), when the mouse is on.
    case click(row: Int, col: Int)
    case wheel(WheelDirection)
}

/// Why the terminal could not be opened.
public struct TerminalError: Error, CustomStringConvertible {
    public var description: String
}

/// The one type that talks to ncurses: lifecycle, drawing a `ScreenBuffer`, reading keys.
public final class Terminal {
    private let window: UnsafeMutablePointer<WINDOW>
    private let screen: OpaquePointer
    private let files: [UnsafeMutablePointer<FILE>]
    /// Attributes only (`NO_COLOR`, or no colours).
    public let monochrome: Bool
    /// False when the locale is not UTF-8: cells are transliterated to ASCII.
    public let utf8: Bool
    /// Clicks and the wheel reach the console (asked for, and the terminal can report them).
    public let mouse: Bool
    private var closed = false
    /// The last frame drawn and the terminal size it was drawn at (rows that did not change are not written again).
    private var lastDrawn: (frame: ScreenBuffer, size: (rows: Int, cols: Int))?

    /// The signal that arrived, if any (the caller stops and closes the terminal).
    public static var stopSignal: Int32 { terminalStopSignal.load(ordering: .relaxed) }

    /// Opens the controlling terminal (stdin/stdout).
    /// `mouse`: ask the terminal for clicks and the wheel (`--no-mouse` leaves them to the terminal, for selecting text).
    public static func open(mouse: Bool = true) throws -> Terminal {
        setlocale(LC_ALL, "")
        installSignalHandlers()
        guard let out = fdopen(dup(1), "w"), let inp = fdopen(dup(0), "r") else { throw TerminalError(description: "cannot open the terminal") }
        return try Terminal(term: nil, output: out, input: inp, mouse: mouse)
    }

    /// A terminal of type `term` drawing to /dev/null: for tests that need real curses without a tty.
    public static func headless(term: String = "xterm-256color", rows: Int = 24, cols: Int = 80) throws -> Terminal {
        if !String(cString: cn_codeset()).uppercased().contains("UTF") { setlocale(LC_ALL, "C.UTF-8") }
        setenv("LINES", String(rows), 1); setenv("COLUMNS", String(cols), 1)  // no tty to ask: the size comes from here
        defer { unsetenv("LINES"); unsetenv("COLUMNS") }
        guard let out = fopen("/dev/null", "w"), let inp = fopen("/dev/null", "r") else { throw TerminalError(description: "cannot open /dev/null") }
        return try Terminal(term: term, output: out, input: inp, keepSizeFromEnvironment: true)
    }

    private init(term: String?, output: UnsafeMutablePointer<FILE>, input: UnsafeMutablePointer<FILE>, keepSizeFromEnvironment: Bool = false,
                 mouse: Bool = false) throws {
        if !keepSizeFromEnvironment {
            // Exported LINES/COLUMNS would override the real size and break resizing.
            unsetenv("LINES"); unsetenv("COLUMNS")
        }
        guard let scr = newterm(term, output, input) else {
            fclose(output); fclose(input)
            throw TerminalError(description: "cannot start curses on terminal type \(term ?? ProcessInfo.processInfo.environment["TERM"] ?? "(unset)")")
        }
        set_term(scr)
        screen = scr
        files = [output, input]
        window = cn_stdscr()
        utf8 = String(cString: cn_codeset()).uppercased().replacingOccurrences(of: "-", with: "") == "UTF8"
        cbreak(); noecho(); nonl()
        keypad(window, true)
        set_escdelay(25)
        curs_set(0)
        if mouse {
            mouseinterval(0)   // a press is a click at once: no wait to tell it from a double click
            self.mouse = mousemask(cn_button1_pressed() | cn_button1_clicked() | cn_button4_pressed() | cn_button5_pressed(), nil) != 0
        } else {
            self.mouse = false
        }
        let mono = Theme.isMonochrome(terminalHasColours: has_colors())
        monochrome = mono
        if !mono {
            start_color()
            use_default_colors()
            for e in Theme.table { init_pair(Int16(e.style.rawValue + 1), e.foreground.rawValue, e.background.rawValue) }
        }
    }

    deinit { close() }

    /// Restores the terminal; safe to call more than once.
    public func close() {
        guard !closed else { return }
        closed = true
        endwin()
        delscreen(screen)
        files.forEach { fclose($0) }
    }

    /// Rows and columns curses believes the screen has.
    public var size: (rows: Int, cols: Int) { (Int(getmaxy(window)), Int(getmaxx(window))) }

    public func bell() { beep() }

    /// Waits at most `timeoutMs` for a key (the tick); nil on timeout or when a signal interrupted the wait.
    public func read(timeoutMs: Int) -> TerminalInput? {
        wtimeout(window, Int32(timeoutMs))
        var ch: wint_t = 0
        let rc = wget_wch(window, &ch)
        if rc == cn_err() { return nil }
        if rc == cn_key_code_yes() {
            let code = Int32(ch)
            if code == cn_key_resize() { lastDrawn = nil; let s = size; return .resized(rows: s.rows, cols: s.cols) }
            if code == cn_key_mouse() {
                var e = MEVENT()
                guard mouse, getmouse(&e) == cn_ok() else { return nil }
                if e.bstate & cn_button4_pressed() != 0 { return .wheel(.up) }
                if e.bstate & cn_button5_pressed() != 0 { return .wheel(.down) }
                if e.bstate & (cn_button1_pressed() | cn_button1_clicked()) != 0 { return .click(row: Int(e.y), col: Int(e.x)) }
                return nil
            }
            let map: [Int32: Key] = [KEY_UP: .up, KEY_DOWN: .down, KEY_LEFT: .left, KEY_RIGHT: .right, KEY_PPAGE: .pageUp,
                                     KEY_NPAGE: .pageDown, KEY_HOME: .home, KEY_END: .end, KEY_ENTER: .enter, KEY_BTAB: .backTab,
                                     KEY_BACKSPACE: .backspace, KEY_DC: .delete]
            return map[code].map(TerminalInput.key)
        }
        switch ch {
        case 9: return .key(.tab)
        case 10, 13: return .key(.enter)
        case 27: return .key(.escape)
        case 8, 127: return .key(.backspace)
        case 1...26: return .key(.ctrl(Character(Unicode.Scalar(UInt8(ch) + 0x60))))
        default:
            guard let u = Unicode.Scalar(UInt32(ch)), u.value >= 0x20 else { return nil }
            return .key(.char(Character(u)))
        }
    }

    /// Draws a frame into curses' virtual screen and sends only what changed.
    public func draw(_ buffer: ScreenBuffer) {
        let (rows, cols) = size
        // Rows equal to the last frame's are already in curses' screen: a countdown tick rewrites a few cells, not
        // the frame (an idle console redraws once a second).
        let previous = lastDrawn.flatMap { $0.frame.rows == buffer.rows && $0.frame.cols == buffer.cols && $0.size == (rows, cols) ? $0.frame : nil }
        lastDrawn = (buffer, (rows, cols))
        for y in 0..<min(rows, buffer.rows) {
            if let previous, previous.rowEquals(buffer, y) { continue }
            var x = 0
            while x < min(cols, buffer.cols) {
                let style = buffer[y, x].style
                let start = x
                var chars: [wchar_t] = []
                while x < min(cols, buffer.cols), buffer[y, x].style == style {
                    let cell = buffer[y, x]
                    if cell.width != 0 {
                        if utf8 {
                            chars.append(contentsOf: cell.character.unicodeScalars.map { wchar_t(bitPattern: $0.value) })
                        } else {
                            chars.append(contentsOf: Terminal.ascii(cell).unicodeScalars.map { wchar_t(bitPattern: $0.value) })
                        }
                    }
                    x += 1
                }
                set(style)
                // The bottom-right cell cannot be written without scrolling; curses reports ERR there, harmlessly.
                _ = mvwaddnwstr(window, Int32(y), Int32(start), chars, Int32(chars.count))
            }
            if buffer.cols < cols { wmove(window, Int32(y), Int32(buffer.cols)); wclrtoeol(window) }
        }
        if let c = buffer.cursor, c.row < rows, c.col < cols {
            curs_set(1); wmove(window, Int32(c.row), Int32(c.col))
        } else {
            curs_set(0)
        }
        wnoutrefresh(window)
        doupdate()
    }

    /// Reads a row back from curses' screen (tests).
    public func row(_ y: Int) -> String {
        let cols = size.cols
        var buf = [wchar_t](repeating: 0, count: cols + 1)
        let n = mvwinnwstr(window, Int32(y), 0, &buf, Int32(cols))
        guard n > 0 else { return "" }
        return String(String.UnicodeScalarView(buf.prefix(Int(n)).compactMap { Unicode.Scalar(UInt32(bitPattern: $0)) }))
    }

    private func set(_ style: Style) {
        let e = Theme.entry(style)
        let attrs = monochrome ? e.monochromeAttributes : e.colourAttributes
        var a = cn_normal()
        if attrs.contains(.bold) { a |= cn_bold() }
        if attrs.contains(.reverse) { a |= cn_reverse() }
        if attrs.contains(.underline) { a |= cn_underline() }
        if attrs.contains(.dim) { a |= cn_dim() }
        wattr_set(window, a, monochrome ? 0 : Int16(style.rawValue + 1), nil)
    }

    /// An ASCII stand-in of the same width, for terminals whose locale is not UTF-8.
    static func ascii(_ cell: Cell) -> String {
        let c = cell.character
        if c.isASCII { return String(c) }
        let table: [Character: String] = ["…": "~", "▸": ">", "●": "*", "─": "-", "│": "|", "→": ">", "✓": "+", "✗": "x",
                                          "⚠": "!", "‹": "<", "›": ">", "↑": "^", "↓": "v", "←": "<", "·": ".", "×": "x",
                                          "—": "-", "–": "-", "␛": "^", "∞": "-", "▲": "^", "▼": "v"]
        if let t = table[c] { return String(repeating: t, count: Int(cell.width)) }
        let folded = String(c).folding(options: [.diacriticInsensitive, .widthInsensitive], locale: nil)
        if folded.count == 1, folded.allSatisfy(\.isASCII), cell.width == 1 { return folded }
        return String(repeating: "?", count: Int(cell.width))
    }

    private static func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            var sa = sigaction()
            sa.__sigaction_handler.sa_handler = { n in terminalStopSignal.store(n, ordering: .relaxed) }
            sigemptyset(&sa.sa_mask)
            sa.sa_flags = 0  // no SA_RESTART: a signal interrupts the key wait
            sigaction(sig, &sa, nil)
        }
    }
}
