import Foundation
import SymModel
import SymProtocol
import SymStore
#if canImport(Glibc)
import Glibc
#endif

/// Queuing notifications: in the transaction of the change that causes them, with one `notify` event each.
extension Engine {
    /// Queues what the change `before` → `after` (with its `events`) tells people. Caller holds the lock and `tx`.
    func queueNotices(before: AccessRequest?, after: AccessRequest, events: [EventDraft], tx: any StoreWriting, at t: Date) throws {
        let config = self.config
        let settings = config.notifications
        guard !settings.channels.isEmpty, let flow = config.flow(named: after.flow) else { return }
        let channels = settings.channels(for: flow)
        guard !channels.isEmpty else { return }
        var usage: String?
        if let s = flow.strategy.flatMap(config.strategy(named:)), let tn = after.target, let target = s.target(named: tn) {
            usage = Notices.usage(type: s.type, settings: s.settings.merging(target.settings) { $1 })
        }
        for notice in Notices.caused(before: before, after: after, events: events, usage: usage) {
            try queue(notice, dedup: "", request: after, flow: flow, channels: channels, tx: tx, at: t)
        }
    }

    /// Queues one notice on every channel (and recipient) with its `notify` event; nothing when it was queued before.
    @discardableResult
    func queue(_ notice: NoticeDraft, dedup: String, request r: AccessRequest, flow: Flow, channels: [Channel],
               tx: any StoreWriting, at t: Date) throws -> Bool {
        let recipients = self.recipients(notice.audience, of: r, flow: flow)
        var items: [OutboxItem] = []
        for channel in channels {
            for who in channel.isPerRecipient ? recipients : [""] {
                let payload = NotificationPayload.json(notice, request: r, recipients: recipients, channel: channel.name,
                                                       recipient: who.isEmpty ? nil : who, at: t)
                items.append(OutboxItem(requestId: r.id, kind: notice.kind.rawValue, dedup: dedup, channel: channel.name,
                                        recipient: who, payload: payload.compact, createdAt: t,
                                        nextAttemptAt: Date(timeIntervalSince1970: 0)))  // due at once, whatever the clock
            }
        }
        guard try tx.enqueue(all: items) > 0 else { return false }
        try tx.append(EventDraft(.notify, for: r, actor: "system", data: .obj([
            ("kind", .string(notice.kind.rawValue)),
            ("recipients", .array(recipients.map(JSONValue.string))),
            ("channels", .array(channels.map { .string($0.name) })),
        ])), at: t)
        return true
    }

    /// Forwards pending requests that reached an escalation tier: the tier's approvers join the request's routing (so
    /// decisions and the review queue follow at once), a `request_forward` event records it, and they are told
    /// (`forward`). Runs whether or not any channel is configured. Returns how many tiers were reached.
    func forwardDue(config: Config, at t: Date, onCall: [String: [String]]) throws -> Int {
        var reached = 0
        var marks: [String] = []
        for flow in config.flows where !flow.escalation.isEmpty {
            // Only the requests that reached a tier's age since the last sweep (all, on the first): one window per tier.
            var ids = Set<Int64>()
            var pending: [AccessRequest] = []
            for tier in flow.escalation {
                let mark = NoticeSweepMarks.key("forward", flow: flow.name, age: tier.after.seconds, every: nil)
                marks.append(mark)
                let found = try pendingReachingAge(PendingAgeQuery(flow: flow.name, age: tier.after.seconds,
                                                                   since: noticeMarks.since(mark, now: t), now: t))
                for r in found where ids.insert(r.id).inserted { pending.append(r) }
            }
            pending.sort { $0.id < $1.id }
            for r in pending {
                reached += try store.write { tx -> Int in
                    // Read again in the transaction: decided meanwhile, or forwarded by an earlier pass, it is left alone.
                    guard var current = try tx.request(id: r.id), current.state == .pending else { return 0 }
                    let forwarded = try tx.events(requestId: r.id).filter { $0.type == EventType.requestForward }.count
                    let due = Notices.tiersDue(current, flow: flow, forwarded: forwarded, now: t)
                    for (index, configured) in due {
                        var tier = configured
                        tier.approvers = configured.approvers.resolvingOnCall { onCall[$0] ?? [] }
                        let routing = Notices.forwarded(current.routing ?? flow.routing, to: tier)
                        try tx.updateRouting(current.id, routing)
                        current.routing = routing
                        try tx.append(EventDraft(.requestForward, for: current, actor: "system", data: .obj([
                            ("tier", .int(Int64(index + 1))), ("after", .string(tier.after.description)),
                            ("approvers", Routing(approvers: tier.approvers).json), ("routing", routing.json),
                        ])), at: t)
                        let channels = (tier.notify ?? flow.notify ?? config.notifications.defaultChannels)
                            .compactMap(config.notifications.channel(named:))
                        if !channels.isEmpty {
                            try queue(Notices.forward(current, tier: tier, index: index), dedup: "\(index + 1)", request: current,
                                      flow: flow, channels: channels, tx: tx, at: t)
                        }
                    }
                    return due.count
                }
            }
        }
        noticeMarks.advance(marks, to: t)
        if reached > 0 { onChange?(.now) }
        return reached
    }

