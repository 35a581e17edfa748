import Foundation

/// Translates Sym's Terraform resources (`sym_flow`, `sym_strategy`, `sym_target`, `sym_environment`,
/// `sym_integration`, …) into a SymTUI config, naming in comments everything it could not translate.
public enum SymTerraform {
    /// What an import produced: the config text (JSON5 with comments) and what to tell the person on stderr.
    public struct Result: Sendable {
        public var config: String
        /// One line per fact: counts, then each construct that was not translated.
        public var summary: [String]
        public var flows: Int
        public var strategies: Int
        public var targets: Int
        public var untranslated: Int
    }

    /// Reads `path`: one `.tf` file, or every `*.tf` file of a directory (not its subdirectories).
    public static func sources(at path: String) throws(SymTerraformError) -> (directory: String, files: [(String, String)]) {
        var isDirectory: ObjCBool = false
        let full = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else {
            throw .notFound("\(path): no such file or directory")
        }
        var paths: [String]
        let directory: String
        if isDirectory.boolValue {
            directory = full
            let names = (try? FileManager.default.contentsOfDirectory(atPath: full)) ?? []
            paths = names.filter { $0.hasSuffix(".tf") }.sorted().map { full + "/" + $0 }
            guard !paths.isEmpty else { throw .notFound("\(path): no .tf files in this directory") }
        } else {
            directory = (full as NSString).deletingLastPathComponent
            paths = [full]
        }
        var files: [(String, String)] = []
        for file in paths {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                  (attributes[.type] as? FileAttributeType) == .typeRegular,
                  let data = FileManager.default.contents(atPath: file) else { throw .unreadable("\(file): cannot be read") }
            if data.count > 8 << 20 { throw .invalid(HCLError(file: file, line: 1, message: "larger than 8 MiB")) }
            guard let text = String(data: data, encoding: .utf8) else {
                throw .invalid(HCLError(file: file, line: 1, message: "not UTF-8 text"))
            }
            files.append((file, text))
        }
        return (directory, files)
    }

    /// Parses and translates the files of one module. Throws on invalid HCL (file:line) and when nothing in the
    /// files is a Sym resource.
    public static func translate(files: [(String, String)], moduleDirectory: String) throws(SymTerraformError) -> Result {
        var bodies: [(String, HCLBody)] = []
        do {
            for (file, text) in files { bodies.append((file, try HCLParser.parse(text, file: file))) }
            var translation = try Translation(bodies: bodies, moduleDirectory: moduleDirectory)
            return try translation.run()
        } catch let error as HCLError {
            throw .invalid(error)
        } catch let error as SymTerraformError {
            throw error
        } catch {
            throw .invalid(HCLError(file: files.first?.0 ?? "?", line: 1, message: "\(error)"))
        }
    }
}

/// Why an import could not be done; nothing is written then.
public enum SymTerraformError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case unreadable(String)
    /// Invalid HCL, or a value the importer cannot evaluate.
    case invalid(HCLError)
    case nothingToImport(String)

    public var description: String {
        switch self {
        case let .notFound(m), let .unreadable(m), let .nothingToImport(m): return m
        case let .invalid(e): return e.description
        }
    }

    /// sysexits: 66 no input, 74 I/O error, 65 data error.
    public var exitCode: Int32 {
        switch self {
        case .notFound: return 66
        case .unreadable: return 74
        case .invalid, .nothingToImport: return 65
        }
    }
}

/// A JSON5 document being written: values, objects whose entries may carry comments, arrays.
indirect enum JSON5Node {
    case value(JSONValue)
    case object([JSON5Entry])
    case array([JSON5Node])
}

struct JSON5Entry {
    var key: String
    var node: JSON5Node
    var comments: [String] = []
}

