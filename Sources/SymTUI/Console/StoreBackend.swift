import Foundation
import SymEngine
import SymModel
import SymStore

/// The console's real backend: reads pages straight from the store (read-only) and sends every change to the daemon.
final class StoreBackend: ConsoleBackend {
    let context: CLIContext
    let config: Config
    let store: Store
    let watcher: ChangeWatcher
    let identity: ConsoleIdentity
    private let me: Identity
    private var reviewCache: (version: Int, ids: [Int64])?
    private var version = 0
    private var health: (at: Date, ok: Bool)?
    private var announcedThrough: Int64

    init(context: CLIContext) throws {
        self.context = context
        config = try context.config()
        store = try context.store()
        watcher = ChangeWatcher(store: store)
        me = context.me
        identity = ConsoleIdentity(user: me.name, groups: me.groups.sorted(), storePath: store.path)
        announcedThrough = (try? store.lastSeq()) ?? 0
    }

    /// Break-glass self-approvals by others on flows this user approves, since the last call.
    func announcements() -> [String] {
        guard let events = try? store.events(afterSeq: announcedThrough, limit: 1000), let last = events.last else { return [] }
        announcedThrough = last.seq
        return events.compactMap { e in
            guard e.type == .approve, e.data["self"]?.boolValue == true, e.actor != me.name, let flow = config.flow(named: e.flow ?? ""),
                  Policy.isEligible(me.actor, routing: flow.routing) else { return nil }
            return "⚠ break-glass: \(e.actor) approved their own request #\(e.requestId ?? 0) (\(flow.name)): \(e.reason ?? "")"
        }
    }

    func flows() throws -> [FlowSummary] {
        FlowCatalog.entries(config: config).map { e in
            var fields = e.flow.promptFields.filter(\.visible)
            for i in fields.indices where fields[i].prefetch { fields[i].allowedValues = prefetched(flow: e.flow.name, field: fields[i]) }
            return FlowSummary(name: e.flow.name, label: e.flow.label, targets: e.targets.map { TargetSummary(name: $0.name, label: $0.label) },
                        approvers: e.flow.approvers.users + e.flow.approvers.groups.map { "group:" + $0 }
                            + e.flow.approvalSteps.flatMap { s in s.approvers.users + s.approvers.groups.map { "group:" + $0 } },
                        promptFields: fields, requiredApprovals: e.flow.routing.threshold,
                        allowSelfApproval: e.flow.allowSelfApproval, maxDuration: e.flow.maxDuration,
                        headerText: e.flow.additionalHeaderText)
        }
    }

    /// A prefetch field's options from the daemon (which runs the handler), as values the form can cycle through.
    private func prefetched(flow: String, field: PromptField) -> [FieldValue]? {
        guard let reply = try? context.client().send(ClientCommand.prefetch(flow: flow, field: field.name).json),
              let options = reply["options"]?.arrayValue else { return nil }
        let values = Engine.values(fromOptions: options, for: field)
        return values.isEmpty ? nil : values
    }

    /// Ids of the requests this user may decide now, newest first; recomputed only after the store changed.
    private func reviewQueue() throws -> [Int64] {
        if let c = reviewCache, c.version == version { return c.ids }
        let ids = try ReviewQueue.ids(store: store, config: config, me: me)
        reviewCache = (version, ids)
        return ids
    }

    func page(_ view: ConsoleView, filter: String, offset: Int, limit: Int) throws -> ConsolePage {
        let search = filter.isEmpty ? nil : filter
        switch view {
        case .review:
            var ids = try reviewQueue()
            if let search { ids = try ReviewQueue.filter(ids, store: store, search: search) }
            return ConsolePage(offset: offset, total: ids.count, rows: .requests(try ReviewQueue.page(ids, store: store, offset: offset, limit: limit)))
        case .mine, .grants, .request:
            var q = RequestQuery(limit: limit, offset: offset)
            q.search = search
            if view == .mine { q.requester = me.name } else { q.states = [.active, .escalating, .deescalating] }
            return ConsolePage(offset: offset, total: try store.count(q), rows: .requests(try store.requests(q)))
        case .audit:
            return ConsolePage(offset: offset, total: try store.countEvents(search: search),
                               rows: .events(try store.eventsNewestFirst(offset: offset, limit: limit, search: search)))
        }
    }

    func reviewCount() throws -> Int { try reviewQueue().count }

    func daemonHealthy() -> Bool {
        if let h = health, Date().timeIntervalSince(h.at) < 2 { return h.ok }
        var ok = false
        if let path = try? context.socketPath(), let c = try? connectUnixSocket(path) {
            let client = DaemonClient(connection: c)
            ok = (try? client.send(ClientCommand.ping.json))?["ok"]?.boolValue == true
        }
        health = (Date(), ok)
        return ok
    }

    var changeDescriptor: Int32? { watcher.pollDescriptor }

    /// "⚠ audit: 120 undelivered, oldest 42s" when a destination is more than a few seconds behind.
    func reportingNote() -> String? {
        guard !config.reporting.destinations.isEmpty, let status = try? deliveryStatus(store: store, config: config) else { return nil }
        let behind = status.filter { $0.backlog > 0 && ($0.lagSeconds ?? 0) >= 5 }
        guard !behind.isEmpty else { return nil }
        let oldest = Int(behind.compactMap(\.lagSeconds).max() ?? 0)
        return "⚠ audit: \(behind.reduce(0) { $0 + $1.backlog }) undelivered, oldest \(TimeSpan.countdown(oldest))"
    }

    func waitForChange(timeoutMs: Int) -> Bool {
        let changed = timeoutMs == 0 ? watcher.changed() : watcher.wait(timeoutMs: timeoutMs)
        if changed { version += 1 }
        return changed
    }

    func send(_ action: ConsoleAction) -> ActionResult {
        let command: ClientCommand
        switch action {
        case let .submit(flow, target, fields):
            command = .request(flow: flow, target: target, fields: fields.mapValues { $0.consoleJSON }, duration: nil, reason: nil)
        case let .approve(id, reason): command = .approve(id: id, reason: reason)
        case let .deny(id, reason): command = .deny(id: id, reason: reason)
        case let .cancel(id): command = .cancel(id: id)
        case let .release(id): command = .release(id: id)
        case let .revoke(id, reason): command = .revoke(id: id, reason: reason)
        case let .extend(id, duration, reason): command = .extend(id: id, duration: duration.description, reason: reason)
        }
        do {
            let reply = try context.client().send(command.json)
            guard let r = try DaemonClient.request(from: reply) else { return .ok("done") }
            let id = r["id"]?.intValue ?? 0
            let state = r["state"]?.stringValue ?? "?"
            if case .submit = action { return .ok("request \(id) sent (\(state))") }
            return .ok("request \(id): \(state)")
        } catch let e as CommandError {
            return .refused(e.message)
        } catch {
            return .refused("\(error)")
        }
    }
}

extension FieldValue {
    /// The Events API form of a value typed in the console form (the daemon re-validates it).
    var consoleJSON: JSONValue {
        switch self {
        case .duration, .string, .user: return .string(description)
        default: return json
        }
    }
}