    /// Every pending request `q` matches, page by page (a keyset cursor: each page costs what it returns).
    func pendingReachingAge(_ q: PendingAgeQuery) throws -> [AccessRequest] {
        var q = q
        var out: [AccessRequest] = []
        while true {
            let page = try store.read { try $0.pendingReachingAge(q) }
            out += page
            guard page.count == q.limit, let last = page.last else { return out }
            q.afterID = last.id
        }
    }

    /// Queues what has come due with time: escalation tiers reached, reminders of pending requests (flow key
    /// `reminder`) and the warning before a grant ends (`expiry_warning`). Reads first; writes only when something is
    /// new. Returns how many notices were queued.
    @discardableResult
    public func queueDueNotices() throws -> Int {
        let config = self.config
        let t = now()
        // Schedules the tiers name are asked before any store work (a command schedule may take seconds).
        let named = Set(config.flows.flatMap { $0.escalation.flatMap(\.approvers.oncall) })
        let onCall = Dictionary(uniqueKeysWithValues: named.map { ($0, onCallCached($0)) })
        _ = try forwardDue(config: config, at: t, onCall: onCall)
        guard !config.notifications.channels.isEmpty else { return 0 }
        var marks: [String] = []
        let due: [(NoticeDraft, String, Int64, Flow)] = try store.read { store in
            var due: [(NoticeDraft, String, Int64, Flow)] = []
            for flow in config.flows where !config.notifications.channels(for: flow).isEmpty {
                guard let every = flow.reminder?.seconds, every > 0 else { continue }
                let mark = NoticeSweepMarks.key("reminder", flow: flow.name, age: every, every: every)
                marks.append(mark)
                // Only the requests whose next reminder came due since the last sweep (all that have one, on the first).
                var q = PendingAgeQuery(flow: flow.name, age: every, every: every, since: noticeMarks.since(mark, now: t), now: t)
                var pending: [AccessRequest] = []
                while true {
                    let page = try store.pendingReachingAge(q)
                    pending += page
                    guard page.count == q.limit, let last = page.last else { break }
                    q.afterID = last.id
                }
                for r in pending {
                    for (n, key) in Notices.due(r, flow: flow, now: t) where !(try store.hasNotification(requestId: r.id, kind: n.kind.rawValue, dedup: key)) {
                        due.append((n, key, r.id, flow))
                    }
                }
            }
            // Grants ending within their flow's warning that were not warned for this expiry yet, page by page: what
            // was warned drops out of the query, so no grant waits behind others already told.
            for flow in config.flows where flow.expiryWarning.seconds > 0 && !config.notifications.channels(for: flow).isEmpty {
                var q = EndingQuery(flow: flow.name, warning: flow.expiryWarning.seconds, now: t)
                while true {
                    let page = try store.activeEndingUnwarned(q)
                    for r in page {
                        for (n, key) in Notices.due(r, flow: flow, now: t) where !(try store.hasNotification(requestId: r.id, kind: n.kind.rawValue, dedup: key)) {
                            due.append((n, key, r.id, flow))
                        }
                    }
                    guard page.count == q.limit, let last = page.last else { break }
                    q.afterID = last.id
                }
            }
            return due
        }
        guard !due.isEmpty else { noticeMarks.advance(marks, to: t); return 0 }
        defer { noticeMarks.advance(marks, to: t) }   // not reached when the write throws: the next sweep looks again
        return try store.write { tx in
            var count = 0
            for (n, key, id, flow) in due {
                // Still as it was when found (not decided or ended meanwhile)?
                guard let r = try tx.request(id: id), Notices.due(r, flow: flow, now: t).contains(where: { $0.0.kind == n.kind && $0.1 == key })
                else { continue }
                if try queue(n, dedup: key, request: r, flow: flow, channels: config.notifications.channels(for: flow), tx: tx, at: t) { count += 1 }
            }
            return count
        }
    }

