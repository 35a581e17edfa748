import Foundation

/// An object in the config document, with the JSON path it was found at.
struct ConfigObject {
    let path: String
    let pairs: [(String, JSONValue)]

    subscript(key: String) -> JSONValue? { pairs.last(where: { $0.0 == key })?.1 }
    func has(_ key: String) -> Bool { self[key] != nil }
    func path(_ key: String) -> String { ConfigReader.child(path, key) }
}

/// Reads typed values out of a parsed config, collecting a located problem for everything wrong.
final class ConfigReader {
    let file: String
    let lines: [String: Int]
    let baseDirectory: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String, lines: [String: Int], baseDirectory: String) {
        self.file = file; self.lines = lines; self.baseDirectory = baseDirectory
    }

    static func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }
    static func index(_ path: String, _ i: Int) -> String { "\(path)[\(i)]" }

    func report(_ path: String, _ message: String) {
        problems.append(ConfigProblem(file: file, path: path, line: line(for: path), message: message))
    }

    /// The line of `path`, or of its nearest ancestor that has one (a missing key points at its object).
    func line(for path: String) -> Int? {
        var p = path
        while true {
            if let l = lines[p] { return l }
            if p.isEmpty { return nil }
            if p.hasSuffix("]"), let open = p.lastIndex(of: "[") { p = String(p[..<open]); continue }
            if let dot = p.lastIndex(of: ".") { p = String(p[..<dot]) } else { p = "" }
        }
    }

    // MARK: - Typed access

    private func wrongType(_ path: String, _ expected: String, _ v: JSONValue) {
        report(path, "expected \(expected), found \(JSONValue.kindName(v))")
    }

    /// `value` as an object whose keys are all in `keys`; unknown keys are reported with a suggestion.
    func object(_ value: JSONValue, at path: String, keys: [String], what: String) -> ConfigObject? {
        guard case let .object(pairs) = value else { wrongType(path, "an object", value); return nil }
        for (key, _) in pairs where !keys.contains(key) {
            let hint = Suggestion.closest(to: key, among: keys).map { " (did you mean '\($0)'?)" } ?? ""
            report(Self.child(path, key), "unknown key '\(FieldValues.clip(key))' in \(what)\(hint)")
        }
        return ConfigObject(path: path, pairs: pairs)
    }

    /// An object with arbitrary keys (settings, vars).
    func freeObject(_ o: ConfigObject, _ key: String) -> [String: JSONValue]? {
        guard let v = o[key] else { return nil }
        guard case let .object(pairs) = v else { wrongType(o.path(key), "an object", v); return nil }
        return Dictionary(pairs, uniquingKeysWith: { _, b in b })
    }

    func array(_ o: ConfigObject, _ key: String) -> [JSONValue]? {
        guard let v = o[key] else { return nil }
        guard case let .array(items) = v else { wrongType(o.path(key), "an array", v); return nil }
        return items
    }

    func string(_ o: ConfigObject, _ key: String, required what: String? = nil) -> String? {
        guard let v = o[key] else {
            if let what { report(o.path, "\(what) needs '\(key)'") }
            return nil
        }
        return string(v, at: o.path(key))
    }

    func string(_ v: JSONValue, at path: String) -> String? {
        guard case let .string(s) = v else { wrongType(path, "a string", v); return nil }
        if s.unicodeScalars.contains("\u{0}") { report(path, "must not contain a NUL character"); return nil }
        return s
    }

    func bool(_ o: ConfigObject, _ key: String) -> Bool? {
        guard let v = o[key] else { return nil }
        guard case let .bool(b) = v else { wrongType(o.path(key), "true or false", v); return nil }
        return b
    }

    func int(_ o: ConfigObject, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let v = o[key] else { return nil }
        switch v {
        case .int, .double:
            guard let i = v.intValue, let n = Int(exactly: i) else {
                if case let .double(d) = v, d.isFinite, d == d.rounded() {
                    report(o.path(key), "must be between \(range.lowerBound) and \(range.upperBound), found " + Self.numberText(v))
                } else {
                    report(o.path(key), "expected a whole number, found " + Self.numberText(v))
                }
                return nil
            }
            guard range.contains(n) else {
                report(o.path(key), "must be between \(range.lowerBound) and \(range.upperBound), found \(n)"); return nil
            }
            return n
        default: wrongType(o.path(key), "a whole number", v); return nil
        }
    }

    /// A number as a message shows it; infinities (from literals like 1e999) have no JSON form.
    static func numberText(_ v: JSONValue) -> String {
        if case let .double(d) = v, !d.isFinite { return "a number out of range" }
        return FieldValues.clip(v.compact)
    }

    func duration(_ o: ConfigObject, _ key: String) -> TimeSpan? {
        guard let v = o[key] else { return nil }
        guard let s = string(v, at: o.path(key)) else { return nil }
        guard let d = TimeSpan(parsing: s) else {
            report(o.path(key), "'\(FieldValues.clip(s))' is not a duration (write it like 90s, 15m, 1h30m or 2d)")
            return nil
        }
        return d
    }

    func stringList(_ o: ConfigObject, _ key: String) -> [String]? {
        guard let items = array(o, key) else { return nil }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            if let s = string(item, at: Self.index(o.path(key), i)) { out.append(s) }
        }
        return out
    }

    /// A name of a flow, strategy, target or field: [A-Za-z0-9_.-]+, at most 64 characters.
    func name(_ o: ConfigObject, what: String) -> String? {
        guard let s = string(o, "name", required: what) else { return nil }
        if s.isEmpty { report(o.path("name"), "\(what) name must not be empty"); return nil }
        if s.count > 64 { report(o.path("name"), "\(what) name is longer than 64 characters"); return nil }
        let ok = s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x2D
        }
        if !ok {
            report(o.path("name"), "\(what) name '\(FieldValues.clip(s))' may only use letters, digits, '_', '.' and '-'")
            return nil
        }
        return s
    }

    /// A human label: any text without control characters.
    func label(_ o: ConfigObject, _ key: String = "label") -> String? {
        guard let s = string(o, key) else { return nil }
        if s.isAll(in: .whitespaces) { report(o.path(key), "must not be empty"); return nil }
        if !SafeText.isClean(s) { report(o.path(key), "must not contain control characters or line breaks"); return nil }
        return s
    }

    /// Reports duplicates among (name, path) pairs.
    func requireUnique(_ named: [(String, String)], what: String) {
        var seen: [String: String] = [:]
        for (name, path) in named {
            if let first = seen[name] {
                report(path, "duplicate \(what) name '\(name)' (first used at \(first))")
            } else {
                seen[name] = path
            }
        }
    }

    /// An absolute path, or one made absolute against the config file's directory.
    func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return ((baseDirectory as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }
}
