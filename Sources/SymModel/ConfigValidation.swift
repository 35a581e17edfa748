import Foundation

/// Turns a parsed config document into a `Config`, checking every rule of contract §3 and reporting each problem
/// through the reader. Returns nil only when the document is not even an object.
struct ConfigValidation {
    let reader: ConfigReader

    static let topKeys = ["store", "host_name", "socket", "store_group", "store_mode", "strategies", "flows", "reporting", "limits",
                          "notifications", "oncall", "console"]
    static let limitKeys = ["pending_per_user", "field_bytes", "request_bytes"]
    /// Every timeout a config may give (strategy programs and requests, handlers, destinations).
    static let timeoutRange = 1...3_600
    static let strategyKeys = ["name", "type", "settings", "targets"]
    static let targetKeys = ["name", "label", "settings", "runs_on"]
    static let flowKeys = ["name", "label", "strategy", "approvers", "approval_steps", "required_approvals",
                           "allow_self_approval", "allow_revoke", "schedule_deescalation", "request_ttl", "max_duration",
                           "prompt_fields", "implementation", "handler_timeout", "vars", "additional_header_text", "notify",
                           "reminder", "expiry_warning", "escalation"]
    static let approverKeys = ["users", "groups", "oncall"]
    static let stepKeys = ["name", "users", "groups", "oncall", "required"]
    static let fieldKeys = ["name", "type", "label", "required", "default", "allowed_values", "visible", "prefetch"]
    static let destinationKeys: [String: [String]] = [
        "jsonl": ["type", "path"],
        "syslog": ["type", "socket", "app_name"],
        "http": ["type", "url", "headers", "batch_size", "timeout"],
        "command": ["type", "path", "args"],
    ]
    static let maxApprovals = 1000

    func config(from document: JSONValue) -> Config? {
        guard let top = reader.object(document, at: "", keys: Self.topKeys, what: "the config") else { return nil }
        var config = Config(sourcePath: reader.file)
        config.store = store(top)
        config.socket = path(top, "socket")
        if let name = reader.string(top, "host_name") {
            if name == "any" { reader.report(top.path("host_name"), "'any' cannot name a bastion: runs_on \"any\" means every host") }
            else if HostName.isValid(name) { config.hostName = name }
            else { reader.report(top.path("host_name"), "'\(FieldValues.clip(name))' is not a valid host name (letters, digits, inner hyphens, dot-separated labels of at most 63 characters)") }
        } else if !top.has("host_name") && !HostName.isValid(config.hostName) {
            reader.report("host_name", "this machine's host name '\(FieldValues.clip(config.hostName))' is not a valid host name: set host_name")
        }
        if let group = reader.string(top, "store_group") {
            if UnixName.isValid(group) { config.storeGroup = group }
            else { reader.report(top.path("store_group"), "'\(FieldValues.clip(group))' is not a valid Unix group name") }
        }
        if let v = top["store_mode"] { config.storeMode = storeMode(v, at: top.path("store_mode")) }

        var strategyNames = Set<String>()
        if let items = reader.array(top, "strategies") {
            var named: [(String, String)] = []
            for (i, item) in items.enumerated() {
                let p = ConfigReader.index("strategies", i)
                let (strategy, name) = self.strategy(item, at: p)
                if let name { named.append((name, p + ".name")); strategyNames.insert(name) }
                if let strategy { config.strategies.append(strategy) }
            }
            reader.requireUnique(named, what: "strategy")
        }

        if let items = reader.array(top, "flows") {
            if items.isEmpty { reader.report("flows", "no flows are defined: add at least one flow") }
            var named: [(String, String)] = []
            for (i, item) in items.enumerated() {
                let p = ConfigReader.index("flows", i)
                let (flow, name) = self.flow(item, at: p, strategyNames: strategyNames)
                if let name { named.append((name, p + ".name")) }
                if let flow, !flow.scheduleDeescalation, let s = flow.strategy, config.strategy(named: s)?.type == .sshCert {
                    reader.report(p + ".schedule_deescalation", "flow '\(flow.name)' grants SSH certificates (strategy \(s)), which must expire: schedule_deescalation must be true")
                }
                if let flow { config.flows.append(flow) }
            }
            reader.requireUnique(named, what: "flow")
        } else if !top.has("flows") {
            reader.report("", "no flows are defined: add a 'flows' list")
        }

        if let v = top["reporting"] { config.reporting = reporting(v, at: "reporting") }
        if let v = top["limits"] { config.limits = limits(v, at: "limits") }
        if let v = top["notifications"] { config.notifications = notifications(v, at: "notifications") }
        if let items = reader.array(top, "oncall") { config.oncall = schedules(items) }
        if let v = top["console"] { config.console = console(v, at: "console") }
        checkOnCallNames(config, flowItems: reader.array(top, "flows") ?? [])
        checkFlowChannels(config, flowItems: reader.array(top, "flows") ?? [])
        return config
    }

