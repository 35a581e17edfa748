// Temporary: replaced by the config branch's FieldParsing.swift at merge.
public enum FieldInput: Sendable { case text(String); case json(JSONValue) }
public struct FieldProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String; public var message: String
    public var description: String { "\(field): \(message)" }
}
public enum FieldValues {
    public static func resolve(flow: Flow, inputs: [String: FieldInput], userExists: (String) -> Bool,
                               prefetched: [String: [FieldValue]] = [:]) -> Result<[String: FieldValue], FieldProblems> {
        var out: [String: FieldValue] = [:]
        for f in flow.promptFields {
            if case let .text(t)? = inputs[f.name] {
                if f.type == .duration, let d = TimeSpan(parsing: t) { out[f.name] = .duration(d) } else { out[f.name] = .string(t) }
            } else if let d = f.defaultValue { out[f.name] = d }
        }
        return .success(out)
    }
}
public struct FieldProblems: Error, Sendable { public var problems: [FieldProblem] }
