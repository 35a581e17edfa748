import Foundation
import SymModel

/// A question a console or the CLI asks the daemon, which alone opens the store. Answers are paged; no call
/// returns more than `ReadCall.maxRows` rows. Every local user may read (as they could read the file before);
/// what depends on who asks (`review`, `status`) uses the kernel's identity of the caller, never a claimed one.
public enum ReadCall: Sendable, Equatable {
    /// Requests matching a query; `count` adds the total of the whole filtered list.
    case requests(RequestQuery, count: Bool)
    /// The requests the caller may decide now, newest first.
    /// `shape` sorts and narrows it before paging (absent on the wire when default).
    case review(search: String?, offset: Int, limit: Int, shape: ListShape = ListShape())
    /// One request with its events.
    case request(id: Int64)
    /// Events with seq > `afterSeq`, oldest first, optionally of one request and/or a time window.
    case events(afterSeq: Int64, limit: Int, requestId: Int64?, since: Date?, until: Date?)
    /// A page of the audit log, newest first, with the total.
    case audit(search: String?, offset: Int, limit: Int, shape: ListShape = ListShape())
    /// The last `count` events, oldest first.
    case lastEvents(count: Int)
    /// The caller's status line: requests waiting for them, their grants, the head of the log.
    case status
    /// How far each reporting destination got.
    case delivery
    /// The figures `symtui metrics` exposes (counts by state, stuck grants, backlogs, handler failures, approval times).
    case metrics
    /// The figures of `symtui report` and the console's Stats view for requests created from `since` to now.
    case report(since: Date)
    /// Turns the connection into a stream of `{"v":1,"changed":true,"version":V,"ids":[…]}` lines, one after each
    /// commit (or one for several, when the client reads slower than they come); `ids` names the requests changed.
    case subscribe
    /// `{"read":"subscribe","review":true}`: the same, and each line also carries the caller's review total and the
    /// ids at the head of their queue (`review`, `review_head`).
    case subscribeReview
    /// The fleet's daemons (heartbeats) and the strategy steps waiting for each host (`symtui hosts`).
    case hosts

    public static let maxRows = 1_000

    static let keys: [String: Set<String>] = [
        "requests": ["states", "requester", "flow", "target", "ids", "search", "oldest_first", "offset", "limit", "count",
                     "sort", "desc", "regex", "invert"],
        "review": ["search", "offset", "limit", "sort", "desc", "regex", "invert"], "request": ["id"],
        "events": ["after_seq", "limit", "request", "since_ms", "until_ms"],
        "audit": ["search", "offset", "limit", "regex", "invert", "desc"], "last_events": ["count"],
        "status": [], "delivery": [], "metrics": [], "hosts": [], "subscribe": ["review"], "report": ["since_ms"],
    ]

