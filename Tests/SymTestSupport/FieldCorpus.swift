import Foundation
import SymModel

/// The prompt-field corpora in Tests/Fixtures (bad-fields.jsonl, good-fields.jsonl): each line names a flow
/// (`"shared"`, the default, or an inline flow object), inputs, whether they are JSON values (`"as": "json"`)
/// or typed text, and for a bad line a fragment of the expected message. The model, the CLI and the
/// console's form are all driven through the same lines.
public enum FieldCorpus {
    /// The users that exist for the corpus (`userExists`).
    public static let users: Set<String> = ["alice", "bob", "carol"]

    /// The flow most lines use: one field of every type.
    public static let sharedFlow = #"""
    { name: "shared", strategy: "s", approvers: { users: ["alice"] }, max_duration: "4h",
      prompt_fields: [
        { name: "reason", type: "string" },
        { name: "env", type: "string", required: false, allowed_values: ["dev", "prod"] },
        { name: "count", type: "int", required: false },
        { name: "urgent", type: "bool", required: false },
        { name: "dbs", type: "str_list", required: false, allowed_values: ["orders", "users"] },
        { name: "ports", type: "int_list", required: false },
        { name: "buddy", type: "user", required: false },
        { name: "team", type: "user_list", required: false },
        { name: "duration", type: "duration", default: "1h" },
      ] }
    """#

    /// One line of a corpus.
    public struct Entry {
        /// 1-based, for messages.
        public var line: Int
        public var flow: Flow
        /// In the order the line gives them.
        public var inputs: [(name: String, value: JSONValue)]
        public var asJSON: Bool
        /// For a bad line: a fragment of the message that refuses it.
        public var expect: String?

        /// The inputs as the model takes them.
        public var fieldInputs: [String: FieldInput] {
            var out: [String: FieldInput] = [:]
            for (name, v) in inputs { out[name] = asJSON ? .json(v) : .text(v.stringValue ?? v.compact) }
            return out
        }
    }

    public struct CorpusError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The lines of Tests/Fixtures/`name`.
    public static func load(_ name: String) throws -> [Entry] {
        let text = try String(contentsOf: fixturesDirectory.appendingPathComponent(name), encoding: .utf8)
        var out: [Entry] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let entry = try JSONValue.parse(line)
            let spec = entry["flow_config"] ?? .string("shared")
            let flowText: String
            if case .string("shared") = spec { flowText = sharedFlow } else { flowText = spec.compact }
            guard case let .success(config) = parseConfig(ConfigText.with(flows: [flowText])), let flow = config.flows.first else {
                throw CorpusError(description: "\(name) line \(n + 1): the flow does not parse")
            }
            let inputs = (entry["inputs"]?.objectValue ?? []).map { (name: $0.0, value: $0.1) }
            out.append(Entry(line: n + 1, flow: flow, inputs: inputs, asJSON: entry["as"]?.stringValue == "json",
                             expect: entry["expect"]?.stringValue))
        }
        return out
    }
}
