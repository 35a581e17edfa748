import Foundation
import SymModel
import SymProtocol
import SymStore

/// What each command does.
enum Commands {
    static func requestID(_ a: ParsedArguments) throws -> Int64 {
        guard let s = a.positional(0), let id = Int64(s), id > 0 else {
            throw UsageError(message: "'\(SafeText.display(a.positional(0) ?? ""))' is not a request id (a positive number)")
        }
        return id
    }

    static func timeout(_ a: ParsedArguments) throws -> TimeInterval? {
        guard let t = a.value("timeout") else { return nil }
        guard let span = TimeSpan(parsing: t) else { throw UsageError(message: "--timeout: '\(SafeText.display(t))' is not a duration (e.g. 30s, 5m)") }
        return TimeInterval(span.seconds)
    }

    // MARK: changes (sent to the daemon)

    static func request(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        var fields: [String: JSONValue] = [:]
        for f in a.all("field") {
            guard let eq = f.firstIndex(of: "="), eq != f.startIndex else {
                throw UsageError(message: "--field takes NAME=VALUE (got '\(SafeText.display(f))')")
            }
            let name = String(f[..<eq])
            guard fields[name] == nil else { throw UsageError(message: "--field \(name) given twice") }
            fields[name] = .string(String(f[f.index(after: eq)...]))
        }
        let wait = try timeout(a)
        if wait != nil && !a.flag("wait") { throw UsageError(message: "--timeout goes with --wait") }
        _ = try c.config()
        let command = ChangeCall.request(flow: a.positional(0)!, target: a.positional(1), fields: fields,
                                            duration: a.value("duration"), reason: a.value("reason"), start: a.value("start"))
        guard let r = try c.send(command), let id = r["id"]?.intValue else { throw CommandError(ExitCode.software, "the daemon sent no request") }
        if a.flag("wait") {
            if !c.json { FileHandle.standardError.write(Data("symtui: request \(id) created; waiting for a decision…\n".utf8)) }
            return try waitFor(id, timeout: wait, c)
        }
        if c.json { Output.json(r) } else { Output.print(String(id)) }
        return ExitCode.ok
    }

    static func decide(_ a: ParsedArguments, _ c: CLIContext, _ make: (Int64) -> ChangeCall) throws -> Int32 {
        let id = try requestID(a)
        _ = try c.config()
        guard let r = try c.send(make(id)) else { return ExitCode.ok }
        if c.json { Output.json(r) } else {
            var line = "request \(r["id"]?.intValue ?? id): \(r["state"]?.stringValue ?? "?")"
            if let e = r["end_reason"]?.stringValue { line += " (\(e))" }
            if r["state"]?.stringValue == "pending", let n = r["approvals"]?.arrayValue?.count, let need = r["required_approvals"]?.intValue {
                line += " — \(n) of \(need) approvals"
            }
            Output.print(line)
        }
        return ExitCode.ok
    }

    /// An extension is a new request routed like the grant: print its id, as `request` does.
    static func extend(_ a: ParsedArguments, _ c: CLIContext, duration: String) throws -> Int32 {
        let id = try requestID(a)
        _ = try c.config()
        guard let r = try c.send(.extend(id: id, duration: duration, reason: a.value("reason"))), let newID = r["id"]?.intValue else {
            throw CommandError(ExitCode.software, "the daemon sent no request")
        }
        if c.json { Output.json(r) } else { Output.print(String(newID)) }
        return ExitCode.ok
    }

    static func events(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let source = a.positional(0) ?? "-"
        let handle: FileHandle
        if source == "-" { handle = .standardInput } else {
            guard let h = FileHandle(forReadingAtPath: c.absolute(source)) else {
                throw CommandError(ExitCode.noInput, "cannot open \(source)")
            }
            handle = h
        }
        _ = try c.config()
        var firstFailure: Int32 = ExitCode.ok
        var lineNumber = 0
        let reader = LineReader(handle: handle)
        while let line = reader.next() {
            lineNumber += 1
            if line.isAll(in: .whitespaces) { continue }
            var answer: JSONValue
            do {
                let json: JSONValue
                do { json = try JSONValue.parse(line) } catch { throw CommandError.invalid("line \(lineNumber): not valid JSON: \(error)") }
                let command = try ChangeCall.parse(json)
                let reply = try c.client().send(.change(command))
                answer = reply
                if reply["ok"]?.boolValue != true, firstFailure == ExitCode.ok {
                    firstFailure = Int32(reply["exit"]?.intValue ?? Int64(ExitCode.software))
                }
            } catch let e as CommandError {
                if e.code == ExitCode.unavailable { throw e }
                answer = .obj([("ok", .bool(false)), ("exit", .int(Int64(e.code))), ("error", .string(e.message))])
                if firstFailure == ExitCode.ok { firstFailure = e.code }
            }
            var pairs = (answer.objectValue ?? []).filter { $0.0 != "v" }
            if answer["ok"]?.boolValue != true { pairs.append(("line", .int(Int64(lineNumber)))) }
            Output.print(JSONValue.object(pairs).compact)
        }
        return firstFailure
    }

