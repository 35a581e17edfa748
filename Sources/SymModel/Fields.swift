import Foundation

/// The type of a prompt field (contract §3).
public enum FieldType: String, Sendable, CaseIterable {
    case string, int, bool, duration
    case strList = "str_list"
    case intList = "int_list"
    case user
    case userList = "user_list"

    public var isList: Bool { self == .strList || self == .intList || self == .userList }
    public var isUser: Bool { self == .user || self == .userList }
}

/// A typed value of a prompt field.
public enum FieldValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case duration(TimeSpan)
    case strList([String])
    case intList([Int64])
    case user(String)
    case userList([String])

    public var json: JSONValue {
        switch self {
        case let .string(s), let .user(s): return .string(s)
        case let .int(i): return .int(i)
        case let .bool(b): return .bool(b)
        case let .duration(d): return .string(d.description)
        case let .strList(l), let .userList(l): return .array(l.map(JSONValue.string))
        case let .intList(l): return .array(l.map(JSONValue.int))
        }
    }

    /// The value as a user would type it (lists comma-separated).
    public var description: String {
        switch self {
        case let .string(s), let .user(s): return s
        case let .int(i): return String(i)
        case let .bool(b): return b ? "true" : "false"
        case let .duration(d): return d.description
        case let .strList(l), let .userList(l): return l.joined(separator: ",")
        case let .intList(l): return l.map(String.init).joined(separator: ",")
        }
    }
}

extension FieldValue {
    /// The field type this value belongs to.
    public var typeName: String {
        switch self {
        case .string: return FieldType.string.rawValue
        case .int: return FieldType.int.rawValue
        case .bool: return FieldType.bool.rawValue
        case .duration: return FieldType.duration.rawValue
        case .strList: return FieldType.strList.rawValue
        case .intList: return FieldType.intList.rawValue
        case .user: return FieldType.user.rawValue
        case .userList: return FieldType.userList.rawValue
        }
    }

    /// Rebuilds a value of a known type from its JSON form (as `json` writes it).
    public init?(type: FieldType, json: JSONValue) {
        switch type {
        case .string: guard let s = json.stringValue else { return nil }; self = .string(s)
        case .user: guard let s = json.stringValue else { return nil }; self = .user(s)
        case .int: guard let i = json.intValue else { return nil }; self = .int(i)
        case .bool: guard let b = json.boolValue else { return nil }; self = .bool(b)
        case .duration:
            guard let s = json.stringValue, let d = TimeSpan(parsing: s) else { return nil }; self = .duration(d)
        case .strList, .userList:
            guard let a = json.arrayValue else { return nil }
            let l = a.compactMap(\.stringValue)
            guard l.count == a.count else { return nil }
            self = type == .strList ? .strList(l) : .userList(l)
        case .intList:
            guard let a = json.arrayValue else { return nil }
            let l = a.compactMap(\.intValue)
            guard l.count == a.count else { return nil }
            self = .intList(l)
        }
    }
}
