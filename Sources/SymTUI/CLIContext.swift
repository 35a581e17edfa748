import Foundation
import SymModel
import SymProtocol
import SymStore

/// Where things are and who is asking, resolved once per invocation.
final class CLIContext {
    let arguments: ParsedArguments
    let environment: [String: String]
    let home: String
    var json: Bool { arguments.flag("json") }
    private var cachedConfig: Config?
    private var cachedStore: Store?
    private var cachedReader: (any StoreReader)?

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
        if let db = arguments.value("db") { return PostgresStore.isPostgresURI(db) ? db : absolute(db) }
        if let s = try config().store { return PostgresStore.isPostgresURI(s) ? s : absolute(s) }
        let state = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.local/state"
        return state + "/symtui/symtui.db"
    }

    /// The config's `socket`, else `symtui.sock` next to the store (in the state directory for a PostgreSQL store).
    func socketPath() throws -> String {
        if arguments.value("db") == nil, let s = try config().socket { return absolute(s) }
        let store = try storePath()
        if PostgresStore.isPostgresURI(store) { return defaultStateDirectory + "/symtui.sock" }
        return (store as NSString).deletingLastPathComponent + "/symtui.sock"
    }

    /// $XDG_STATE_HOME/symtui (~/.local/state/symtui).
    var defaultStateDirectory: String {
        (environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.local/state") + "/symtui"
    }

    /// Whether the store is a PostgreSQL database (read only through the daemon).
    func storeIsPostgres() throws -> Bool { PostgresStore.isPostgresURI(try storePath()) }

    func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        if p.hasPrefix("~/") { return home + String(p.dropFirst(1)) }
        return FileManager.default.currentDirectoryPath + "/" + p
    }

    /// The store file itself, read-only: for what needs the file (`audit verify` of a store or a backup copy), and
    /// for trusted readers while the daemon is down. Only root and `store_group` may read it.
    func store() throws -> Store {
        if let s = cachedStore { return s }
        let path = try storePath()
        if PostgresStore.isPostgresURI(path) {
            throw CommandError(ExitCode.unavailable, "the store is a PostgreSQL database (\(PostgresStore.redacted(path))): "
                               + "this reads a SQLite store file; ask the daemon instead (symtui daemon must be running)")
        }
        var st = stat()
        guard stat(path, &st) == 0 else {
            // A store in a directory this user may not enter is the daemon's too: the same answer as an unreadable file.
            if errno == EACCES {
                throw CommandError(ExitCode.noPerm, "cannot read the store \(path): it is the daemon's (readable by its owner and store_group only); "
                                   + "ask the daemon instead, or run this as root")
            }
            throw CommandError(ExitCode.noInput, "no store at \(path)" + (errno == ENOENT ? "" : ": \(String(cString: strerror(errno)))"))
        }
        guard access(path, R_OK) == 0 else {
            throw CommandError(ExitCode.noPerm, "cannot read the store \(path): it is the daemon's (readable by its owner and store_group only); "
                               + "ask the daemon instead, or run this as root")
        }
        do {
            let s = try Store.openReadOnly(path: path)
            cachedStore = s
            return s
        } catch {
            throw CommandError(ExitCode.unavailable, "cannot read the store \(path): \(error)")
        }
    }

    /// Where reads go: the daemon (which alone opens the store), or the file read-only when the daemon is down and
    /// this user may read it. Starts a single-user daemon when the store does not exist yet and it is this user's.
    func reader() throws -> any StoreReader {
        if let r = cachedReader { return r }
        let socket = try socketPath()
        let path = try storePath()
        let reader: any StoreReader
        if let client = cachedClient ?? DaemonClient.connectIfRunning(socketPath: socket) {
            cachedClient = client
            reader = DaemonReader(client: client, socketPath: socket)
        } else if FileManager.default.fileExists(atPath: path) {
            guard access(path, R_OK) == 0 else {
                throw CommandError(ExitCode.unavailable, "the daemon is not running (no answer on \(socket)); "
                                   + "ask an administrator to start it (systemctl start symtui)")
            }
            reader = DirectReader(store: try store(), config: try config(), actor: me.actor)
        } else {
            reader = DaemonReader(client: try client(), socketPath: socket)   // a single-user daemon creates the store
        }
        cachedReader = reader
        return reader
    }

    private var cachedClient: DaemonClient?

    /// A connection to the daemon, starting one in single-user mode when none answers.
    func client() throws -> DaemonClient {
        if let c = cachedClient { return c }
        if try storeIsPostgres() {
            // No single-user daemon for a shared database: it is the bastion's daemon or none.
            let socket = try socketPath()
            guard let c = DaemonClient.connectIfRunning(socketPath: socket) else {
                throw CommandError(ExitCode.unavailable, "the daemon is not running (no answer on \(socket)); with a PostgreSQL store "
                                   + "everything goes through it: ask an administrator to start it (systemctl start symtui)")
            }
            cachedClient = c
            return c
        }
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

    /// Sends one change; a refusal becomes a CommandError with the daemon's exit code.
    func send(_ change: ChangeCall) throws -> JSONValue? {
        let reply = try client().send(.change(change))
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
