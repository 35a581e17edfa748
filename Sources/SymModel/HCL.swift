import Foundation

/// A syntax error in an HCL file, with the line it is on.
public struct HCLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) { self.file = file; self.line = line; self.message = message }

    public var description: String { "\(file):\(line): \(message)" }
}

/// One HCL file: attributes and blocks, as Terraform writes them (the subset Sym configurations use).
public struct HCLBody: Sendable, Equatable {
    public var attributes: [HCLAttribute] = []
    public var blocks: [HCLBlock] = []

    public func attribute(_ name: String) -> HCLAttribute? { attributes.first { $0.name == name } }
    public func blocks(_ type: String) -> [HCLBlock] { blocks.filter { $0.type == type } }
}

/// `name = expression`.
public struct HCLAttribute: Sendable, Equatable {
    public var name: String
    public var value: HCLExpression
    public var line: Int
}

/// `type "label" "label" { body }`.
public struct HCLBlock: Sendable, Equatable {
    public var type: String
    public var labels: [String]
    public var body: HCLBody
    public var line: Int
}

/// An unevaluated expression and the line it starts on.
public struct HCLExpression: Sendable, Equatable {
    public indirect enum Kind: Sendable, Equatable {
        case null
        case bool(Bool)
        case number(Double)
        /// A quoted string or heredoc: literal text and `${…}` interpolations.
        case template([HCLTemplatePart])
        case list([HCLExpression])
        case object([(key: String, value: HCLExpression)])
        /// `var.name`, `local.x`, `sym_target.prod.id`, `path.module`: the names of a traversal.
        case reference([String])
        case call(name: String, arguments: [HCLExpression])

        public static func == (a: Kind, b: Kind) -> Bool {
            switch (a, b) {
            case (.null, .null): return true
            case let (.bool(x), .bool(y)): return x == y
            case let (.number(x), .number(y)): return x == y
            case let (.template(x), .template(y)): return x == y
            case let (.list(x), .list(y)): return x == y
            case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            case let (.reference(x), .reference(y)): return x == y
            case let (.call(n, x), .call(m, y)): return n == m && x == y
            default: return false
            }
        }
    }

    public var kind: Kind
    public var line: Int
}

/// A piece of a string template.
public enum HCLTemplatePart: Sendable, Equatable {
    case text(String)
    case interpolation(HCLExpression)
}

/// Parses HCL text (Terraform's native syntax, without operators, `for` expressions or template directives).
public struct HCLParser {
    private let bytes: [UInt8]
    private let file: String
    private var i = 0
    private var line = 1
    private var depth = 0
    /// Deeper nesting of blocks, lists, objects and calls is refused (no Sym file comes close; the stack would).
    public static let maxDepth = 100

    public init(_ text: String, file: String) {
        bytes = Array(text.utf8)
        self.file = file
    }

    /// Parses a whole file.
    public static func parse(_ text: String, file: String) throws(HCLError) -> HCLBody {
        var parser = HCLParser(text, file: file)
        return try parser.parseFile()
    }

    mutating func parseFile() throws(HCLError) -> HCLBody {
        try parseBody(opened: nil)
    }

    private func fail(_ message: String, line: Int? = nil) -> HCLError {
        HCLError(file: file, line: line ?? self.line, message: message)
    }

    private var atEnd: Bool { i >= bytes.count }
    private var current: UInt8 { i < bytes.count ? bytes[i] : 0 }
    private func peek(_ offset: Int) -> UInt8 { i + offset < bytes.count ? bytes[i + offset] : 0 }

    private mutating func advance() {
        if bytes[i] == 0x0A { line += 1 }
        i += 1
    }

