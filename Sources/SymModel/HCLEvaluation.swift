import Foundation

/// An evaluated HCL value. What cannot be known from the files themselves (another resource's id, a variable
/// without a default) stays a `reference`, spelled as Terraform spells it.
public indirect enum HCLValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([HCLValue])
    case object([HCLPair])
    /// What `file(PATH)` read: the text, and where it came from (an `implementation` wants the path).
    case file(path: String, text: String)
    /// `sym_strategy.db.id`, `var.region` (no default), or a string that interpolates one: `"${var.env}-db"`.
    case reference(String)

    public var string: String? {
        switch self {
        case let .string(s): return s
        case let .file(_, text): return text
        default: return nil
        }
    }

    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var list: [HCLValue]? { if case let .list(l) = self { return l }; return nil }
    public var object: [HCLPair]? { if case let .object(o) = self { return o }; return nil }

    public subscript(key: String) -> HCLValue? { object?.last { $0.key == key }?.value }

    /// Terraform's text for the value inside a `${…}`.
    var interpolationText: String? {
        switch self {
        case let .string(s): return s
        case let .file(_, text): return text
        case let .number(n): return HCLValue.numberText(n)
        case let .bool(b): return b ? "true" : "false"
        default: return nil
        }
    }

    static func numberText(_ n: Double) -> String {
        n == n.rounded() && abs(n) < 9e15 ? String(Int64(n)) : String(n)
    }

    /// The value as JSON; references become their Terraform text ("${sym_target.x.id}").
    public var json: JSONValue {
        switch self {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .number(n): return n == n.rounded() && abs(n) < 9e15 ? .int(Int64(n)) : .double(n)
        case let .string(s): return .string(s)
        case let .file(_, text): return .string(text)
        case let .list(items): return .array(items.map(\.json))
        case let .object(pairs): return .object(pairs.map { ($0.key, $0.value.json) })
        case let .reference(r): return .string(r.hasPrefix("\"") ? String(r.dropFirst().dropLast()) : "${" + r + "}")
        }
    }

    /// Whether a reference appears anywhere in the value.
    public var hasReference: Bool {
        switch self {
        case .reference: return true
        case let .list(items): return items.contains(where: \.hasReference)
        case let .object(pairs): return pairs.contains { $0.value.hasReference }
        default: return false
        }
    }
}

/// One key of an HCL object or map.
public struct HCLPair: Sendable, Equatable {
    public var key: String
    public var value: HCLValue
    public init(key: String, value: HCLValue) { self.key = key; self.value = value }
}

/// Evaluates expressions of a set of files that make one Terraform module: `var.` from `variable` defaults,
/// `local.` from `locals`, `path.module`, and the functions Sym configurations use.
public final class HCLEvaluator {
    public let moduleDirectory: String
    private var variables: [String: HCLExpression] = [:]
    private var locals: [String: HCLExpression] = [:]
    private var localFiles: [String: String] = [:]
    private var localValues: [String: HCLValue] = [:]
    private var evaluating: Set<String> = []
    /// Larger files are not read by `file()`.
    public static let maxFileSize = 1 << 20

    /// `files`: (path, parsed body) of every file of the module.
    public init(moduleDirectory: String, files: [(String, HCLBody)]) throws(HCLError) {
        self.moduleDirectory = moduleDirectory
        for (file, body) in files {
            for block in body.blocks("variable") {
                guard let name = block.labels.first else { throw HCLError(file: file, line: block.line, message: "a variable block needs a name") }
                if let value = block.body.attribute("default")?.value { variables[name] = value }
            }
            for block in body.blocks("locals") {
                for attribute in block.body.attributes {
                    if locals[attribute.name] != nil {
                        throw HCLError(file: file, line: attribute.line, message: "local.\(attribute.name) is defined twice")
                    }
                    locals[attribute.name] = attribute.value
                    localFiles[attribute.name] = file
                }
            }
        }
    }

    public func evaluate(_ e: HCLExpression, file: String) throws(HCLError) -> HCLValue {
        func fail(_ message: String) -> HCLError { HCLError(file: file, line: e.line, message: message) }
        switch e.kind {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .number(n): return .number(n)
        case let .list(items):
            var out: [HCLValue] = []
            for item in items { out.append(try evaluate(item, file: file)) }
            return .list(out)
        case let .object(pairs):
            var out: [HCLPair] = []
            for pair in pairs { out.append(HCLPair(key: pair.key, value: try evaluate(pair.value, file: file))) }
            return .object(out)
        case let .template(parts):
            if parts.count == 1, case let .interpolation(inner) = parts[0] { return try evaluate(inner, file: file) }
            var text = ""
            var unresolved = false
            for part in parts {
                switch part {
                case let .text(t): text += t
                case let .interpolation(inner):
                    let value = try evaluate(inner, file: file)
                    if case let .reference(r) = value {
                        unresolved = true
                        text += "${" + r + "}"
                    } else if let t = value.interpolationText {
                        text += t
                    } else {
                        throw fail("a list or an object cannot be put inside a string")
                    }
                }
            }
            return unresolved ? .reference("\"" + text + "\"") : .string(text)
        case let .reference(names):
            return try reference(names, expression: e, file: file)
        case let .call(name, arguments):
            var values: [HCLValue] = []
            for argument in arguments { values.append(try evaluate(argument, file: file)) }
            return try call(name, values, fail: fail)
        }
    }

