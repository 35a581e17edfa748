import Foundation

/// A prompt-field value as it arrives: typed text (CLI `--field`, console) or JSON (events API).
public enum FieldInput: Sendable {
    case text(String)
    case json(JSONValue)
}

/// Why one field's value was refused.
public struct FieldProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(field: String, message: String) { self.field = field; self.message = message }
    /// An empty `field` is a problem of the request as a whole.
    public var description: String { field.isEmpty ? message : "field '\(field)': \(message)" }
}

/// Lets `[FieldProblem]` be the failure of `FieldValues.resolve`, which reports every problem at once.
extension Array: @retroactive Error where Element == FieldProblem {}

/// The reason a value did not parse, before it is attached to a field.
struct FieldMessage: Error, ExpressibleByStringInterpolation {
    let text: String
    init(stringLiteral value: String) { text = value }
}

/// Unix user and group names as `useradd`/`groupadd` accept them (portable subset, plus `.` and uppercase).
public enum UnixName {
    public static let maxLength = 32

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        for (i, b) in bytes.enumerated() {
            let letter = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
            let digitOrPunct = (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E
            let trailingDollar = b == 0x24 && i == bytes.count - 1 && i > 0
            if i == 0 ? !letter : !(letter || digitOrPunct || trailingDollar) { return false }
        }
        return true
    }
}

/// Parsing and checking the values of a flow's prompt fields.
public enum FieldValues {
    /// Longest accepted string value (and list element), in characters.
    public static let maxStringLength = 4096
    /// Integers are kept within the range a JSON consumer can represent exactly.
    public static let intRange: ClosedRange<Int64> = -9_007_199_254_740_991...9_007_199_254_740_991

    /// Parses one value as `field`'s type. Does not check allowed values, users or durations against a flow.
    public static func parse(_ input: FieldInput, as field: PromptField) -> Result<FieldValue, FieldProblem> {
        switch parseValue(input, type: field.type) {
        case let .success(v): return .success(v)
        case let .failure(message): return .failure(FieldProblem(field: field.name, message: message.text))
        }
    }

    /// All inputs for a flow: unknown names rejected, defaults applied, `required` enforced for visible fields,
    /// allowed values (or prefetched options), `max_duration` and user existence checked. Reports every problem.
    public static func resolve(flow: Flow, inputs: [String: FieldInput], userExists: (String) -> Bool,
                               prefetched: [String: [FieldValue]] = [:]) -> Result<[String: FieldValue], [FieldProblem]> {
        var problems: [FieldProblem] = []
        var values: [String: FieldValue] = [:]
        let names = flow.promptFields.map(\.name)
        for name in inputs.keys.sorted() where flow.field(named: name) == nil {
            let hint = Suggestion.closest(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            let known = names.isEmpty ? "it has no fields" : "its fields are " + names.joined(separator: ", ")
            problems.append(FieldProblem(field: clip(name), message: "flow '\(flow.name)' has no field '\(clip(name))'\(hint); \(known)"))
        }
        for field in flow.promptFields {
            switch resolve(inputs[field.name], as: field, maxDuration: flow.maxDuration, userExists: userExists,
                           options: prefetched[field.name]) {
            case let .success(value?): values[field.name] = value
            case .success(nil): break
            case let .failure(p): problems += p
            }
        }
        return problems.isEmpty ? .success(values) : .failure(problems)
    }

    /// Refuses inputs too large to keep, before anything parses them: each field value (and the reason) at most
    /// `limits.fieldBytes`, all of them together at most `limits.requestBytes` (UTF-8 bytes; JSON values in compact form).
    public static func checkSize(inputs: [String: FieldInput], reason: String?, limits: Limits) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        var total = 0
        func measure(_ name: String, _ bytes: Int) {
            total += name.utf8.count + bytes
            if bytes > limits.fieldBytes {
                problems.append(FieldProblem(field: clip(name), message: "is \(bytes) bytes long; the limit is \(limits.fieldBytes) bytes (limits.field_bytes)"))
            }
        }
        for name in inputs.keys.sorted() {
            switch inputs[name]! {
            case let .text(t): measure(name, t.utf8.count)
            case let .json(v): measure(name, v.compact.utf8.count)
            }
        }
        if let reason, inputs["reason"] == nil { measure("reason", reason.utf8.count) }
        if total > limits.requestBytes {
            problems.append(FieldProblem(field: "", message: "the request is \(total) bytes in all; the limit is \(limits.requestBytes) bytes (limits.request_bytes)"))
        }
        return problems
    }