extension JSON5Node {
    /// The text of the node at `indent` levels, as a person would format it: short flat objects on one line.
    func render(indent: Int) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch self {
        case let .value(v):
            return v.compact
        case let .array(items):
            if items.isEmpty { return "[]" }
            if let flat = flatText, flat.count <= 100 { return flat }
            return "[\n" + items.map { pad + $0.render(indent: indent + 1) + ",\n" }.joined() + closePad + "]"
        case let .object(entries):
            if entries.isEmpty { return "{}" }
            if let flat = flatText, flat.count <= 110 { return flat }
            var out = "{\n"
            for entry in entries {
                for comment in entry.comments { out += pad + "// " + SafeText.display(comment) + "\n" }
                out += pad + JSON5Node.key(entry.key) + ": " + entry.node.render(indent: indent + 1) + ",\n"
            }
            return out + closePad + "}"
        }
    }

    /// One-line text, when nothing inside has a comment or a nested object.
    private var flatText: String? {
        switch self {
        case let .value(v): return v.compact
        case let .array(items):
            var parts: [String] = []
            for item in items {
                if case .object = item { return nil }
                guard let t = item.flatText else { return nil }
                parts.append(t)
            }
            return "[" + parts.joined(separator: ", ") + "]"
        case let .object(entries):
            var parts: [String] = []
            for entry in entries {
                guard entry.comments.isEmpty else { return nil }
                if case let .object(inner) = entry.node, !inner.isEmpty { return nil }
                guard let t = entry.node.flatText else { return nil }
                parts.append(JSON5Node.key(entry.key) + ": " + t)
            }
            return "{ " + parts.joined(separator: ", ") + " }"
        }
    }

    static func key(_ k: String) -> String {
        let ok = !k.isEmpty && k.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
            && !(k.unicodeScalars.first! >= "0" && k.unicodeScalars.first! <= "9")
        return ok ? k : JSONValue.string(k).compact
    }
}

/// One import run: the resources of the module by address, and what has been said about them.
private struct Translation {
    struct Resource {
        var type: String
        var name: String
        var body: HCLBody
        var file: String
        var line: Int
        var address: String { type + "." + name }
    }

    let evaluator: HCLEvaluator
    var resources: [Resource] = []
    var headerComments: [String] = []
    var summary: [String] = []
    var untranslated = 0
    var otherBlocks: [String: Int] = [:]
    /// sym_target address → (SymTUI target name, its entry), sym_strategy address → SymTUI strategy name.
    var targetNames: [String: String] = [:]
    var strategyNames: [String: String] = [:]

    init(bodies: [(String, HCLBody)], moduleDirectory: String) throws(HCLError) {
        evaluator = try HCLEvaluator(moduleDirectory: moduleDirectory, files: bodies)
        for (file, body) in bodies {
            for block in body.blocks {
                switch block.type {
                case "resource":
                    guard block.labels.count == 2 else {
                        throw HCLError(file: file, line: block.line, message: "a resource block needs a type and a name: resource \"TYPE\" \"NAME\" { … }")
                    }
                    if resources.contains(where: { $0.type == block.labels[0] && $0.name == block.labels[1] }) {
                        throw HCLError(file: file, line: block.line, message: "resource \(block.labels[0]).\(block.labels[1]) is defined twice")
                    }
                    resources.append(Resource(type: block.labels[0], name: block.labels[1], body: block.body, file: file, line: block.line))
                case "variable", "locals":
                    break
                case "module":
                    let name = block.labels.first ?? "?"
                    note("module \(name) (\(Self.place(file, block.line))) is not followed: import its directory on its own")
                default:
                    otherBlocks[block.type, default: 0] += 1
                }
            }
        }
    }

    static func place(_ file: String, _ line: Int) -> String { ((file as NSString).lastPathComponent) + ":" + String(line) }

    /// Something not translated: a comment at the top of the config and a line of the summary.
    mutating func note(_ text: String) {
        untranslated += 1
        headerComments.append(text)
        summary.append("not translated: " + text)
    }

    /// Names every attribute and block of `r` that the translation does not read.
    mutating func noteUnknownKeys(_ r: Resource, known: Set<String>) {
        let names = r.body.attributes.map(\.name) + r.body.blocks.map(\.type)
        for name in names where !known.contains(name) {
            note("\(r.address) (\(Self.place(r.file, r.line))): \(name) has no equivalent")
        }
    }

    func value(_ r: Resource, _ name: String) throws(HCLError) -> HCLValue? {
        guard let attribute = r.body.attribute(name) else { return nil }
        return try evaluator.evaluate(attribute.value, file: r.file)
    }

    func string(_ r: Resource, _ name: String) throws(HCLError) -> String? {
        guard let v = try value(r, name) else { return nil }
        if case .null = v { return nil }
        guard let s = v.string else {
            if case let .reference(ref) = v { return "${" + ref + "}" }
            throw HCLError(file: r.file, line: r.body.attribute(name)!.line, message: "\(r.address).\(name) must be a string")
        }
        return s
    }

