import Foundation

/// A parsed document and the line of every JSON path in it (`flows[2].prompt_fields[0].default`).
public struct ParsedDocument: Sendable {
    public var value: JSONValue
    public var lines: [String: Int]
}

/// A JSON5 reader over UTF-8 bytes that remembers where each value started.
public struct JSON5Parser {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    private var lines: [String: Int] = [:]
    private var depth = 0
    private static let maxDepth = 200
    /// Off for data that is not a config (socket lines, stored JSON): no path strings are built then.
    private let tracksLines: Bool

    public init(_ text: String, tracksLines: Bool = true) { bytes = Array(text.utf8); self.tracksLines = tracksLines }

    public mutating func parseDocument() throws -> ParsedDocument {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3 }
        try skipSpace()
        guard pos < bytes.count else { throw fail("the document is empty") }
        let v = try parseValue(path: "")
        try skipSpace()
        if pos < bytes.count { throw fail("unexpected \(describe(bytes[pos])) after the end of the document") }
        return ParsedDocument(value: v, lines: lines)
    }

    private func fail(_ message: String) -> JSONParseError {
        JSONParseError(message: message, line: line, column: pos - lineStart + 1)
    }

    private func describe(_ b: UInt8) -> String {
        if b >= 0x21 && b < 0x7f { return "'\(Character(UnicodeScalar(b)))'" }
        return String(format: "byte 0x%02x", b)
    }

    private mutating func advance() {
        if bytes[pos] == 0x0A { line += 1; lineStart = pos + 1 }
        pos += 1
    }

    private mutating func skipSpace() throws {
        while pos < bytes.count {
            let b = bytes[pos]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C { advance(); continue }
            if b == 0xC2, pos + 1 < bytes.count, bytes[pos + 1] == 0xA0 { pos += 2; continue }  // NBSP
            if b == 0x2F, pos + 1 < bytes.count {
                if bytes[pos + 1] == 0x2F {
                    while pos < bytes.count && bytes[pos] != 0x0A { pos += 1 }
                    continue
                }
                if bytes[pos + 1] == 0x2A {
                    let startLine = line
                    pos += 2
                    var closed = false
                    while pos + 1 < bytes.count {
                        if bytes[pos] == 0x2A && bytes[pos + 1] == 0x2F { pos += 2; closed = true; break }
                        advance()
                    }
                    if !closed { throw JSONParseError(message: "a /* comment opened on line \(startLine) is never closed", line: startLine) }
                    continue
                }
            }
            break
        }
    }

    private mutating func parseValue(path: String) throws -> JSONValue {
        if tracksLines { lines[path] = lines[path] ?? line }
        guard pos < bytes.count else { throw fail("unexpected end of text") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(path: path)
        case UInt8(ascii: "["): return try parseArray(path: path)
        case UInt8(ascii: "\""), UInt8(ascii: "'"): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        default: return try parseNumber()
        }
    }

    private mutating func expectWord(_ w: String) throws {
        let wb = Array(w.utf8)
        guard bytes.count - pos >= wb.count, Array(bytes[pos..<pos + wb.count]) == wb else {
            throw fail("unexpected \(describe(bytes[pos])): expected a value")
        }
        pos += wb.count
        if pos < bytes.count, isIdentByte(bytes[pos]) { throw fail("unexpected \(describe(bytes[pos])) after '\(w)'") }
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw fail("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func parseObject(path: String) throws -> JSONValue {
        try enter(); defer { depth -= 1 }
        pos += 1
        var pairs: [(String, JSONValue)] = []
        // Small objects (stored fields, change lines, answers) look for a repeated key among the pairs so far; a
        // set is built only for big ones.
        var seen: Set<String>?
        while true {
            try skipSpace()
            guard pos < bytes.count else { throw fail("an object is never closed with '}'") }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
            let keyLine = line
            let key: String
            if bytes[pos] == UInt8(ascii: "\"") || bytes[pos] == UInt8(ascii: "'") { key = try parseString() }
            else { key = try parseIdentifier() }
            if pairs.count >= 16, seen == nil { seen = Set(pairs.map(\.0)) }
            let repeated = seen.map { $0.contains(key) } ?? pairs.contains { $0.0 == key }
            if repeated { throw JSONParseError(message: "key '\(key)' appears twice in one object", line: keyLine) }
            seen?.insert(key)
            try skipSpace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after key '\(key)'") }
            pos += 1
            try skipSpace()
            let childPath = !tracksLines ? "" : path.isEmpty ? key : path + "." + key
            if tracksLines { lines[childPath] = keyLine }
            pairs.append((key, try parseValue(path: childPath)))
            try skipSpace()
            guard pos < bytes.count else { throw fail("an object is never closed with '}'") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
            throw fail("expected ',' or '}' but found \(describe(bytes[pos]))")
        }
    }

    private mutating func parseArray(path: String) throws -> JSONValue {
        try enter(); defer { depth -= 1 }
        pos += 1
        var items: [JSONValue] = []
        while true {
            try skipSpace()
            guard pos < bytes.count else { throw fail("an array is never closed with ']'") }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            items.append(try parseValue(path: tracksLines ? "\(path)[\(items.count)]" : ""))
            try skipSpace()
            guard pos < bytes.count else { throw fail("an array is never closed with ']'") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw fail("expected ',' or ']' but found \(describe(bytes[pos]))")
        }
    }

    private func isIdentByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x24
    }

    private mutating func parseIdentifier() throws -> String {
        let start = pos
        while pos < bytes.count, isIdentByte(bytes[pos]) { pos += 1 }
        guard pos > start, !(bytes[start] >= 0x30 && bytes[start] <= 0x39) else {
            throw fail(pos < bytes.count ? "unexpected \(describe(bytes[pos])): expected a key" : "unexpected end of text")
        }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    private mutating func parseString() throws -> String {
        let quote = bytes[pos]
        let startLine = line
        pos += 1
        var out = [UInt8]()
        // Bytes that are not an escape are copied a run at a time.
        var run = pos
        let start = pos
        while true {
            guard pos < bytes.count else { throw JSONParseError(message: "a string opened on line \(startLine) is never closed", line: startLine) }
            let b = bytes[pos]
            if b == quote {
                // No escape in the string (the usual case): decoded straight from the text, no copy.
                if out.isEmpty && run == start {
                    pos += 1
                    guard let s = String(validating: bytes[run..<pos - 1], as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
                    return s
                }
                out.append(contentsOf: bytes[run..<pos]); pos += 1; break
            }
            if b == 0x0A || b == 0x0D { throw fail("a string may not contain a raw line break (use \\n)") }
            if b == UInt8(ascii: "\\") {
                out.append(contentsOf: bytes[run..<pos])
                defer { run = pos }
                pos += 1
                guard pos < bytes.count else { throw fail("unexpected end of text in an escape") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "v"): out.append(0x0B)
                case UInt8(ascii: "0"): out.append(0x00)
                case 0x0A: line += 1; lineStart = pos  // line continuation
                case UInt8(ascii: "x"):
                    let v = try hexDigits(2)
                    out.append(contentsOf: Array(String(UnicodeScalar(UInt8(v))).utf8))
                case UInt8(ascii: "u"):
                    var v = try hexDigits(4)
                    if (0xD800...0xDBFF).contains(v), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                        pos += 2
                        let lo = try hexDigits(4)
                        guard (0xDC00...0xDFFF).contains(lo) else { throw fail("invalid surrogate pair") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    guard let scalar = UnicodeScalar(v) else { throw fail("\\u escape names no character") }
                    out.append(contentsOf: Array(String(scalar).utf8))
                default:
                    out.append(e)
                }
                continue
            }
            pos += 1
        }
        // The standard library's validating decoder: Foundation's String(bytes:encoding:) was a tenth of a daemon's
        // time answering a page of requests (every stored field and routing column is parsed here).
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
        return s
    }

    private mutating func hexDigits(_ n: Int) throws -> Int {
        guard bytes.count - pos >= n else { throw fail("unexpected end of text in an escape") }
        var v = 0
        for _ in 0..<n {
            guard let d = Int(String(UnicodeScalar(bytes[pos])), radix: 16) else { throw fail("invalid hex digit in an escape") }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var negative = false
        if bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") {
            negative = bytes[pos] == UInt8(ascii: "-"); pos += 1
        }
        guard pos < bytes.count else { throw fail("unexpected end of text") }
        // JSON5 allows Infinity and NaN, but nothing here has a use for them and JSON cannot carry them back out.
        if bytes[pos] == UInt8(ascii: "I") || bytes[pos] == UInt8(ascii: "N") {
            throw fail("Infinity and NaN are not accepted; use a finite number")
        }
        if bytes[pos] == UInt8(ascii: "0"), pos + 1 < bytes.count, bytes[pos + 1] | 0x20 == UInt8(ascii: "x") {
            pos += 2
            let hs = pos
            while pos < bytes.count, Int(String(UnicodeScalar(bytes[pos])), radix: 16) != nil { pos += 1 }
            guard pos > hs, let v = Int64(String(decoding: bytes[hs..<pos], as: UTF8.self), radix: 16) else { throw fail("invalid hex number") }
            return .int(negative ? -v : v)
        }
        var isInt = true
        let digitsStart = pos
        while pos < bytes.count {
            let b = bytes[pos]
            if b >= 0x30 && b <= 0x39 { pos += 1; continue }
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { isInt = false; pos += 1; continue }
            if (b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && (bytes[pos - 1] | 0x20) == UInt8(ascii: "e") { pos += 1; continue }
            break
        }
        guard pos > digitsStart else {
            pos = start
            throw fail("unexpected \(describe(bytes[start])): expected a value")
        }
        // Plain integers (ids in change lines and answers) without building a String; 18 digits always fit.
        if isInt, pos - digitsStart <= 18 {
            var v: Int64 = 0
            for i in digitsStart..<pos { v = v * 10 + Int64(bytes[i] &- 0x30) }
            return .int(negative ? -v : v)
        }
        var text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if text.hasPrefix("+") { text.removeFirst() }
        if isInt, let v = Int64(text) { return .int(v) }
        var dtext = text
        if dtext.hasPrefix(".") { dtext = "0" + dtext } else if dtext.hasPrefix("-.") { dtext = "-0" + dtext.dropFirst() }
        if dtext.hasSuffix(".") { dtext += "0" }
        guard let d = Double(dtext) else { throw JSONParseError(message: "invalid number '\(text)'", line: line, column: start - lineStart + 1) }
        guard d.isFinite else { throw JSONParseError(message: "number '\(text.prefix(40))' is too large", line: line, column: start - lineStart + 1) }
        return .double(d)
    }
}