    // MARK: - Top level

    /// `store`: a SQLite file path, or a PostgreSQL connection URI (kept as written; never with a password in it).
    private func store(_ o: ConfigObject) -> String? {
        guard let s = o["store"]?.stringValue, s.hasPrefix("postgresql://") || s.hasPrefix("postgres://") else { return path(o, "store") }
        if !SafeText.isClean(s) { reader.report(o.path("store"), "must be one line without control characters"); return nil }
        if ConnInfo.containsPassword(s) {
            reader.report(o.path("store"), "the store URI contains a password: put it in a libpq passfile (passfile=PATH or PGPASSFILE), not in the config")
            return nil
        }
        return s
    }

    private func path(_ o: ConfigObject, _ key: String) -> String? {
        guard let s = reader.string(o, key) else { return nil }
        if s.isEmpty { reader.report(o.path(key), "must not be empty"); return nil }
        if s.hasPrefix("~") { reader.report(o.path(key), "'~' is not expanded here: write the full path"); return nil }
        return reader.resolve(s)
    }

    /// An octal mode given as a string ("0640") or as a number written with octal digits (640).
    private func storeMode(_ v: JSONValue, at p: String) -> Int? {
        let digits: String
        switch v {
        case let .string(s): digits = s.hasPrefix("0o") ? String(s.dropFirst(2)) : s
        case let .int(i) where i >= 0: digits = String(i)
        case .int, .double:
            reader.report(p, "\(FieldValues.clip(v.compact)) is not an octal file mode like \"0640\""); return nil
        default:
            reader.report(p, "expected an octal file mode like \"0640\", found \(JSONValue.kindName(v))"); return nil
        }
        guard !digits.isEmpty, digits.count <= 4, digits.allSatisfy({ ("0"..."7").contains($0) }),
              let mode = Int(digits, radix: 8)
        else { reader.report(p, "\(FieldValues.clip(v.compact)) is not an octal file mode like \"0640\""); return nil }
        if mode > 0o777 { reader.report(p, "mode \(v.compact) is larger than 0777 (no setuid/setgid/sticky bits)"); return nil }
        if mode & 0o022 != 0 { reader.report(p, "mode \(v.compact) lets group or others write the store; only the daemon may write it"); return nil }
        if mode & 0o600 != 0o600 { reader.report(p, "mode \(v.compact) must let the owner (the daemon) read and write"); return nil }
        return mode
    }

    private func limits(_ v: JSONValue, at p: String) -> Limits {
        var result = Limits()
        guard let o = reader.object(v, at: p, keys: Self.limitKeys, what: "limits") else { return result }
        if let n = reader.int(o, "pending_per_user", in: Limits.pendingRange) { result.pendingPerUser = n }
        if let n = reader.int(o, "field_bytes", in: Limits.fieldBytesRange) { result.fieldBytes = n }
        if let n = reader.int(o, "request_bytes", in: Limits.requestBytesRange) { result.requestBytes = n }
        if result.requestBytes < result.fieldBytes {
            reader.report(o.has("request_bytes") ? o.path("request_bytes") : p,
                          "request_bytes (\(result.requestBytes)) is smaller than field_bytes (\(result.fieldBytes)): one field could never be sent")
        }
        return result
    }

