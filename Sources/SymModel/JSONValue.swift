import Foundation

/// A JSON document as a value: object keys keep their order; `canonical` sorts them.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            guard x.count == y.count else { return false }
            let dy = Dictionary(y, uniquingKeysWith: { a, _ in a })
            return x.allSatisfy { dy[$0.0] == $0.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(pairs) = self { return pairs.last(where: { $0.0 == key })?.1 }
        return nil
    }

    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var intValue: Int64? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d == d.rounded() && abs(d) < 9e15: return Int64(d)
        default: return nil
        }
    }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var objectValue: [(String, JSONValue)]? { if case let .object(o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// Builds an object from pairs, dropping nothing (nil values become `null`).
    public static func obj(_ pairs: [(String, JSONValue?)]) -> JSONValue {
        .object(pairs.map { ($0.0, $0.1 ?? .null) })
    }
    public static func str(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
    public static func num(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
    public static func num(_ i: Int64?) -> JSONValue { i.map(JSONValue.int) ?? .null }
}

extension JSONValue {
    /// Compact JSON with keys in insertion order.
    public var compact: String { var s = ""; write(into: &s, sorted: false, indent: nil, level: 0); return s }
    /// Compact JSON with object keys sorted by their UTF-8 bytes: the form that is hashed.
    public var canonical: String { var s = ""; write(into: &s, sorted: true, indent: nil, level: 0); return s }
    /// Indented JSON for people.
    public var pretty: String { var s = ""; write(into: &s, sorted: false, indent: "  ", level: 0); return s }

    private func write(into out: inout String, sorted: Bool, indent: String?, level: Int) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d):
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) }
            else if d.isFinite { out += "\(d)" } else { out += "null" }
        case let .string(s): JSONValue.writeString(s, into: &out)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                item.write(into: &out, sorted: sorted, indent: indent, level: level + 1)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "]"
        case let .object(pairs):
            if pairs.isEmpty { out += "{}"; return }
            let ordered = sorted ? pairs.sorted(by: JSONValue.utf8Precedes) : pairs
            out += "{"
            for (i, (k, v)) in ordered.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                JSONValue.writeString(k, into: &out)
                out += indent == nil ? ":" : ": "
                v.write(into: &out, sorted: sorted, indent: indent, level: level + 1)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "}"
        }
    }

    /// Key order of the canonical form: by UTF-8 bytes (for ASCII keys String's own `<` is that order, and fast).
    static func utf8Precedes(_ a: (String, JSONValue), _ b: (String, JSONValue)) -> Bool {
        if a.0.utf8.allSatisfy({ $0 < 0x80 }) && b.0.utf8.allSatisfy({ $0 < 0x80 }) { return a.0 < b.0 }
        return a.0.utf8.lexicographicallyPrecedes(b.0.utf8)
    }

    static func writeString(_ s: String, into out: inout String) {
        // Fast path: printable ASCII without quotes or backslashes is written as is.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
            out += "\""; out += s; out += "\""
            return
        }
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20 || c.value == 0x7f || (0x80...0x9f).contains(c.value)
                || c.value == 0x2028 || c.value == 0x2029:
                out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}

extension JSONValue {
    /// Parses JSON or JSON5 text (comments, trailing commas, unquoted keys, single quotes, hex).
    public static func parse(_ text: String) throws -> JSONValue {
        var parser = JSON5Parser(text)
        return try parser.parseDocument().value
    }

    public static func parse(data: Data) throws -> JSONValue {
        guard let s = String(data: data, encoding: .utf8) else { throw JSONParseError(message: "not UTF-8 text") }
        return try parse(s)
    }
}

/// Malformed JSON text, with the line (1-based) and column where it went wrong.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var line: Int?
    public var column: Int?
    public init(message: String, line: Int? = nil, column: Int? = nil) {
        self.message = message; self.line = line; self.column = column
    }
    public var description: String {
        if let line { return "line \(line)" + (column.map { ", column \($0)" } ?? "") + ": \(message)" }
        return message
    }
}
