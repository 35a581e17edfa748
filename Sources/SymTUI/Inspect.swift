import Foundation
import SymModel
import SymProtocol
import SymStore

/// Commands for implementers and operators: trying a handler, and finding drift between grants and real access.
enum Inspect {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["handlers", "test"], summary: "run one handler on a sample event and show its result",
                    arguments: [ArgumentSpec(name: "FLOW", help: "the flow whose implementation to run"),
                                ArgumentSpec(name: "HANDLER", help: "on_request, after_approve, get_approvers, prefetch:FIELD, …")],
                    options: [.value("event", "FILE", "a JSON object: its keys (user, fields, target, …) replace the sample event's")],
                    details: """
                    The handler runs as you, with the same protocol, timeout, isolation and fail-closed rules as in the daemon:
                    a file that someone other than you or root could change (it, its directory or a directory above) is not
                    run. The SDK goes into a fresh private directory for this run. Exit 0 when it answered, 65 when it failed.
                    """,
                    run: handlersTest),
        SubcommandSpec(words: ["check"], summary: "drift: access that exists without a grant, and grants whose access is missing",
                    arguments: [ArgumentSpec(name: "FLOW", optional: true, help: "only this flow's strategy")],
                    details: "Runs each strategy's check (who really has access now) and compares it with the active grants in the store. Processes that still hold a removed group (end_sessions: report) count as drift, listed with their pids. Exit 0 when they agree, 1 when there is drift.",
                    run: check),
    ] }

    static func handlersTest(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let config = try c.config()
        guard let flow = config.flow(named: a.positional(0)!) else { throw CommandError.invalid("unknown flow \"\(SafeText.display(a.positional(0)!))\"") }
        guard flow.implementation != nil else { throw CommandError.invalid("flow \(flow.name) has no implementation") }
        let handler = a.positional(1)!
        guard HandlerName.kind(of: handler) != nil else {
            throw UsageError(message: "unknown handler '\(SafeText.display(handler))' (one of: \((HandlerName.hooks + HandlerName.reducers).joined(separator: ", ")), prefetch:FIELD)")
        }
        var overrides = JSONValue.object([])
        if let path = a.value("event") {
            guard let data = FileManager.default.contents(atPath: c.absolute(path)) else { throw CommandError(ExitCode.noInput, "cannot read \(path)") }
            do { overrides = try JSONValue.parse(data: data) } catch { throw CommandError.invalid("\(path): \(error)") }
            guard overrides.objectValue != nil else { throw CommandError.invalid("\(path): the event must be a JSON object") }
        }
        let target = flow.strategy.flatMap { config.strategy(named: $0) }.flatMap { s in
            overrides["target"]?.stringValue.flatMap(s.target(named:)) ?? s.targets.first
        }
        let user = overrides["user"]?.stringValue ?? c.me.name
        let outcome = try Link.require().testHandler(handler, flow: flow, target: target, user: user, overrides: overrides)
        if c.json { Output.json(outcome.auditData) } else {
            Output.print("handler   \(handler) (\(flow.implementation!))")
            Output.print("outcome   \(outcome.outcome)")
            if let v = outcome.answer { Output.print(SafeText.display("answer    \(v)")) }
            if let f = outcome.failure { Output.print(SafeText.display("error     \(f)")) }
            Output.print("time      \(outcome.durationMs) ms")
            if !outcome.stderrTail.isEmpty {
                Output.print("stderr:")
                for line in outcome.stderrTail.split(separator: "\n") { Output.print("  " + SafeText.display(String(line))) }
            }
        }
        return outcome.failed ? ExitCode.dataErr : ExitCode.ok
    }

    static func check(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let config = try c.config()
        var flows = config.flows.filter { !$0.isApprovalOnly }
        if let name = a.positional(0) {
            guard let f = config.flow(named: name) else { throw CommandError.invalid("unknown flow \"\(SafeText.display(name))\"") }
            guard !f.isApprovalOnly else { throw CommandError.invalid("flow \(name) is approval-only: it grants nothing to check") }
            flows = [f]
        }
        let reader = try c.reader()
        var rows: [JSONValue] = []
        var drift = false
        for sname in Set(flows.compactMap(\.strategy)).sorted() {
            guard let strategy = config.strategy(named: sname) else { continue }
            let flowNames = config.flows.filter { $0.strategy == sname }.map(\.name)
            let current = try strategy.type == .sudoers ? currentGrantees(of: flowNames, reader) : []
            for target in strategy.targets {
                var q = RequestQuery(states: [.active, .escalating, .deescalating], limit: 10_000)
                q.target = target.name
                let grants = try reader.requests(q).filter { flowNames.contains($0.flow) }
                let granted = Set(grants.filter { $0.state == .active }.map(\.requester))
                var row: [(String, JSONValue?)] = [("strategy", .string(sname)), ("target", .string(target.name)),
                                                   ("granted", .array(granted.sorted().map(JSONValue.string)))]
                let ended = try strategy.type == .sudoers ? endedGrants(of: flowNames, target: target.name, except: current, reader) : []
                switch try Link.require().checkAccess(strategy: strategy, target: target, endedGrants: ended) {
                case nil:
                    row.append(("check", .string("none")))
                case let .failed(message)?:
                    row.append(("check", .string("failed")))
                    row.append(("error", .string(message)))
                case let .found(users, holders)?:
                    let inFlight = Set(grants.filter { $0.state != .active }.map(\.requester))
                    let standing = users.subtracting(granted).subtracting(inFlight)
                    let missing = granted.subtracting(users)
                    // Processes still holding the access for a user without a grant (end_sessions: report, or a failed end).
                    let surviving = holders.filter { !granted.contains($0.user) && !inFlight.contains($0.user) }
                        .sorted { ($0.user, $0.pid) < ($1.user, $1.pid) }
                    if !standing.isEmpty || !missing.isEmpty || !surviving.isEmpty { drift = true }
                    row += [("check", .string("ok")), ("has_access", .array(users.sorted().map(JSONValue.string))),
                            ("standing_access", .array(standing.sorted().map(JSONValue.string))),
                            ("missing_access", .array(missing.sorted().map(JSONValue.string))),
                            ("surviving_sessions", .array(surviving.map { h in
                                .obj([("user", .string(h.user)), ("pid", .int(Int64(h.pid))), ("command", .string(h.command))])
                            }))]
                }
                rows.append(.obj(row))
            }
        }
        if c.json { Output.json(.obj([("drift", .bool(drift)), ("targets", .array(rows))])) } else {
            func list(_ v: JSONValue?) -> String { (v?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",") }
            func sessions(_ v: JSONValue?) -> String {
                (v?.arrayValue ?? []).map { s in
                    "\(s["user"]?.stringValue ?? "?"):\(s["pid"]?.intValue.map(String.init) ?? "?")(\(SafeText.display(s["command"]?.stringValue ?? "")))"
                }.joined(separator: ",")
            }
            Output.print(Output.table(["STRATEGY", "TARGET", "CHECK", "GRANTED", "STANDING (no grant)", "MISSING (grant, no access)",
                                       "SURVIVING (user:pid, no grant)"], rows.map { r in
                [r["strategy"]?.stringValue ?? "", r["target"]?.stringValue ?? "",
                 r["check"]?.stringValue == "failed" ? "failed: " + (r["error"]?.stringValue ?? "") : (r["check"]?.stringValue ?? ""),
                 list(r["granted"]), list(r["standing_access"]), list(r["missing_access"]), sessions(r["surviving_sessions"])]
            }))
        }
        return drift ? ExitCode.negative : ExitCode.ok
    }

    /// Users with a grant of any of these flows that is active or on its way (sudo cannot tell which rule a
    /// process came through, so theirs are not counted as survivors of another grant).
    static func currentGrantees(of flows: [String], _ reader: any StoreReader) throws -> Set<String> {
        let q = RequestQuery(states: [.active, .escalating, .deescalating], limit: 10_000)
        return Set(try reader.requests(q).filter { flows.contains($0.flow) }.map(\.requester))
    }

    /// The target's ended grants, newest first, as windows from their start to their end.
    static func endedGrants(of flows: [String], target: String, except current: Set<String>, _ reader: any StoreReader) throws -> [EndedGrant] {
        var q = RequestQuery(states: [.ended], limit: 10_000)
        q.target = target
        return try reader.requests(q).compactMap { r in
            guard flows.contains(r.flow), !current.contains(r.requester), let until = r.endedAt,
                  let from = r.accessStartsAt ?? r.decidedAt else { return nil }
            return EndedGrant(user: r.requester, from: from, until: until)
        }
    }
}