    /// The people a notice is for: the requester, or the approvers it names (group members looked up now), never
    /// the requester among the approvers.
    func recipients(_ audience: Audience, of r: AccessRequest, flow: Flow) -> [String] {
        switch audience {
        case .requester: return [r.requester]
        case let .people(who):
            var people = Set(who.users)
            for g in who.groups { people.formUnion(GroupMembers.of(g)) }
            people.remove(r.requester)
            return people.sorted()
        case let .approvers(excluding):
            let routing = r.routing ?? flow.routing
            let lists = routing.steps.isEmpty ? [routing.approvers] : routing.steps.map(\.approvers)
            var people = Set<String>()
            for a in lists {
                people.formUnion(a.users)
                for g in a.groups { people.formUnion(GroupMembers.of(g)) }
            }
            people.remove(r.requester)
            people.subtract(excluding)
            return people.sorted()
        }
    }
}

/// Members of a Unix group: its member list and the users whose primary group it is.
enum GroupMembers {
    static func of(_ name: String) -> [String] {
        var result: [String] = []
        var gr = group()
        var buf = [CChar](repeating: 0, count: 1 << 16)
        var out: UnsafeMutablePointer<group>?
        guard getgrnam_r(name, &gr, &buf, buf.count, &out) == 0, out != nil else { return [] }
        let gid = gr.gr_gid
        if var p = gr.gr_mem {
            while let m = p.pointee { result.append(String(cString: m)); p += 1 }
        }
        // Users whose primary group it is are not listed in gr_mem.
        if let f = fopen("/etc/passwd", "re") {
            defer { fclose(f) }
            var pw = passwd()
            var pbuf = [CChar](repeating: 0, count: 1 << 14)
            var pout: UnsafeMutablePointer<passwd>?
            while fgetpwent_r(f, &pw, &pbuf, pbuf.count, &pout) == 0, pout != nil {
                if pw.pw_gid == gid { result.append(String(cString: pw.pw_name)) }
            }
        }
        return Array(Set(result)).sorted()
    }
}

/// The notification JSON a `command` or `json` channel receives.
public enum NotificationPayload {
    public static func json(_ n: NoticeDraft, request r: AccessRequest, recipients: [String], channel: String,
                            recipient: String?, at t: Date) -> JSONValue {
        .obj([
            ("kind", .string(n.kind.rawValue)),
            ("text", .string(n.text)),
            ("action", .str(n.action)),
            ("outcome", .str(n.outcome)),
            ("time", .string(Timestamp.format(t))),
            ("channel", .string(channel)),
            ("recipient", .str(recipient)),
            ("recipients", .array(recipients.map(JSONValue.string))),
            ("request", .obj([
                ("id", .int(r.id)), ("flow", .string(r.flow)), ("target", .str(r.target)), ("target_label", .str(r.targetLabel)),
                ("requester", .string(r.requester)), ("state", .string(r.state.rawValue)), ("end_reason", .str(r.endReason?.rawValue)),
                ("reason", { if case let .string(s)? = r.fields["reason"] { return .string(s) }; return .null }()),
                ("access_expires_at", r.accessExpiresAt.map { .string(Timestamp.format($0)) } ?? .null),
            ])),
        ])
    }
}

