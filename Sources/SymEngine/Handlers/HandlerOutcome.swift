import SymModel
import SymProtocol

/// What a handler answered (contract §8).
public enum HandlerVerdict: Sendable, Equatable {
    case approve(reason: String?)
    case deny(reason: String)
    /// Block the action that triggered the hook and tell the actor; the request is unchanged.
    case ignore(message: String)
    /// The hook returned nothing: carry on.
    case proceed
    case approvers(users: [String], groups: [String])
    case options([JSONValue])
    /// The implementation does not define this handler.
    case missing

    /// The word for this verdict in audit data.
    public var outcome: String {
        switch self {
        case .approve: return "approve"
        case .deny: return "deny"
        case .ignore: return "ignore"
        case .proceed: return "continue"
        case .approvers: return "approvers"
        case .options: return "options"
        case .missing: return "missing"
        }
    }

    /// Whether a handler of `kind` may give this answer at all.
    public func isAllowed(for kind: HandlerKind) -> Bool {
        switch (self, kind) {
        case (.missing, _): return true
        case (.approve, .before), (.deny, .before), (.ignore, .before), (.proceed, .before): return true
        case (.approve, .after), (.deny, .after), (.ignore, .after), (.proceed, .after): return true
        case (.approvers, .reducer): return true
        case (.options, .prefetch): return true
        default: return false
        }
    }

    /// Reads one protocol answer object (`{"result": "approve", "reason": ...}`).
    public static func parse(answer: JSONValue) throws(HandlerAnswerError) -> HandlerVerdict {
        guard answer.objectValue != nil else { throw HandlerAnswerError("the answer is not a JSON object") }
        guard let result = answer["result"]?.stringValue else { throw HandlerAnswerError("the answer has no \"result\"") }
        switch result {
        case "approve": return .approve(reason: try optionalText(answer, "reason"))
        case "deny": return .deny(reason: try optionalText(answer, "reason") ?? "")
        case "ignore": return .ignore(message: try optionalText(answer, "message") ?? "")
        case "none", "continue": return .proceed
        case "approvers": return .approvers(users: try names(answer, "users"), groups: try names(answer, "groups"))
        case "options":
            guard let options = answer["options"]?.arrayValue else { throw HandlerAnswerError("\"options\" must be a list") }
            return .options(options)
        case "missing": return .missing
        default: throw HandlerAnswerError("unknown result \"\(clipped(result))\"")
        }
    }

    private static func optionalText(_ answer: JSONValue, _ key: String) throws(HandlerAnswerError) -> String? {
        guard let value = answer[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw HandlerAnswerError("\"\(key)\" must be a string") }
        return text
    }

    private static func names(_ answer: JSONValue, _ key: String) throws(HandlerAnswerError) -> [String] {
        guard let value = answer[key], !value.isNull else { return [] }
        guard let items = value.arrayValue else { throw HandlerAnswerError("\"\(key)\" must be a list of names") }
        var out: [String] = []
        for item in items {
            guard let name = item.stringValue, !name.isEmpty else { throw HandlerAnswerError("\"\(key)\" must contain only names") }
            out.append(name)
        }
        return out
    }
}

/// A handler's stdout that is not a valid protocol answer.
public struct HandlerAnswerError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Keeps untrusted text short enough for a one-line message.
func clipped(_ text: String, _ limit: Int = 60) -> String {
    text.count <= limit ? text : String(text.prefix(limit)) + "…"
}

/// One handler run: the verdict, or why there is none, and what to write in its `handler` audit event.
public struct HandlerOutcome: Sendable {
    public var handler: String
    /// nil when the handler failed (timeout, crash, non-zero exit, malformed answer): fail closed.
    public var verdict: HandlerVerdict?
    public var failure: String?
    public var durationMs: Int
    public var stderrTail: String
    public var exitCode: Int32?
    /// The tail of what the handler wrote on stdout, kept when it failed.
    public var stdoutTail: String?
    /// What the handler sends (HandlerMessages.swift); queued only when the run succeeded.
    public var messages: [HandlerMessage] = []

    public init(handler: String, verdict: HandlerVerdict?, failure: String? = nil, durationMs: Int = 0,
                stderrTail: String = "", exitCode: Int32? = nil, stdoutTail: String? = nil) {
        self.handler = handler; self.verdict = verdict; self.failure = failure; self.durationMs = durationMs
        self.stderrTail = stderrTail; self.exitCode = exitCode; self.stdoutTail = stdoutTail
    }

    /// A failed run.
    public static func failed(_ handler: String, _ failure: String, durationMs: Int = 0, stderrTail: String = "",
                              exitCode: Int32? = nil, stdoutTail: String? = nil) -> HandlerOutcome {
        HandlerOutcome(handler: handler, verdict: nil, failure: failure, durationMs: durationMs,
                       stderrTail: stderrTail, exitCode: exitCode, stdoutTail: stdoutTail)
    }

    public var didFail: Bool { verdict == nil }

    /// `{handler, outcome, reason|message|users|groups|options, error, duration_ms, exit_code, stderr_tail, stdout_tail?}`.
    public var auditData: JSONValue {
        var pairs: [(String, JSONValue)] = [("handler", .string(handler)), ("outcome", .string(verdict?.outcome ?? "failed"))]
        switch verdict {
        case let .approve(reason)?: pairs.append(("reason", .str(reason)))
        case let .deny(reason)?: pairs.append(("reason", .string(reason)))
        case let .ignore(message)?: pairs.append(("message", .string(message)))
        case let .approvers(users, groups)?:
            pairs.append(("users", .array(users.map(JSONValue.string))))
            pairs.append(("groups", .array(groups.map(JSONValue.string))))
        case let .options(options)?: pairs.append(("options", .array(options)))
        case .proceed?, .missing?, nil: break
        }
        pairs.append(("error", .str(failure)))
        pairs.append(("duration_ms", .num(durationMs)))
        pairs.append(("exit_code", exitCode.map { .int(Int64($0)) } ?? .null))
        pairs.append(("stderr_tail", .string(stderrTail)))
        if let stdoutTail { pairs.append(("stdout_tail", .string(stdoutTail))) }
        if !messages.isEmpty { pairs.append(("messages", .array(messages.map(\.json)))) }
        return .object(pairs)
    }
}