    /// Parses `{"read": NAME, …}`.
    public static func parse(_ json: JSONValue) throws -> ReadCall {
        guard let name = json["read"]?.stringValue else { throw CommandError.invalid("\"read\" must name a read") }
        guard let allowed = keys[name] else {
            throw CommandError.invalid("unknown read \"\(SafeText.display(name))\" (one of \(keys.keys.sorted().joined(separator: ", ")))")
        }
        for (k, _) in json.objectValue ?? [] where !allowed.contains(k) && k != "read" && k != "v" {
            throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in a \(name) read")
        }
        func int(_ key: String, default d: Int64, range: ClosedRange<Int64>) throws -> Int64 {
            guard let v = json[key], !v.isNull else { return d }
            guard let i = v.intValue, range.contains(i) else { throw CommandError.invalid("\"\(key)\" must be a number in \(range.lowerBound)...\(range.upperBound)") }
            return i
        }
        func string(_ key: String) throws -> String? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let s = v.stringValue, s.utf8.count <= 4096, !s.contains("\0") else { throw CommandError.invalid("\"\(key)\" must be a short string") }
            return s
        }
        func strings(_ key: String) throws -> [String]? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let a = v.arrayValue, a.count <= maxRows else { throw CommandError.invalid("\"\(key)\" must be a list") }
            return try a.map { guard let s = $0.stringValue, s.utf8.count <= 4096 else { throw CommandError.invalid("\"\(key)\" must list strings") }; return s }
        }
        func shape() throws -> ListShape {
            var out = ListShape()
            if let name = try string("sort") {
                guard let c = ListShape.Column(rawValue: name) else {
                    throw CommandError.invalid("unknown sort column \"\(SafeText.display(name))\" (one of \(ListShape.Column.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                out.sort = c
            }
            out.descending = json["desc"]?.boolValue == true
            out.invert = json["invert"]?.boolValue == true
            if let r = try string("regex"), !r.isEmpty {
                if case let .failure(e) = ListShape.compile(r) { throw CommandError.invalid("\"regex\": " + e.message) }
                out.regex = r
            }
            return out
        }
        let offset = Int(try int("offset", default: 0, range: 0...Int64(Int32.max)))
        let limit = Int(try int("limit", default: 100, range: 0...Int64(maxRows)))
        switch name {
        case "requests":
            var q = RequestQuery(limit: limit, offset: offset)
            q.states = try (strings("states") ?? []).map { s in
                guard let st = RequestState(rawValue: s) else { throw CommandError.invalid("unknown state \"\(SafeText.display(s))\"") }
                return st
            }
            q.requester = try string("requester")
            q.flow = try string("flow")
            q.target = try string("target")
            q.search = try string("search")
            q.newestFirst = json["oldest_first"]?.boolValue != true
            if let ids = json["ids"], !ids.isNull {
                guard let a = ids.arrayValue, a.count <= maxRows else { throw CommandError.invalid("\"ids\" must be a list of request ids") }
                q.ids = try a.map { guard let i = $0.intValue, i > 0 else { throw CommandError.invalid("\"ids\" must be request ids") }; return i }
            }
            q.shape = try shape()
            return .requests(q, count: json["count"]?.boolValue == true)
        case "review": return .review(search: try string("search"), offset: offset, limit: limit, shape: try shape())
        case "request": return .request(id: try int("id", default: 0, range: 1...Int64.max))
        case "events":
            func given(_ key: String) -> Bool { json[key].map { !$0.isNull } ?? false }
            let request = given("request") ? try int("request", default: 0, range: 1...Int64.max) : nil
            let since = given("since_ms") ? Wire.date(millis: try int("since_ms", default: 0, range: Int64.min...Int64.max)) : nil
            let until = given("until_ms") ? Wire.date(millis: try int("until_ms", default: 0, range: Int64.min...Int64.max)) : nil
            return .events(afterSeq: try int("after_seq", default: 0, range: 0...Int64.max), limit: limit, requestId: request,
                           since: since, until: until)
        case "audit": return .audit(search: try string("search"), offset: offset, limit: limit, shape: try shape())
        case "last_events": return .lastEvents(count: Int(try int("count", default: 10, range: 0...Int64(maxRows))))
        case "status": return .status
        case "delivery": return .delivery
        case "metrics": return .metrics
        case "hosts": return .hosts
        case "report":
            guard let v = json["since_ms"], let ms = v.intValue else { throw CommandError.invalid("a report read needs \"since_ms\", a time in milliseconds") }
            return .report(since: Wire.date(millis: ms))
        default:
            guard let review = json["review"], !review.isNull else { return .subscribe }
            guard let on = review.boolValue else { throw CommandError.invalid("\"review\" must be true or false") }
            return on ? .subscribeReview : .subscribe
        }
    }

    /// The line a client sends.
    public var json: JSONValue {
        func s(_ v: String?) -> JSONValue { .str(v) }
        switch self {
        case let .requests(q, count):
            return .obj([("read", .string("requests")), ("states", .array(q.states.map { .string($0.rawValue) })),
                         ("requester", s(q.requester)), ("flow", s(q.flow)), ("target", s(q.target)),
                         ("ids", q.ids.map { .array($0.map(JSONValue.int)) } ?? .null), ("search", s(q.search)),
                         ("oldest_first", .bool(!q.newestFirst)), ("offset", .num(q.offset)), ("limit", .num(q.limit)), ("count", .bool(count))]
                        + ReadCall.shapePairs(q.shape))
        case let .review(search, offset, limit, shape):
            return .obj([("read", .string("review")), ("search", s(search)), ("offset", .num(offset)), ("limit", .num(limit))]
                        + ReadCall.shapePairs(shape))
        case let .request(id): return .obj([("read", .string("request")), ("id", .int(id))])
        case let .events(after, limit, request, since, until):
            return .obj([("read", .string("events")), ("after_seq", .int(after)), ("limit", .num(limit)), ("request", .num(request)),
                         ("since_ms", since.map { .int(Wire.millis($0)) } ?? .null), ("until_ms", until.map { .int(Wire.millis($0)) } ?? .null)])
        case let .audit(search, offset, limit, shape):
            return .obj([("read", .string("audit")), ("search", s(search)), ("offset", .num(offset)), ("limit", .num(limit))]
                        + ReadCall.shapePairs(shape))
        case let .lastEvents(count): return .obj([("read", .string("last_events")), ("count", .num(count))])
        case .status: return .obj([("read", .string("status"))])
        case .delivery: return .obj([("read", .string("delivery"))])
        case .metrics: return .obj([("read", .string("metrics"))])
        case .hosts: return .obj([("read", .string("hosts"))])
        case let .report(since): return .obj([("read", .string("report")), ("since_ms", .int(Wire.millis(since)))])
        case .subscribe: return .obj([("read", .string("subscribe"))])
        case .subscribeReview: return .obj([("read", .string("subscribe")), ("review", .bool(true))])
        }
    }
}

