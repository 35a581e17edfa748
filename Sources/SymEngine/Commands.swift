import Foundation
import SymModel

/// An error with the exit code the CLI gives for it (sysexits).
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public init(_ code: Int32, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }

    public static func invalid(_ m: String) -> CommandError { CommandError(ExitCode.dataErr, m) }
    public static func notAllowed(_ m: String) -> CommandError { CommandError(ExitCode.noPerm, m) }

    init(_ refusal: Refusal) {
        self.init(refusal.kind == .notAllowed ? ExitCode.noPerm : ExitCode.dataErr, refusal.message)
    }
}

/// The exit codes of SPEC §6 (sysexits.h).
public enum ExitCode {
    public static let ok: Int32 = 0
    public static let negative: Int32 = 1
    public static let usage: Int32 = 64
    public static let dataErr: Int32 = 65
    public static let noInput: Int32 = 66
    public static let unavailable: Int32 = 69
    public static let software: Int32 = 70
    public static let ioErr: Int32 = 74
    public static let tempFail: Int32 = 75
    public static let noPerm: Int32 = 77
}

/// A change a caller asks the daemon for: the Events API line, parsed and checked for shape.
public enum ClientCommand: Sendable, Equatable {
    case request(flow: String, target: String?, fields: [String: JSONValue], duration: String?, reason: String?)
    case approve(id: Int64, reason: String?)
    case deny(id: Int64, reason: String?)
    case cancel(id: Int64)
    case revoke(id: Int64, reason: String?)
    case release(id: Int64)
    case extend(id: Int64, duration: String, reason: String?)
    /// The options a flow's `@prefetch` handler offers for a field (answered with `options`, changes nothing).
    case prefetch(flow: String, field: String)
    case ping

    static let keys: [String: Set<String>] = [
        "request": ["event", "flow", "target", "fields", "duration", "reason", "v"],
        "approve": ["event", "request", "reason", "v"], "deny": ["event", "request", "reason", "v"],
        "cancel": ["event", "request", "reason", "v"], "revoke": ["event", "request", "reason", "v"],
        "release": ["event", "request", "reason", "v"], "extend": ["event", "request", "duration", "reason", "v"],
        "prefetch": ["event", "flow", "field", "v"],
        "ping": ["event", "v"],
    ]

    /// Parses one Events API object (`{"event":"approve","request":12,"reason":"ok"}`).
    public static func parse(_ json: JSONValue) throws -> ClientCommand {
        guard let pairs = json.objectValue else { throw CommandError.invalid("an event must be a JSON object") }
        guard let name = json["event"]?.stringValue else { throw CommandError.invalid("missing \"event\" (one of \(keys.keys.sorted().joined(separator: ", ")))") }
        guard let allowed = keys[name] else {
            throw CommandError.invalid("unknown event \"\(SafeText.display(name))\" (one of \(keys.keys.sorted().filter { $0 != "ping" && $0 != "prefetch" }.joined(separator: ", ")))")
        }
        if let v = json["v"], v.intValue != protocolVersion {
            throw CommandError.invalid("\"v\": protocol version \(SafeText.display(v.compact)) is not spoken here (this symtui speaks \(protocolVersion))")
        }
        for (k, _) in pairs where !allowed.contains(k) {
            throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in a \(name) event (allowed: \(allowed.subtracting(["v"]).sorted().joined(separator: ", ")))")
        }
        func string(_ key: String, required: Bool = false) throws -> String? {
            guard let v = json[key], !v.isNull else {
                if required { throw CommandError.invalid("a \(name) event needs \"\(key)\"") }
                return nil
            }
            guard let s = v.stringValue else { throw CommandError.invalid("\"\(key)\" must be a string") }
            guard s.utf8.count <= 4096, !s.contains("\0") else { throw CommandError.invalid("\"\(key)\" is too long or contains NUL") }
            return s
        }
        func id() throws -> Int64 {
            guard let v = json["request"] else { throw CommandError.invalid("a \(name) event needs \"request\" (the request id)") }
            if let i = v.intValue, i > 0 { return i }
            if let s = v.stringValue, let i = Int64(s), i > 0 { return i }
            throw CommandError.invalid("\"request\" must be a positive request id")
        }
        switch name {
        case "request":
            var fields: [String: JSONValue] = [:]
            if let f = json["fields"], !f.isNull {
                guard let obj = f.objectValue else { throw CommandError.invalid("\"fields\" must be an object") }
                for (k, v) in obj { fields[k] = v }
            }
            return .request(flow: try string("flow", required: true)!, target: try string("target"), fields: fields,
                            duration: try string("duration"), reason: try string("reason"))
        case "approve": return .approve(id: try id(), reason: try string("reason"))
        case "deny": return .deny(id: try id(), reason: try string("reason"))
        case "cancel": return .cancel(id: try id())
        case "revoke": return .revoke(id: try id(), reason: try string("reason"))
        case "release": return .release(id: try id())
        case "extend": return .extend(id: try id(), duration: try string("duration", required: true)!, reason: try string("reason"))
        case "prefetch": return .prefetch(flow: try string("flow", required: true)!, field: try string("field", required: true)!)
        default: return .ping
        }
    }

    /// The Events API object for this command (what the CLI sends to the daemon).
    public var json: JSONValue {
        switch self {
        case let .request(flow, target, fields, duration, reason):
            return .obj([("event", .string("request")), ("flow", .string(flow)), ("target", .str(target)),
                         ("fields", .object(fields.keys.sorted().map { ($0, fields[$0]!) })), ("duration", .str(duration)),
                         ("reason", .str(reason))])
        case let .approve(id, reason): return .obj([("event", .string("approve")), ("request", .int(id)), ("reason", .str(reason))])
        case let .deny(id, reason): return .obj([("event", .string("deny")), ("request", .int(id)), ("reason", .str(reason))])
        case let .cancel(id): return .obj([("event", .string("cancel")), ("request", .int(id))])
        case let .revoke(id, reason): return .obj([("event", .string("revoke")), ("request", .int(id)), ("reason", .str(reason))])
        case let .release(id): return .obj([("event", .string("release")), ("request", .int(id))])
        case let .extend(id, duration, reason):
            return .obj([("event", .string("extend")), ("request", .int(id)), ("duration", .string(duration)), ("reason", .str(reason))])
        case let .prefetch(flow, field): return .obj([("event", .string("prefetch")), ("flow", .string(flow)), ("field", .string(field))])
        case .ping: return .obj([("event", .string("ping"))])
        }
    }
}
