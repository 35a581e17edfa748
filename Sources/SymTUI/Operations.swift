import Foundation
import SymModel
import SymProtocol

/// `symtui backup` and `symtui metrics`: what an operator runs from cron, a timer or node_exporter. Both go through
/// the daemon, the only process that opens the store.
enum Operations {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["backup"], summary: "a consistent copy of the running store, verified, written atomically (root, store_group)",
                    arguments: [ArgumentSpec(name: "FILE", help: "where to write the copy (its directory must be yours or root's, writable by no one else)")],
                    details: """
                    The daemon copies the store with SQLite's VACUUM INTO while it keeps serving (one read transaction: the copy
                    is the store as of one commit), checks the copy's audit chain, then renames it over FILE. A cp of a running
                    store is not a backup. Restore: stop the daemon, install -m 0600 FILE as the store, start it (docs/deployment.md).
                    A PostgreSQL store is refused (64): back it up with pg_dump or the server's own backups (docs/store.md).
                    """,
                    run: backup),
        SubcommandSpec(words: ["metrics"], summary: "Prometheus text exposition of the daemon's figures (for node_exporter's textfile collector)",
                    options: [.value("output", "FILE", "write to FILE atomically (a temporary file renamed over it) instead of stdout")],
                    details: """
                    Requests by state, active and stuck grants, each reporting destination's backlog, handler failures and an
                    approval latency histogram. From cron: symtui metrics --output /var/lib/prometheus/node-exporter/symtui.prom
                    """,
                    run: metrics),
    ] }

    static func daemon(_ c: CLIContext, timeout: Int = DaemonClient.answerTimeout) throws -> DaemonClient {
        let socket = try c.socketPath()
        guard let client = DaemonClient.connectIfRunning(socketPath: socket, timeout: timeout) else {
            throw CommandError(ExitCode.unavailable, "the daemon is not running (no answer on \(socket)); start it (systemctl start symtui)")
        }
        return client
    }

    // MARK: backup

    static func backup(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let path = c.absolute(a.positional(0)!)
        // A big store takes a while to copy and check: the answer may come long after a command's usual minute.
        let client = try daemon(c, timeout: 3_600)
        let reply = try client.send(.backup(path: path))   // as given: the daemon refuses links and '..' rather than resolve them
        if let refusal = Wire.refusal(in: reply) { throw refusal }
        if c.json {
            Output.json(.obj([("path", reply["path"]), ("bytes", reply["bytes"]), ("events", reply["events"]),
                              ("head_seq", reply["head_seq"]), ("head_hash", reply["head_hash"])]))
        } else {
            Output.print("backup: \(SafeText.display(reply["path"]?.stringValue ?? path)), \(reply["bytes"]?.intValue ?? 0) bytes, "
                         + "\(reply["events"]?.intValue ?? 0) events verified, head seq \(reply["head_seq"]?.intValue ?? 0)")
        }
        return ExitCode.ok
    }

    // MARK: metrics

    static func metrics(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let reply = try daemon(c).read(.metrics)
        let text = Exposition.render(reply)
        guard let output = a.value("output") else { FileHandle.standardOutput.write(Data(text.utf8)); return ExitCode.ok }
        let path = c.absolute(output)
        let temp = path + ".tmp-\(getpid())"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temp))
            guard rename(temp, path) == 0 else { throw CommandError(ExitCode.ioErr, "cannot rename \(temp) to \(path): \(String(cString: strerror(errno)))") }
        } catch let e as CommandError { unlink(temp); throw e } catch {
            unlink(temp)
            throw CommandError(ExitCode.ioErr, "cannot write \(path): \(error)")
        }
        return ExitCode.ok
    }
}

/// The Prometheus text exposition format (version 0.0.4) of the daemon's `metrics` read.
enum Exposition {
    static func render(_ m: JSONValue) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
            let l = labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
            out += "\(name)\(l) \(value)\n"
        }
        func int(_ v: JSONValue?) -> String { String(v?.intValue ?? 0) }
        family("symtui_requests", "gauge", "Requests in the store, by state.")
        for (state, n) in m["requests"]?.objectValue ?? [] { sample("symtui_requests", [("state", state)], int(n)) }
        family("symtui_grants_active", "gauge", "Grants that give access now (state active).")
        sample("symtui_grants_active", [], int(m["grants_active"]))
        family("symtui_grants_stuck", "gauge", "Grants whose deescalation keeps failing: access that should have ended; retried until it does.")
        sample("symtui_grants_stuck", [], int(m["grants_stuck"]))
        family("symtui_reporting_backlog", "gauge", "Audit events not yet delivered, by reporting destination.")
        for d in m["reporting_backlog"]?.arrayValue ?? [] {
            sample("symtui_reporting_backlog", [("destination", d["destination"]?.stringValue ?? "")], int(d["backlog"]))
        }
        family("symtui_notification_backlog", "gauge", "Notifications not yet delivered, by channel.")
        for c in m["notification_backlog"]?.arrayValue ?? [] {
            sample("symtui_notification_backlog", [("channel", c["channel"]?.stringValue ?? "")], int(c["backlog"]))
        }
        family("symtui_handler_failures_total", "counter", "Handler runs that failed (each recorded as a handler event with an error).")
        sample("symtui_handler_failures_total", [], int(m["handler_failures_total"]))
        let h = m["approval_latency"]
        family("symtui_approval_latency_seconds", "histogram", "Time from a request to its approval, for approved requests.")
        let bounds = h?["bounds"]?.arrayValue ?? []
        let counts = h?["counts"]?.arrayValue ?? []
        for (b, n) in zip(bounds, counts) { sample("symtui_approval_latency_seconds_bucket", [("le", number(b))], int(n)) }
        sample("symtui_approval_latency_seconds_bucket", [("le", "+Inf")], int(h?["count"]))
        sample("symtui_approval_latency_seconds_sum", [], number(h?["sum_seconds"] ?? .int(0)))
        sample("symtui_approval_latency_seconds_count", [], int(h?["count"]))
        family("symtui_audit_head_seq", "gauge", "The seq of the newest audit event.")
        sample("symtui_audit_head_seq", [], int(m["head_seq"]))
        return out
    }

    static func number(_ v: JSONValue) -> String {
        if let i = v.intValue { return String(i) }
        if case let .double(d) = v { return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d) }
        return "0"
    }

    /// Label values are neutralised (they may be config text), then escape backslash, double quote and line feed.
    static func escape(_ s: String) -> String {
        SafeText.display(s).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