    /// A timeout: a duration string ("30s") or a number of seconds, within `timeoutRange`.
    static func checkTimeout(_ r: ConfigReader, _ v: JSONValue, _ p: String) {
        let range = timeoutRange
        let limit = "between \(TimeSpan(seconds: range.lowerBound)) and \(TimeSpan(seconds: range.upperBound))"
        switch v {
        case let .string(s):
            guard let d = TimeSpan(parsing: s) else {
                r.report(p, "'\(FieldValues.clip(s))' is not a duration (write it like 90s, 15m, 1h30m or 2d)"); return
            }
            if !range.contains(d.seconds) { r.report(p, "timeout \(d) is out of range: it must be \(limit)") }
        case .int, .double:
            let seconds: Double? = switch v { case let .int(i): Double(i); case let .double(d): d; default: nil }
            guard let d = seconds, d.isFinite, d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
                r.report(p, "timeout \(ConfigReader.numberText(v)) seconds is out of range: it must be \(limit)"); return
            }
        default:
            r.report(p, "expected a duration like \"30s\", found \(JSONValue.kindName(v))")
        }
    }

    // MARK: - Strategies

    private func strategy(_ item: JSONValue, at p: String) -> (Strategy?, String?) {
        guard let o = reader.object(item, at: p, keys: Self.strategyKeys, what: "a strategy") else { return (nil, nil) }
        let name = reader.name(o, what: "strategy")
        var kind: Strategy.Kind?
        if let t = reader.string(o, "type", required: "a strategy") {
            kind = Strategy.Kind(rawValue: t)
            if kind == nil { reportUnknown(o.path("type"), "strategy type", t, Strategy.Kind.allCases.map(\.rawValue)) }
        }
        let settings = reader.freeObject(o, "settings") ?? [:]
        var targets: [(Target, String)] = []
        if let items = reader.array(o, "targets") {
            var named: [(String, String)] = []
            for (j, item) in items.enumerated() {
                let tp = ConfigReader.index(o.path("targets"), j)
                guard let t = reader.object(item, at: tp, keys: Self.targetKeys, what: "a target") else { continue }
                let tname = reader.name(t, what: "target")
                let label = reader.label(t)
                let tsettings = reader.freeObject(t, "settings") ?? [:]
                var runsOn: RunsOn?
                if let s = reader.string(t, "runs_on") {
                    runsOn = RunsOn(setting: s)
                    if runsOn == nil {
                        reader.report(t.path("runs_on"), "'\(FieldValues.clip(s))' is neither requester_host, any, nor a valid host name")
                    }
                }
                if let tname {
                    named.append((tname, tp + ".name"))
                    targets.append((Target(name: tname, label: label, settings: tsettings, runsOn: runsOn), tp))
                }
            }
            reader.requireUnique(named, what: "target")
            if items.isEmpty { reader.report(o.path("targets"), "a strategy needs at least one target") }
        } else if !o.has("targets") {
            reader.report(p, "a strategy needs 'targets' (at least one)")
        }
        if let kind { checkSettings(kind, strategyPath: p, settings: settings, targets: targets) }
        guard let name, let kind else { return (nil, name) }
        return (Strategy(name: name, type: kind, settings: settings, targets: targets.map(\.0)), name)
    }

    /// One setting a strategy type reads: whether it must be present, and how its value is checked.
    private struct SettingRule {
        let key: String
        let required: Bool
        let meaning: String
        let check: (ConfigReader, JSONValue, String) -> Void
    }

    private func settingRules(_ kind: Strategy.Kind) -> [SettingRule] {
        switch kind {
        case .unixGroup:
            return [SettingRule(key: "group", required: true, meaning: "the Unix group to add the user to") { r, v, p in
                if let s = r.string(v, at: p), !UnixName.isValid(s) { r.report(p, "'\(FieldValues.clip(s))' is not a valid Unix group name") }
            }, Self.endSessionsRule]
        case .sudoers:
            return [SettingRule(key: "rule", required: true, meaning: "the sudoers rule to install") { r, v, p in
                guard let s = r.string(v, at: p) else { return }
                if s.isAll(in: .whitespaces) { r.report(p, "the sudoers rule must not be empty") }
                if s.contains("\n") || s.contains("\r") { r.report(p, "the sudoers rule must be one line (no line breaks)") }
            }, Self.endSessionsRule]
        case .command:
            return [
                SettingRule(key: "escalate", required: true, meaning: "the absolute path of the program that grants access", check: Self.absoluteProgram),
                SettingRule(key: "deescalate", required: true, meaning: "the absolute path of the program that removes access", check: Self.absoluteProgram),
                SettingRule(key: "check", required: false, meaning: "", check: Self.absoluteProgram),
                SettingRule(key: "timeout", required: false, meaning: "", check: Self.checkTimeout),
                SettingRule(key: "args", required: false, meaning: "") { r, v, p in
                    guard case let .array(items) = v else { r.report(p, "expected an array, found \(JSONValue.kindName(v))"); return }
                    for (i, item) in items.enumerated() { _ = r.string(item, at: ConfigReader.index(p, i)) }
                },
            ]
        case .http:
            return [SettingRule(key: "url", required: true, meaning: "the http:// or https:// URL to POST to") { r, v, p in
                if let s = r.string(v, at: p) { Self.checkURL(r, s, p) }
            }, SettingRule(key: "timeout", required: false, meaning: "", check: Self.checkTimeout)]
        case .sshCert:
            return [
                SettingRule(key: "ca_key", required: true, meaning: "the OpenSSH private key of the user CA, readable by root only", check: Self.absoluteFile),
                SettingRule(key: "krl", required: true, meaning: "the key revocation list file that target hosts' sshd reads with RevokedKeys", check: Self.absoluteFile),
                SettingRule(key: "issued_dir", required: false, meaning: "", check: Self.absoluteFile),
                SettingRule(key: "key_id_format", required: false, meaning: "") { r, v, p in
                    if let s = r.string(v, at: p), let problem = TargetNames.keyIDFormatProblem(s) { r.report(p, "key_id_format \(problem)") }
                },
                SettingRule(key: "principals", required: true, meaning: "the list of principals the certificate is valid for") { r, v, p in
                    Self.nameList(r, v, p, what: "principal", allowEmpty: false, valid: TargetNames.isPrincipal,
                                  rule: "letters, digits, '.', '_', '-', '@', not starting with '-', '.' or '@'")
                },
                SettingRule(key: "extensions", required: false, meaning: "") { r, v, p in
                    Self.nameList(r, v, p, what: "extension", allowEmpty: true, valid: TargetNames.sshExtensions.contains,
                                  rule: "one of " + TargetNames.sshExtensions.joined(separator: ", "))
                },
                SettingRule(key: "force_command", required: false, meaning: "") { r, v, p in
                    guard let s = r.string(v, at: p) else { return }
                    if s.isAll(in: .whitespaces) { r.report(p, "force_command must not be empty") }
                    else if !SafeText.isClean(s) { r.report(p, "force_command must be one line without control characters") }
                },
                SettingRule(key: "source_address", required: false, meaning: "") { r, v, p in
                    Self.nameList(r, v, p, what: "source address", allowEmpty: false, valid: TargetNames.isSourceAddress,
                                  rule: "an IP address or CIDR block such as 10.0.0.0/8")
                },
            ]
        case .postgresRole:
            return [
                SettingRule(key: "conninfo", required: true, meaning: "a libpq connection URI or service=NAME") { r, v, p in
                    guard let s = r.string(v, at: p) else { return }
                    if s.isAll(in: .whitespaces) { r.report(p, "conninfo must not be empty") }
                    else if !SafeText.isClean(s) { r.report(p, "conninfo must be one line without control characters") }
                    else if ConnInfo.containsPassword(s) {
                        r.report(p, "conninfo contains a password: put it in a libpq passfile (passfile=PATH or ~/.pgpass of the daemon's user), not in the config")
                    }
                },
                SettingRule(key: "user_map", required: false, meaning: "") { r, v, p in
                    guard case let .object(pairs) = v else { r.report(p, "expected an object {unix_user: database_role}, found \(JSONValue.kindName(v))"); return }
                    for (user, role) in pairs {
                        let ip = ConfigReader.child(p, user)
                        if !UnixName.isValid(user) { r.report(ip, "'\(FieldValues.clip(user))' is not a valid Unix user name") }
                        if let s = r.string(role, at: ip), !TargetNames.isDatabaseRole(s) { r.report(ip, Self.roleProblem(s)) }
                    }
                },
                SettingRule(key: "role", required: true, meaning: "the database role to grant") { r, v, p in
                    if let s = r.string(v, at: p), !TargetNames.isDatabaseRole(s) { r.report(p, Self.roleProblem(s)) }
                },
                Self.endSessionsRule,
            ]
        }
    }

    /// `end_sessions` of the strategies whose access outlives its removal in running sessions.
    private static var endSessionsRule: SettingRule {
        SettingRule(key: "end_sessions", required: false, meaning: "") { r, v, p in
            if let s = r.string(v, at: p), !["terminate", "report"].contains(s) {
                r.report(p, "end_sessions is '\(FieldValues.clip(s))'; expected terminate or report")
            }
        }
    }

    static func roleProblem(_ s: String) -> String {
        "'\(FieldValues.clip(s))' is not a plain database role name (a letter or '_' first, then letters, digits, '_', '$', '.', '-'; at most 63 bytes; not PUBLIC)"
    }

    static func absoluteFile(_ r: ConfigReader, _ v: JSONValue, _ p: String) {
        guard let s = r.string(v, at: p) else { return }
        if !s.hasPrefix("/") { r.report(p, "'\(FieldValues.clip(s))' must be an absolute path") }
        else if !SafeText.isClean(s) { r.report(p, "the path must not contain control characters") }
    }

    /// A list of names (or one name given as a string) each of which must pass `valid`.
    static func nameList(_ r: ConfigReader, _ v: JSONValue, _ p: String, what: String, allowEmpty: Bool,
                         valid: (String) -> Bool, rule: String) {
        let items: [(JSONValue, String)]
        switch v {
        case let .array(list): items = list.enumerated().map { ($1, ConfigReader.index(p, $0)) }
        default: r.report(p, "expected a list of \(what)s, found \(JSONValue.kindName(v))"); return
        }
        if items.isEmpty && !allowEmpty { r.report(p, "the list of \(what)s must not be empty") }
        for (item, ip) in items {
            guard let s = r.string(item, at: ip) else { continue }
            if !valid(s) { r.report(ip, "\(what) '\(FieldValues.clip(s))' is not allowed: \(rule)") }
        }
    }

    static func absoluteProgram(_ r: ConfigReader, _ v: JSONValue, _ p: String) {
        guard let s = r.string(v, at: p) else { return }
        if !s.hasPrefix("/") { r.report(p, "'\(FieldValues.clip(s))' must be an absolute path (programs are run without a shell or $PATH)") }
    }

    static func checkURL(_ r: ConfigReader, _ s: String, _ p: String) {
        let lower = s.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), let url = URL(string: s), url.host != nil else {
            r.report(p, "'\(FieldValues.clip(s))' is not an http:// or https:// URL"); return
        }
    }

    /// Each target's effective settings are the strategy's settings overridden by its own.
    private func checkSettings(_ kind: Strategy.Kind, strategyPath p: String, settings: [String: JSONValue], targets: [(Target, String)]) {
        for rule in settingRules(kind) {
            if let v = settings[rule.key] { rule.check(reader, v, p + ".settings." + rule.key) }
            for (target, tp) in targets {
                if let v = target.settings[rule.key] { rule.check(reader, v, tp + ".settings." + rule.key) }
                else if rule.required && settings[rule.key] == nil {
                    reader.report(tp, "\(kind.rawValue) target '\(target.name)' needs settings.\(rule.key) (\(rule.meaning)), in the target or the strategy settings")
                }
            }
        }
    }

    private func reportUnknown(_ p: String, _ what: String, _ value: String, _ known: [String]) {
        let hint = Suggestion.closest(to: value, among: known).map { " (did you mean '\($0)'?)" } ?? ""
        reader.report(p, "unknown \(what) '\(FieldValues.clip(value))'\(hint); expected one of " + known.joined(separator: ", "))
    }

    // MARK: - Flows

    private func flow(_ item: JSONValue, at p: String, strategyNames: Set<String>) -> (Flow?, String?) {
        guard let o = reader.object(item, at: p, keys: Self.flowKeys, what: "a flow") else { return (nil, nil) }
        let name = reader.name(o, what: "flow")
        var flow = Flow(name: name ?? "", label: reader.label(o))
        let approvalOnly = !o.has("strategy")
        if let s = reader.string(o, "strategy") {
            flow.strategy = s
            if !strategyNames.contains(s) {
                if strategyNames.isEmpty { reader.report(o.path("strategy"), "there is no strategy named '\(FieldValues.clip(s))': no strategies are defined") }
                else { reportUnknown(o.path("strategy"), "strategy", s, strategyNames.sorted()) }
            }
        }
        if let b = reader.bool(o, "allow_self_approval") { flow.allowSelfApproval = b }
        if let b = reader.bool(o, "allow_revoke") { flow.allowRevoke = b }
        if let b = reader.bool(o, "schedule_deescalation") { flow.scheduleDeescalation = b }
        if !flow.allowRevoke && !flow.scheduleDeescalation {
            reader.report(o.has("allow_revoke") ? o.path("allow_revoke") : p,
                          "at least one of allow_revoke and schedule_deescalation must be true (otherwise access never ends)")
        }
        if let d = reader.duration(o, "request_ttl") { flow.requestTTL = d }
        if let d = reader.duration(o, "handler_timeout") {
            if Self.timeoutRange.contains(d.seconds) { flow.handlerTimeout = d }
            else { reader.report(o.path("handler_timeout"), "handler_timeout \(d) is out of range: it must be between 1s and 1h") }
        }
        if o.has("max_duration") {
            if approvalOnly {
                reader.report(o.path("max_duration"), "an approval-only flow (no strategy) cannot have max_duration: it grants no access")
            } else {
                flow.maxDuration = reader.duration(o, "max_duration")
            }
        }
        if let vars = reader.freeObject(o, "vars") { flow.vars = vars }
        if let list = reader.stringList(o, "notify") { flow.notify = list }
        if let d = reader.duration(o, "reminder") {
            if d.seconds < 60 { reader.report(o.path("reminder"), "reminder \(d) is too short: at least 1m") }
            else if d >= flow.requestTTL {
                reader.report(o.path("reminder"), "reminder \(d) is not shorter than request_ttl \(flow.requestTTL): it would never be sent")
            } else { flow.reminder = d }
        }
        if let items = reader.array(o, "escalation") { flow.escalation = tiers(items, at: o.path("escalation"), flow: flow, object: o) }
        if o.has("expiry_warning") {
            if approvalOnly {
                reader.report(o.path("expiry_warning"), "an approval-only flow (no strategy) grants no access that could end: remove expiry_warning")
            } else if let d = reader.duration(o, "expiry_warning") {
                if d.seconds < 1 { reader.report(o.path("expiry_warning"), "expiry_warning must be at least 1s") } else { flow.expiryWarning = d }
            }
        }
        if let text = reader.string(o, "additional_header_text") {
            if text.split(separator: "\n", omittingEmptySubsequences: false).allSatisfy({ SafeText.isClean(String($0)) }) {
                flow.additionalHeaderText = text
            } else {
                reader.report(o.path("additional_header_text"), "must not contain control characters (line breaks are fine)")
            }
        }

        var implementationText: String?
        if let impl = reader.string(o, "implementation") {
            if impl.isEmpty { reader.report(o.path("implementation"), "must not be empty") }
            else {
                let full = reader.resolve(impl)
                flow.implementation = full
                var isDir: ObjCBool = false
                if !FileManager.default.fileExists(atPath: full, isDirectory: &isDir) {
                    reader.report(o.path("implementation"), "implementation file '\(full)' does not exist")
                } else if isDir.boolValue {
                    reader.report(o.path("implementation"), "implementation '\(full)' is a directory, not a file")
                } else if let data = FileManager.default.contents(atPath: full) {
                    implementationText = String(decoding: data, as: UTF8.self)
                } else {
                    reader.report(o.path("implementation"), "implementation file '\(full)' cannot be read")
                }
            }
        }
        let dynamicApprovers = implementationText.map(Self.definesGetApprovers) ?? false
        approvers(o, into: &flow, dynamic: dynamicApprovers)
        fields(o, into: &flow, approvalOnly: approvalOnly, implementationText: implementationText)
        return (name == nil ? nil : flow, name)
    }

    static func definesGetApprovers(_ source: String) -> Bool {
        // get_permissions is Sym's reducer for the same answer (a RequestPermission).
        source.contains(/def\s+get_(?:approvers|permissions)\s*\(/)
            || source.contains(/@reducer\s*\(\s*(?:name\s*=\s*)?["']get_approvers["']/)
    }

    static func definesPrefetch(_ source: String, field: String) -> Bool {
        let pattern = #"@prefetch\s*\(\s*(?:field\s*=\s*)?["']"# + NSRegularExpression.escapedPattern(for: field) + #"["']"#
        guard let re = try? NSRegularExpression(pattern: pattern) else { return false }
        return re.firstMatch(in: source, range: NSRange(source.startIndex..., in: source)) != nil
    }

    func approverNames(_ o: ConfigObject) -> Approvers { userAndGroupNames(o) }

    private func userAndGroupNames(_ o: ConfigObject) -> Approvers {
        var result = Approvers()
        for (key, isUser) in [("users", true), ("groups", false)] {
            guard let items = reader.array(o, key) else { continue }
            for (i, item) in items.enumerated() {
                let ip = ConfigReader.index(o.path(key), i)
                guard let s = reader.string(item, at: ip) else { continue }
                guard UnixName.isValid(s) else {
                    reader.report(ip, "'\(FieldValues.clip(s))' is not a valid Unix \(isUser ? "user" : "group") name"); continue
                }
                if isUser { result.users.append(s) } else { result.groups.append(s) }
            }
        }
        if let names = reader.stringList(o, "oncall") { result.oncall = names }
        return result
    }

    private func approvers(_ o: ConfigObject, into flow: inout Flow, dynamic: Bool) {
        let hasSingle = o.has("approvers"), hasSteps = o.has("approval_steps")
        if hasSingle && hasSteps {
            reader.report(o.path("approval_steps"), "give either approvers or approval_steps, not both")
        }
        let required = reader.int(o, "required_approvals", in: 1...Self.maxApprovals)
        if let required { flow.requiredApprovals = required }
        if let v = o["approvers"], let a = reader.object(v, at: o.path("approvers"), keys: Self.approverKeys, what: "approvers") {
            flow.approvers = userAndGroupNames(a)
            if flow.approvers.isEmpty && !dynamic {
                reader.report(a.path, "approvers is empty: name users or groups, or define get_approvers in the implementation")
            }
        }
        if let items = reader.array(o, "approval_steps") {
            let sp = o.path("approval_steps")
            if items.isEmpty { reader.report(sp, "approval_steps is empty: add at least one step") }
            var named: [(String, String)] = []
            for (i, item) in items.enumerated() {
                let ip = ConfigReader.index(sp, i)
                guard let s = reader.object(item, at: ip, keys: Self.stepKeys, what: "an approval step") else { continue }
                let name = reader.name(s, what: "approval step")
                let who = userAndGroupNames(s)
                let req = reader.int(s, "required", in: 1...Self.maxApprovals) ?? 1
                if who.isEmpty { reader.report(ip, "approval step '\(name ?? "?")' names no users or groups") }
                else if who.groups.isEmpty && req > who.users.count {
                    reader.report(s.has("required") ? s.path("required") : ip,
                                  "approval step needs \(req) approvals but names only \(who.users.count) user(s)")
                }
                if let name {
                    named.append((name, ip + ".name"))
                    flow.approvalSteps.append(ApprovalStep(name: name, approvers: who, required: req))
                }
            }
            reader.requireUnique(named, what: "approval step")
            // Every step must be met, so a request needs the sum of the steps' approvals in all.
            if !flow.approvalSteps.isEmpty { flow.requiredApprovals = flow.approvalSteps.reduce(0) { $0 + $1.required } }
            if o.has("required_approvals") {
                reader.report(o.path("required_approvals"), "required_approvals does not apply with approval_steps: set 'required' on each step")
            }
        }
        if !hasSingle && !hasSteps && !dynamic {
            reader.report(o.path, "flow '\(flow.name)' names no approvers: add approvers {users, groups}, approval_steps, or a get_approvers reducer in its implementation")
        }
        if hasSingle, !dynamic, let required, flow.approvers.groups.isEmpty, !flow.approvers.users.isEmpty,
           required > flow.approvers.users.count {
            reader.report(o.path("required_approvals"),
                          "required_approvals is \(required) but approvers names only \(flow.approvers.users.count) user(s)")
        }
    }

    // MARK: - Prompt fields

    private func fields(_ o: ConfigObject, into flow: inout Flow, approvalOnly: Bool, implementationText: String?) {
        var named: [(String, String)] = []
        var sawDuration = false
        if let items = reader.array(o, "prompt_fields") {
            for (i, item) in items.enumerated() {
                let ip = ConfigReader.index(o.path("prompt_fields"), i)
                guard let f = reader.object(item, at: ip, keys: Self.fieldKeys, what: "a prompt field") else { continue }
                let field = self.field(f, maxDuration: flow.maxDuration, implementation: flow.implementation,
                                       implementationText: implementationText)
                guard let name = f["name"]?.stringValue else { continue }
                named.append((name, ip + ".name"))
                if name == "duration" {
                    sawDuration = true
                    if approvalOnly {
                        reader.report(ip, "an approval-only flow (no strategy) cannot have a 'duration' field: it grants no access")
                    }
                }
                if let field { flow.promptFields.append(field) }
            }
        }
        reader.requireUnique(named, what: "field")
        if !approvalOnly && flow.scheduleDeescalation && !sawDuration {
            flow.promptFields.append(Self.defaultDurationField(maxDuration: flow.maxDuration))
        }
    }

    /// Sym's implicit duration field: 30m, 1h, 4h (those within max_duration), default 1h or the largest left.
    static func defaultDurationField(maxDuration: TimeSpan?) -> PromptField {
        var allowed = [1_800, 3_600, 14_400].map(TimeSpan.init(seconds:)).filter { maxDuration == nil || $0 <= maxDuration! }
        if allowed.isEmpty, let maxDuration { allowed = [maxDuration] }
        let hour = TimeSpan(seconds: 3_600)
        let chosen = allowed.contains(hour) ? hour : allowed[allowed.count - 1]
        return PromptField(name: "duration", type: .duration, label: "Duration", required: true,
                           defaultValue: .duration(chosen), allowedValues: allowed.map(FieldValue.duration))
    }

    private func field(_ f: ConfigObject, maxDuration: TimeSpan?, implementation: String?, implementationText: String?) -> PromptField? {
        let name = reader.name(f, what: "field")
        var type: FieldType?
        if let t = reader.string(f, "type", required: "a prompt field") {
            type = FieldType(rawValue: t)
            if type == nil { reportUnknown(f.path("type"), "field type", t, FieldType.allCases.map(\.rawValue)) }
        }
        let label = reader.label(f)
        let required = reader.bool(f, "required") ?? true
        let visible = reader.bool(f, "visible") ?? true
        let prefetch = reader.bool(f, "prefetch") ?? false
        guard let type else { return nil }
        if name == "duration" && type != .duration {
            reader.report(f.path("type"), "the field named 'duration' must have type duration, not \(type.rawValue)")
        }

        func tooLong(_ v: FieldValue, _ p: String) -> Bool {
            guard case let .duration(d) = v, let maxDuration, d > maxDuration else { return false }
            reader.report(p, "\(d) is longer than the flow's max_duration of \(maxDuration)")
            return true
        }

        var allowed: [FieldValue]?
        if f.has("allowed_values") {
            let ap = f.path("allowed_values")
            if type.isUser {
                reader.report(ap, "a \(type.rawValue) field cannot have allowed_values (any existing user may be named)")
            } else if let items = reader.array(f, "allowed_values") {
                if items.isEmpty { reader.report(ap, "allowed_values must not be empty") }
                let element = FieldValues.elementType(of: type)
                var values: [FieldValue] = []
                for (i, item) in items.enumerated() {
                    let ip = ConfigReader.index(ap, i)
                    switch FieldValues.parseValue(.json(item), type: element) {
                    case let .failure(m): reader.report(ip, "allowed value \(FieldValues.clip(item.compact)) is not a valid \(element.rawValue): \(m.text)")
                    case let .success(value):
                        if values.contains(value) { reader.report(ip, "allowed value '\(value)' appears twice") }
                        else if !tooLong(value, ip) { values.append(value) }
                    }
                }
                allowed = values
            }
        }
        var defaultValue: FieldValue?
        if let v = f["default"] {
            let dp = f.path("default")
            if type.isList || type.isUser {
                reader.report(dp, "a \(type.rawValue) field cannot have a default")
            } else {
                switch FieldValues.parseValue(.json(v), type: type) {
                case let .failure(m): reader.report(dp, "default \(FieldValues.clip(v.compact)) is not a valid \(type.rawValue): \(m.text)")
                case let .success(value):
                    if let allowed, !allowed.isEmpty, !allowed.contains(value) {
                        reader.report(dp, "default '\(value)' is not one of allowed_values (" + allowed.map(\.description).joined(separator: ", ") + ")")
                    } else if !tooLong(value, dp) {
                        defaultValue = value
                    }
                }
            }
        }
        if prefetch {
            let pp = f.path("prefetch")
            if f.has("allowed_values") {
                reader.report(pp, "a prefetch field gets its options from its @prefetch handler: remove allowed_values")
            }
            if let fieldName = name {
                if implementation == nil {
                    reader.report(pp, "prefetch needs an implementation file with a @prefetch(\"\(fieldName)\") handler")
                } else if let text = implementationText, !Self.definesPrefetch(text, field: fieldName) {
                    reader.report(pp, "the implementation defines no @prefetch(\"\(fieldName)\") handler")
                }
            }
        }
        guard let name else { return nil }
        return PromptField(name: name, type: type, label: label, required: required, defaultValue: defaultValue,
                           allowedValues: allowed, visible: visible, prefetch: prefetch)
    }

    // MARK: - Reporting

    private func reporting(_ v: JSONValue, at p: String) -> Reporting {
        var result = Reporting()
        guard let o = reader.object(v, at: p, keys: ["destinations", "hmac_key_file"], what: "reporting") else { return result }
        result.hmacKeyFile = path(o, "hmac_key_file")
        guard let items = reader.array(o, "destinations") else { return result }
        for (i, item) in items.enumerated() {
            let dp = ConfigReader.index(o.path("destinations"), i)
            guard case let .object(pairs) = item else {
                reader.report(dp, "expected an object, found \(JSONValue.kindName(item))"); continue
            }
            let raw = ConfigObject(path: dp, pairs: pairs)
            guard let type = reader.string(raw, "type", required: "a reporting destination") else { continue }
            guard let keys = Self.destinationKeys[type] else {
                reportUnknown(raw.path("type"), "destination type", type, Self.destinationKeys.keys.sorted()); continue
            }
            guard let d = reader.object(item, at: dp, keys: keys, what: "a \(type) destination") else { continue }
            var settings: [String: JSONValue] = [:]
            switch type {
            case "jsonl":
                if let s = reader.string(d, "path", required: "a jsonl destination") {
                    if s.isEmpty { reader.report(d.path("path"), "must not be empty") } else { settings["path"] = .string(reader.resolve(s)) }
                }
            case "syslog":
                settings["socket"] = .string(reader.string(d, "socket").map(reader.resolve) ?? "/dev/log")
                let app = reader.string(d, "app_name") ?? "symtui"
                if app.isEmpty || app.count > 48 || !app.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ":" && SafeText.isClean(String($0)) }) {
                    reader.report(d.path("app_name"), "app_name must be 1-48 printable ASCII characters without spaces or ':'")
                }
                settings["app_name"] = .string(app)
            case "http":
                if let s = reader.string(d, "url", required: "an http destination") {
                    Self.checkURL(reader, s, d.path("url")); settings["url"] = .string(s)
                }
                if let headers = reader.freeObject(d, "headers") {
                    for (k, hv) in headers.sorted(by: { $0.key < $1.key }) {
                        let hp = ConfigReader.child(d.path("headers"), k)
                        if let s = reader.string(hv, at: hp), s.contains("\n") || s.contains("\r") {
                            reader.report(hp, "a header value must not contain line breaks")
                        }
                    }
                    settings["headers"] = .object(headers.sorted(by: { $0.key < $1.key }))
                }
                if let n = reader.int(d, "batch_size", in: 1...10_000) { settings["batch_size"] = .int(Int64(n)) }
                if let t = d["timeout"] {
                    let before = reader.problems.count
                    Self.checkTimeout(reader, t, d.path("timeout"))
                    if reader.problems.count == before { settings["timeout"] = t }
                }
            default:  // command
                if let s = reader.string(d, "path", required: "a command destination") {
                    Self.absoluteProgram(reader, .string(s), d.path("path")); settings["path"] = .string(s)
                }
                if let args = reader.stringList(d, "args") { settings["args"] = .array(args.map(JSONValue.string)) }
            }
            result.destinations.append(Destination(type: type, settings: settings))
        }
        return result
    }
}