    /// One field's input, checked exactly as `resolve(flow:…)` checks each field (the console's request form
    /// uses it, so the form and the CLI accept and refuse the same values with the same messages): empty →
    /// the default, "is required", or nil; then parsed as the field's type and checked against allowed values,
    /// offered options, `maxDuration` and `userExists`.
    public static func resolve(_ input: FieldInput?, as field: PromptField, maxDuration: TimeSpan?,
                               userExists: (String) -> Bool, options: [FieldValue]? = nil) -> Result<FieldValue?, [FieldProblem]> {
        guard let input, !isEmpty(input) else {
            if let d = field.defaultValue { return .success(d) }
            if field.required && field.visible { return .failure([FieldProblem(field: field.name, message: "is required")]) }
            return .success(nil)
        }
        switch parse(input, as: field) {
        case let .failure(p): return .failure([p])
        case let .success(value):
            var problems: [FieldProblem] = []
            check(value, field: field, maxDuration: maxDuration, userExists: userExists, options: options, into: &problems)
            return problems.isEmpty ? .success(value) : .failure(problems)
        }
    }

    // MARK: - Checks against the flow

    private static func check(_ value: FieldValue, field: PromptField, maxDuration: TimeSpan?, userExists: (String) -> Bool,
                              options: [FieldValue]?, into problems: inout [FieldProblem]) {
        func fail(_ m: String) { problems.append(FieldProblem(field: field.name, message: m)) }
        let elements = elementValues(of: value)
        if let allowed = field.allowedValues {
            for e in elements where !allowed.contains(e) {
                fail("'\(e)' is not one of the allowed values: " + allowed.map(\.description).joined(separator: ", "))
            }
        }
        if field.prefetch, let options {
            for e in elements where !options.contains(e) && !options.contains(value) {
                fail("'\(e)' is not one of the offered options: " + options.map(\.description).joined(separator: ", "))
            }
        }
        if case let .duration(d) = value, let max = maxDuration, d > max {
            fail("\(d) is longer than the flow's max_duration of \(max)")
        }
        switch value {
        case let .user(u) where !userExists(u): fail("there is no user '\(u)' on this system")
        case let .userList(us):
            for u in us where !userExists(u) { fail("there is no user '\(u)' on this system") }
        default: break
        }
    }

    /// A list's elements as single values (`.strList(["a"])` → `[.string("a")]`); a scalar as itself.
    static func elementValues(of value: FieldValue) -> [FieldValue] {
        switch value {
        case let .strList(l): return l.map(FieldValue.string)
        case let .intList(l): return l.map(FieldValue.int)
        case let .userList(l): return l.map(FieldValue.user)
        default: return [value]
        }
    }

    /// The single-value type of a list type's elements; a scalar type maps to itself.
    static func elementType(of type: FieldType) -> FieldType {
        switch type {
        case .strList: return .string
        case .intList: return .int
        case .userList: return .user
        default: return type
        }
    }

    private static func isEmpty(_ input: FieldInput) -> Bool {
        switch input {
        case let .text(s): return s.isAll(in: .whitespaces)
        case let .json(v): return v.isNull
        }
    }

    // MARK: - Parsing

    static func parseValue(_ input: FieldInput, type: FieldType) -> Result<FieldValue, FieldMessage> {
        switch input {
        case let .text(s): return parseText(s, type: type)
        case let .json(v): return parseJSON(v, type: type)
        }
    }

    private static func parseText(_ raw: String, type: FieldType) -> Result<FieldValue, FieldMessage> {
        let s = type == .string ? raw : raw.trimmingCharacters(in: .whitespaces)
        switch type {
        case .string: return checkString(s).map(FieldValue.string)
        case .int: return parseInt(s).map(FieldValue.int)
        case .bool:
            switch s.lowercased() {
            case "true", "yes", "1": return .success(.bool(true))
            case "false", "no", "0": return .success(.bool(false))
            default: return .failure("expected true or false (or yes/no, 1/0), got '\(clip(s))'")
            }
        case .duration:
            guard let d = TimeSpan(parsing: s) else {
                return .failure("'\(clip(s))' is not a duration (write it like 90s, 15m, 1h30m or 2d)")
            }
            return .success(.duration(d))
        case .user: return parseUser(s).map(FieldValue.user)
        case .strList, .intList, .userList:
            // "a, b," is forgiving about spaces and stray commas
            let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return parseList(parts.map(FieldInput.text), type: type)
        }
    }

