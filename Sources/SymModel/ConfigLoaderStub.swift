// Temporary: replaced by the config branch (full validation) at merge.
import Foundation

public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String; public var path: String; public var line: Int?; public var message: String
    public var description: String { "\(file):\(line.map(String.init) ?? "?"): \(path): \(message)" }
}
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, unreadable, invalid }
    public var kind: Kind; public var problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
public enum ConfigLoader {
    public static func locate(explicit: String?, environment: [String: String], home: String) -> String? {
        if let e = explicit { return e }
        if let e = environment["SYMTUI_CONFIG"], !e.isEmpty { return e }
        if FileManager.default.fileExists(atPath: "/etc/symtui/config.json5") { return "/etc/symtui/config.json5" }
        let x = (environment["XDG_CONFIG_HOME"] ?? home + "/.config") + "/symtui/config.json5"
        return FileManager.default.fileExists(atPath: x) ? x : nil
    }
    public static func load(path: String) throws -> Config {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(kind: .notFound, problems: [ConfigProblem(file: path, path: "", line: nil, message: "not found")])
        }
        let v: JSONValue
        do { v = try JSONValue.parse(text) } catch {
            throw ConfigError(kind: .invalid, problems: [ConfigProblem(file: path, path: "", line: nil, message: "\(error)")])
        }
        func strs(_ j: JSONValue?) -> [String] { j?.arrayValue?.compactMap(\.stringValue) ?? [] }
        func settings(_ j: JSONValue?) -> [String: JSONValue] { Dictionary((j?.objectValue ?? []), uniquingKeysWith: { a, _ in a }) }
        var c = Config(sourcePath: path, store: v["store"]?.stringValue, socket: v["socket"]?.stringValue)
        for s in v["strategies"]?.arrayValue ?? [] {
            c.strategies.append(Strategy(name: s["name"]?.stringValue ?? "", type: Strategy.Kind(rawValue: s["type"]?.stringValue ?? "") ?? .command,
                                         settings: settings(s["settings"]),
                                         targets: (s["targets"]?.arrayValue ?? []).map { Target(name: $0["name"]?.stringValue ?? "", label: $0["label"]?.stringValue, settings: settings($0["settings"])) }))
        }
        for f in v["flows"]?.arrayValue ?? [] {
            var flow = Flow(name: f["name"]?.stringValue ?? "", label: f["label"]?.stringValue, strategy: f["strategy"]?.stringValue,
                            approvers: Approvers(users: strs(f["approvers"]?["users"]), groups: strs(f["approvers"]?["groups"])),
                            requiredApprovals: Int(f["required_approvals"]?.intValue ?? 1),
                            allowSelfApproval: f["allow_self_approval"]?.boolValue ?? false, allowRevoke: f["allow_revoke"]?.boolValue ?? true)
            if let ttl = f["request_ttl"]?.stringValue.flatMap(TimeSpan.init(parsing:)) { flow.requestTTL = ttl }
            for p in f["prompt_fields"]?.arrayValue ?? [] {
                flow.promptFields.append(PromptField(name: p["name"]?.stringValue ?? "", type: FieldType(rawValue: p["type"]?.stringValue ?? "") ?? .string))
            }
            if flow.strategy != nil && flow.field(named: "duration") == nil {
                flow.promptFields.append(PromptField(name: "duration", type: .duration, defaultValue: .duration(TimeSpan(seconds: 3600))))
            }
            c.flows.append(flow)
        }
        return c
    }
}
public enum StarterConfig { public static let text = "{}\n" }
