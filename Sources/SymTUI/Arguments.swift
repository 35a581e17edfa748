import Foundation
import SymProtocol
import SymModel

/// One option a command declares (`--reason TEXT`, `--json`).
struct OptionSpec {
    var name: String
    var value: String?          // the value's placeholder; nil for a flag
    var repeatable = false
    var help: String

    static func flag(_ name: String, _ help: String) -> OptionSpec { OptionSpec(name: name, value: nil, help: help) }
    static func value(_ name: String, _ placeholder: String, _ help: String, repeatable: Bool = false) -> OptionSpec {
        OptionSpec(name: name, value: placeholder, repeatable: repeatable, help: help)
    }
}

/// One positional argument a command declares.
struct ArgumentSpec {
    var name: String
    var optional = false
    var help: String
}

/// A subcommand: its words, what it takes, and what it does. Help is generated from these declarations.
struct SubcommandSpec {
    var words: [String]                 // ["audit", "verify"]
    var summary: String
    var arguments: [ArgumentSpec] = []
    var options: [OptionSpec] = []
    var details: String? = nil
    var run: (ParsedArguments, CLIContext) throws -> Int32

    var name: String { words.joined(separator: " ") }

    var usage: String {
        var parts = ["symtui", name]
        for a in arguments { parts.append(a.optional ? "[\(a.name)]" : a.name) }
        for o in options where o.name != "help" && !CLI.globalOptions.contains(where: { $0.name == o.name }) {
            let text = o.value.map { "--\(o.name) \($0)" } ?? "--\(o.name)"
            parts.append("[\(text)]" + (o.repeatable ? "..." : ""))
        }
        return parts.joined(separator: " ")
    }

    var helpText: String {
        var out = "usage: \(usage)\n\n\(summary)\n"
        if let details { out += "\n\(details)\n" }
        if !arguments.isEmpty {
            out += "\narguments:\n"
            for a in arguments { out += Self.helpLine(a.name, a.help) }
        }
        let all = options + CLI.globalOptions
        out += "\noptions:\n"
        for o in all {
            out += Self.helpLine("--\(o.name)" + (o.value.map { " \($0)" } ?? ""), o.help)
        }
        return out
    }

    /// Width of the name column in help; a longer name gets its description on the next line, never cut.
    static let helpColumn = 22

    /// `  NAME                  description`, or the name alone on its line when it fills the column.
    static func helpLine(_ name: String, _ help: String) -> String {
        guard name.count < helpColumn else { return "  " + name + "\n" + String(repeating: " ", count: helpColumn + 2) + help + "\n" }
        return "  " + name.padding(toLength: helpColumn, withPad: " ", startingAt: 0) + help + "\n"
    }
}

/// A usage error: exit 64 with the command's usage line.
struct UsageError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// What the user typed, checked against a command's declarations.
struct ParsedArguments {
    var positionals: [String] = []
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    func flag(_ name: String) -> Bool { flags.contains(name) }
    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
    func positional(_ i: Int) -> String? { i < positionals.count ? positionals[i] : nil }

    /// Parses `args` (after the command words) against `spec` plus the global options.
    static func parse(_ args: [String], spec: SubcommandSpec, into initial: ParsedArguments = ParsedArguments()) throws -> ParsedArguments {
        var out = initial
        let options = spec.options + CLI.globalOptions
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let a = args[i]
            i += 1
            if !onlyPositionals && a == "--" { onlyPositionals = true; continue }
            if !onlyPositionals && a.hasPrefix("--") && a.count > 2 {
                var name = String(a.dropFirst(2))
                var inline: String?
                if let eq = name.firstIndex(of: "=") { inline = String(name[name.index(after: eq)...]); name = String(name[..<eq]) }
                guard let o = options.first(where: { $0.name == name }) else {
                    let hint = Suggestion.closest(to: name, among: options.map(\.name)).map { " (did you mean --\($0)?)" } ?? ""
                    throw UsageError(message: "unknown option --\(name) for '\(spec.name)'\(hint)")
                }
                if o.value != nil {
                    let v: String
                    if let inline { v = inline } else {
                        guard i < args.count else { throw UsageError(message: "--\(name) needs a value (\(o.value!))") }
                        v = args[i]; i += 1
                    }
                    if !o.repeatable, out.values[name] != nil, !CLI.globalOptions.contains(where: { $0.name == name }) {
                        throw UsageError(message: "--\(name) given twice")
                    }
                    out.values[name, default: []].append(v)
                } else {
                    guard inline == nil else { throw UsageError(message: "--\(name) takes no value") }
                    out.flags.insert(name)
                }
                continue
            }
            if !onlyPositionals && a == "-h" { out.flags.insert("help"); continue }
            out.positionals.append(a)
        }
        if out.flags.contains("help") { return out }
        let required = spec.arguments.filter { !$0.optional }.count
        if out.positionals.count < required {
            let missing = spec.arguments[out.positionals.count]
            throw UsageError(message: "missing \(missing.name) (\(missing.help))")
        }
        if out.positionals.count > spec.arguments.count {
            throw UsageError(message: "unexpected argument '\(out.positionals[spec.arguments.count])'")
        }
        return out
    }
}

