import Foundation
import SymModel

/// What the console needs from the outside world; the real one (store reads + daemon commands) is written elsewhere.
///
/// Pages are ordered newest first (Review, Mine, Grants by request id descending; Audit by seq descending):
/// the console relies on it to find and highlight new requests at the head of the review queue.
public protocol ConsoleBackend: AnyObject {
    /// Who is using the console, and which store it reads (for the status line).
    var identity: ConsoleIdentity { get }
    /// Flows and targets this user may request, with eligible approvers and prompt fields.
    func flows() throws -> [FlowSummary]
    /// Rows `offset ..< offset+limit` of a list view after `filter`; never the whole table.
    func page(_ view: ConsoleView, filter: String, offset: Int, limit: Int) throws -> ConsolePage
    /// The same, sorted and narrowed by `shape` (sort column, regular expression) before paging.
    func page(_ view: ConsoleView, filter: String, shape: ListShape, offset: Int, limit: Int) throws -> ConsolePage
    /// Whether the daemon answers.
    func daemonHealthy() -> Bool
    /// Blocks at most `timeoutMs`; returns true early when another process committed a change.
    func waitForChange(timeoutMs: Int) -> Bool
    /// Sends one command to the daemon.
    func send(_ action: ConsoleAction) -> ActionResult
    /// Announcements since the last call (break-glass self-approvals by others), oldest first.
    func announcements() -> [String]
    /// A descriptor that becomes readable when the store may have changed (polled with the keyboard), or nil.
    var changeDescriptor: Int32? { get }
    /// A warning for the status line when audit events are not reaching their destinations, else nil.
    func reportingNote() -> String?
    /// The figures of the Stats view for requests created from `since` to now (`symtui report`'s read).
    func report(since: Date) throws -> ActivityReport
}

extension ConsoleBackend {
    /// A backend without its own shaping reads the first `ListShape.scanLimit` rows and shapes them here.
    public func page(_ view: ConsoleView, filter: String, shape: ListShape, offset: Int, limit: Int) throws -> ConsolePage {
        guard !shape.isDefault else { return try page(view, filter: filter, offset: offset, limit: limit) }
        let all = try page(view, filter: filter, offset: 0, limit: ListShape.scanLimit)
        switch all.rows {
        case let .requests(r):
            let (rows, total) = try shape.page(r, offset: offset, limit: limit)
            return ConsolePage(offset: offset, total: total, rows: .requests(rows))
        case let .events(e):
            let (rows, total) = try shape.page(e, offset: offset, limit: limit)
            return ConsolePage(offset: offset, total: total, rows: .events(rows))
        }
    }
    public func announcements() -> [String] { [] }
    public var changeDescriptor: Int32? { nil }
    public func reportingNote() -> String? { nil }
    public func report(since: Date) throws -> ActivityReport { throw StatsUnavailable() }
}

/// A backend without the report read (the Stats view says so).
public struct StatsUnavailable: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "this console's backend has no report" }
}

/// The console user: kernel identity and the store being read.
public struct ConsoleIdentity: Sendable, Equatable {
    public var user: String
    public var groups: [String]
    public var storePath: String
    public init(user: String, groups: [String] = [], storePath: String) {
        self.user = user; self.groups = groups; self.storePath = storePath
    }
}

/// The console views of contract §9b, numbered as their keys.
public enum ConsoleView: Int, CaseIterable, Sendable, Hashable {
    case request = 1, review, mine, grants, audit, stats

    /// The tab title.
    public var title: String {
        switch self {
        case .request: return "Request"
        case .review: return "Review"
        case .mine: return "Mine"
        case .grants: return "Grants"
        case .audit: return "Audit"
        case .stats: return "Stats"
        }
    }

    /// Views whose rows come from `ConsoleBackend.page`.
    public var isPaged: Bool { self != .request && self != .stats }
}

/// A target of an access flow as the Request view lists it.
public struct TargetSummary: Sendable, Equatable {
    public var name: String
    public var label: String
    public init(name: String, label: String? = nil) { self.name = name; self.label = label ?? name }
}