    // MARK: reads (through the daemon)

    static func list(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let reader = try c.reader()
        var query = RequestQuery()
        if let l = a.value("limit") {
            guard let n = Int(l), n > 0 else { throw UsageError(message: "--limit takes a positive number") }
            query.limit = n
        }
        var states: [RequestState] = []
        for s in a.all("state") {
            guard let st = RequestState(rawValue: s) else {
                throw UsageError(message: "unknown state '\(SafeText.display(s))' (one of: \(RequestState.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            states.append(st)
        }
        if states.isEmpty && !a.flag("all") {
            states = [.pending, .approved, .escalating, .active, .deescalating]
        }
        query.states = states
        if a.flag("mine") { query.requester = c.me.name }
        var rows: [AccessRequest]
        if a.flag("review") {
            rows = try reader.review(search: nil, offset: 0, limit: query.limit).rows
        } else {
            rows = try reader.requests(query)
        }
        if c.json { Output.json(.array(rows.map(\.json))); return ExitCode.ok }
        if rows.isEmpty { Output.print("no requests"); return ExitCode.ok }
        let now = Date()
        Output.print(Output.table(["ID", "STATE", "FLOW", "TARGET", "REQUESTER", "WHEN", "REASON"], rows.map { r in
            [String(r.id), r.state.rawValue + (r.stuck ? " (stuck)" : ""), r.flow, r.target ?? "-", r.requester, when(r, now: now),
             r.fields["reason"]?.description ?? ""]
        }))
        return ExitCode.ok
    }

    /// A short human account of the request's clock: age, countdown to request expiry or to access expiry.
    static func when(_ r: AccessRequest, now: Date) -> String {
        if r.isScheduled, let start = r.accessStartsAt, start > now {
            return "starts in " + TimeSpan.countdown(Int(start.timeIntervalSince(now).rounded(.up)))
        }
        switch r.state {
        case .pending: return "expires in " + TimeSpan.countdown(Int(r.requestExpiresAt.timeIntervalSince(now)))
        case .active:
            if let e = r.accessExpiresAt { return "ends in " + TimeSpan.countdown(Int(e.timeIntervalSince(now))) }
            return "until revoked"
        default:
            return TimeSpan.countdown(Int(now.timeIntervalSince(r.endedAt ?? r.decidedAt ?? r.createdAt))) + " ago"
        }
    }

    static func show(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let id = try requestID(a)
        guard let (r, events) = try c.reader().request(id: id) else { throw CommandError.invalid("no request \(id)") }
        if c.json {
            guard case var .object(pairs) = r.json else { return ExitCode.software }
            pairs.append(("events", .array(events.map(\.json))))
            Output.json(.object(pairs))
            return ExitCode.ok
        }
        func t(_ d: Date?) -> String { d.map(Timestamp.format) ?? "-" }
        var lines: [(String, String)] = [
            ("request", String(r.id)), ("flow", r.flow), ("target", r.target.map { "\($0) (\(r.targetLabel ?? $0))" } ?? "- (approval-only)"),
            ("requester", r.requester), ("host", r.host ?? "-"), ("state", r.state.rawValue + (r.endReason.map { " (\($0.rawValue))" } ?? "") + (r.stuck ? " — STUCK" : "")),
        ]
        for k in r.fields.keys.sorted() { lines.append(("field " + k, r.fields[k]!.description)) }
        lines += [("approvals", "\(r.approvals.count) of \(r.requiredApprovals)")]
        for ap in r.approvals { lines.append(("  approved by", "\(ap.user)\(ap.isSelf ? " (self)" : "") at \(t(ap.at))" + (ap.reason.map { ": \($0)" } ?? ""))) }
        if let d = r.denial { lines.append(("denied by", "\(d.user) at \(t(d.at)): \(d.reason)")) }
        lines += [("created", t(r.createdAt)), ("request expires", t(r.requestExpiresAt)), ("decided", t(r.decidedAt)),
                  ("access starts", t(r.accessStartsAt)), ("access expires", t(r.accessExpiresAt)), ("ended", t(r.endedAt))]
        if let e = r.error { lines.append(("error", e)) }
        if let x = r.extends { lines.append(("extends", String(x))) }
        for (k, v) in lines { Output.print(k.padding(toLength: 16, withPad: " ", startingAt: 0) + SafeText.display(v)) }
        Output.print("\nevents:")
        Output.print(Output.table(["SEQ", "TIME", "TYPE", "ACTOR", "REASON"], events.map { e in
            [String(e.seq), Timestamp.format(e.time), e.type.rawValue, e.actor, e.reason ?? ""]
        }))
        return ExitCode.ok
    }

    static func wait(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        try waitFor(try requestID(a), timeout: try timeout(a), c)
    }

    /// Blocks on the daemon's change feed until the request is settled: 0 active/approved, 1 negative, 75 timeout.
    static func waitFor(_ id: Int64, timeout: TimeInterval?, _ c: CLIContext) throws -> Int32 {
        let reader = try c.reader()
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        let config = try c.config()
        _ = reader.changeDescriptor   // subscribe before the first look, so no commit falls between
        while true {
            guard let (r, _) = try reader.request(id: id) else { throw CommandError.invalid("no request \(id)") }
            let approvalOnly = config.flow(named: r.flow)?.isApprovalOnly ?? (r.target == nil)
            var code: Int32?
            switch r.state {
            case .active: code = ExitCode.ok
            case .approved where approvalOnly || r.extends != nil: code = ExitCode.ok
            case .denied, .expired, .cancelled, .failed, .ended, .deescalating: code = ExitCode.negative
            default: break
            }
            if let code {
                if c.json { Output.json(r.json) } else {
                    var line = "request \(id): \(r.state.rawValue)"
                    if let d = r.denial { line += " by \(d.user): \(d.reason)" }
                    if let e = r.accessExpiresAt, r.state == .active { line += " until \(Timestamp.format(e))" }
                    if let e = r.error { line += " (\(e))" }
                    Output.print(SafeText.display(line))
                }
                return code
            }
            var waitMs = 1000
            if let deadline {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 {
                    Output.error("timed out waiting for request \(id) (still \(r.state.rawValue))")
                    return ExitCode.tempFail
                }
                waitMs = min(waitMs, Int(left * 1000) + 1)
            }
            _ = reader.waitForChange(timeoutMs: waitMs)
        }
    }

    static func flows(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let config = try c.config()
        let out = FlowCatalog.entries(config: config)
        if c.json { Output.json(.array(out.map(\.json))); return ExitCode.ok }
        for e in out {
            Output.print(SafeText.display("\(e.flow.name) — \(e.flow.label)" + (e.flow.isApprovalOnly ? " (approval-only)" : "")))
            if !e.targets.isEmpty {
                Output.print("  targets:   " + SafeText.display(e.targets.map { "\($0.name) (\($0.label))" }.joined(separator: ", ")))
            }
            Output.print("  approvers: " + SafeText.display(e.approverText) + (e.flow.allowSelfApproval ? "  [self-approval allowed]" : ""))
            for f in e.flow.promptFields where f.visible {
                var d = "  field \(f.name): \(f.type.rawValue)" + (f.required ? " (required)" : "")
                if let av = f.allowedValues { d += " one of " + av.map(\.description).joined(separator: "|") }
                if let dv = f.defaultValue { d += " default \(dv)" }
                Output.print(SafeText.display(d))
            }
        }
        return ExitCode.ok
    }

    // MARK: config and daemon

    static func initConfig(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let path = c.absolute(a.positional(0) ?? c.xdgConfigHome + "/symtui/config.json5")
        if FileManager.default.fileExists(atPath: path) && !a.flag("force") {
            throw CommandError(ExitCode.ioErr, "\(path) exists; not overwriting it (use --force)")
        }
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileOutput.write(Data(StarterConfig.text.utf8), to: path)
        } catch { throw CommandError(ExitCode.ioErr, "cannot write \(path): \(error.localizedDescription)") }
        if c.json { Output.json(.obj([("path", .string(path))])) } else {
            Output.print("wrote \(path)\ncheck it with: symtui --config \(path) config check")
        }
        return ExitCode.ok
    }

    static func configCheck(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        guard let path = a.positional(0).map(c.absolute) ?? c.configPath else {
            throw CommandError(ExitCode.noInput, "no configuration found; create one with 'symtui init'")
        }
        do {
            let config = try ConfigLoader.load(path: path)
            if c.json {
                Output.json(.obj([("ok", .bool(true)), ("path", .string(path)), ("flows", .num(config.flows.count)),
                                  ("strategies", .num(config.strategies.count)), ("problems", .array([]))]))
            } else {
                Output.print("\(path): ok (\(config.flows.count) flows, \(config.strategies.count) strategies)")
            }
            return ExitCode.ok
        } catch let e as ConfigError {
            if c.json {
                Output.json(.obj([("ok", .bool(false)), ("path", .string(path)), ("problems", .array(e.problems.map { p in
                    .obj([("file", .string(p.file)), ("path", .string(p.path)), ("line", .num(p.line)), ("message", .string(p.message))])
                }))]))
            } else {
                for p in e.problems { Output.error(SafeText.display(p.description)) }
            }
            return e.exitCode
        }
    }

    static func daemon(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        try Link.require().runDaemon(DaemonLaunch(config: try c.config(), configPath: c.configPath.map(c.absolute), storePath: try c.storePath(),
                                                  socketPath: try c.socketPath(), once: a.flag("once"), logLevel: a.value("log-level"),
                                                  environment: c.environment))
    }
}

/// Reads lines from a file handle without loading it whole.
final class LineReader {
    let handle: FileHandle
    var buffer = Data()
    var eof = false
    init(handle: FileHandle) { self.handle = handle }