extension ReadCall {
    /// The wire keys of a shape: none when it is default, so a daemon that predates them reads the line as before.
    static func shapePairs(_ shape: ListShape) -> [(String, JSONValue?)] {
        var out: [(String, JSONValue?)] = []
        if let c = shape.sort { out.append(("sort", .string(c.rawValue))) }
        if shape.descending { out.append(("desc", .bool(true))) }
        if let r = shape.regex, !r.isEmpty {
            out.append(("regex", .string(r)))
            if shape.invert { out.append(("invert", .bool(true))) }
        }
        return out
    }
}

/// Everything a line to the daemon may ask: a change (the Events API), a read, a prefetch, or a ping.
public enum DaemonCall: Sendable, Equatable {
    case change(ChangeCall)
    case read(ReadCall)
    /// The options a flow's `@prefetch` handler offers for a field (answered with `options`, changes nothing).
    case prefetch(flow: String, field: String)
    /// A consistent copy of the store written by the daemon to `path` (absolute), verified, then renamed into place.
    /// Only root and members of `store_group` may ask; the file is written with the caller's file permissions.
    case backup(path: String)
    /// Records the verified prefix of the audit chain (`symtui audit verify` after a clean check): the row at `seq`
    /// must have `hash`; `hmacsChecked` says the events' signatures were checked too (a daemon that signs requires
    /// it). Same callers as `backup`; the daemon signs it with its audit key (docs/audit.md, "Checkpoints").
    case auditCheckpoint(seq: Int64, hash: String, hmacsChecked: Bool)
    /// Sends a test notification on one channel now and answers how it went (`symtui notify test`).
    case notifyTest(channel: String, to: String?)
    /// Who is on call on one schedule (or all) at a time (`symtui oncall`).
    case onCall(schedule: String?, at: String?)
    case ping