/// One flow the user may request (the Prompt step).
public struct FlowSummary: Sendable {
    public var name: String
    public var label: String
    /// Empty for an approval-only flow.
    public var targets: [TargetSummary]
    /// Who may decide, as display strings (`alice`, `group:oncall`).
    public var approvers: [String]
    public var promptFields: [PromptField]
    public var requiredApprovals: Int
    public var allowSelfApproval: Bool
    public var maxDuration: TimeSpan?
    /// `additional_header_text`, shown above the form.
    public var headerText: String?
    /// The config's `limits`, which the form checks before it sends (FormLimits.swift).
    public var limits = Limits()

    public init(name: String, label: String? = nil, targets: [TargetSummary] = [], approvers: [String] = [],
                promptFields: [PromptField] = [], requiredApprovals: Int = 1, allowSelfApproval: Bool = false,
                maxDuration: TimeSpan? = nil, headerText: String? = nil) {
        self.name = name; self.label = label ?? name; self.targets = targets; self.approvers = approvers
        self.promptFields = promptFields; self.requiredApprovals = requiredApprovals
        self.allowSelfApproval = allowSelfApproval; self.maxDuration = maxDuration; self.headerText = headerText
    }

    public var isApprovalOnly: Bool { targets.isEmpty }
}

/// A window of rows of one list view.
public struct ConsolePage: Sendable {
    /// Requests (Review, Mine, Grants) or audit events (Audit).
    public enum Rows: Sendable {
        case requests([AccessRequest])
        case events([AuditEvent])
    }
    /// Index of the first row in the whole filtered list.
    public var offset: Int
    /// How many rows the whole filtered list has.
    public var total: Int
    public var rows: Rows

    public init(offset: Int, total: Int, rows: Rows) { self.offset = offset; self.total = total; self.rows = rows }

    public var count: Int {
        switch rows {
        case let .requests(r): return r.count
        case let .events(e): return e.count
        }
    }
    public var requests: [AccessRequest] { if case let .requests(r) = rows { return r }; return [] }
    public var events: [AuditEvent] { if case let .events(e) = rows { return e }; return [] }

    /// Whether rows `from ..< from+count` (clipped to `total`) are all here.
    public func covers(from: Int, count: Int) -> Bool {
        let end = min(from + count, total)
        return from >= offset && end <= offset + self.count
    }
}

/// A change the console asks the daemon to make.
public enum ConsoleAction: Sendable, Equatable {
    /// `start`: a scheduled window's start as typed (`in 1h`, RFC 3339), nil for now.
    case submit(flow: String, target: String?, fields: [String: FieldValue], start: String? = nil)
    case approve(id: Int64, reason: String?)
    case deny(id: Int64, reason: String)
    case cancel(id: Int64)
    case release(id: Int64)
    case revoke(id: Int64, reason: String?)
    case extend(id: Int64, duration: TimeSpan, reason: String?)
}

extension ConsoleAction {
    /// The request the action is about (nil for a new request).
    public var requestId: Int64? {
        switch self {
        case .submit: return nil
        case let .approve(id, _), let .deny(id, _), let .revoke(id, _), let .extend(id, _, _): return id
        case let .cancel(id), let .release(id): return id
        }
    }

    /// What is being done, as the message line says it ("approving #12").
    public var progressText: String {
        switch self {
        case .submit: return "submitting"
        case let .approve(id, _): return "approving #\(id)"
        case let .deny(id, _): return "denying #\(id)"
        case let .revoke(id, _): return "revoking #\(id)"
        case let .extend(id, duration, _): return "extending #\(id) by \(duration)"
        case let .cancel(id): return "cancelling #\(id)"
        case let .release(id): return "releasing #\(id)"
        }
    }

    /// The verb alone, for the row being changed ("approve").
    public var verb: String {
        switch self {
        case .submit: return "request"
        case .approve: return "approve"
        case .deny: return "deny"
        case .revoke: return "revoke"
        case .extend: return "extend"
        case .cancel: return "cancel"
        case .release: return "release"
        }
    }
}

/// The daemon's answer to a `ConsoleAction`.
public enum ActionResult: Sendable, Equatable {
    case ok(String)
    case refused(String)
}
