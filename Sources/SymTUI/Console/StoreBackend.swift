import Foundation
import SymModel
import SymProtocol
import SymStore

/// The console's real backend: reads through the daemon (which alone opens the store) with its change feed, and
/// sends every change to it. When the daemon is gone it says so, and a user who may read the file (root,
/// `store_group`) still sees the store read-only until the daemon is back.
final class StoreBackend: ConsoleBackend {
    let context: CLIContext
    let config: Config
    let identity: ConsoleIdentity
    private let me: Identity
    private var reader: any StoreReader
    private var health: (at: Date, ok: Bool)?
    private var announcedThrough: Int64
    /// Set when the daemon came back: the next wait reports a change, so every view is read again.
    private var recovered = false
    /// A change line (or a reconnection) came since the last look for announcements: only then can there be new
    /// events to announce, so an idle console sends no read for them.
    private var unseenCommits = true
    /// A wallboard (`--readonly`): no change and no prefetch is ever sent; only reads (and pings).
    var readOnly = false
    /// What the console was given since the last change it was told about (see ShownPages).
    private var shown = ShownPages()

    init(context: CLIContext) throws {
        self.context = context
        config = try context.config()
        me = context.me
        // A console opened while the daemon is down says so and waits for it, rather than refusing to start.
        do { reader = try context.reader() } catch let e as CommandError where e.code == ExitCode.unavailable {
            reader = UnavailableReader(reason: e.message)
        }
        (reader as? DaemonReader)?.reviewFeed = true
        identity = ConsoleIdentity(user: me.name, groups: me.groups.sorted(), storePath: PostgresStore.redacted(try context.storePath()))
        announcedThrough = (try? reader.lastEvents(1).last?.seq) ?? 0
    }

