import Foundation

/// The `notifications` section and each flow's `notify`.
extension ConfigValidation {
    static let notificationKeys = ["channels", "default", "email_domain", "users"]
    static let channelKeys: [Channel.Kind: [String]] = [
        .tty: ["name", "type"],
        .email: ["name", "type", "from"],
        .http: ["name", "type", "url", "format", "routing_key_file", "timeout"],
        .command: ["name", "type", "command", "timeout"],
    ]

    func notifications(_ v: JSONValue, at p: String) -> Notifications {
        var result = Notifications()
        guard let o = reader.object(v, at: p, keys: Self.notificationKeys, what: "notifications") else { return result }
        if let items = reader.array(o, "channels") {
            var named: [(String, String)] = []
            for (i, item) in items.enumerated() {
                let cp = ConfigReader.index(o.path("channels"), i)
                if let c = channel(item, at: cp) {
                    named.append((c.name, cp + ".name"))
                    result.channels.append(c)
                }
            }
            reader.requireUnique(named, what: "channel")
        }
        let names = result.channels.map(\.name)
        if let list = reader.array(o, "default") {
            for (i, item) in list.enumerated() {
                let ip = ConfigReader.index(o.path("default"), i)
                guard let s = reader.string(item, at: ip) else { continue }
                if names.contains(s) { result.defaultChannels.append(s) } else { unknownChannel(ip, s, names) }
            }
        }
        if let domain = reader.string(o, "email_domain") {
            if Self.isMailDomain(domain) { result.emailDomain = domain }
            else { reader.report(o.path("email_domain"), "'\(FieldValues.clip(domain))' is not a mail domain like example.com") }
        }
        if let users = reader.freeObject(o, "users") {
            for (user, entry) in users.sorted(by: { $0.key < $1.key }) {
                let up = ConfigReader.child(o.path("users"), user)
                if !UnixName.isValid(user) { reader.report(up, "'\(FieldValues.clip(user))' is not a valid Unix user name"); continue }
                guard let u = reader.object(entry, at: up, keys: ["email"], what: "a user's notification settings") else { continue }
                if let e = reader.string(u, "email") {
                    if Self.isMailAddress(e) { result.emails[user] = e }
                    else { reader.report(u.path("email"), "'\(FieldValues.clip(e))' is not a mail address like alice@example.com") }
                }
            }
        }
        return result
    }

    /// A flow's `escalation` tiers: each `after` shorter than `request_ttl` and later than the tier before, approvers
    /// named; a flow with approval steps has no single list a tier could extend.
    func tiers(_ items: [JSONValue], at p: String, flow: Flow, object o: ConfigObject) -> [EscalationTier] {
        if o.has("approval_steps") { reader.report(p, "escalation tiers extend `approvers`; a flow with approval_steps cannot have them"); return [] }
        var out: [EscalationTier] = []
        var previous: TimeSpan?
        for (i, item) in items.enumerated() {
            let ip = ConfigReader.index(p, i)
            guard let t = reader.object(item, at: ip, keys: ["after", "approvers", "notify"], what: "an escalation tier") else { continue }
            guard let after = reader.duration(t, "after") else {
                if !t.has("after") { reader.report(ip, "an escalation tier needs 'after' (how long a request waits before it is forwarded)") }
                continue
            }
            if after.seconds < 1 { reader.report(t.path("after"), "after must be at least 1s"); continue }
            if after >= flow.requestTTL {
                reader.report(t.path("after"), "after \(after) is not shorter than request_ttl \(flow.requestTTL): the request expires first"); continue
            }
            if let previous, after <= previous {
                reader.report(t.path("after"), "after \(after) is not later than the tier before (\(previous)): list tiers in order"); continue
            }
            previous = after
            var who = Approvers()
            if let v = t["approvers"], let a = reader.object(v, at: t.path("approvers"), keys: Self.approverKeys, what: "a tier's approvers") {
                who = approverNames(a)
            }
            if who.isEmpty { reader.report(t.has("approvers") ? t.path("approvers") : ip, "an escalation tier needs approvers (users or groups)"); continue }
            out.append(EscalationTier(after: after, approvers: who, notify: reader.stringList(t, "notify")))
        }
        return out
    }