    /// Skips blanks and comments; newlines too when `newlines` (inside brackets, where they mean nothing).
    private mutating func skip(newlines: Bool) throws(HCLError) {
        while !atEnd {
            let c = current
            if c == 0x20 || c == 0x09 || c == 0x0D { advance(); continue }
            if c == 0x0A { if newlines { advance(); continue } else { return } }
            if c == UInt8(ascii: "#") || (c == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "/")) {
                while !atEnd && current != 0x0A { advance() }
                continue
            }
            if c == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "*") {
                let start = line
                advance(); advance()
                while !(current == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/")) {
                    if atEnd { throw fail("unterminated /* comment", line: start) }
                    advance()
                }
                advance(); advance()
                continue
            }
            return
        }
    }

    private static func isIdentifierStart(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "_")
    }

    private static func isIdentifierByte(_ c: UInt8) -> Bool {
        isIdentifierStart(c) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-")
    }

    private mutating func identifier() -> String? {
        guard !atEnd, Self.isIdentifierStart(current) else { return nil }
        let start = i
        while !atEnd && Self.isIdentifierByte(current) { advance() }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private func describeCurrent() -> String {
        if atEnd { return "the end of the file" }
        if current == 0x0A { return "the end of the line" }
        let scalar = Unicode.Scalar(current)
        return current < 0x80 && current >= 0x20 ? "'\(Character(scalar))'" : "byte 0x\(String(current, radix: 16))"
    }

    /// `opened`: the type and line of the block whose body this is (nil for the file).
    private mutating func parseBody(opened: (type: String, line: Int)?) throws(HCLError) -> HCLBody {
        try enter()
        defer { depth -= 1 }
        var body = HCLBody()
        while true {
            try skip(newlines: true)
            if atEnd {
                if let opened {
                    throw fail("the \(opened.type) block opened on line \(opened.line) is not closed: '}' expected before the end of the file",
                               line: opened.line)
                }
                return body
            }
            if current == UInt8(ascii: "}") {
                if opened != nil { advance(); return body }
                throw fail("'}' without a block to close")
            }
            let start = line
            guard let name = identifier() else {
                throw fail("expected an attribute name or a block type, found \(describeCurrent())")
            }
            try skip(newlines: false)
            if current == UInt8(ascii: "=") && peek(1) != UInt8(ascii: "=") {
                advance()
                try skip(newlines: false)
                let value = try parseExpression()
                if body.attributes.contains(where: { $0.name == name }) {
                    throw fail("attribute '\(name)' is set twice in this block", line: start)
                }
                body.attributes.append(HCLAttribute(name: name, value: value, line: start))
                try endOfItem()
                continue
            }
            var labels: [String] = []
            while true {
                if current == UInt8(ascii: "\"") {
                    let labelLine = line
                    let parts = try parseQuoted()
                    guard let text = Self.plainText(parts) else {
                        throw fail("a block label cannot contain ${…}", line: labelLine)
                    }
                    labels.append(text)
                } else if let word = identifier() {
                    labels.append(word)
                } else {
                    break
                }
                try skip(newlines: false)
            }
            guard current == UInt8(ascii: "{") else {
                throw fail("expected '=' or '{' after '\(name)', found \(describeCurrent())")
            }
            advance()
            let inner = try parseBody(opened: (name, start))
            body.blocks.append(HCLBlock(type: name, labels: labels, body: inner, line: start))
            try endOfItem()
        }
    }

    /// After an attribute or block: a newline, a comment, the closing brace or the end of the file.
    private mutating func endOfItem() throws(HCLError) {
        try skip(newlines: false)
        if atEnd || current == 0x0A || current == UInt8(ascii: "}") { return }
        throw unexpectedAfterExpression()
    }

    private func unexpectedAfterExpression() -> HCLError {
        let operators: [UInt8] = Array("+-*/%<>!=&|?".utf8)
        if operators.contains(current) {
            return fail("operators (\(describeCurrent())) are not supported by the importer; write the value itself")
        }
        return fail("unexpected \(describeCurrent()); expected a new line")
    }

    static func plainText(_ parts: [HCLTemplatePart]) -> String? {
        var out = ""
        for part in parts {
            guard case let .text(t) = part else { return nil }
            out += t
        }
        return out
    }

    private mutating func enter() throws(HCLError) {
        depth += 1
        if depth > Self.maxDepth { throw fail("nested more than \(Self.maxDepth) levels deep") }
    }

    mutating func parseExpression() throws(HCLError) -> HCLExpression {
        try enter()
        defer { depth -= 1 }
        let start = line
        var expression: HCLExpression
        switch current {
        case UInt8(ascii: "\""):
            expression = HCLExpression(kind: .template(try parseQuoted()), line: start)
        case UInt8(ascii: "<") where peek(1) == UInt8(ascii: "<"):
            expression = HCLExpression(kind: .template(try parseHeredoc()), line: start)
        case UInt8(ascii: "["):
            expression = try parseList()
        case UInt8(ascii: "{"):
            expression = try parseObject()
        case UInt8(ascii: "("):
            advance()
            try skip(newlines: true)
            expression = try parseExpression()
            try skip(newlines: true)
            guard current == UInt8(ascii: ")") else { throw fail("')' expected, found \(describeCurrent())") }
            advance()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            expression = HCLExpression(kind: .number(try parseNumber()), line: start)
        default:
            guard let word = identifier() else {
                throw fail(atEnd || current == 0x0A ? "a value is missing" : "expected a value, found \(describeCurrent())")
            }
            switch word {
            case "true": expression = HCLExpression(kind: .bool(true), line: start)
            case "false": expression = HCLExpression(kind: .bool(false), line: start)
            case "null": expression = HCLExpression(kind: .null, line: start)
            case "for": throw fail("'for' expressions are not supported by the importer; write the list itself")
            default:
                if current == UInt8(ascii: "(") {
                    expression = HCLExpression(kind: .call(name: word, arguments: try parseArguments(of: word)), line: start)
                } else {
                    expression = HCLExpression(kind: .reference([word]), line: start)
                }
            }
        }
        // Traversals: `.name`, `[index]`, `.*` on any value.
        while true {
            if current == UInt8(ascii: "."), Self.isIdentifierStart(peek(1)) || (peek(1) >= 0x30 && peek(1) <= 0x39) {
                advance()
                let name: String
                if let word = identifier() { name = word } else { name = String(try parseNumber()) }
                expression = Self.traverse(expression, name)
            } else if current == UInt8(ascii: ".") && peek(1) == UInt8(ascii: "*") {
                throw fail("splat expressions (.*) are not supported by the importer")
            } else if current == UInt8(ascii: "[") {
                advance()
                try skip(newlines: true)
                let index = try parseExpression()
                try skip(newlines: true)
                guard current == UInt8(ascii: "]") else { throw fail("']' expected after an index, found \(describeCurrent())") }
                advance()
                guard case let .template(parts) = index.kind, let key = Self.plainText(parts) else {
                    if case let .number(n) = index.kind { expression = Self.traverse(expression, String(Int(n))); continue }
                    throw fail("only literal indexes (\"key\" or a number) are supported by the importer")
                }
                expression = Self.traverse(expression, key)
            } else {
                break
            }
        }
        return expression
    }

    private static func traverse(_ e: HCLExpression, _ name: String) -> HCLExpression {
        if case let .reference(names) = e.kind { return HCLExpression(kind: .reference(names + [name]), line: e.line) }
        // An index into a literal or a call result: kept as a call the evaluator understands.
        return HCLExpression(kind: .call(name: "__index", arguments: [e, HCLExpression(kind: .template([.text(name)]), line: e.line)]),
                             line: e.line)
    }

    private mutating func parseNumber() throws(HCLError) -> Double {
        let start = i
        if current == UInt8(ascii: "-") { advance() }
        while !atEnd, (current >= 0x30 && current <= 0x39) || current == UInt8(ascii: ".") || current == UInt8(ascii: "e")
                || current == UInt8(ascii: "E") || ((current == UInt8(ascii: "+") || current == UInt8(ascii: "-"))
                                                    && (bytes[i - 1] == UInt8(ascii: "e") || bytes[i - 1] == UInt8(ascii: "E"))) {
            advance()
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard let value = Double(text) else { throw fail("'\(text)' is not a number") }
        return value
    }

    private mutating func parseArguments(of name: String) throws(HCLError) -> [HCLExpression] {
        advance()  // (
        var arguments: [HCLExpression] = []
        while true {
            try skip(newlines: true)
            if current == UInt8(ascii: ")") { advance(); return arguments }
            if atEnd { throw fail("\(name)(…) is not closed: ')' expected") }
            arguments.append(try parseExpression())
            try skip(newlines: true)
            if current == UInt8(ascii: ",") { advance(); continue }
            if current == UInt8(ascii: ")") { advance(); return arguments }
            if current == UInt8(ascii: "."), peek(1) == UInt8(ascii: "."), peek(2) == UInt8(ascii: ".") {
                throw fail("argument expansion (...) is not supported by the importer")
            }
            throw fail("',' or ')' expected in the arguments of \(name), found \(describeCurrent())")
        }
    }

    private mutating func parseList() throws(HCLError) -> HCLExpression {
        let start = line
        advance()  // [
        var items: [HCLExpression] = []
        while true {
            try skip(newlines: true)
            if current == UInt8(ascii: "]") { advance(); return HCLExpression(kind: .list(items), line: start) }
            if atEnd { throw fail("the list opened on line \(start) is not closed: ']' expected") }
            items.append(try parseExpression())
            try skip(newlines: true)
            if current == UInt8(ascii: ",") { advance(); continue }
            if current == UInt8(ascii: "]") { advance(); return HCLExpression(kind: .list(items), line: start) }
            if atEnd { throw fail("the list opened on line \(start) is not closed: ']' expected") }
            throw fail("',' or ']' expected in the list opened on line \(start), found \(describeCurrent())")
        }
    }

    private mutating func parseObject() throws(HCLError) -> HCLExpression {
        let start = line
        advance()  // {
        var items: [(key: String, value: HCLExpression)] = []
        while true {
            try skip(newlines: true)
            if current == UInt8(ascii: "}") { advance(); return HCLExpression(kind: .object(items), line: start) }
            if atEnd { throw fail("the object opened on line \(start) is not closed: '}' expected") }
            let keyLine = line
            let key: String
            if current == UInt8(ascii: "\"") {
                guard let text = Self.plainText(try parseQuoted()) else { throw fail("an object key cannot contain ${…}", line: keyLine) }
                key = text
            } else if let word = identifier() {
                key = word
            } else {
                throw fail("expected an object key, found \(describeCurrent())")
            }
            try skip(newlines: false)
            guard current == UInt8(ascii: "=") || current == UInt8(ascii: ":") else {
                throw fail("'=' expected after the key '\(key)', found \(describeCurrent())")
            }
            advance()
            try skip(newlines: false)
            let value = try parseExpression()
            if items.contains(where: { $0.key == key }) { throw fail("key '\(key)' appears twice in this object", line: keyLine) }
            items.append((key, value))
            try skip(newlines: false)
            if current == UInt8(ascii: ",") { advance(); continue }
            if current == 0x0A || current == UInt8(ascii: "}") || atEnd { continue }
            throw unexpectedAfterExpression()
        }
    }

    /// A quoted string, with escapes and `${…}` interpolations; `$${` and `%%{` are literal.
    private mutating func parseQuoted() throws(HCLError) -> [HCLTemplatePart] {
        let start = line
        advance()  // "
        var parts: [HCLTemplatePart] = []
        var text: [UInt8] = []
        func flush() {
            if !text.isEmpty { parts.append(.text(String(decoding: text, as: UTF8.self))); text.removeAll() }
        }
        while true {
            if atEnd || current == 0x0A { throw fail("the string started on line \(start) is not closed: '\"' expected", line: start) }
            let c = current
            if c == UInt8(ascii: "\"") { advance(); break }
            if c == UInt8(ascii: "\\") {
                advance()
                let e = current
                switch e {
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): text.append(e)
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let count = e == UInt8(ascii: "u") ? 4 : 8
                    advance()
                    guard i + count <= bytes.count, let value = UInt32(String(decoding: bytes[i..<(i + count)], as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(value) else { throw fail("invalid \\\(Character(Unicode.Scalar(e))) escape") }
                    text.append(contentsOf: Array(String(Character(scalar)).utf8))
                    for _ in 0..<count { advance() }
                    continue
                default: throw fail("unknown escape \\\(describeCurrent()) in a string")
                }
                advance()
                continue
            }
            if c == UInt8(ascii: "$") && peek(1) == UInt8(ascii: "$") && peek(2) == UInt8(ascii: "{") {
                text.append(contentsOf: Array("${".utf8)); advance(); advance(); advance(); continue
            }
            if c == UInt8(ascii: "%") && peek(1) == UInt8(ascii: "%") && peek(2) == UInt8(ascii: "{") {
                text.append(contentsOf: Array("%{".utf8)); advance(); advance(); advance(); continue
            }
            if c == UInt8(ascii: "%") && peek(1) == UInt8(ascii: "{") {
                throw fail("template directives (%{…}) are not supported by the importer")
            }
            if c == UInt8(ascii: "$") && peek(1) == UInt8(ascii: "{") {
                flush()
                parts.append(.interpolation(try parseInterpolation()))
                continue
            }
            text.append(c)
            advance()
        }
        flush()
        return parts
    }

    private mutating func parseInterpolation() throws(HCLError) -> HCLExpression {
        let start = line
        advance(); advance()  // ${
        if current == UInt8(ascii: "~") { advance() }
        try skip(newlines: true)
        let inner = try parseExpression()
        try skip(newlines: true)
        if current == UInt8(ascii: "~") { advance() }
        guard current == UInt8(ascii: "}") else {
            if atEnd { throw fail("the ${ opened on line \(start) is not closed: '}' expected", line: start) }
            throw fail("'}' expected to close ${…}, found \(describeCurrent())")
        }
        advance()
        return inner
    }

    /// `<<EOF … EOF` and `<<-EOF` (indented: the common leading blanks are removed).
    private mutating func parseHeredoc() throws(HCLError) -> [HCLTemplatePart] {
        let start = line
        advance(); advance()  // <<
        var indented = false
        if current == UInt8(ascii: "-") { indented = true; advance() }
        guard let marker = identifier() else { throw fail("a heredoc needs a marker after <<, e.g. <<EOT") }
        while !atEnd && (current == 0x20 || current == 0x09 || current == 0x0D) { advance() }
        guard current == 0x0A else { throw fail("a heredoc's marker must end its line") }
        advance()
        var lines: [[UInt8]] = []
        while true {
            if atEnd { throw fail("the heredoc <<\(marker) started on line \(start) is not closed: '\(marker)' expected on a line of its own", line: start) }
            let lineStart = i
            while !atEnd && current != 0x0A { advance() }
            let content = Array(bytes[lineStart..<i])
            let trimmed = String(decoding: content, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if trimmed == marker { break }
            lines.append(content)
            if !atEnd { advance() }
        }
        if indented {
            let indents = lines.filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
                .map { $0.prefix { $0 == 0x20 || $0 == 0x09 }.count }
            let strip = indents.min() ?? 0
            lines = lines.map { Array($0.dropFirst(min(strip, $0.prefix { $0 == 0x20 || $0 == 0x09 }.count))) }
        }
        let text = lines.map { String(decoding: $0, as: UTF8.self) + "\n" }.joined()
        // A heredoc is a template too: parse its ${…} with a sub-parser (lines counted from the heredoc's first line).
        var sub = HCLParser(text, file: file)
        sub.line = start + 1
        return try sub.parseTemplateText()
    }

    /// The whole input as template text (heredoc bodies).
    private mutating func parseTemplateText() throws(HCLError) -> [HCLTemplatePart] {
        var parts: [HCLTemplatePart] = []
        var text: [UInt8] = []
        while !atEnd {
            let c = current
            if c == UInt8(ascii: "$") && peek(1) == UInt8(ascii: "$") && peek(2) == UInt8(ascii: "{") {
                text.append(contentsOf: Array("${".utf8)); advance(); advance(); advance(); continue
            }
            if c == UInt8(ascii: "%") && peek(1) == UInt8(ascii: "{") {
                throw fail("template directives (%{…}) are not supported by the importer")
            }
            if c == UInt8(ascii: "$") && peek(1) == UInt8(ascii: "{") {
                if !text.isEmpty { parts.append(.text(String(decoding: text, as: UTF8.self))); text.removeAll() }
                parts.append(.interpolation(try parseInterpolation()))
                continue
            }
            text.append(c)
            advance()
        }
        if !text.isEmpty { parts.append(.text(String(decoding: text, as: UTF8.self))) }
        return parts
    }
}