    private static func parseJSON(_ v: JSONValue, type: FieldType) -> Result<FieldValue, FieldMessage> {
        switch (type, v) {
        case let (.string, .string(s)): return checkString(s).map(FieldValue.string)
        case (.int, .int), (.int, .double):
            guard let i = v.intValue else { return .failure("expected a whole number, found \(ConfigReader.numberText(v))") }
            return inRange(i).map(FieldValue.int)
        case let (.bool, .bool(b)): return .success(.bool(b))
        case let (.duration, .string(s)), let (.user, .string(s)), let (.int, .string(s)), let (.bool, .string(s)):
            return parseText(s, type: type)
        case let (.strList, .array(items)), let (.intList, .array(items)), let (.userList, .array(items)):
            return parseList(items.map(FieldInput.json), type: type)
        case let (.strList, .string(s)), let (.intList, .string(s)), let (.userList, .string(s)):
            return parseText(s, type: type)
        default:
            return .failure("expected \(expectation(type)), found \(JSONValue.kindName(v))")
        }
    }

    private static func parseList(_ items: [FieldInput], type: FieldType) -> Result<FieldValue, FieldMessage> {
        let element = elementType(of: type)
        var out: [FieldValue] = []
        for (i, item) in items.enumerated() {
            switch parseValue(item, type: element) {
            case let .success(v): out.append(v)
            case let .failure(m): return .failure("item \(i + 1): \(m.text)")
            }
        }
        switch type {
        case .intList: return .success(.intList(out.compactMap { if case let .int(i) = $0 { return i }; return nil }))
        case .userList: return .success(.userList(out.compactMap { if case let .user(u) = $0 { return u }; return nil }))
        default: return .success(.strList(out.compactMap { if case let .string(s) = $0 { return s }; return nil }))
        }
    }

    private static func checkString(_ s: String) -> Result<String, FieldMessage> {
        if s.unicodeScalars.contains("\u{0}") { return .failure("must not contain a NUL character") }
        if s.count > maxStringLength { return .failure("is \(s.count) characters long; the limit is \(maxStringLength)") }
        return .success(s)
    }

    private static func parseInt(_ s: String) -> Result<Int64, FieldMessage> {
        let body = s.hasPrefix("+") ? String(s.dropFirst()) : s
        // One sign at most: "+-1" is not a number.
        let digits = body.hasPrefix("-") && !s.hasPrefix("+") ? body.dropFirst() : Substring(body)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return .failure("expected a whole number, got '\(clip(s))'")
        }
        guard let i = Int64(body) else { return .failure("'\(clip(s))' is out of range") }
        return inRange(i)
    }

    private static func inRange(_ i: Int64) -> Result<Int64, FieldMessage> {
        intRange.contains(i) ? .success(i)
            : .failure("\(i) is out of range (\(intRange.lowerBound)...\(intRange.upperBound))")
    }

    private static func parseUser(_ s: String) -> Result<String, FieldMessage> {
        UnixName.isValid(s) ? .success(s) : .failure("'\(clip(s))' is not a valid user name")
    }

    private static func expectation(_ type: FieldType) -> String {
        switch type {
        case .string: return "a string"
        case .int: return "a whole number"
        case .bool: return "true or false"
        case .duration: return "a duration string like \"1h30m\""
        case .user: return "a user name"
        case .strList: return "a list of strings"
        case .intList: return "a list of whole numbers"
        case .userList: return "a list of user names"
        }
    }

    /// Keeps echoed input short in messages.
    static func clip(_ s: String) -> String { s.count > 40 ? String(s.prefix(40)) + "…" : s }
}

extension JSONValue {
    /// How a message names this value's JSON type: "a string", "a number", "null"….
    public static func kindName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// "Did you mean …?" by edit distance.
public enum Suggestion {
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let w = Array(word.lowercased())
        guard w.count <= 64 else { return nil }
        var best: (String, Int)?
        for c in candidates {
            let d = distance(w, Array(c.lowercased()))
            let limit = max(1, min(3, c.count / 3))
            if d <= limit, best.map({ d < $0.1 }) ?? true { best = (c, d) }
        }
        return best?.0
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = prev
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