    private func channel(_ item: JSONValue, at p: String) -> Channel? {
        guard case let .object(pairs) = item else {
            reader.report(p, "expected an object, found \(JSONValue.kindName(item))"); return nil
        }
        let raw = ConfigObject(path: p, pairs: pairs)
        guard let t = reader.string(raw, "type", required: "a notification channel") else { return nil }
        guard let kind = Channel.Kind(rawValue: t), let keys = Self.channelKeys[kind] else {
            let hint = Suggestion.closest(to: t, among: Channel.Kind.allCases.map(\.rawValue)).map { " (did you mean '\($0)'?)" } ?? ""
            reader.report(raw.path("type"), "unknown channel type '\(FieldValues.clip(t))'\(hint); expected one of "
                          + Channel.Kind.allCases.map(\.rawValue).joined(separator: ", "))
            return nil
        }
        guard let o = reader.object(item, at: p, keys: keys, what: "a \(t) channel") else { return nil }
        let name = reader.name(o, what: "channel")
        var c = Channel(name: name ?? "", type: kind)
        if let v = o["timeout"] {
            let before = reader.problems.count
            Self.checkTimeout(reader, v, o.path("timeout"))
            if reader.problems.count == before { c.timeout = Self.seconds(v) ?? c.timeout }
        }
        switch kind {
        case .tty: break
        case .email:
            if let from = reader.string(o, "from") {
                if Self.isMailAddress(from) { c.from = from }
                else { reader.report(o.path("from"), "'\(FieldValues.clip(from))' is not a mail address like symtui@bastion.example") }
            }
        case .http:
            if let url = reader.string(o, "url", required: "an http channel") { Self.checkURL(reader, url, o.path("url")); c.url = url }
            if let f = reader.string(o, "format") {
                if let format = Channel.Format(rawValue: f) { c.format = format }
                else { reportUnknownFormat(o.path("format"), f) }
            }
            if let file = reader.string(o, "routing_key_file") {
                if c.format != .pagerduty { reader.report(o.path("routing_key_file"), "routing_key_file is only for format pagerduty") }
                else if !file.hasPrefix("/") { reader.report(o.path("routing_key_file"), "'\(FieldValues.clip(file))' must be an absolute path") }
                else if !SafeText.isClean(file) { reader.report(o.path("routing_key_file"), "the path must not contain control characters") }
                else { c.routingKeyFile = file }
            } else if c.format == .pagerduty {
                reader.report(p, "a pagerduty channel needs routing_key_file (a file holding the Events API v2 routing key)")
            }
        case .command:
            if let path = reader.string(o, "command", required: "a command channel") {
                Self.absoluteProgram(reader, .string(path), o.path("command")); c.command = path
            }
        }
        return name == nil ? nil : c
    }

    private func reportUnknownFormat(_ p: String, _ f: String) {
        let known = Channel.Format.allCases.map(\.rawValue)
        let hint = Suggestion.closest(to: f, among: known).map { " (did you mean '\($0)'?)" } ?? ""
        reader.report(p, "unknown http format '\(FieldValues.clip(f))'\(hint); expected one of " + known.joined(separator: ", "))
    }

