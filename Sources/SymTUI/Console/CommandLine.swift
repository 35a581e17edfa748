import Foundation
import SymModel

/// The `:` command line being edited.
public struct CommandLineState: Sendable, Equatable {
    /// How many command lines the console remembers.
    public static let historyLimit = 100

    public var text = ""
    /// What is wrong with the last line run (nothing was sent); shown on the message row.
    public var error: String?
    /// Candidates a Tab left open, shown on the message row.
    public var hint: String?
    /// Where Up/Down stands in the history (nil: the line being typed).
    public var historyIndex: Int?
    /// The line being typed before Up moved into the history.
    public var draft = ""
    public init(text: String = "") { self.text = text }
}

/// A command typed on the `:` line.
public enum ConsoleCommand: Equatable, Sendable {
    case approve(id: Int64, reason: String?)
    case deny(id: Int64, reason: String)
    case revoke(id: Int64, reason: String?)
    /// An empty text clears the filter.
    case filter(String)
    case sort(ListShape.Column, descending: Bool)
    case view(ConsoleView)
    case help
    case quit

    /// The command names, as typed and completed.
    public static let names = ["approve", "deny", "revoke", "filter", "sort", "view", "help", "q"]

    /// Whether running it asks the daemon for a change.
    public var changes: Bool {
        switch self {
        case .approve, .deny, .revoke: return true
        default: return false
        }
    }

    /// Parses one line (without the `:`); the error says what is wrong, in the words the line is shown with.
    public static func parse(_ line: String) -> Result<ConsoleCommand, CommandLineError> {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return .failure(CommandLineError("type a command (Tab completes; :help lists the keys)")) }
        let name = String(trimmed.prefix { $0 != " " })
        let rest = String(trimmed.dropFirst(name.count)).trimmingCharacters(in: .whitespaces)
        let firstArg = String(rest.prefix { $0 != " " })
        let afterFirst = String(rest.dropFirst(firstArg.count)).trimmingCharacters(in: .whitespaces)
        func id(_ verb: String) -> Result<Int64, CommandLineError> {
            guard !firstArg.isEmpty else { return .failure(CommandLineError("\(verb) needs a request id")) }
            let digits = firstArg.hasPrefix("#") ? String(firstArg.dropFirst()) : firstArg
            guard let n = Int64(digits), n > 0 else { return .failure(CommandLineError("'\(SafeText.display(firstArg))' is not a request id")) }
            return .success(n)
        }
        switch name {
        case "approve", "a":
            return id("approve").map { .approve(id: $0, reason: afterFirst.isEmpty ? nil : afterFirst) }
        case "deny", "d":
            return id("deny").flatMap { n in
                afterFirst.isEmpty ? .failure(CommandLineError("deny needs a reason: :deny \(n) REASON")) : .success(.deny(id: n, reason: afterFirst))
            }
        case "revoke", "r":
            return id("revoke").map { .revoke(id: $0, reason: afterFirst.isEmpty ? nil : afterFirst) }
        case "filter", "f":
            return .success(.filter(rest))
        case "sort":
            guard !firstArg.isEmpty else { return .failure(CommandLineError("sort needs a column (one of \(columnList))")) }
            guard let c = ListShape.Column(rawValue: firstArg.lowercased()) else {
                return .failure(CommandLineError("unknown column: \(SafeText.display(firstArg)) (one of \(columnList))"))
            }
            switch afterFirst.lowercased() {
            case "": return .success(.sort(c, descending: false))
            case "desc", "reverse": return .success(.sort(c, descending: true))
            case "asc": return .success(.sort(c, descending: false))
            default: return .failure(CommandLineError("after the column: asc or desc, not '\(SafeText.display(afterFirst))'"))
            }
        case "view":
            guard !firstArg.isEmpty else { return .failure(CommandLineError("view needs a name or number (\(viewList))")) }
            guard let v = view(named: firstArg) else {
                return .failure(CommandLineError("unknown view: \(SafeText.display(firstArg)) (\(viewList))"))
            }
            return .success(.view(v))
        case "help", "h": return .success(.help)
        case "q", "quit": return .success(.quit)
        default:
            return .failure(CommandLineError("unknown command: \(SafeText.display(name)) (one of \(names.joined(separator: ", ")))"))
        }
    }

    static var columnList: String { ListShape.Column.allCases.map(\.rawValue).joined(separator: ", ") }
    static var viewList: String { ConsoleView.allCases.map { "\($0.rawValue) \($0.title.lowercased())" }.joined(separator: ", ") }

    /// A view by number or (case-insensitive) title.
    static func view(named text: String) -> ConsoleView? {
        if let n = Int(text) { return ConsoleView(rawValue: n) }
        return ConsoleView.allCases.first { $0.title.lowercased() == text.lowercased() }
    }
}

/// What is wrong with a command line.
public struct CommandLineError: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Tab completion of the command line: command names, then view names, sort columns, or request ids.
public enum CommandCompletion {
    /// The line after one Tab, and the candidates when more than one is left (nil when the line was completed).
    public static func complete(_ text: String, views: [String], columns: [String], ids: [String]) -> (text: String, candidates: [String]?) {
        let words = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        if words.count <= 1 {
            return finish(prefix: "", partial: words.first ?? "", among: ConsoleCommand.names)
        }
        guard words.count == 2 else { return (text, nil) }
        let among: [String]
        switch words[0] {
        case "view": among = views
        case "sort": among = columns
        case "approve", "a", "deny", "d", "revoke", "r": among = ids
        default: return (text, nil)
        }
        return finish(prefix: words[0] + " ", partial: words[1], among: among)
    }

    private static func finish(prefix: String, partial: String, among: [String]) -> (text: String, candidates: [String]?) {
        let hits = among.filter { $0.lowercased().hasPrefix(partial.lowercased()) }
        if hits.count == 1 { return (prefix + hits[0] + " ", nil) }
        guard let first = hits.first else { return (prefix + partial, []) }
        // The longest prefix the candidates share.
        var common = first
        for h in hits.dropFirst() { while !h.lowercased().hasPrefix(common.lowercased()) { common.removeLast() } }
        return (prefix + (common.count > partial.count ? common : partial), hits)
    }
}