    /// Parses one line's object; the protocol version is checked here for every kind of call.
    public static func parse(_ json: JSONValue) throws -> DaemonCall {
        guard json.objectValue != nil else { throw CommandError.invalid("a call must be a JSON object") }
        try Wire.checkVersion(json)
        if json["read"] != nil { return .read(try ReadCall.parse(json)) }
        switch json["event"]?.stringValue {
        case "ping":
            for (k, _) in json.objectValue! where k != "event" && k != "v" { throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in a ping") }
            return .ping
        case "prefetch":
            for (k, _) in json.objectValue! where !["event", "v", "flow", "field"].contains(k) {
                throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in a prefetch")
            }
            guard let flow = json["flow"]?.stringValue, let field = json["field"]?.stringValue, flow.utf8.count <= 4096, field.utf8.count <= 4096 else {
                throw CommandError.invalid("a prefetch needs \"flow\" and \"field\"")
            }
            return .prefetch(flow: flow, field: field)
        case "backup":
            for (k, _) in json.objectValue! where !["event", "v", "path"].contains(k) {
                throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in a backup")
            }
            guard let path = json["path"]?.stringValue, path.hasPrefix("/"), path.utf8.count <= 4096, !path.contains("\0") else {
                throw CommandError.invalid("a backup needs \"path\", an absolute file name")
            }
            return .backup(path: path)
        case "audit_checkpoint":
            for (k, _) in json.objectValue! where !["event", "v", "seq", "hash", "hmacs_checked"].contains(k) {
                throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in an audit_checkpoint")
            }
            guard let seq = json["seq"]?.intValue, seq >= 1 else { throw CommandError.invalid("an audit_checkpoint needs \"seq\", a seq (1 or more)") }
            guard let hash = json["hash"]?.stringValue, hash.utf8.count == 64,
                  hash.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                throw CommandError.invalid("an audit_checkpoint needs \"hash\", 64 lowercase hex digits")
            }
            let checked = json["hmacs_checked"]
            guard checked == nil || checked?.boolValue != nil else { throw CommandError.invalid("\"hmacs_checked\" must be true or false") }
            return .auditCheckpoint(seq: seq, hash: hash, hmacsChecked: checked?.boolValue ?? false)
        case "oncall":
            for (k, _) in json.objectValue! where !["event", "v", "schedule", "at"].contains(k) {
                throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in an oncall call")
            }
            let schedule = json["schedule"]?.stringValue, at = json["at"]?.stringValue
            if let schedule, schedule.utf8.count > 256 { throw CommandError.invalid("schedule name too long") }
            if let at, Timestamp.parse(at) == nil { throw CommandError.invalid("--at: \"\(SafeText.display(at))\" is not an RFC 3339 time like 2026-12-07T09:00:00Z") }
            return .onCall(schedule: schedule, at: at)
        case "notify_test":
            for (k, _) in json.objectValue! where !["event", "v", "channel", "to"].contains(k) {
                throw CommandError.invalid("unknown key \"\(SafeText.display(k))\" in a notify_test")
            }
            guard let channel = json["channel"]?.stringValue, channel.utf8.count <= 256 else {
                throw CommandError.invalid("a notify_test needs \"channel\"")
            }
            let to = json["to"]?.stringValue
            if let to, !UnixName.isValid(to) { throw CommandError.invalid("--to: \"\(SafeText.display(to))\" is not a user name") }
            return .notifyTest(channel: channel, to: to)
        default: return .change(try ChangeCall.parse(json))
        }
    }

    public var json: JSONValue {
        switch self {
        case let .change(c): return c.json
        case let .read(r): return r.json
        case let .prefetch(flow, field): return .obj([("event", .string("prefetch")), ("flow", .string(flow)), ("field", .string(field))])
        case let .backup(path): return .obj([("event", .string("backup")), ("path", .string(path))])
        case let .auditCheckpoint(seq, hash, hmacsChecked):
            return .obj([("event", .string("audit_checkpoint")), ("seq", .int(seq)), ("hash", .string(hash)), ("hmacs_checked", .bool(hmacsChecked))])
        case let .onCall(schedule, at): return .obj([("event", .string("oncall")), ("schedule", .str(schedule)), ("at", .str(at))])
        case let .notifyTest(channel, to): return .obj([("event", .string("notify_test")), ("channel", .string(channel)), ("to", .str(to))])
        case .ping: return .obj([("event", .string("ping"))])
        }
    }
}

extension FieldValues {
    /// The values a `@prefetch` handler's options stand for (`{"value":…,"label":…}` or bare values), those that parse.
    public static func options(_ options: [JSONValue], for field: PromptField) -> [FieldValue] {
        options.compactMap { option in
            let o = option["value"] ?? option
            if case let .success(v) = FieldValues.parse(o.stringValue.map(FieldInput.text) ?? .json(o), as: field) { return v }
            return nil
        }
    }
}
