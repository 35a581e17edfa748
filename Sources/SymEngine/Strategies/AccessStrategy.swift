import Foundation
import SymModel
import SymProtocol

/// Everything a strategy needs to grant or take away one request's access to one target.
public struct GrantContext: Sendable {
    /// `requester` is the user to grant; `id`, `fields` and `accessExpiresAt` are passed on.
    public var request: AccessRequest
    public var strategy: Strategy
    public var target: Target
    /// JSON text the escalation printed (command/http strategies), handed to deescalation.
    public var stepOutput: String?
    /// Users with another active grant on the same target: deescalation must not remove their access (the engine fills this).
    public var otherActiveHolders: Set<String>
    /// Set when the grant's window was just moved by this approved extension request (`AccessStrategy.extend`).
    public var extensionRequestID: Int64?
    /// At deescalation: the user holds another active grant through the same strategy, to any of its targets (the
    /// engine fills this; sudoers keeps processes it cannot attribute to one rule).
    public var userHoldsOtherGrantOfStrategy = false

    public init(request: AccessRequest, strategy: Strategy, target: Target, stepOutput: String? = nil,
                otherActiveHolders: Set<String> = [], extensionRequestID: Int64? = nil) {
        self.request = request; self.strategy = strategy; self.target = target
        self.stepOutput = stepOutput; self.otherActiveHolders = otherActiveHolders
        self.extensionRequestID = extensionRequestID
    }

    /// The user whose access this is.
    public var user: String { request.requester }
    /// The strategy's settings overlaid by the target's.
    public var settings: [String: JSONValue] { strategy.settings(for: target) }
}

/// What one escalation or deescalation did.
public struct StrategyOutcome: Sendable {
    public var succeeded: Bool
    /// One line, for the request's `error` and the audit event.
    public var error: String?
    /// JSON text to keep as step output (command stdout / http response body, when JSON).
    public var output: String?
    /// Audit details: exit code, duration_ms, stderr tail, http status…
    public var data: JSONValue

    public init(succeeded: Bool, error: String? = nil, output: String? = nil, data: JSONValue = .object([])) {
        self.succeeded = succeeded; self.error = error.map(StrategyText.oneLine); self.output = output; self.data = data
    }

    public static func success(output: String? = nil, data: [(String, JSONValue)] = []) -> StrategyOutcome {
        StrategyOutcome(succeeded: true, output: output, data: .object(data))
    }

    public static func failure(_ error: String, data: [(String, JSONValue)] = []) -> StrategyOutcome {
        let line = StrategyText.oneLine(error)
        return StrategyOutcome(succeeded: false, error: line, data: .object(data + [("error", .string(line))]))
    }
}

/// Who really has access to a target now (for drift reports).
public struct AccessCheck: Sendable, Equatable {
    public var users: Set<String>
    /// Processes that still hold the access although their user is not among `users` (a group kept by a running
    /// shell, a root shell opened through a removed sudo rule).
    public var holders: [AccessHolder]
    public init(users: Set<String>, holders: [AccessHolder] = []) { self.users = users; self.holders = holders }
}

/// One running process that holds access, and whose it is.
public struct AccessHolder: Sendable, Equatable {
    public var user: String
    public var pid: Int32
    public var command: String
    public init(user: String, pid: Int32, command: String) { self.user = user; self.pid = pid; self.command = command }
}

/// A strategy could not tell who has access, or could not act.
public struct StrategyFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = StrategyText.oneLine(message) }
    public var description: String { message }
}

/// How access is granted in, and taken away from, a target system (contract §9). Every operation is idempotent.
public protocol AccessStrategy: Sendable {
    func escalate(_ ctx: GrantContext) -> StrategyOutcome
    func deescalate(_ ctx: GrantContext) -> StrategyOutcome
    /// Who really has access now; nil when the strategy has no check.
    func check(target: Target) -> Result<AccessCheck, StrategyFailure>?
    /// True when a user's access to a target is one thing however many grants gave it (a group membership,
    /// a database role), so that ending one grant must not take it away while another still covers it.
    /// False when each grant has its own artefact (a sudoers drop-in per grant).
    var accessIsSharedAcrossGrants: Bool { get }
    /// After an approved extension moved the grant's end (`ctx.request.accessExpiresAt`): what the target needs
    /// for the new window (a new certificate), or nil when the access has no end of its own in the target.
    func extend(_ ctx: GrantContext) -> StrategyOutcome?
    /// Why the daemon must not start with this strategy (a CA key others can read), or nil.
    func preflight() -> StrategyFailure?
    /// Why a new request could never be granted (a name that is not plain, an unusable key), checked before it is
    /// recorded so that the requester is told at once; nil when it may go ahead.
    func validate(_ ctx: GrantContext) -> StrategyFailure?
}

extension AccessStrategy {
    public var accessIsSharedAcrossGrants: Bool { true }
    public func extend(_ ctx: GrantContext) -> StrategyOutcome? { nil }
    public func preflight() -> StrategyFailure? { nil }
    public func validate(_ ctx: GrantContext) -> StrategyFailure? { nil }
}