    func next() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<nl]
                buffer.removeSubrange(buffer.startIndex...nl)
                return String(decoding: line, as: UTF8.self)
            }
            if eof {
                if buffer.isEmpty { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            let chunk = handle.availableData
            if chunk.isEmpty { eof = true } else { buffer.append(chunk) }
        }
    }
}

/// What `symtui flows` and the console's Request view show: flows, their targets and who approves.
struct FlowCatalog {
    var flow: Flow
    var targets: [Target]

    var approverText: String {
        let r = flow.routing
        func text(_ a: Approvers) -> String {
            (a.users + a.groups.map { "group:" + $0 }).joined(separator: ", ")
        }
        if !r.steps.isEmpty { return r.steps.map { "\($0.name): \($0.required) of \(text($0.approvers))" }.joined(separator: " AND ") }
        let who = text(r.approvers)
        return r.requiredApprovals > 1 ? "\(r.requiredApprovals) of \(who)" : (who.isEmpty ? "(decided by get_approvers)" : who)
    }

    var json: JSONValue {
        .obj([("name", .string(flow.name)), ("label", .string(flow.label)), ("approval_only", .bool(flow.isApprovalOnly)),
              ("strategy", .str(flow.strategy)),
              ("targets", .array(targets.map { .obj([("name", .string($0.name)), ("label", .string($0.label))]) })),
              ("approvers", .obj([("users", .array(flow.approvers.users.map(JSONValue.string))),
                                  ("groups", .array(flow.approvers.groups.map(JSONValue.string)))])),
              ("approval_steps", .array(flow.approvalSteps.map { s in
                  .obj([("name", .string(s.name)), ("users", .array(s.approvers.users.map(JSONValue.string))),
                        ("groups", .array(s.approvers.groups.map(JSONValue.string))), ("required", .num(s.required))])
              })),
              ("required_approvals", .num(flow.routing.threshold)), ("allow_self_approval", .bool(flow.allowSelfApproval)),
              ("max_duration", .str(flow.maxDuration?.description)),
              ("fields", .array(flow.promptFields.filter(\.visible).map { f in
                  .obj([("name", .string(f.name)), ("type", .string(f.type.rawValue)), ("label", .string(f.label)),
                        ("required", .bool(f.required)), ("default", f.defaultValue?.json),
                        ("allowed_values", f.allowedValues.map { .array($0.map(\.json)) })])
              }))])
    }

    static func entries(config: Config) -> [FlowCatalog] {
        config.flows.map { f in
            FlowCatalog(flow: f, targets: f.strategy.flatMap { config.strategy(named: $0)?.targets } ?? [])
        }
    }
}
