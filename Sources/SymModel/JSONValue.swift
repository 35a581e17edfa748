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
    public var compact: String { text(sorted: false, indent: nil) }
    /// Compact JSON with object keys sorted by their UTF-8 bytes: the form that is hashed.
    public var canonical: String { text(sorted: true, indent: nil) }
    /// Indented JSON for people.
    public var pretty: String { text(sorted: false, indent: "  ") }

    // Written as UTF-8 bytes: appending to a String costs a grapheme check per piece, and hashing
    // the audit chain spends most of its time here.
    private func text(sorted: Bool, indent: String?) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out, sorted: sorted, indent: indent.map { Array($0.utf8) }, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(into out: inout [UInt8], sorted: Bool, indent: [UInt8]?, level: Int) {
        func newline(_ level: Int) {
            guard let indent else { return }
            out.append(0x0A)
            for _ in 0..<level { out.append(contentsOf: indent) }
        }
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case let .bool(b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case let .int(i): out.append(contentsOf: String(i).utf8)
        case let .double(d):
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { out.append(contentsOf: String(Int64(d)).utf8) }
            else if d.isFinite { out.append(contentsOf: "\(d)".utf8) } else { out.append(contentsOf: "null".utf8) }
        case let .string(s): JSONValue.writeString(s, into: &out)
        case let .array(items):
            if items.isEmpty { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                item.write(into: &out, sorted: sorted, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(UInt8(ascii: "]"))
        case let .object(pairs):
            if pairs.isEmpty { out.append(contentsOf: "{}".utf8); return }
            let ordered = sorted ? pairs.sorted(by: JSONValue.utf8Precedes) : pairs
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in ordered.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                JSONValue.writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                if indent != nil { out.append(UInt8(ascii: " ")) }
                v.write(into: &out, sorted: sorted, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Key order of the canonical form: by UTF-8 bytes (memcmp; String's `<` is slower and orders by scalars).
    static func utf8Precedes(_ a: (String, JSONValue), _ b: (String, JSONValue)) -> Bool {
        var x = a.0, y = b.0
        return x.withUTF8 { p in
            y.withUTF8 { q in
                let n = min(p.count, q.count)
                let c = n == 0 ? 0 : memcmp(p.baseAddress!, q.baseAddress!, n)
                return c != 0 ? c < 0 : p.count < q.count
            }
        }
    }

    static func writeString(_ s: String, into out: inout String) {
        var bytes: [UInt8] = []
        writeString(s, into: &bytes)
        out += String(decoding: bytes, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string: `"` and `\` escaped, LF/CR/TAB as `\n` `\r` `\t`, other C0/C1 controls, DEL and
    /// U+2028/U+2029 as `\u00xx`; everything else as is. Runs of bytes that need no escape are copied whole (every
    /// answer of the daemon and every audit hash goes through here).
    static func writeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { writeString(utf8: $0, into: &out) }
    }

    private static func writeString(utf8 buf: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let hex = JSONValue.hexDigits
        func escape(_ value: UInt32) {
            out.append(0x5C); out.append(0x75)  // \u
            for shift in stride(from: 12, through: 0, by: -4) { out.append(hex[Int((value >> UInt32(shift)) & 0xF)]) }
        }
        out.append(0x22)
        let n = buf.count
        var run = 0, i = 0
        func flush() { if i > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[run..<i])) } }
        while i < n {
            let b = buf[i]
            // Plain: printable ASCII but `"` and `\`, and every byte of UTF-8 sequences but those that may start
            // a C1 control (C2 80…C2 9F) or U+2028/U+2029 (E2 80 A8/A9). A Swift string is valid UTF-8.
            if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x7F && b != 0xC2 && b != 0xE2 { i += 1; continue }
            switch b {
            case 0xC2:
                guard i + 1 < n, (0x80...0x9F).contains(buf[i + 1]) else { i += 1; continue }
                flush(); escape(UInt32(buf[i + 1])); i += 2
            case 0xE2:
                guard i + 2 < n, buf[i + 1] == 0x80, buf[i + 2] == 0xA8 || buf[i + 2] == 0xA9 else { i += 1; continue }
                flush(); escape(buf[i + 2] == 0xA8 ? 0x2028 : 0x2029); i += 3
            default:
                flush()
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                case 0x0D: out.append(0x5C); out.append(0x72)
                case 0x09: out.append(0x5C); out.append(0x74)
                default: escape(UInt32(b))   // other C0 controls and DEL
                }
                i += 1
            }
            run = i
        }
        flush()
        out.append(0x22)
    }
}

extension JSONValue {
    /// Parses JSON or JSON5 text (comments, trailing commas, unquoted keys, single quotes, hex).
    public static func parse(_ text: String) throws -> JSONValue {
        var parser = JSON5Parser(text, tracksLines: false)
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