    private func reference(_ names: [String], expression e: HCLExpression, file: String) throws(HCLError) -> HCLValue {
        func fail(_ message: String) -> HCLError { HCLError(file: file, line: e.line, message: message) }
        let text = names.joined(separator: ".")
        switch names[0] {
        case "var":
            guard names.count >= 2 else { throw fail("'var' needs a variable name: var.NAME") }
            guard let value = variables[names[1]] else { return .reference(text) }
            return try index(try evaluate(value, file: file), Array(names.dropFirst(2)), text: text, fail: fail)
        case "local":
            guard names.count >= 2 else { throw fail("'local' needs a name: local.NAME") }
            let name = names[1]
            guard let value = locals[name] else { throw fail("local.\(name) is not defined in these files") }
            if let known = localValues[name] { return try index(known, Array(names.dropFirst(2)), text: text, fail: fail) }
            guard !evaluating.contains(name) else { throw fail("local.\(name) refers to itself") }
            evaluating.insert(name)
            defer { evaluating.remove(name) }
            let result = try evaluate(value, file: localFiles[name] ?? file)
            localValues[name] = result
            return try index(result, Array(names.dropFirst(2)), text: text, fail: fail)
        case "path":
            guard names.count == 2, ["module", "root", "cwd"].contains(names[1]) else { return .reference(text) }
            return .string(moduleDirectory)
        default:
            return .reference(text)
        }
    }

    private func index(_ value: HCLValue, _ keys: [String], text: String, fail: (String) -> HCLError) throws(HCLError) -> HCLValue {
        var value = value
        for key in keys {
            switch value {
            case let .object(pairs):
                guard let next = pairs.last(where: { $0.key == key })?.value else { throw fail("\(text): no key '\(key)'") }
                value = next
            case let .list(items):
                guard let n = Int(key), n >= 0, n < items.count else { throw fail("\(text): no element \(key)") }
                value = items[n]
            case .reference:
                return .reference(text)
            default:
                throw fail("\(text): '\(key)' of a value that has no keys")
            }
        }
        return value
    }

    private func call(_ name: String, _ values: [HCLValue], fail: (String) -> HCLError) throws(HCLError) -> HCLValue {
        func arity(_ n: Int) throws(HCLError) {
            if values.count != n { throw fail("\(name)() takes \(n) argument\(n == 1 ? "" : "s"), not \(values.count)") }
        }
        func text(_ v: HCLValue) throws(HCLError) -> String {
            guard let s = v.string ?? v.interpolationText else { throw fail("\(name)() needs a string") }
            return s
        }
        switch name {
        case "__index":
            return try index(values[0], [try text(values[1])], text: "index", fail: fail)
        case "jsonencode":
            try arity(1)
            return .string(values[0].json.compact)
        case "jsondecode":
            try arity(1)
            guard let s = values[0].string, let json = try? JSONValue.parse(s) else { throw fail("jsondecode() needs a JSON string") }
            return HCLValue(json: json)
        case "file":
            try arity(1)
            if case .reference = values[0] { return .reference("file(…)") }
            var path = try text(values[0])
            if !path.hasPrefix("/") { path = moduleDirectory + "/" + path }
            path = URL(fileURLWithPath: path).standardizedFileURL.path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  (attributes[.type] as? FileAttributeType) == .typeRegular else { throw fail("file(): no file \(path)") }
            if let size = attributes[.size] as? Int, size > Self.maxFileSize { throw fail("file(): \(path) is larger than 1 MiB") }
            guard let data = FileManager.default.contents(atPath: path) else { throw fail("file(): cannot read \(path)") }
            guard let contents = String(data: data, encoding: .utf8) else { throw fail("file(): \(path) is not UTF-8 text") }
            return .file(path: path, text: contents)
        case "abspath":
            try arity(1)
            let path = try text(values[0])
            return .string(URL(fileURLWithPath: path.hasPrefix("/") ? path : moduleDirectory + "/" + path).standardizedFileURL.path)
        case "tostring", "tolist", "toset", "tomap":
            try arity(1)
            return values[0]
        case "lower": try arity(1); return .string(try text(values[0]).lowercased())
        case "upper": try arity(1); return .string(try text(values[0]).uppercased())
        case "trimspace": try arity(1); return .string(try text(values[0]).trimmingCharacters(in: .whitespacesAndNewlines))
        case "join":
            try arity(2)
            guard let items = values[1].list else { throw fail("join() needs a list as its second argument") }
            var parts: [String] = []
            for item in items { parts.append(try text(item)) }
            return .string(parts.joined(separator: try text(values[0])))
        case "concat":
            var out: [HCLValue] = []
            for v in values {
                guard let items = v.list else { throw fail("concat() needs lists") }
                out += items
            }
            return .list(out)
        case "merge":
            var out: [HCLPair] = []
            for v in values {
                guard let pairs = v.object else { throw fail("merge() needs objects") }
                for pair in pairs {
                    out.removeAll { $0.key == pair.key }
                    out.append(pair)
                }
            }
            return .object(out)
        default:
            throw fail("function \(name)() is not supported by the importer")
        }
    }
}

extension HCLValue {
    init(json: JSONValue) {
        switch json {
        case .null: self = .null
        case let .bool(b): self = .bool(b)
        case let .int(i): self = .number(Double(i))
        case let .double(d): self = .number(d)
        case let .string(s): self = .string(s)
        case let .array(items): self = .list(items.map(HCLValue.init(json:)))
        case let .object(pairs): self = .object(pairs.map { HCLPair(key: $0.0, value: HCLValue(json: $0.1)) })
        }
    }
}
