import Foundation
import SymModel
import SymProtocol
import SymStore

public let symtuiVersion = "0.1.0"

/// The `symtui` entry point: finds the command, parses its declared arguments, runs it, maps errors to exit codes.
public enum SymTUICommandLine {
    /// Runs the command line with the engine the executable links (`daemon`, `check`, `handlers test`).
    public static func main(_ argv: [String], engine: any EngineLink) -> Never {
        // A daemon that goes away mid-write must give a clear error (69), not kill the CLI with SIGPIPE.
        BrokenPipes.ignore()
        Link.engine = engine
        exit(run(Array(argv.dropFirst())))
    }

    public static func run(_ args: [String]) -> Int32 {
        // Global options may come before the command words.
        var globals = ParsedArguments()
        var rest = args[...]
        while let a = rest.first, a.hasPrefix("--") {
            // `symtui --version`, as most tools answer it: the same as `symtui version` (before any command only).
            if a == "--version" { return CLI.printVersion(json: globals.flag("json") || rest.dropFirst().contains("--json")) }
            let name = String(a.dropFirst(2).prefix { $0 != "=" })
            guard let o = (CLI.globalOptions + CLI.consoleOptions).first(where: { $0.name == name }) else { break }
            rest = rest.dropFirst()
            if o.value != nil {
                if let eq = a.firstIndex(of: "=") { globals.values[name, default: []].append(String(a[a.index(after: eq)...])) }
                else if let v = rest.first { globals.values[name, default: []].append(v); rest = rest.dropFirst() }
                else { Output.error("--\(name) needs a value"); return ExitCode.usage }
            } else { globals.flags.insert(name) }
        }
        let words = Array(rest)
        if words.isEmpty {
            if globals.flag("help") { Output.print(CLI.overview); return ExitCode.ok }
            return CLI.runConsole(globals)
        }
        if let o = CLI.consoleOptions.first(where: { globals.flag($0.name) }) {
            Output.error("--\(o.name) is an option of the console (symtui without a command), not of '\(SafeText.display(words[0]))'")
            return ExitCode.usage
        }
        guard let spec = CLI.find(words) else {
            let longer = CLI.commands.filter { $0.words.count > 1 && $0.words[0] == words[0] }.map(\.name)
            if !longer.isEmpty {
                let given = words.count > 1 ? " '\(SafeText.display(words[0])) \(SafeText.display(words[1]))'" : ""
                Output.error("unknown command\(given.isEmpty ? " '\(SafeText.display(words[0]))'" : given) (one of: \(longer.joined(separator: ", ")); see 'symtui help')")
                return ExitCode.usage
            }
            let hint = Suggestion.closest(to: words[0], among: CLI.commands.map { $0.words[0] }).map { "did you mean '\($0)'? " } ?? ""
            Output.error("unknown command '\(SafeText.display(words[0]))' (\(hint)see 'symtui help')")
            return ExitCode.usage
        }
        let parsed: ParsedArguments
        do {
            parsed = try ParsedArguments.parse(Array(words.dropFirst(spec.words.count)), spec: spec, into: globals)
        } catch let e as UsageError {
            Output.error("\(e.message)\nusage: \(spec.usage)")
            return ExitCode.usage
        } catch { Output.error("\(error)"); return ExitCode.usage }
        if parsed.flag("help") { Output.print(spec.helpText); return ExitCode.ok }
        let context = CLIContext(arguments: parsed)
        do {
            return try spec.run(parsed, context)
        } catch let e as CommandError {
            Output.error(e.message)
            return e.code
        } catch let e as UsageError {
            Output.error("\(e.message)\nusage: \(spec.usage)")
            return ExitCode.usage
        } catch {
            Output.error("\(error)")
            return ExitCode.software
        }
    }
}

/// The command table: every subcommand as a declaration.
enum CLI {
    static let globalOptions: [OptionSpec] = [
        .value("config", "PATH", "configuration file (default: $SYMTUI_CONFIG, /etc/symtui/config.json5, ~/.config/symtui/config.json5)"),
        .value("db", "PATH", "store file (default: the config's store, ~/.local/state/symtui/symtui.db)"),
        .flag("json", "machine-readable output"),
        .flag("help", "show this help"),
    ]
    /// Options of the console alone (`symtui` without a command).
    static let consoleOptions: [OptionSpec] = [
        .flag("no-mouse", "leave the mouse to the terminal: no clicks or wheel in the console (select text as usual)"),
        .flag("readonly", "a wallboard: no action keys; nothing but reads is sent to the daemon"),
    ]

    static func printVersion(json: Bool) -> Int32 {
        if json { Output.json(.obj([("version", .string(symtuiVersion))])) } else { Output.print("symtui \(symtuiVersion)") }
        return ExitCode.ok
    }

