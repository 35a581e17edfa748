import Foundation
import SymModel
import SymProtocol

/// `command`: runs the absolute-path executables of settings `escalate`, `deescalate` and (optional) `check`,
/// never through a shell, with argv `args… USER TARGET` (`args… TARGET` for check) and only the
/// `SYMTUI_*` environment plus PATH and LANG. JSON on stdout is kept as step output for deescalation, which gets it
/// on stdin (and as `SYMTUI_STEP_OUTPUT` when it is at most 32 KiB); see `StepOutput` for secrets.
public struct CommandStrategy: AccessStrategy {
    public static let defaultTimeout: TimeInterval = 30
    /// Largest step output also given as `SYMTUI_STEP_OUTPUT` (it is always on deescalate's stdin).
    public static let maxStepOutputInEnvironment = 32_768

    public var strategy: Strategy
    public init(strategy: Strategy) { self.strategy = strategy }

    public enum Action: String, Sendable { case escalate, deescalate, check }

    public func escalate(_ ctx: GrantContext) -> StrategyOutcome { grant(.escalate, ctx) }
    public func deescalate(_ ctx: GrantContext) -> StrategyOutcome { grant(.deescalate, ctx) }

    public func check(target: Target) -> Result<AccessCheck, StrategyFailure>? {
        let settings = strategy.settings(for: target)
        guard settings["check"] != nil else { return nil }
        let env = Self.targetEnvironment(action: .check, target: target)
        switch run(.check, settings: settings, arguments: [target.name], environment: env) {
        case let .failure(f): return .failure(f)
        case let .success(result):
            guard result.succeeded else { return .failure(StrategyFailure("check command \(result.summary)")) }
            return Self.parseUsers(String(decoding: result.stdout, as: UTF8.self)).map { AccessCheck(users: $0) }
        }
    }

    /// The environment of an escalation or deescalation, exactly.
    public static func environment(action: Action, ctx: GrantContext) -> [String: String] {
        var env = targetEnvironment(action: action, target: ctx.target)
        env["SYMTUI_USER"] = ctx.user
        env["SYMTUI_REQUEST_ID"] = String(ctx.request.id)
        env["SYMTUI_EXPIRES_AT"] = ctx.request.accessExpiresAt.map(Timestamp.format) ?? ""
        for (name, value) in ctx.request.fields { env["SYMTUI_FIELD_" + envName(name)] = value.description }
        // The step output always reaches deescalate on stdin; the variable only when it is small enough for an
        // environment string (Linux refuses one over 128 KiB, and the grant could then never be removed).
        if action == .deescalate {
            let output = ctx.stepOutput ?? ""
            env["SYMTUI_STEP_OUTPUT_BYTES"] = String(output.utf8.count)
            if output.utf8.count <= maxStepOutputInEnvironment { env["SYMTUI_STEP_OUTPUT"] = output }
        }
        return env
    }

    static func targetEnvironment(action: Action, target: Target) -> [String: String] {
        var env = StrategyEnvironment.base
        for (key, value) in target.settings {
            let text: String
            switch value {
            case let .string(s): text = s
            case let .int(i): text = String(i)
            case let .double(d): text = String(d)
            case let .bool(b): text = b ? "true" : "false"
            default: continue
            }
            env["SYMTUI_TARGET_" + envName(key)] = text
        }
        // Set last so that a target setting named `label` cannot shadow them.
        env["SYMTUI_ACTION"] = action.rawValue
        env["SYMTUI_TARGET"] = target.name
        env["SYMTUI_TARGET_LABEL"] = target.label
        return env
    }

    /// `reason` → `REASON`, `db-role` → `DB_ROLE`: upper case, anything but letters and digits as `_`.
    static func envName(_ name: String) -> String {
        String(name.uppercased().unicodeScalars.map { s -> Character in
            (s.value >= 0x41 && s.value <= 0x5A) || (s.value >= 0x30 && s.value <= 0x39) ? Character(s) : "_"
        })
    }

    private func grant(_ action: Action, _ ctx: GrantContext) -> StrategyOutcome {
        let settings = ctx.settings
        let env = Self.environment(action: action, ctx: ctx)
        var data: [(String, JSONValue)] = [("action", .string(action.rawValue)),
                                           ("path", .str(settings[action.rawValue]?.stringValue))]
        let result: ProcessResult
        let stdin = action == .deescalate ? Data((ctx.stepOutput ?? "").utf8) : Data()
        switch run(action, settings: settings, arguments: [ctx.user, ctx.target.name], environment: env, stdin: stdin) {
        case let .failure(f): return .failure(f.message, data: data)
        case let .success(r): result = r
        }
        data += result.auditData.objectValue ?? []
        let stdout = String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let json = stdout.isEmpty ? nil : try? JSONValue.parse(stdout)
        if let json { data.append(("output", StepOutput.shown(json))) }
        guard result.succeeded else { return .failure("\(action.rawValue) command \(result.summary)", data: data) }
        return .success(output: json?.compact, data: data)
    }

    private func run(_ action: Action, settings: [String: JSONValue], arguments: [String],
                     environment: [String: String], stdin: Data = Data()) -> Result<ProcessResult, StrategyFailure> {
        guard let path = settings[action.rawValue]?.stringValue, path.hasPrefix("/") else {
            return .failure(StrategyFailure("command: setting `\(action.rawValue)` must be an absolute path"))
        }
        var args: [String] = []
        if let extra = settings["args"] {
            guard let list = extra.arrayValue?.compactMap(\.stringValue), list.count == extra.arrayValue?.count else {
                return .failure(StrategyFailure("command: setting `args` must be an array of strings"))
            }
            args = list
        }
        let timeout = StrategyText.seconds(settings, "timeout", default: Self.defaultTimeout)
        do {
            return .success(try ProcessRunner.run(path: path, arguments: args + arguments, environment: environment,
                                                  stdin: stdin, timeout: timeout))
        } catch {
            return .failure(StrategyFailure("command: \(error)"))
        }
    }

    /// A check's answer: a JSON array of user names, or one name a line.
    static func parseUsers(_ text: String) -> Result<Set<String>, StrategyFailure> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("[") {
            guard let items = (try? JSONValue.parse(trimmed))?.arrayValue else {
                return .failure(StrategyFailure("check printed invalid JSON"))
            }
            let names = items.compactMap(\.stringValue)
            guard names.count == items.count else { return .failure(StrategyFailure("check printed a JSON array with non-string items")) }
            return .success(Set(names))
        }
        return .success(Set(trimmed.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }))
    }
}