    private func unknownChannel(_ p: String, _ name: String, _ names: [String]) {
        if names.isEmpty {
            reader.report(p, "there is no notification channel named '\(FieldValues.clip(name))': notifications.channels defines none")
            return
        }
        let hint = Suggestion.closest(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
        reader.report(p, "unknown notification channel '\(FieldValues.clip(name))'\(hint); expected one of " + names.joined(separator: ", "))
    }

    /// Every name in a flow's `notify` must be a channel of `notifications.channels`.
    func checkFlowChannels(_ config: Config, flowItems: [JSONValue]) {
        let names = config.notifications.channels.map(\.name)
        for (i, item) in flowItems.enumerated() {
            guard case let .object(pairs) = item, let list = pairs.first(where: { $0.0 == "notify" })?.1,
                  case let .array(entries) = list else { continue }
            for (j, entry) in entries.enumerated() {
                guard let s = entry.stringValue, !names.contains(s) else { continue }
                unknownChannel(ConfigReader.index(ConfigReader.index("flows", i) + ".notify", j), s, names)
            }
        }
        for (i, item) in flowItems.enumerated() {
            guard case let .object(pairs) = item, case let .array(tiers)? = pairs.first(where: { $0.0 == "escalation" })?.1 else { continue }
            for (k, tier) in tiers.enumerated() {
                guard case let .object(tp) = tier, case let .array(entries)? = tp.first(where: { $0.0 == "notify" })?.1 else { continue }
                for (j, entry) in entries.enumerated() {
                    guard let s = entry.stringValue, !names.contains(s) else { continue }
                    unknownChannel(ConfigReader.index(ConfigReader.index(ConfigReader.index("flows", i) + ".escalation", k) + ".notify", j), s, names)
                }
            }
        }
    }

    static func seconds(_ v: JSONValue) -> Int? {
        switch v {
        case let .string(s): TimeSpan(parsing: s)?.seconds
        case let .int(i): Int(i)
        case let .double(d): Int(d.rounded(.up))
        default: nil
        }
    }

    static func isMailDomain(_ s: String) -> Bool {
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        return s.count <= 253 && labels.count >= 1 && labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-")
                && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    /// A plain addr-spec (local@domain) without spaces, quotes, brackets or line breaks: safe in a header.
    static func isMailAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64, isMailDomain(String(parts[1])) else { return false }
        return parts[0].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._+-=".contains($0)) }
    }
}

/// The `oncall` schedules and every `oncall: [...]` that names one.
extension ConfigValidation {
    static let scheduleKeys: [OnCallSchedule.Kind: [String]] = [
        .rotation: ["name", "type", "users", "shift", "start", "overrides"],
        .command: ["name", "type", "command"],
    ]

    func schedules(_ items: [JSONValue]) -> [OnCallSchedule] {
        var out: [OnCallSchedule] = []
        var named: [(String, String)] = []
        for (i, item) in items.enumerated() {
            let p = ConfigReader.index("oncall", i)
            guard case let .object(pairs) = item else { reader.report(p, "expected an object, found \(JSONValue.kindName(item))"); continue }
            let raw = ConfigObject(path: p, pairs: pairs)
            guard let t = reader.string(raw, "type", required: "an on-call schedule") else { continue }
            guard let kind = OnCallSchedule.Kind(rawValue: t), let keys = Self.scheduleKeys[kind] else {
                let hint = Suggestion.closest(to: t, among: OnCallSchedule.Kind.allCases.map(\.rawValue)).map { " (did you mean '\($0)'?)" } ?? ""
                reader.report(raw.path("type"), "unknown schedule type '\(FieldValues.clip(t))'\(hint); expected rotation or command"); continue
            }
            guard let o = reader.object(item, at: p, keys: keys, what: "a \(t) schedule"), let name = reader.name(o, what: "schedule") else { continue }
            named.append((name, p + ".name"))
            var s = OnCallSchedule(name: name, type: kind)
            switch kind {
            case .rotation:
                let users = reader.stringList(o, "users") ?? []
                if !o.has("users") { reader.report(p, "a rotation needs 'users' (who takes turns)") }
                else if users.isEmpty { reader.report(o.path("users"), "a rotation needs at least one user") }
                for (j, u) in users.enumerated() where !UnixName.isValid(u) {
                    reader.report(ConfigReader.index(o.path("users"), j), "'\(FieldValues.clip(u))' is not a valid Unix user name")
                }
                s.users = users.filter(UnixName.isValid)
                if let d = shift(o) {
                    if d.seconds < 60 { reader.report(o.path("shift"), "a shift must be at least 1m") } else { s.shift = d }
                } else if !o.has("shift") { reader.report(p, "a rotation needs 'shift' (how long each turn lasts, e.g. 1w)") }
                if let start = time(o, "start") { s.start = start } else if !o.has("start") {
                    reader.report(p, "a rotation needs 'start' (when the first user's shift begins, RFC 3339 UTC)")
                }
                if let list = reader.array(o, "overrides") {
                    for (j, item) in list.enumerated() {
                        let op = ConfigReader.index(o.path("overrides"), j)
                        guard let ov = reader.object(item, at: op, keys: ["user", "from", "until"], what: "an override") else { continue }
                        guard let user = reader.string(ov, "user", required: "an override") else { continue }
                        if !UnixName.isValid(user) { reader.report(ov.path("user"), "'\(FieldValues.clip(user))' is not a valid Unix user name"); continue }
                        guard let from = time(ov, "from", required: true), let until = time(ov, "until", required: true) else { continue }
                        if until <= from { reader.report(ov.path("until"), "until must be after from"); continue }
                        s.overrides.append(.init(user: user, from: from, until: until))
                    }
                }
            case .command:
                if let path = reader.string(o, "command", required: "a command schedule") {
                    Self.absoluteProgram(reader, .string(path), o.path("command")); s.command = path
                }
            }
            out.append(s)
        }
        reader.requireUnique(named, what: "schedule")
        return out
    }

