import Foundation
import SymEngine
import SymModel
import SymStore

/// Where things are and who is asking, resolved once per invocation.
final class CLIContext {
    let arguments: ParsedArguments
    let environment: [String: String]
    let home: String
    var json: Bool { arguments.flag("json") }
    private var cachedConfig: Config?
    private var cachedStore: Store?

    init(arguments: ParsedArguments, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.arguments = arguments
        self.environment = environment
        home = Identity.passwdHome() ?? environment["HOME"] ?? "/"
    }

    /// The user running this command, from the kernel.
    lazy var me: Identity = Identity.current() ?? Identity(uid: getuid(), name: "uid\(getuid())", groups: [])

    var configPath: String? {
        ConfigLoader.locate(explicit: arguments.value("config"), environment: environment, home: home)
    }

    /// The configuration, or an error with exit 66 (not found), 74 (unreadable) or 65 (invalid).
    func config() throws -> Config {
        if let c = cachedConfig { return c }
        guard let path = configPath else {
            throw CommandError(ExitCode.noInput, "no configuration found (looked at --config, $SYMTUI_CONFIG, /etc/symtui/config.json5, "
                               + "\(xdgConfigHome)/symtui/config.json5); create one with 'symtui init'")
        }
        do {
            let c = try ConfigLoader.load(path: path)
            cachedConfig = c
            return c
        } catch let e as ConfigError {
            throw CommandError(e.exitCode, e.problems.map(\.description).joined(separator: "\n"))
        }
    }

    var xdgConfigHome: String { environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config" }

    /// --db, else the config's `store`, else ~/.local/state/symtui/symtui.db.
    func storePath() throws -> String {
        if let db = arguments.value("db") { return absolute(db) }
        if let s = try config().store { return absolute(s) }
        let state = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.local/state"
        return state + "/symtui/symtui.db"
    }

    /// The config's `socket`, else `symtui.sock` next to the store.
    func socketPath() throws -> String {
        if arguments.value("db") == nil, let s = try config().socket { return absolute(s) }
        return ((try storePath()) as NSString).deletingLastPathComponent + "/symtui.sock"
    }

    func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        if p.hasPrefix("~/") { return home + String(p.dropFirst(1)) }
        return FileManager.default.currentDirectoryPath + "/" + p
    }

    /// The store, read-only. Starts a single-user daemon first when the store does not exist yet.
    func store() throws -> Store {
        if let s = cachedStore { return s }
        let path = try storePath()
        if !FileManager.default.fileExists(atPath: path) {
            _ = try client()   // a single-user daemon creates it
        }
        do {
            let s = try Store.openReadOnly(path: path)
            cachedStore = s
            return s
        } catch {
            throw CommandError(ExitCode.unavailable, "cannot read the store \(path): \(error)")
        }
    }

    private var cachedClient: DaemonClient?

    /// A connection to the daemon, starting one in single-user mode when none answers.
    func client() throws -> DaemonClient {
        if let c = cachedClient { return c }
        let c = try DaemonClient.connect(socketPath: try socketPath(), storePath: try storePath(), me: me,
                                         daemonArguments: daemonArguments())
        cachedClient = c
        return c
    }

    /// How to start a daemon for the same config and store.
    func daemonArguments() throws -> [String] {
        var args: [String] = []
        if let c = configPath { args += ["--config", absolute(c)] }
        if let db = arguments.value("db") { args += ["--db", absolute(db)] }
        return args + ["daemon"]
    }

    /// Sends one command; a refusal becomes a CommandError with the daemon's exit code.
    func send(_ command: ClientCommand) throws -> JSONValue? {
        let reply = try client().send(command.json)
        return try DaemonClient.request(from: reply)
    }
}

extension Identity {
    /// The home directory of the real user, from the password database.
    static func passwdHome() -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(getuid(), &pwd, &buf, buf.count, &result) == 0, result != nil, let d = pwd.pw_dir else { return nil }
        return String(cString: d)
    }
}
