import Foundation
import SymModel

/// The protocol version spoken on the daemon's socket. A line is `{"v":1, …}`; the answer is
/// `{"v":1,"ok":true,…}` or `{"v":1,"ok":false,"exit":N,"error":"…"}`. See docs/protocol.md.
public let protocolVersion: Int64 = 1

/// Framing shared by the daemon and its clients: the version check, replies, and how requests and events travel.
public enum Wire {
    /// Refuses a line that names another protocol version: the one place it is checked, always exit 65.
    public static func checkVersion(_ json: JSONValue) throws {
        if let v = json["v"], v.intValue != protocolVersion {
            throw CommandError.invalid("\"v\": protocol version \(SafeText.display(v.compact)) is not spoken here (this symtui speaks \(protocolVersion))")
        }
    }

    /// A successful answer carrying `pairs`.
    public static func ok(_ pairs: [(String, JSONValue?)] = []) -> String {
        JSONValue.obj([("v", .int(protocolVersion)), ("ok", .bool(true))] + pairs).compact
    }

    /// A refusal with its exit code.
    public static func failure(_ error: CommandError) -> String {
        JSONValue.obj([("v", .int(protocolVersion)), ("ok", .bool(false)), ("exit", .int(Int64(error.code))),
                       ("error", .string(error.message))]).compact
    }

    /// The refusal an answer carries, or nil when it succeeded.
    public static func refusal(in reply: JSONValue) -> CommandError? {
        if reply["ok"]?.boolValue == true { return nil }
        return CommandError(Int32(reply["exit"]?.intValue ?? Int64(ExitCode.software)), reply["error"]?.stringValue ?? "the daemon refused")
    }

    /// The push a subscriber gets after every commit: `{"v":1,"changed":true}`.
    public static let changedLine = JSONValue.obj([("v", .int(protocolVersion)), ("changed", .bool(true))]).compact

    // MARK: requests and events

    /// A request as it travels to a client: its public JSON plus the typed fields and routing a console needs.
    /// Step output never leaves the daemon (a strategy may print secrets).
    public static func encode(_ r: AccessRequest) -> JSONValue {
        guard case var .object(pairs) = r.json else { return .null }
        pairs.append(("typed_fields", .object(r.fields.keys.sorted().map { k in
            (k, .obj([("type", .string(r.fields[k]!.typeName)), ("value", r.fields[k]!.json)]))
        })))
        pairs.append(("times_ms", .obj([
            ("created_at", .int(millis(r.createdAt))), ("request_expires_at", .int(millis(r.requestExpiresAt))),
            ("decided_at", .num(r.decidedAt.map(millis))), ("access_starts_at", .num(r.accessStartsAt.map(millis))),
            ("access_expires_at", .num(r.accessExpiresAt.map(millis))), ("ended_at", .num(r.endedAt.map(millis))),
            ("denied_at", .num(r.denial.map { millis($0.at) })),
            ("approvals", .array(r.approvals.map { .int(millis($0.at)) })),
        ])))
        if let routing = r.routing { pairs.append(("routing", routing.json)) }
        return .object(pairs)
    }

    /// The request a client received (nil when the object is not one).
    public static func decodeRequest(_ j: JSONValue) -> AccessRequest? {
        guard let id = j["id"]?.intValue, let flow = j["flow"]?.stringValue, let requester = j["requester"]?.stringValue,
              let state = j["state"]?.stringValue.flatMap(RequestState.init(rawValue:)), let t = j["times_ms"] else { return nil }
        func time(_ key: String) -> Date? { t[key]?.intValue.map { Wire.date(millis: $0) } }
        var fields: [String: FieldValue] = [:]
        for (k, v) in j["typed_fields"]?.objectValue ?? [] {
            if let type = v["type"]?.stringValue.flatMap(FieldType.init(rawValue:)), let value = v["value"],
               let fv = FieldValue(type: type, json: value) { fields[k] = fv }
        }
        var r = AccessRequest(id: id, flow: flow, target: j["target"]?.stringValue, targetLabel: j["target_label"]?.stringValue,
                              requester: requester, state: state, fields: fields,
                              durationSeconds: j["duration_seconds"]?.intValue.map(Int.init),
                              createdAt: time("created_at") ?? Date(timeIntervalSince1970: 0),
                              requestExpiresAt: time("request_expires_at") ?? Date(timeIntervalSince1970: 0),
                              requiredApprovals: Int(j["required_approvals"]?.intValue ?? 1), extends: j["extends"]?.intValue)
        r.endReason = j["end_reason"]?.stringValue.flatMap(EndReason.init(rawValue:))
        r.decidedAt = time("decided_at")
        r.accessStartsAt = time("access_starts_at")
        r.accessExpiresAt = time("access_expires_at")
        r.endedAt = time("ended_at")
        let approvalTimes = t["approvals"]?.arrayValue ?? []
        r.approvals = (j["approvals"]?.arrayValue ?? []).enumerated().map { i, a in
            Approval(user: a["user"]?.stringValue ?? "", at: approvalTimes.count > i ? Wire.date(millis: approvalTimes[i].intValue ?? 0) : Date(),
                     reason: a["reason"]?.stringValue, isSelf: a["self"]?.boolValue ?? false, step: a["step"]?.stringValue)
        }
        if let d = j["denial"], d.objectValue != nil {
            r.denial = Denial(user: d["user"]?.stringValue ?? "", at: time("denied_at") ?? Date(), reason: d["reason"]?.stringValue ?? "")
        }
        r.stuck = j["stuck"]?.boolValue ?? false
        r.error = j["error"]?.stringValue
        r.routing = j["routing"].flatMap(Routing.init(json:))
        r.host = j["host"]?.stringValue
        return r
    }

    /// An audit event as it travels: its public JSON plus its time in milliseconds.
    public static func encode(_ e: AuditEvent) -> JSONValue {
        guard case var .object(pairs) = e.json else { return .null }
        pairs.append(("time_ms", .int(millis(e.time))))
        return .object(pairs)
    }

    public static func decodeEvent(_ j: JSONValue) -> AuditEvent? {
        guard let seq = j["seq"]?.intValue, let type = j["type"]?.stringValue.flatMap(EventType.init(rawValue:)),
              let ms = j["time_ms"]?.intValue else { return nil }
        let draft = EventDraft(type: type, requestId: j["request_id"]?.intValue, flow: j["flow"]?.stringValue, target: j["target"]?.stringValue,
                               requester: j["requester"]?.stringValue, actor: j["actor"]?.stringValue ?? "", reason: j["reason"]?.stringValue,
                               data: j["data"] ?? .object([]))
        var e = AuditEvent(seq: seq, id: j["id"]?.stringValue ?? "", time: date(millis: ms), draft: draft,
                           prevHash: j["prev_hash"]?.stringValue ?? "", hash: j["hash"]?.stringValue ?? "")
        e.hmac = j["hmac"]?.stringValue
        return e
    }

    /// Milliseconds since the epoch, as the store keeps times.
    public static func millis(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
    public static func date(millis ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
}