    /// Runs a read; when the daemon went away, finds the next best reader (the daemon again, or the file) once.
    private func read<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        do { return try body(reader) } catch let e as CommandError where e.code == ExitCode.unavailable {
            // The daemon answered: its store is down (PostgreSQL restarting). Another reader would not help.
            if e.message.contains("store unavailable") { throw e }
            guard let next = reconnect() else {
                reader = UnavailableReader(reason: e.message)
                throw CommandError(ExitCode.unavailable, "daemon unavailable: \(e.message.replacingOccurrences(of: "daemon unavailable: ", with: ""))")
            }
            reader = next
            recovered = true   // every view is read again from the new source
            return try body(next)
        }
    }

    private func reconnect() -> (any StoreReader)? {
        let socket = (try? context.socketPath()) ?? ""
        if let client = DaemonClient.connectIfRunning(socketPath: socket) {
            let daemon = DaemonReader(client: client, socketPath: socket)
            daemon.reviewFeed = true
            return daemon
        }
        guard let path = try? context.storePath(), access(path, R_OK) == 0, let store = try? Store.openReadOnly(path: path) else { return nil }
        return DirectReader(store: store, config: config, actor: me.actor)
    }

    /// Break-glass self-approvals by others on flows this user approves, since the last call.
    func announcements() -> [String] {
        guard unseenCommits, let events = try? read({ try $0.events(afterSeq: announcedThrough, limit: 1000, filter: AuditFilter()) })
        else { return [] }
        // A page of 1,000 may not be all: look again next time.
        unseenCommits = events.count >= 1000
        guard let last = events.last else { return [] }
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
            for i in fields.indices where fields[i].prefetch && !readOnly { fields[i].allowedValues = prefetched(flow: e.flow.name, field: fields[i]) }
            var summary = FlowSummary(name: e.flow.name, label: e.flow.label, targets: e.targets.map { TargetSummary(name: $0.name, label: $0.label) },
                        approvers: e.flow.approvers.users + e.flow.approvers.groups.map { "group:" + $0 }
                            + e.flow.approvalSteps.flatMap { s in s.approvers.users + s.approvers.groups.map { "group:" + $0 } },
                        promptFields: fields, requiredApprovals: e.flow.routing.threshold,
                        allowSelfApproval: e.flow.allowSelfApproval, maxDuration: e.flow.maxDuration,
                        headerText: e.flow.additionalHeaderText)
            summary.limits = config.limits
            return summary
        }
    }

    /// A prefetch field's options from the daemon (which runs the handler), as values the form can cycle through.
    private func prefetched(flow: String, field: PromptField) -> [FieldValue]? {
        guard let reply = try? context.client().send(.prefetch(flow: flow, field: field.name)),
              let options = reply["options"]?.arrayValue else { return nil }
        let values = FieldValues.options(options, for: field)
        return values.isEmpty ? nil : values
    }

    func page(_ view: ConsoleView, filter: String, offset: Int, limit: Int) throws -> ConsolePage {
        try page(view, filter: filter, shape: ListShape(), offset: offset, limit: limit)
    }

    /// Sorting and regex matching are done by the daemon before paging (see docs/console.md).
    func page(_ view: ConsoleView, filter: String, shape: ListShape, offset: Int, limit: Int) throws -> ConsolePage {
        let search = filter.isEmpty ? nil : filter
        switch view {
        case .review:
            let rows: [AccessRequest], total: Int
            do { (rows, total) = try read { try $0.review(search: search, offset: offset, limit: limit, shape: shape) } } catch {
                shown.showedOther()   // what failed is read again after the next change
                throw error
            }
            // A sorted or regex-filtered window is not the head of the queue: it is read again after every change.
            if shape == ListShape() {
                shown.showedReview(filter: filter, offset: offset, limit: limit, ids: rows.map(\.id), total: total)
            } else {
                shown.showedOther()
            }
            return ConsolePage(offset: offset, total: total, rows: .requests(rows))
        case .mine, .grants, .request:
            shown.showedOther()
            var q = RequestQuery(limit: limit, offset: offset)
            q.search = search
            q.shape = shape
            if view == .mine { q.requester = me.name } else { q.states = [.active, .escalating, .deescalating] }
            let (rows, total) = try read { try $0.requestsWithTotal(q) }
            return ConsolePage(offset: offset, total: total, rows: .requests(rows))
        case .audit:
            shown.showedOther()
            let (rows, total) = try read { try $0.audit(search: search, offset: offset, limit: limit, shape: shape) }
            return ConsolePage(offset: offset, total: total, rows: .events(rows))
        case .stats:
            return ConsolePage(offset: 0, total: 0, rows: .requests([]))   // not a list: its figures come from `report`
        }
    }

    func daemonHealthy() -> Bool {
        if let h = health, Date().timeIntervalSince(h.at) < 2 { return h.ok }
        var ok = false
        if let path = try? context.socketPath(), let client = DaemonClient.connectIfRunning(socketPath: path, timeout: 2) {
            ok = (try? client.send(.ping))?["ok"]?.boolValue == true
        }
        health = (Date(), ok)
        // The daemon is back: read through it again (and the console refreshes on the next change).
        if ok, reader is DirectReader || reader is UnavailableReader, let back = reconnect() { reader = back; recovered = true }
        return ok
    }

    var changeDescriptor: Int32? { reader.changeDescriptor }

    /// "⚠ audit: 120 undelivered, oldest 42s" when a destination is more than a few seconds behind.
    func report(since: Date) throws -> ActivityReport { try read { try $0.report(since: since) } }

    func reportingNote() -> String? {
        let notes = [auditNote(), notificationNote()].compactMap { $0 }
        return notes.isEmpty ? nil : notes.joined(separator: " · ")
    }

    /// "⚠ notify: chat failing (3 waiting)" when a channel's deliveries keep failing.
    private func notificationNote() -> String? {
        let names = config.notifications.channels.map(\.name)
        guard !names.isEmpty, let channels = try? reader.channels(names) else { return nil }
        let failing = channels.filter(\.isFailing)
        guard !failing.isEmpty else { return nil }
        let waiting = failing.reduce(0) { $0 + $1.backlog }
        return "⚠ notify: " + failing.map(\.channel).joined(separator: ", ") + " failing (\(waiting) waiting)"
    }

    private func auditNote() -> String? {
        guard !config.reporting.destinations.isEmpty, let status = try? reader.delivery().destinations else { return nil }
        let behind = status.filter { $0.backlog > 0 && ($0.lagSeconds ?? 0) >= 5 }
        guard !behind.isEmpty else { return nil }
        let oldest = Int(behind.compactMap(\.lagSeconds).max() ?? 0)
        return "⚠ audit: \(behind.reduce(0) { $0 + $1.backlog }) undelivered, oldest \(TimeSpan.countdown(oldest))"
    }

    func waitForChange(timeoutMs: Int) -> Bool {
        var changed = recovered || reader.waitForChange(timeoutMs: timeoutMs)
        if changed { unseenCommits = true }
        if changed, !recovered, let notice = (reader as? DaemonReader)?.takeNotice(), !shown.touched(by: notice) { changed = false }
        recovered = false
        if changed { shown.reset() }
        return changed
    }

    func send(_ action: ConsoleAction) -> ActionResult {
        if readOnly { return .refused(Console.readOnlyText) }
        let command: ChangeCall
        switch action {
        case let .submit(flow, target, fields, start):
            command = .request(flow: flow, target: target, fields: fields.mapValues { $0.consoleJSON }, duration: nil, reason: nil, start: start)
        case let .approve(id, reason): command = .approve(id: id, reason: reason)
        case let .deny(id, reason): command = .deny(id: id, reason: reason)
        case let .cancel(id): command = .cancel(id: id)
        case let .release(id): command = .release(id: id)
        case let .revoke(id, reason): command = .revoke(id: id, reason: reason)
        case let .extend(id, duration, reason): command = .extend(id: id, duration: duration.description, reason: reason)
        }
        do {
            let reply = try context.client().send(.change(command))
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

/// What the console reads while neither the daemon nor the file can be read: every read says why.
final class UnavailableReader: StoreReader {
    let reason: String
    init(reason: String) { self.reason = reason }
    var source: String { "unavailable" }
    private func fail<T>() throws -> T { throw CommandError(ExitCode.unavailable, reason) }
    func requests(_ q: RequestQuery) throws -> [AccessRequest] { try fail() }
    func requestsWithTotal(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int) { try fail() }
    func request(id: Int64) throws -> (AccessRequest, [AuditEvent])? { try fail() }
    func review(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AccessRequest], total: Int) { try fail() }
    func events(afterSeq: Int64, limit: Int, filter: AuditFilter) throws -> [AuditEvent] { try fail() }
    func audit(search: String?, offset: Int, limit: Int, shape: ListShape) throws -> (rows: [AuditEvent], total: Int) { try fail() }
    func lastEvents(_ count: Int) throws -> [AuditEvent] { try fail() }
    func delivery() throws -> (headSeq: Int64, destinations: [DestinationStatus]) { try fail() }
    func report(since: Date) throws -> ActivityReport { try fail() }
    func waitForChange(timeoutMs: Int) -> Bool {
        if timeoutMs > 0 { usleep(useconds_t(min(timeoutMs, 250)) * 1000) }
        return false
    }
    var changeDescriptor: Int32? { nil }
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
