import Foundation
import SymModel

/// Where one destination stands, for `audit status`.
public struct DestinationStatus: Sendable, Equatable {
    public var key: String
    public var type: String
    /// The last seq the destination acknowledged.
    public var cursor: Int64
    /// Events not yet delivered.
    public var backlog: Int64
    /// Age of the oldest undelivered event, in seconds (nil when nothing waits).
    public var lagSeconds: Double?
    public var attempts: Int
    public var lastError: String?
    public var lastAttemptAt: Date?
    public var deliveredAt: Date?
    /// A settings problem that keeps the destination from being delivered to at all.
    public var configProblem: String?
    /// Whose cursor this is on a store shared by a fleet; nil on SQLite (one daemon, one cursor per destination).
    public var scope: CursorScope?

    /// On a shared store: a local destination's cursor is one bastion's, a shared one's the fleet's.
    public enum CursorScope: Sendable, Equatable {
        case host(String)
        case fleet

        /// The `host` column: the bastion, or `(fleet)`.
        public var label: String {
            switch self {
            case let .host(name): name
            case .fleet: "(fleet)"
            }
        }
    }

    public init(key: String, type: String, cursor: Int64, backlog: Int64, lagSeconds: Double?, attempts: Int, lastError: String?,
                lastAttemptAt: Date?, deliveredAt: Date?, configProblem: String?) {
        self.key = key; self.type = type; self.cursor = cursor; self.backlog = backlog; self.lagSeconds = lagSeconds
        self.attempts = attempts; self.lastError = lastError; self.lastAttemptAt = lastAttemptAt; self.deliveredAt = deliveredAt
        self.configProblem = configProblem
    }

    /// Reads back `json` (what the daemon's `delivery` read sends).
    public init?(json j: JSONValue) {
        guard let key = j["destination"]?.stringValue, let type = j["type"]?.stringValue else { return nil }
        self.init(key: key, type: type, cursor: j["cursor"]?.intValue ?? 0, backlog: j["backlog"]?.intValue ?? 0,
                  lagSeconds: { if case let .double(d)? = j["lag_seconds"] { return d }; return j["lag_seconds"]?.intValue.map(Double.init) }(), attempts: Int(j["attempts"]?.intValue ?? 0),
                  lastError: j["last_error"]?.stringValue, lastAttemptAt: j["last_attempt_at"]?.stringValue.flatMap(Timestamp.parse),
                  deliveredAt: j["delivered_at"]?.stringValue.flatMap(Timestamp.parse), configProblem: j["config_problem"]?.stringValue)
        switch j["scope"]?.stringValue {
        case "host": scope = j["host"]?.stringValue.map(CursorScope.host)
        case "fleet": scope = .fleet
        default: scope = nil
        }
    }

    /// `scope` (`host` or `fleet`) and `host` (the bastion, or null), on a shared store only.
    private var scopeFields: [(String, JSONValue?)] {
        switch scope {
        case nil: []
        case let .host(name)?: [("scope", .string("host")), ("host", .string(name))]
        case .fleet?: [("scope", .string("fleet")), ("host", .null)]
        }
    }

    public var json: JSONValue {
        func time(_ d: Date?) -> JSONValue { d.map { .string(Timestamp.format($0)) } ?? .null }
        return .obj([("destination", .string(key)), ("type", .string(type)), ("cursor", .int(cursor)), ("backlog", .int(backlog)),
                     ("lag_seconds", lagSeconds.map { .double(($0 * 1000).rounded() / 1000) } ?? .null), ("attempts", .int(Int64(attempts))),
                     ("last_error", .str(lastError)), ("last_attempt_at", time(lastAttemptAt)), ("delivered_at", time(deliveredAt)),
                     ("config_problem", .str(configProblem))]
                    + scopeFields)
    }
}