/// The strategy implementation for a configured strategy.
public enum Strategies {
    public static func make(_ strategy: Strategy) -> any AccessStrategy {
        switch strategy.type {
        case .unixGroup: return UnixGroupStrategy(strategy: strategy)
        case .sudoers: return SudoersStrategy(strategy: strategy)
        case .command: return CommandStrategy(strategy: strategy)
        case .http: return HTTPStrategy(strategy: strategy)
        case .sshCert: return SSHCertStrategy(strategy: strategy)
        case .postgresRole: return PostgresRoleStrategy(strategy: strategy)
        }
    }

    /// The first reason a configured strategy must not run (checked when the daemon starts), or nil.
    public static func preflight(_ config: Config) -> StrategyFailure? {
        for s in config.strategies {
            if let problem = make(s).preflight() { return StrategyFailure("strategy \(s.name): \(problem.message)") }
        }
        return nil
    }
}

extension Strategy {
    /// The strategy's settings overlaid by the target's settings.
    public func settings(for target: Target) -> [String: JSONValue] {
        settings.merging(target.settings) { _, targetValue in targetValue }
    }
}

/// Small text rules shared by the strategies.
enum StrategyText {
    static let maxErrorLength = 500

    /// Folds an error to one bounded line without terminal controls.
    static func oneLine(_ text: String) -> String {
        // Printable ASCII on one line (most errors): nothing to split or neutralise, only spaces to trim.
        if text.utf8.count <= maxErrorLength, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            var line = Substring(text)
            while line.first == " " { line.removeFirst() }
            while line.last == " " { line.removeLast() }
            return String(line)
        }
        let parts = text.split(whereSeparator: { $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }
        let line = SafeText.display(parts.filter { !$0.isEmpty }.joined(separator: "; "))
        return line.count > maxErrorLength ? String(line.prefix(maxErrorLength)) + "…" : line
    }

    /// A Unix user or group name we are willing to put into a command line or a sudoers file:
    /// starts with a letter or `_`, then letters, digits, `.`, `_`, `-`, at most 32, optionally ending in `$`.
    static func isPlainName(_ name: String) -> Bool {
        guard (1...32).contains(name.utf8.count), name != "ALL" else { return false }
        var bytes = Array(name.utf8)[...]
        if bytes.last == UInt8(ascii: "$") { bytes = bytes.dropLast() }
        guard let first = bytes.first, isAlpha(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.allSatisfy { isAlpha($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".")
            || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlpha(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    /// A setting as a string, if it is one.
    static func string(_ settings: [String: JSONValue], _ key: String) -> String? { settings[key]?.stringValue }

    /// A duration setting given as `"30s"`/`"2m"` or as a number of seconds.
    /// Config check keeps timeouts within 1 s…1 h; a value that got past it anyway (a config built in code) is
    /// clamped here, so that no timeout can overflow a deadline.
    static func seconds(_ settings: [String: JSONValue], _ key: String, default fallback: TimeInterval) -> TimeInterval {
        let value: TimeInterval
        switch settings[key] {
        case let .string(s)?: value = TimeSpan(parsing: s).map { TimeInterval($0.seconds) } ?? fallback
        case let .int(i)?: value = TimeInterval(i)
        case let .double(d)?: value = d.isFinite ? d : fallback
        default: value = fallback
        }
        return min(max(value, 1), 3_600)
    }
}

/// What a strategy printed (a command's stdout, an http answer's body), split into what deescalation gets and what
/// the audit log may show. Step output is not secret: it is in the `escalate` event, which every user can read and
/// nobody can delete. A strategy that must hand deescalation a secret puts it under a top-level `"secret"` object:
/// that object is kept (in the store only) for deescalation, and the event shows its keys with hidden values.
public enum StepOutput {
    public static let secretKey = "secret"
    public static let hidden = "(secret)"

    /// `json` as the audit event shows it: the values under `"secret"` replaced by `"(secret)"`.
    public static func shown(_ json: JSONValue) -> JSONValue {
        guard case let .object(pairs) = json, pairs.contains(where: { $0.0 == secretKey }) else { return json }
        return .object(pairs.map { key, value in
            guard key == secretKey else { return (key, value) }
            if case let .object(inner) = value { return (key, .object(inner.map { ($0.0, .string(hidden)) })) }
            return (key, .string(hidden))
        })
    }
}

/// The environment every external program of a strategy gets besides its own variables.
enum StrategyEnvironment {
    static let base: [String: String] = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
}

/// One lock per key (a group, a file), made on first use and kept: keys come from the configuration, so they are few.
public final class KeyedLocks: @unchecked Sendable {
    private let registry = NSLock()
    private var locks: [String: NSLock] = [:]

    public init() {}

    public func withLock<T>(_ key: String, _ body: () throws -> T) rethrows -> T {
        let lock = registry.withLock {
            if let l = locks[key] { return l }
            let l = NSLock()
            locks[key] = l
            return l
        }
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
