import Foundation
import SymEngine
import SymModel

/// Talks to the daemon over its socket; starts one in single-user mode (like tmux) when none answers.
final class DaemonClient {
    let connection: LineConnection

    /// How long an answer may take: longer than any handler or strategy the daemon runs while answering.
    static let answerTimeout = 60

    init(connection: LineConnection) {
        self.connection = connection
        connection.setReceiveTimeout(seconds: DaemonClient.answerTimeout)
    }

    static func connect(socketPath: String, storePath: String, me: Identity, daemonArguments: [String]) throws -> DaemonClient {
        if let c = try? connectUnixSocket(socketPath) { return DaemonClient(connection: c) }
        guard mayStartDaemon(storePath: storePath, me: me) else {
            throw CommandError(ExitCode.unavailable, "the daemon is not running (no answer on \(socketPath)); "
                               + "ask an administrator to start it (systemctl start symtui)")
        }
        try startDaemon(arguments: daemonArguments, storePath: storePath)
        let deadline = Date().addingTimeInterval(10)
        var lastError = "timed out"
        while Date() < deadline {
            do { return DaemonClient(connection: try connectUnixSocket(socketPath)) } catch { lastError = "\(error)" }
            usleep(20_000)
        }
        let log = (storePath as NSString).deletingLastPathComponent + "/symtui-daemon.log"
        throw CommandError(ExitCode.unavailable, "started a daemon but it does not answer on \(socketPath) (\(lastError)); see \(log)")
    }

    /// Single-user mode: only when this user owns the store, or it does not exist and its directory is theirs to create.
    static func mayStartDaemon(storePath: String, me: Identity) -> Bool {
        var st = stat()
        if stat(storePath, &st) == 0 { return st.st_uid == me.uid }
        var dir = (storePath as NSString).deletingLastPathComponent
        while !dir.isEmpty && dir != "/" {
            if stat(dir, &st) == 0 { return st.st_uid == me.uid }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return false
    }

    static func startDaemon(arguments: [String], storePath: String) throws {
        let dir = (storePath as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let env = ProcessInfo.processInfo.environment
        var keep: [String: String] = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
        for k in ["HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "SYMTUI_CONFIG", "TZ"] { if let v = env[k] { keep[k] = v } }
        try ProcessRunner.spawnDetached(path: exe, arguments: arguments, environment: keep, logPath: dir + "/symtui-daemon.log")
    }

    /// Sends one JSON object and returns the daemon's answer.
    func send(_ message: JSONValue) throws -> JSONValue {
        var pairs = message.objectValue ?? []
        pairs.insert(("v", .int(protocolVersion)), at: 0)
        do {
            try connection.writeLine(JSONValue.object(pairs).compact)
            guard let line = try connection.readLine() else { throw CommandError(ExitCode.unavailable, "the daemon closed the connection") }
            return try JSONValue.parse(line)
        } catch let e as CommandError { throw e } catch {
            throw CommandError(ExitCode.unavailable, "talking to the daemon: \(error)")
        }
    }

    /// The request object of a successful answer, or the refusal as a CommandError.
    static func request(from reply: JSONValue) throws -> JSONValue? {
        if reply["ok"]?.boolValue == true { return reply["request"] }
        throw CommandError(Int32(reply["exit"]?.intValue ?? Int64(ExitCode.software)), reply["error"]?.stringValue ?? "the daemon refused")
    }
}