    /// A SymTUI name from a Sym one: letters, digits, '_', '.', '-' (others become '-').
    static func localName(_ text: String) -> String {
        let mapped = String(text.unicodeScalars.map { u -> Character in
            let ok = (u >= "a" && u <= "z") || (u >= "A" && u <= "Z") || (u >= "0" && u <= "9") || u == "_" || u == "." || u == "-"
            return ok ? Character(u) : "-"
        })
        return mapped.isEmpty ? "imported" : mapped
    }

    mutating func run() throws -> SymTerraform.Result {
        let symResources = resources.filter { $0.type.hasPrefix("sym_") }
        guard symResources.contains(where: { ["sym_flow", "sym_strategy", "sym_target"].contains($0.type) }) else {
            let file = resources.first?.file ?? "the files"
            throw SymTerraformError.nothingToImport("\(file): no sym_flow, sym_strategy or sym_target resource to import")
        }
        for r in symResources where !["sym_flow", "sym_strategy", "sym_target"].contains(r.type) {
            try describeUntranslated(r)
        }
        let targets = try translateTargets()
        let strategies = try translateStrategies(targets: targets)
        let flows = try translateFlows()

        var top: [JSON5Entry] = []
        top.append(JSON5Entry(key: "strategies", node: .array(strategies)))
        top.append(JSON5Entry(key: "flows", node: .array(flows)))
        var text = "// Imported from Sym Terraform by `symtui import sym-terraform`. Review every comment before use.\n"
        if !headerComments.isEmpty {
            text += "//\n// Not translated:\n"
            for comment in headerComments { text += "//   - " + SafeText.display(comment) + "\n" }
        }
        text += JSON5Node.object(top).render(indent: 0) + "\n"

        let others = otherBlocks.keys.sorted().map { "\($0) ×\(otherBlocks[$0]!)" }
        let nonSym = resources.filter { !$0.type.hasPrefix("sym_") }
        var head = ["imported \(flows.count) flow\(flows.count == 1 ? "" : "s"), \(strategies.count) strateg\(strategies.count == 1 ? "y" : "ies"), \(targets.count) target\(targets.count == 1 ? "" : "s")"]
        if !nonSym.isEmpty || !others.isEmpty {
            let names = Set(nonSym.map(\.type)).sorted() + others
            head.append("ignored (not Sym resources): " + names.joined(separator: ", "))
        }
        return SymTerraform.Result(config: text, summary: head + summary, flows: flows.count, strategies: strategies.count,
                                   targets: targets.count, untranslated: untranslated)
    }

    mutating func describeUntranslated(_ r: Resource) throws(HCLError) {
        let type = try string(r, "type")
        let at = Self.place(r.file, r.line)
        switch r.type {
        case "sym_integration":
            switch type {
            case "slack":
                note("\(r.address) (\(at)): Slack — SymTUI shows requests in approvers' consoles and terminals; Slack channels are notification channels, which this SymTUI does not have yet")
            case "pagerduty":
                note("\(r.address) (\(at)): PagerDuty — pagerduty.is_on_call in handlers needs on-call schedules, which this SymTUI does not have yet")
            case "permission_context":
                note("\(r.address) (\(at)): an AWS permission context — SymTUI does not call AWS; the command strategies below must")
            default:
                note("\(r.address) (\(at)): type \(type ?? "?") — SymTUI does not call \(type ?? "it") itself; the command strategies below must")
            }
        case "sym_environment":
            note("\(r.address) (\(at)): environments have no equivalent — one SymTUI config is one environment")
        case "sym_runtime", "sym_secrets", "sym_secret", "sym_error_logger", "sym_log_destination":
            let hint = r.type == "sym_log_destination" ? "; SymTUI's reporting destinations are jsonl, syslog and http" : ""
            note("\(r.address) (\(at)): \(r.type) has no equivalent\(hint)")
        default:
            note("\(r.address) (\(at)): \(r.type) is not a resource the importer knows")
        }
    }

