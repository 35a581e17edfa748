import Foundation
import SymModel

/// Small builders for config texts: a valid config with one part swapped out.
public enum ConfigText {
    public static let strategy = #"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true" }, targets: [ { name: "t" } ] }"#
    public static let flow = #"{ name: "f", strategy: "s", approvers: { users: ["alice"] } }"#

    public static func with(flows: [String] = [flow], strategies: [String] = [strategy], extra: String = "") -> String {
        "{\n strategies: [\n\(strategies.joined(separator: ",\n"))\n],\n flows: [\n\(flows.joined(separator: ",\n"))\n],\n\(extra)\n}\n"
    }

    /// A valid config whose only flow has the given extra keys.
    public static func flow(_ keys: String, strategy: String? = "s") -> String {
        let s = strategy.map { #"strategy: "\#($0)", "# } ?? ""
        return with(flows: [#"{ name: "f", \#(s)approvers: { users: ["alice"] }, \#(keys) }"#])
    }

    /// A valid config whose only flow has these prompt fields.
    public static func fields(_ fields: String, flowKeys: String = "", strategy: String? = "s") -> String {
        flow("prompt_fields: [ \(fields) ], \(flowKeys)", strategy: strategy)
    }

    /// A valid config whose only strategy is this one (targets included).
    public static func strategy(_ text: String) -> String { with(strategies: [text]) }
}

/// Parses a config text as `symtui` would read it from test.json5 in `base` (default: the temporary directory).
public func parseConfig(_ text: String, base: String? = nil) -> Result<Config, ConfigError> {
    ConfigLoader.parse(text: text, path: "test.json5", baseDirectory: base ?? NSTemporaryDirectory())
}
