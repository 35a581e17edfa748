import Foundation
import SymProtocol
import SymModel

/// `symtui demo`: a self-contained directory (config, store, harmless strategies) for trying SymTUI alone.
enum Demo {
    static func run(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let state = c.environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? c.home + "/.local/state"
        let dir = c.absolute(a.value("dir") ?? state + "/symtui/demo")
        let configPath = dir + "/config.json5"
        do {
            try write(dir: dir, user: c.me.name)
        } catch let e as CommandError { throw e } catch {
            throw CommandError(ExitCode.ioErr, "cannot write the demo in \(dir): \(error.localizedDescription)")
        }
        var globals = ParsedArguments()
        globals.values["config"] = [configPath]
        let context = CLIContext(arguments: globals, environment: c.environment)
        _ = try context.config()
        _ = try context.client()   // starts the demo's daemon
        if a.flag("no-console") || isatty(0) != 1 || isatty(1) != 1 {
            Output.print("""
            demo ready in \(dir)
              console:  symtui --config \(configPath)
              request:  symtui --config \(configPath) request demo-access staging-shell --reason "try it" --duration 30s
              approve:  symtui --config \(configPath) approve ID --reason "break glass (demo)"
            self-approval is enabled for the demo flows only.
            """)
            return ExitCode.ok
        }
        return CLI.runConsole(globals)
    }

    static func write(dir: String, user: String) throws {
        let fm = FileManager.default
        for d in [dir, dir + "/bin", dir + "/granted", dir + "/impl"] {
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        // The "system" the demo grants access to: a marker file per user and target inside the demo directory.
        try file(dir + "/bin/grant", mode: 0o755, """
            #!/bin/sh
            # Demo escalation: create a marker file. Arguments: USER TARGET (no shell ever sees field values).
            set -eu
            mkdir -p "\(dir)/granted"
            printf '%s granted %s until %s\\n' "$1" "$2" "${SYMTUI_EXPIRES_AT:-}" > "\(dir)/granted/$1@$2"
            printf '{"marker": "%s"}\\n' "\(dir)/granted/$1@$2"
            """)
        try file(dir + "/bin/revoke", mode: 0o755, """
            #!/bin/sh
            # Demo deescalation: remove the marker file (idempotent).
            set -eu
            rm -f "\(dir)/granted/$1@$2"
            """)
        try file(dir + "/impl/jobs.py", mode: 0o644, """
            # Demo handlers for the approval-only flow: the approved "restart" is recorded in jobs.log.
            import datetime, os
            from symtui_sdk import hook

            LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "jobs.log")

            @hook
            def after_approve(event):
                with open(LOG, "a") as f:
                    f.write(f"{datetime.datetime.utcnow().isoformat()}Z restarted {event.fields.get('service')} "
                            f"for {event.request.requester}\\n")
                print("restart recorded")
            """)
        try file(dir + "/config.json5", mode: 0o644, """
            // SymTUI demo — everything lives in this directory; nothing outside it is touched.
            {
              store: "\(dir)/symtui.db",
              strategies: [
                { name: "demo-files", type: "command",
                  settings: { escalate: "\(dir)/bin/grant", deescalate: "\(dir)/bin/revoke", timeout: "10s" },
                  targets: [
                    { name: "staging-shell", label: "Staging shell (demo)" },
                    { name: "prod-readonly", label: "Production read-only (demo)" },
                    { name: "orders-db", label: "orders DB read-write (demo)" },
                  ] },
              ],
              flows: [
                { name: "demo-access", label: "Temporary access (demo)", strategy: "demo-files",
                  approvers: { users: ["\(user)"] },
                  allow_self_approval: true,   // demo only: you approve your own requests
                  max_duration: "1h",
                  prompt_fields: [
                    { name: "reason", type: "string", label: "Why do you need access?", required: true },
                    { name: "duration", type: "duration", allowed_values: ["30s", "2m", "15m"], default: "30s" },
                  ] },
                { name: "restart-service", label: "Restart a service (approval-only demo)",
                  approvers: { users: ["\(user)"] },
                  allow_self_approval: true,
                  implementation: "\(dir)/impl/jobs.py",
                  prompt_fields: [
                    { name: "reason", type: "string", required: true },
                    { name: "service", type: "string", allowed_values: ["api", "worker", "scheduler"], default: "api" },
                  ] },
                { name: "db-change", label: "Database change window (demo, several fields)", strategy: "demo-files",
                  approvers: { users: ["\(user)"] },
                  allow_self_approval: true,
                  additional_header_text: "Open a change ticket first; the window closes by itself.",
                  prompt_fields: [
                    { name: "reason", type: "string", required: true },
                    { name: "ticket", type: "string", label: "Change ticket", required: false },
                    { name: "rows", type: "int", label: "Rows expected to change", required: false },
                    { name: "readonly_first", type: "bool", label: "Dry run first", default: true },
                    { name: "duration", type: "duration", allowed_values: ["1m", "5m", "30m"], default: "1m" },
                  ] },
              ],
            }
            """)
    }

    private static func file(_ path: String, mode: Int, _ text: String) throws {
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        _ = chmod(path, mode_t(mode))
    }
}