    /// sym_target → SymTUI targets (by address), in file order.
    mutating func translateTargets() throws -> [(address: String, node: JSON5Node)] {
        var out: [(String, JSON5Node)] = []
        var used = Set<String>()
        for r in resources where r.type == "sym_target" {
            var name = Self.localName(try string(r, "name") ?? r.name)
            while used.contains(name) { name += "-2" }
            used.insert(name)
            targetNames[r.address] = name
            let type = try string(r, "type")
            var entries = [JSON5Entry(key: "name", node: .value(.string(name)),
                                      comments: ["\(r.address): Sym target type \(type ?? "?")"])]
            if let label = try string(r, "label") { entries.append(JSON5Entry(key: "label", node: .value(.string(label)))) }
            var settings: [JSON5Entry] = []
            if let s = try value(r, "settings") {
                guard let pairs = s.object else {
                    throw HCLError(file: r.file, line: r.body.attribute("settings")!.line, message: "\(r.address).settings must be a map")
                }
                settings = pairs.map { JSON5Entry(key: $0.key, node: .value($0.value.json)) }
                if s.hasReference {
                    note("\(r.address) (\(Self.place(r.file, r.line))): settings refer to values outside these files; they are kept as ${…} text")
                }
            }
            if !settings.isEmpty { entries.append(JSON5Entry(key: "settings", node: .object(settings))) }
            noteUnknownKeys(r, known: ["type", "name", "label", "settings", "field_bindings"])
            if r.body.attribute("field_bindings") != nil {
                note("\(r.address) (\(Self.place(r.file, r.line))): field_bindings have no equivalent — the programs get the request's fields as SYMTUI_FIELD_<NAME>")
            }
            out.append((r.address, .object(entries)))
        }
        return out
    }

    /// sym_strategy → SymTUI `command` strategies whose programs the admin writes.
    mutating func translateStrategies(targets: [(address: String, node: JSON5Node)]) throws -> [JSON5Node] {
        var out: [JSON5Node] = []
        var used = Set<String>()
        var placed = Set<String>()
        for r in resources where r.type == "sym_strategy" {
            let type = try string(r, "type") ?? "?"
            var name = Self.localName(try string(r, "name") ?? r.name)
            while used.contains(name) { name += "-2" }
            used.insert(name)
            strategyNames[r.address] = name
            var comments = ["\(r.address): Sym's \(type) strategy — SymTUI cannot grant \(type) access itself.",
                            "Write the two programs below (run as root, argv: USER TARGET; the target's settings arrive as",
                            "SYMTUI_TARGET_<SETTING>), or use a unix_group, sudoers or http strategy instead."]
            noteUnknownKeys(r, known: ["type", "name", "integration_id", "targets", "settings", "implementation"])
            if let integration = try value(r, "integration_id") {
                let text: String
                if case let .reference(ref) = integration { text = ref.hasSuffix(".id") ? String(ref.dropLast(3)) : ref } else { text = integration.json.compact }
                comments.append("Sym granted it through \(text).")
            }
            if let settings = try value(r, "settings")?.object, !settings.isEmpty {
                note("\(r.address) (\(Self.place(r.file, r.line))): strategy settings \(settings.map { "\($0.key)=\($0.value.json.compact)" }.joined(separator: ", ")) — give them to the programs")
            }
            if type == "custom", let impl = try value(r, "implementation") {
                if case let .file(path, _) = impl { comments.append("Its Sym implementation was \(path).") }
                else if let s = impl.string { comments.append("Its Sym implementation was \(s).") }
            }
            var targetNodes: [JSON5Node] = []
            if let list = try value(r, "targets") {
                guard let items = list.list else {
                    throw HCLError(file: r.file, line: r.body.attribute("targets")!.line, message: "\(r.address).targets must be a list")
                }
                for item in items {
                    guard case let .reference(ref) = item, ref.hasSuffix(".id"),
                          let target = targets.first(where: { $0.address + ".id" == ref }) else {
                        note("\(r.address): target \(item.json.compact) is not a sym_target of these files")
                        continue
                    }
                    targetNodes.append(target.node)
                    placed.insert(target.address)
                }
            }
            let base = "/usr/local/libexec/symtui/" + name
            let entries = [
                JSON5Entry(key: "name", node: .value(.string(name)), comments: comments),
                JSON5Entry(key: "type", node: .value(.string("command"))),
                JSON5Entry(key: "settings", node: .object([
                    JSON5Entry(key: "escalate", node: .value(.string(base + "-escalate"))),
                    JSON5Entry(key: "deescalate", node: .value(.string(base + "-deescalate"))),
                ])),
                JSON5Entry(key: "targets", node: .array(targetNodes)),
            ]
            out.append(.object(entries))
            summary.append("strategy \(name): write \(base)-escalate and \(base)-deescalate (Sym's \(type) strategy)")
        }
        for target in targets where !placed.contains(target.address) {
            note("\(target.address): no sym_strategy of these files lists it")
        }
        return out
    }

