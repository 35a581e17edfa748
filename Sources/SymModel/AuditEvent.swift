import Foundation

/// Audit event types (contract §7), exact strings.
public enum EventType: String, Sendable, CaseIterable {
    case request, approve, deny, cancel
    case requestExpire = "request_expire"
    case escalate
    case escalateFailed = "escalate_failed"
    case deescalate
    case deescalateFailed = "deescalate_failed"
    case revoke, release, extend, handler
    /// One per notification queued: its kind, recipients and channels.
    case notify
    /// A pending request reached an escalation tier: that tier's approvers may decide it too (actor `system`).
    case requestForward = "request_forward"
}

/// An event before the store gives it its place in the chain.
public struct EventDraft: Sendable, Equatable {
    public var type: EventType
    public var requestId: Int64?
    public var flow: String?
    public var target: String?
    public var requester: String?
    /// A user name, `rule:NAME`, `handler:NAME` or `system`.
    public var actor: String
    public var reason: String?
    public var data: JSONValue

    public init(type: EventType, requestId: Int64?, flow: String?, target: String?, requester: String?, actor: String,
                reason: String? = nil, data: JSONValue = .object([])) {
        self.type = type; self.requestId = requestId; self.flow = flow; self.target = target
        self.requester = requester; self.actor = actor; self.reason = reason; self.data = data
    }

    /// A draft about `request`, carrying its requester and target as every event must.
    public init(_ type: EventType, for request: AccessRequest, actor: String, reason: String? = nil, data: JSONValue = .object([])) {
        self.init(type: type, requestId: request.id, flow: request.flow, target: request.target, requester: request.requester,
                  actor: actor, reason: reason, data: data)
    }
}

/// One audit record, chained to the one before it.
public struct AuditEvent: Sendable, Equatable {
    public var seq: Int64
    public var id: String
    public var time: Date
    public var type: EventType
    public var requestId: Int64?
    public var flow: String?
    public var target: String?
    public var requester: String?
    public var actor: String
    public var reason: String?
    public var data: JSONValue
    public var prevHash: String
    public var hash: String
    /// HMAC-SHA-256 of `hash` with the daemon's key (`reporting.hmac_key_file`); nil when the store is not signed.
    public var hmac: String?

    public init(seq: Int64, id: String, time: Date, draft: EventDraft, prevHash: String, hash: String = "") {
        self.seq = seq; self.id = id; self.time = time; self.type = draft.type; self.requestId = draft.requestId
        self.flow = draft.flow; self.target = draft.target; self.requester = draft.requester; self.actor = draft.actor
        self.reason = draft.reason; self.data = draft.data; self.prevHash = prevHash; self.hash = hash
    }

    /// Every field but `hash`: the object whose canonical JSON is hashed.
    public var unhashedJSON: JSONValue {
        .obj([
            ("seq", .int(seq)), ("id", .string(id)), ("time", .string(Timestamp.format(time))),
            ("type", .string(type.rawValue)), ("request_id", .num(requestId)), ("flow", .str(flow)),
            ("target", .str(target)), ("requester", .str(requester)), ("actor", .string(actor)),
            ("reason", .str(reason)), ("data", data), ("prev_hash", .string(prevHash)),
        ])
    }

    /// The event as the JSON of contract §7.
    public var json: JSONValue {
        guard case var .object(pairs) = unhashedJSON else { return .null }
        pairs.append(("hash", .string(hash)))
        if let hmac { pairs.append(("hmac", .string(hmac))) }
        return .object(pairs)
    }

    /// SHA-256 (hex) over `prev_hash` and the canonical JSON of the event without its hash.
    public var computedHash: String { computedHash(dataCanonical: data.canonical) }

    /// The same, with `data`'s canonical JSON already made (a store that writes that text too makes it once).
    public func computedHash(dataCanonical: String) -> String {
        AuditEvent.hash(seq: seq, id: id, time: Timestamp.format(time), type: type.rawValue, requestId: requestId, flow: flow,
                        target: target, requester: requester, actor: actor, reason: reason, dataCanonical: dataCanonical,
                        prevHash: prevHash)
    }

    /// The chain hash from an event's stored columns, with `data` as its canonical JSON text (as the store
    /// keeps it), so that a verifier need not parse it. Equal to SHA-256 over `prev_hash`, a newline and the
    /// canonical JSON of `unhashedJSON` (keys in byte order: actor, data, flow, id, prev_hash, reason,
    /// request_id, requester, seq, target, time, type).
    public static func hash(seq: Int64, id: String, time: String, type: String, requestId: Int64?, flow: String?, target: String?,
                            requester: String?, actor: String, reason: String?, dataCanonical: String, prevHash: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256 + dataCanonical.utf8.count)
        out += prevHash.utf8
        out.append(0x0A)
        func key(_ k: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out += UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount)
            out += [UInt8(ascii: "\""), UInt8(ascii: ":")]
        }
        func string(_ s: String?) {
            if let s { JSONValue.writeString(s, into: &out) } else { out += "null".utf8 }
        }
        out.append(UInt8(ascii: "{"))
        key("actor", first: true); string(actor)
        key("data"); out += dataCanonical.utf8
        key("flow"); string(flow)
        key("id"); string(id)
        key("prev_hash"); string(prevHash)
        key("reason"); string(reason)
        key("request_id"); if let requestId { out += String(requestId).utf8 } else { out += "null".utf8 }
        key("requester"); string(requester)
        key("seq"); out += String(seq).utf8
        key("target"); string(target)
        key("time"); string(time)
        key("type"); string(type)
        out.append(UInt8(ascii: "}"))
        return SHA256.hex(out)
    }

    /// The `prev_hash` of the first event.
    public static let genesisHash = String(repeating: "0", count: 64)
}
