import Foundation
import SymModel
import SymProtocol

/// `symtui status`: one short line for a tmux `status-right` or a shell prompt — requests waiting for me, my grants
/// with the time left — from the daemon's status read (one round trip; it never opens the store).
enum StatusLine {
    static var spec: SubcommandSpec {
        SubcommandSpec(words: ["status"], summary: "one line for tmux or a prompt: requests waiting for you, your grants and their time left",
                    options: [.value("format", "text|tmux|json", "text (default), tmux (with #[fg=…] colours) or json")],
                    details: """
                    In tmux: set -g status-right '#(symtui status --format tmux)' and set -g status-interval 5.
                    Prints nothing and exits 0 when nothing waits and you hold no grant; exits 69 when the daemon does not answer.
                    """,
                    run: run)
    }

    enum Format: String { case text, tmux, json }

    static func run(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let name = a.value("format") ?? (c.json ? "json" : "text")
        guard let format = Format(rawValue: name) else { throw UsageError(message: "--format: '\(SafeText.display(name))' is not one of text, tmux, json") }
        let socket = try c.socketPath()
        guard let client = DaemonClient.connectIfRunning(socketPath: socket, timeout: 2) else {
            throw CommandError(ExitCode.unavailable, "the daemon is not running (no answer on \(socket))")
        }
        let reply = try client.read(.status)
        let waiting = Int(reply["review"]?.intValue ?? 0)
        let grants = (reply["grants"]?.arrayValue ?? []).compactMap(Wire.decodeRequest)
        if format == .json {
            Output.json(.obj([("user", reply["user"]), ("waiting", .num(waiting)), ("pending", reply["pending"]),
                              ("grants", .array(grants.map { g in
                                  .obj([("id", .int(g.id)), ("flow", .string(g.flow)), ("target", .str(g.target)), ("state", .string(g.state.rawValue)),
                                        ("seconds_left", .num(g.accessExpiresAt.map { Int($0.timeIntervalSinceNow.rounded(.down)) }))])
                              }))]))
            return ExitCode.ok
        }
        Output.print(line(waiting: waiting, grants: grants, now: Date(), tmux: format == .tmux))
        return ExitCode.ok
    }

    /// "⚑ 3 waiting · prod-ssh 42m left"; empty when there is nothing to say. User text is neutralised.
    static func line(waiting: Int, grants: [AccessRequest], now: Date, tmux: Bool) -> String {
        var parts: [String] = []
        if waiting > 0 { parts.append((tmux ? "#[fg=yellow,bold]" : "") + "⚑ \(waiting) waiting" + (tmux ? "#[default]" : "")) }
        for g in grants.prefix(3) {
            // tmux expands #(…) and #[…] in the status line: a target name must not inject either.
            let target = SafeText.display(g.target ?? g.flow).replacingOccurrences(of: "#", with: "##")
            switch g.state {
            case .active:
                let left = g.accessExpiresAt.map { short(Int($0.timeIntervalSince(now))) + " left" } ?? "until revoked"
                parts.append("\(target) \(left)")
            case .approved where (g.accessStartsAt ?? now) > now:
                parts.append("\(target) starts in \(short(Int((g.accessStartsAt ?? now).timeIntervalSince(now))))")
            default:
                parts.append("\(target) \(g.state.rawValue)")
            }
        }
        if grants.count > 3 { parts.append("+\(grants.count - 3)") }
        return parts.joined(separator: " · ")
    }

    /// A status bar's duration: `2h05m`, `42m`, `30s`.
    static func short(_ seconds: Int) -> String {
        let s = max(0, seconds)
        if s >= 3600 { return "\(s / 3600)h" + String(format: "%02dm", (s % 3600) / 60) }
        if s >= 60 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