    mutating func translateFlows() throws -> [JSON5Node] {
        var out: [JSON5Node] = []
        var used = Set<String>()
        for r in resources where r.type == "sym_flow" {
            let at = Self.place(r.file, r.line)
            var name = Self.localName(try string(r, "name") ?? r.name)
            while used.contains(name) { name += "-2" }
            used.insert(name)
            var entries = [JSON5Entry(key: "name", node: .value(.string(name)))]
            if let label = try string(r, "label") { entries.append(JSON5Entry(key: "label", node: .value(.string(label)))) }
            noteUnknownKeys(r, known: ["name", "label", "template", "implementation", "environment_id", "vars", "params",
                                       "prompt_field"])
            if let template = try string(r, "template"), !template.hasPrefix("sym:template:approval") {
                note("\(r.address) (\(at)): template \(template) — SymTUI runs Sym's approval template only")
            }

            // params: a block (v2 provider) or a map (v1).
            var params: [HCLPair] = []
            var paramLines: [String: Int] = [:]
            var fieldBlocks: [HCLBlock] = []
            let paramsFile = r.file
            if let block = r.body.blocks("params").first {
                for attribute in block.body.attributes {
                    params.append(HCLPair(key: attribute.name, value: try evaluator.evaluate(attribute.value, file: r.file)))
                    paramLines[attribute.name] = attribute.line
                }
                fieldBlocks = block.body.blocks("prompt_field")
                for inner in block.body.blocks where inner.type != "prompt_field" {
                    note("\(r.address) (\(Self.place(r.file, inner.line))): params block \(inner.type) has no equivalent")
                }
            } else if let attribute = r.body.attribute("params") {
                guard let pairs = try evaluator.evaluate(attribute.value, file: r.file).object else {
                    throw HCLError(file: r.file, line: attribute.line, message: "\(r.address).params must be a map or a block")
                }
                params = pairs
                if case let .object(items) = attribute.value.kind { for item in items { paramLines[item.key] = item.value.line } }
            }
            fieldBlocks += r.body.blocks("prompt_field")  // also accepted directly in the flow
            func param(_ key: String) -> HCLValue? { params.last { $0.key == key }?.value }
            func paramLine(_ key: String) -> Int { paramLines[key] ?? r.line }

            var approvalOnly = true
            if let strategy = param("strategy_id"), strategy != .null {
                approvalOnly = false
                if case let .reference(ref) = strategy, ref.hasSuffix(".id"), let local = strategyNames[String(ref.dropLast(3))] {
                    entries.append(JSON5Entry(key: "strategy", node: .value(.string(local))))
                } else {
                    note("\(r.address) (\(at)): flow skipped — its strategy_id \(strategy.json.compact) is not a sym_strategy of these files")
                    continue
                }
            }

            // Who approves: Sym routes through get_approvers / get_permissions in impl.py.
            var implementationPath: String?
            var implementationText: String?
            if let impl = try value(r, "implementation") {
                switch impl {
                case let .file(path, text): implementationPath = path; implementationText = text
                case let .string(s):
                    let path = s.hasPrefix("/") ? s : evaluator.moduleDirectory + "/" + s
                    implementationPath = URL(fileURLWithPath: path).standardizedFileURL.path
                    implementationText = FileManager.default.contents(atPath: implementationPath!).map { String(decoding: $0, as: UTF8.self) }
                default:
                    note("\(r.address) (\(at)): implementation \(impl.json.compact) cannot be resolved from these files")
                }
            }
            if let text = implementationText, ConfigValidation.definesGetApprovers(text) {
                // nothing: the reducer decides
            } else {
                entries.append(JSON5Entry(key: "approvers", node: .object([
                    JSON5Entry(key: "users", node: .array([])), JSON5Entry(key: "groups", node: .array([])),
                ]), comments: ["Sym sent these requests to Slack: name the Unix users or groups who may approve."]))
                summary.append("flow \(name): name its approvers (users or groups) — Sym routed them through Slack")
            }

            for key in ["allow_revoke", "schedule_deescalation"] {
                if let v = param(key) {
                    guard let b = v.bool ?? (v.string.flatMap { $0 == "true" ? true : $0 == "false" ? false : nil }) else {
                        throw HCLError(file: paramsFile, line: paramLine(key), message: "\(r.address): params.\(key) must be true or false")
                    }
                    if !approvalOnly { entries.append(JSON5Entry(key: key, node: .value(.bool(b)))) }
                }
            }
            if let header = param("additional_header_text")?.string {
                entries.append(JSON5Entry(key: "additional_header_text", node: .value(.string(header))))
            }
            for pair in params where !["strategy_id", "allow_revoke", "schedule_deescalation", "additional_header_text",
                                       "prompt_fields_json"].contains(pair.key) {
                note("\(r.address) (\(at)): params.\(pair.key) has no equivalent")
            }

            var fields: [JSON5Node] = []
            if let json = param("prompt_fields_json") {
                guard let text = json.string, let parsed = try? JSONValue.parse(text), let items = parsed.arrayValue else {
                    throw HCLError(file: paramsFile, line: paramLine("prompt_fields_json"), message: "\(r.address): params.prompt_fields_json must be a JSON list (jsonencode([…]))")
                }
                for item in items {
                    if let f = try field(HCLValue(json: item), flow: r, line: paramLine("prompt_fields_json"), approvalOnly: approvalOnly) { fields.append(f) }
                }
            }
            for block in fieldBlocks {
                var pairs: [HCLPair] = []
                for attribute in block.body.attributes {
                    pairs.append(HCLPair(key: attribute.name, value: try evaluator.evaluate(attribute.value, file: r.file)))
                }
                if let f = try field(.object(pairs), flow: r, line: block.line, approvalOnly: approvalOnly) { fields.append(f) }
            }
            if !fields.isEmpty { entries.append(JSON5Entry(key: "prompt_fields", node: .array(fields))) }

            if let path = implementationPath {
                entries.append(JSON5Entry(key: "implementation", node: .value(.string(path)),
                                          comments: ["Sym handlers run unmodified; install a root-owned copy (e.g. /etc/symtui/impl/) before production."]))
            }
            if let vars = try value(r, "vars") {
                guard let pairs = vars.object else {
                    throw HCLError(file: r.file, line: r.body.attribute("vars")!.line, message: "\(r.address).vars must be a map")
                }
                if !pairs.isEmpty { entries.append(JSON5Entry(key: "vars", node: .object(pairs.map { JSON5Entry(key: $0.key, node: .value($0.value.json)) }))) }
            }
            out.append(.object(entries))
        }
        return out
    }