extension Engine {
    /// `symtui notify test`: one test notification on `channel`, delivered now on the caller's connection (never
    /// through the outbox, so it neither waits behind nor delays real ones). Anyone may test a channel on themselves;
    /// only root may name another recipient.
    public func notifyTest(channel name: String, to: String?, by caller: Identity) -> Result<[(String, JSONValue)], CommandError> {
        let settings = config.notifications
        guard let channel = settings.channel(named: name) else {
            let known = settings.channels.map(\.name)
            return .failure(.invalid("no notification channel \"\(SafeText.display(name))\""
                                     + (known.isEmpty ? ": notifications.channels defines none" : " (channels: \(known.joined(separator: ", ")))")))
        }
        let recipient = to ?? caller.name
        if recipient != caller.name && caller.uid != 0 {
            return .failure(.notAllowed("only root may send a test notification to someone else (--to \(SafeText.display(recipient)))"))
        }
        guard Identity.userExists(recipient) else { return .failure(.invalid("--to: no user \"\(SafeText.display(recipient))\"")) }
        let t = now()
        let notice = NoticeDraft(kind: .request, audience: .requester,
                                 text: "test notification from symtui on channel \(channel.name), asked by \(caller.name)",
                                 action: "symtui notify test \(channel.name)")
        let request = AccessRequest(flow: "notify-test", target: nil, targetLabel: nil, requester: caller.name, createdAt: t, requestExpiresAt: t)
        var payload = NotificationPayload.json(notice, request: request, recipients: [recipient], channel: channel.name,
                                               recipient: channel.isPerRecipient ? recipient : nil, at: t)
        if case var .object(pairs) = payload, let i = pairs.firstIndex(where: { $0.0 == "kind" }) {
            pairs[i].1 = .string("test"); payload = .object(pairs)
        }
        let item = OutboxItem(requestId: nil, kind: "test", channel: channel.name, recipient: channel.isPerRecipient ? recipient : "",
                              payload: payload.compact, createdAt: t)
        do {
            switch try NotificationSenders.make(channel, settings: settings).deliver(item, notification: payload) {
            case .delivered:
                return .success([("channel", .string(channel.name)), ("to", .string(recipient)), ("delivered", .bool(true)), ("note", .null)])
            case let .skipped(why):
                return .success([("channel", .string(channel.name)), ("to", .string(recipient)), ("delivered", .bool(false)),
                                 ("note", .string(why))])
            }
        } catch {
            return .failure(CommandError(ExitCode.unavailable, "channel \(channel.name): \(error)"))
        }
    }
}

/// Where each notice sweep got to: the time of the last sweep that finished, per kind, flow and threshold, so that the
/// next one asks only for the requests that crossed a threshold since. Kept in memory: after a restart the first
/// sweep looks at every pending request once, and what was queued before is not queued again (dedup keys).
final class NoticeSweepMarks: @unchecked Sendable {
    private let lock = NSLock()
    private var marks: [String: Date] = [:]

    static func key(_ kind: String, flow: String, age: Int, every: Int?) -> String {
        [kind, flow, String(age), every.map(String.init) ?? "-"].joined(separator: "\u{0}")
    }

    /// The last sweep's time for `key`; nil when there was none, or when the clock went back past it.
    func since(_ key: String, now: Date) -> Date? {
        lock.withLock { marks[key].flatMap { $0 <= now ? $0 : nil } }
    }

    /// Records a finished sweep at `t` (marks of thresholds no longer configured are dropped).
    func advance(_ keys: [String], to t: Date) {
        lock.withLock { for k in keys { marks[k] = t } }
    }
}
