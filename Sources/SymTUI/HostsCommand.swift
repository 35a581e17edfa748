import Foundation
import SymModel
import SymProtocol

/// `symtui hosts`: the fleet's daemons as the store knows them (heartbeats) and the strategy steps waiting for each.
enum HostsCommand {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["hosts"], summary: "the fleet's daemons: host, version, last seen, strategy steps waiting for each",
                    details: """
                    Every daemon writes a heartbeat into the store every 5 s; a host is alive when its last one is at most 15 s
                    old. WAITING counts the escalations and deescalations (retries included) due now that only that host's
                    daemon runs (a target's runs_on); a host that has due work but never sent a heartbeat is listed too. Steps
                    any daemon may run are counted on the last line. On a SQLite store the fleet is this one bastion.
                    """,
                    run: hosts),
    ] }

    static func hosts(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let reply = try Operations.daemon(c).read(.hosts)
        if c.json {
            Output.json(.obj([("hosts", reply["hosts"] ?? .array([])), ("any_host_waiting", reply["any_host_waiting"]),
                              ("heartbeat_seconds", reply["heartbeat_seconds"])]))
            return ExitCode.ok
        }
        Output.print(render(reply, now: Date()))
        return ExitCode.ok
    }

    /// The text table (`Output.table` neutralises every cell: a row of a shared database is anyone's text).
    static func render(_ reply: JSONValue, now: Date) -> String {
        let rows = (reply["hosts"]?.arrayValue ?? []).map { h -> [String] in
            let seen: String
            if let ms = h["last_seen_ms"]?.intValue {
                let age = max(0, Int(now.timeIntervalSince(Wire.date(millis: ms))))
                seen = (h["alive"]?.boolValue == true ? "alive, " : "down, ") + "\(TimeSpan.countdown(age)) ago"
            } else {
                seen = "never (no heartbeat)"
            }
            return [h["host"]?.stringValue ?? "?", h["version"]?.stringValue ?? "-", seen, String(h["waiting"]?.intValue ?? 0)]
        }
        var out = [Output.table(["HOST", "VERSION", "LAST SEEN", "WAITING"], rows)]
        if rows.isEmpty { out.append("(no daemon has sent a heartbeat)") }
        out.append("steps any host may run: \(reply["any_host_waiting"]?.intValue ?? 0)")
        return out.joined(separator: "\n")
    }
}