    /// A shift: a duration, or whole weeks (`1w`, `2w`), which durations elsewhere do not take.
    private func shift(_ o: ConfigObject) -> TimeSpan? {
        if let s = o["shift"]?.stringValue, s.hasSuffix("w"), let n = Int(s.dropLast()), (1...52).contains(n) {
            return TimeSpan(seconds: n * 604_800)
        }
        return reader.duration(o, "shift")
    }

    private func time(_ o: ConfigObject, _ key: String, required: Bool = false) -> Date? {
        guard let s = reader.string(o, key, required: required ? "an override" : nil) else { return nil }
        guard s.hasSuffix("Z"), let d = Timestamp.parse(s) else {
            reader.report(o.path(key), "'\(FieldValues.clip(s))' is not an RFC 3339 UTC time like 2026-12-07T09:00:00Z"); return nil
        }
        return d
    }

    /// Every `oncall` name in approvers, approval steps and escalation tiers must be a schedule.
    func checkOnCallNames(_ config: Config, flowItems: [JSONValue]) {
        let names = config.oncall.map(\.name)
        func check(_ v: JSONValue?, _ p: String) {
            guard case let .object(pairs)? = v, case let .array(list)? = pairs.first(where: { $0.0 == "oncall" })?.1 else { return }
            for (j, entry) in list.enumerated() {
                guard let s = entry.stringValue, !names.contains(s) else { continue }
                let ip = ConfigReader.index(p + ".oncall", j)
                if names.isEmpty { reader.report(ip, "there is no on-call schedule named '\(FieldValues.clip(s))': no oncall schedules are defined") }
                else {
                    let hint = Suggestion.closest(to: s, among: names).map { " (did you mean '\($0)'?)" } ?? ""
                    reader.report(ip, "unknown on-call schedule '\(FieldValues.clip(s))'\(hint); expected one of " + names.joined(separator: ", "))
                }
            }
        }
        for (i, item) in flowItems.enumerated() {
            guard case let .object(pairs) = item else { continue }
            let fp = ConfigReader.index("flows", i)
            check(pairs.first { $0.0 == "approvers" }?.1, fp + ".approvers")
            if case let .array(steps)? = pairs.first(where: { $0.0 == "approval_steps" })?.1 {
                for (k, s) in steps.enumerated() { check(s, ConfigReader.index(fp + ".approval_steps", k)) }
            }
            if case let .array(tiers)? = pairs.first(where: { $0.0 == "escalation" })?.1 {
                for (k, t) in tiers.enumerated() {
                    if case let .object(tp) = t { check(tp.first { $0.0 == "approvers" }?.1, ConfigReader.index(fp + ".escalation", k) + ".approvers") }
                }
            }
        }
    }
}