    static let fieldTypes: [String: String] = [
        "string": "string", "int": "int", "bool": "bool", "duration": "duration", "list": "str_list",
        "str_list": "str_list", "int_list": "int_list", "user": "user", "user_list": "user_list",
    ]

    /// One Sym prompt field (v1 JSON object or v2 block) → a SymTUI field, or nil (with a note) if it has no equivalent.
    mutating func field(_ f: HCLValue, flow r: Resource, line: Int, approvalOnly: Bool) throws -> JSON5Node? {
        guard let name = f["name"]?.string, !name.isEmpty else {
            throw HCLError(file: r.file, line: line, message: "\(r.address): a prompt field has no name")
        }
        let symType = f["type"]?.string ?? "string"
        guard let type = Self.fieldTypes[symType] else {
            note("\(r.address): prompt field \(name) of type \(symType) has no equivalent (types: string, int, bool, duration, str_list, int_list, user, user_list)")
            return nil
        }
        if approvalOnly && (name == "duration" || type == "duration") {
            note("\(r.address): prompt field \(name) dropped — an approval-only flow (no strategy_id) has no duration")
            return nil
        }
        var entries = [JSON5Entry(key: "name", node: .value(.string(name))), JSON5Entry(key: "type", node: .value(.string(type)))]
        if let label = f["label"]?.string { entries.append(JSON5Entry(key: "label", node: .value(.string(label)))) }
        for key in ["required", "visible", "prefetch"] {
            if let b = f[key]?.bool { entries.append(JSON5Entry(key: key, node: .value(.bool(b)))) }
        }
        if let values = f["allowed_values"], values != .null {
            guard let items = values.list else { throw HCLError(file: r.file, line: line, message: "\(r.address): allowed_values of \(name) must be a list") }
            entries.append(JSON5Entry(key: "allowed_values", node: .array(items.map { .value($0.json) })))
        }
        if let d = f["default"], d != .null { entries.append(JSON5Entry(key: "default", node: .value(d.json))) }
        for pair in f.object ?? [] where !["name", "type", "label", "required", "visible", "prefetch", "allowed_values", "default"].contains(pair.key) {
            note("\(r.address): prompt field \(name): \(pair.key) has no equivalent")
        }
        return .object(entries)
    }
}
