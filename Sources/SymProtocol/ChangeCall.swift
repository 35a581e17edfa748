import Foundation
import SymModel

/// A change a caller asks the daemon for: the Events API line, parsed and checked for shape.
public enum ChangeCall: Sendable, Equatable {
    /// `start`: a scheduled window's start (RFC 3339 or `+2h`), nil for access from approval on.
    case request(flow: String, target: String?, fields: [String: JSONValue], duration: String?, reason: String?, start: String? = nil)
    case approve(id: Int64, reason: String?)
    case deny(id: Int64, reason: String?)
    case cancel(id: Int64)
    case revoke(id: Int64, reason: String?)
    case release(id: Int64)
    case extend(id: Int64, duration: String, reason: String?)

    static let keys: [String: Set<String>] = [
        "request": ["event", "flow", "target", "fields", "duration", "reason", "start", "v"],
        "approve": ["event", "request", "reason", "v"], "deny": ["event", "request", "reason", "v"],
        "cancel": ["event", "request", "reason", "v"], "revoke": ["event", "request", "reason", "v"],
        "release": ["event", "request", "reason", "v"], "extend": ["event", "request", "duration", "reason", "v"],
    ]

    /// Parses one Events API object (`{"event":"approve","request":12,"reason":"ok"}`).
    public static func parse(_ json: JSONValue) throws -> ChangeCall {
        guard let pairs = json.objectValue else { throw CommandError.invalid("an event must be a JSON object") }
        guard let name = json["event"]?.stringValue else { throw CommandError.invalid("missing \"event\" (one of \(keys.keys.sorted().joined(separator: ", ")))") }
        guard let allowed = keys[name] else {
            throw CommandError.invalid("unknown event \"\(SafeText.display(name))\" (one of \(keys.keys.sorted().joined(separator: ", ")))")
        }
        try Wire.checkVersion(json)
        for (k, _) in pairs where !allowed.contains(k) {
            throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in a \(name) event (allowed: \(allowed.subtracting(["v"]).sorted().joined(separator: ", ")))")
        }
        func string(_ key: String, required: Bool = false) throws -> String? {
            guard let v = json[key], !v.isNull else {
                if required { throw CommandError.invalid("a \(name) event needs \"\(key)\"") }
                return nil
            }
            guard let s = v.stringValue else { throw CommandError.invalid("\"\(key)\" must be a string") }
            // Bytes, not Foundation's `contains(_: StringProtocol)`, which goes through NSString (2 % of a command).
            guard s.utf8.count <= 4096, !s.utf8.contains(0) else { throw CommandError.invalid("\"\(key)\" is too long or contains NUL") }
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
                            duration: try string("duration"), reason: try string("reason"), start: try string("start"))
        case "approve": return .approve(id: try id(), reason: try string("reason"))
        case "deny": return .deny(id: try id(), reason: try string("reason"))
        case "cancel": return .cancel(id: try id())
        case "revoke": return .revoke(id: try id(), reason: try string("reason"))
        case "release": return .release(id: try id())
        default: return .extend(id: try id(), duration: try string("duration", required: true)!, reason: try string("reason"))
        }
    }

    /// The Events API object for this command (what the CLI sends to the daemon).
    public var json: JSONValue {
        switch self {
        case let .request(flow, target, fields, duration, reason, start):
            var pairs: [(String, JSONValue?)] = [("event", .string("request")), ("flow", .string(flow)), ("target", .str(target)),
                         ("fields", .object(fields.keys.sorted().map { ($0, fields[$0]!) })), ("duration", .str(duration)),
                         ("reason", .str(reason))]
            if let start { pairs.append(("start", .string(start))) }
            return .obj(pairs)
        case let .approve(id, reason): return .obj([("event", .string("approve")), ("request", .int(id)), ("reason", .str(reason))])
        case let .deny(id, reason): return .obj([("event", .string("deny")), ("request", .int(id)), ("reason", .str(reason))])
        case let .cancel(id): return .obj([("event", .string("cancel")), ("request", .int(id))])
        case let .revoke(id, reason): return .obj([("event", .string("revoke")), ("request", .int(id)), ("reason", .str(reason))])
        case let .release(id): return .obj([("event", .string("release")), ("request", .int(id))])
        case let .extend(id, duration, reason):
            return .obj([("event", .string("extend")), ("request", .int(id)), ("duration", .string(duration)), ("reason", .str(reason))])
        }
    }
}