    static func find(_ words: [String]) -> SubcommandSpec? {
        commands.filter { $0.words.count <= words.count && Array(words.prefix($0.words.count)) == $0.words }
            .max { $0.words.count < $1.words.count }
    }

    static var overview: String {
        var out = """
        symtui \(symtuiVersion) — just-in-time access flows in the terminal

        usage: symtui [--config PATH] [--db PATH] [COMMAND] [ARGS] [--json]
               symtui --version

        Without a command, symtui opens the console. Console options:
        \(consoleOptions.map { "  " + ("--" + $0.name).padding(toLength: 22, withPad: " ", startingAt: 0) + $0.help }.joined(separator: "\n"))
        Commands:

        """
        let width = max(18, (commands.map(\.name.count).max() ?? 0) + 2)
        for c in commands { out += "  " + c.name.padding(toLength: width, withPad: " ", startingAt: 0) + c.summary + "\n" }
        out += """

        Exit codes: 0 ok, 1 negative outcome (wait), 64 usage, 65 invalid data, 66 config not found,
        69 daemon/store unavailable, 74 I/O error, 75 timeout, 77 not allowed.
        'symtui help COMMAND' or 'symtui COMMAND --help' shows one command.
        """
        return out
    }

    static var commands: [SubcommandSpec] { [
        SubcommandSpec(words: ["demo"], summary: "write a self-contained demo and open the console",
                    options: [.value("dir", "DIR", "where to write the demo (default: ~/.local/state/symtui/demo)"),
                              .flag("no-console", "write the demo and start its daemon, but do not open the console")],
                    run: Demo.run),
        SubcommandSpec(words: ["init"], summary: "write a commented starter config",
                    arguments: [ArgumentSpec(name: "PATH", optional: true, help: "where to write it (default: ~/.config/symtui/config.json5)")],
                    options: [.flag("force", "overwrite an existing file")], run: Commands.initConfig),
        SubcommandSpec(words: ["config", "check"], summary: "validate a config; print every problem",
                    arguments: [ArgumentSpec(name: "PATH", optional: true, help: "the config to check (default: the one symtui would use)")],
                    run: Commands.configCheck),
        SubcommandSpec(words: ["flows"], summary: "flows, targets, fields and eligible approvers (the Prompt step)", run: Commands.flows),
        SubcommandSpec(words: ["request"], summary: "ask for access (or run an approval-only flow); prints the request id",
                    arguments: [ArgumentSpec(name: "FLOW", help: "the flow to run"),
                                ArgumentSpec(name: "TARGET", optional: true, help: "the target (may be omitted when the flow has one)")],
                    options: [.value("duration", "D", "how long, e.g. 1h (the flow's duration field)"),
                              .value("start", "TIME", "a scheduled window: access from TIME (RFC 3339, +2h or \"in 2h\") for the duration"),
                              .value("field", "NAME=VALUE", "a prompt field's value", repeatable: true),
                              .value("reason", "TEXT", "why (the flow's reason field)"),
                              .flag("wait", "block until decided and active (exit codes as 'wait')"),
                              .value("timeout", "D", "with --wait: give up after D (exit 75)")],
                    run: Commands.request),
        SubcommandSpec(words: ["list"], summary: "requests (default: open ones)",
                    options: [.value("state", "S", "only this state (pending, active, …)", repeatable: true),
                              .flag("mine", "only my requests"), .flag("review", "only those I may decide now"),
                              .flag("all", "include finished requests"), .value("limit", "N", "at most N rows (default 100)")],
                    run: Commands.list),
        SubcommandSpec(words: ["show"], summary: "one request with its events",
                    arguments: [ArgumentSpec(name: "ID", help: "request id")], run: Commands.show),
        SubcommandSpec(words: ["approve"], summary: "approve a request",
                    arguments: [ArgumentSpec(name: "ID", help: "request id")],
                    options: [.value("reason", "TEXT", "why (required for self-approval)")],
                    run: { a, c in try Commands.decide(a, c) { .approve(id: $0, reason: a.value("reason")) } }),
        SubcommandSpec(words: ["deny"], summary: "deny a request (a reason is required)",
                    arguments: [ArgumentSpec(name: "ID", help: "request id")], options: [.value("reason", "TEXT", "why")],
                    run: { a, c in
                        guard let r = a.value("reason"), !r.isAll(in: .whitespaces) else {
                            throw UsageError(message: "deny needs --reason TEXT")
                        }
                        return try Commands.decide(a, c) { .deny(id: $0, reason: r) }
                    }),
        SubcommandSpec(words: ["cancel"], summary: "cancel your pending request",
                    arguments: [ArgumentSpec(name: "ID", help: "request id")], run: { a, c in try Commands.decide(a, c) { .cancel(id: $0) } }),
        SubcommandSpec(words: ["release"], summary: "give up your access now",
                    arguments: [ArgumentSpec(name: "ID", help: "request id")], run: { a, c in try Commands.decide(a, c) { .release(id: $0) } }),
        SubcommandSpec(words: ["revoke"], summary: "end someone's access now (approvers)",
                    arguments: [ArgumentSpec(name: "ID", help: "request id")], options: [.value("reason", "TEXT", "why")],
                    run: { a, c in try Commands.decide(a, c) { .revoke(id: $0, reason: a.value("reason")) } }),
        SubcommandSpec(words: ["extend"], summary: "ask to extend an active grant; prints the extension's request id",
                    arguments: [ArgumentSpec(name: "ID", help: "request id of the active grant")],
                    options: [.value("duration", "D", "how much longer, e.g. 30m"), .value("reason", "TEXT", "why")],
                    run: { a, c in
                        guard let d = a.value("duration") else { throw UsageError(message: "extend needs --duration D") }
                        return try Commands.extend(a, c, duration: d)
                    }),
        SubcommandSpec(words: ["wait"], summary: "block until a request is decided and active",
                    arguments: [ArgumentSpec(name: "ID", help: "request id")],
                    options: [.value("timeout", "D", "give up after D (exit 75)")],
                    details: "Exit 0 when active (or approved, for approval-only flows), 1 when denied, expired, cancelled, failed or ended, 75 on timeout.",
                    run: Commands.wait),
        SubcommandSpec(words: ["events"], summary: "the Events API: JSON Lines in, one JSON result line out per input",
                    arguments: [ArgumentSpec(name: "FILE", optional: true, help: "input file, or - for stdin (default)")],
                    details: """
                    Each line is one object: {"event":"request","flow":F,"target":T,"fields":{…},"duration":D,"reason":R,"start":TIME},
                    {"event":"approve","request":ID,"reason":R}, deny, cancel, revoke, release, {"event":"extend","request":ID,"duration":D}.
                    Each answer is {"ok":true,"request":{…}} or {"ok":false,"exit":N,"error":"…","line":L}.
                    """,
                    run: Commands.events),
        SubcommandSpec(words: ["daemon"], summary: "run the engine and socket (the only process that opens the store)",
                    options: [.flag("once", "do all due work and exit"),
                              .value("log-level", "LEVEL", "what to log: debug, info (default), warning or error")], run: Commands.daemon),
        SubcommandSpec(words: ["version"], summary: "print the version", run: { a, c in
            _ = CLI.printVersion(json: c.json)
            return ExitCode.ok
        }),
        SubcommandSpec(words: ["help"], summary: "help on a command",
                    arguments: [ArgumentSpec(name: "COMMAND", optional: true, help: "a command"),
                                ArgumentSpec(name: "SUBCOMMAND", optional: true, help: "for two-word commands (config check)")],
                    options: [.flag("man", "print the symtui(1) manual page (roff) generated from this table")], run: { a, _ in
            if a.flag("man") { Output.print(ManPage.symtui()); return ExitCode.ok }
            let words = a.positionals
            if words.isEmpty { Output.print(CLI.overview); return ExitCode.ok }
            guard let spec = CLI.find(words) ?? CLI.commands.first(where: { $0.words.first == words[0] }) else {
                throw UsageError(message: "no command '\(SafeText.display(words.joined(separator: " ")))'")
            }
            Output.print(spec.helpText)
            return ExitCode.ok
        }),
        StatusLine.spec,
        Completion.spec,
        ConsoleHelp.spec,
    ] + AuditCommands.specs + Inspect.specs + SymImport.specs + Operations.specs + HostsCommand.specs + ReportCommand.specs + StoreCommands.specs + NotifyCommands.specs + OnCallCommands.specs }

    static func runConsole(_ globals: ParsedArguments) -> Int32 {
        guard isatty(0) == 1, isatty(1) == 1 else {
            Output.error("the console needs a terminal; use a command instead (see 'symtui help'), e.g. 'symtui list'")
            return ExitCode.usage
        }
        do {
            let backend = try StoreBackend(context: CLIContext(arguments: globals))
            backend.readOnly = globals.flag("readonly")
            return ConsoleApp(backend: backend, mouse: !globals.flag("no-mouse"), readOnly: backend.readOnly,
                              keys: backend.config.console.keys).run()
        } catch let e as CommandError {
            Output.error(e.message)
            return e.code
        } catch {
            Output.error("\(error)")
            return ExitCode.unavailable
        }
    }
}
