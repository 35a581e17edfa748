import Foundation
import SymModel

/// Where things go on a screen of a given size; shared by `render` and `reduce` (paging needs list heights).
public struct Layout: Sendable, Equatable {
    public static let minimumRows = 24
    public static let minimumCols = 80

    public var rows: Int
    public var cols: Int
    public init(rows: Int, cols: Int) { self.rows = rows; self.cols = cols }

    public var isTooSmall: Bool { rows < Layout.minimumRows || cols < Layout.minimumCols }
    /// Rows between the tab bar and the message line.
    public var bodyTop: Int { 1 }
    public var bodyHeight: Int { max(0, rows - 4) }
    public var messageRow: Int { rows - 3 }
    public var promptRow: Int { rows - 2 }
    public var statusRow: Int { rows - 1 }

    /// Lines of the collapsed detail pane under a list (a separator included); an expanded pane is sized
    /// to its content by `ConsoleState.detailHeight`.
    public func detailHeight() -> Int { max(7, bodyHeight / 3) }
    /// Visible list rows under a collapsed detail pane (the column header takes one line).
    public func listHeight() -> Int { max(1, bodyHeight - 1 - detailHeight()) }
}

/// The selection and loaded window of one list view.
public struct ListState: Sendable {
    /// Absolute index of the selected row in the filtered list.
    public var selected = 0
    /// Absolute index of the first visible row.
    public var top = 0
    public var filter = ""
    public var page: ConsolePage?
    /// The request/event the selection is on, so it follows its row when new rows arrive.
    public var selectedId: Int64?
    public var error: String?
    /// The chosen sort column (nil: newest first) and whether it is reversed (`s`/`S`, `:sort`).
    public var sort: ListShape.Column?
    public var descending = false
    public init() {}

    public var total: Int { page?.total ?? 0 }
}

/// The widget a prompt field is edited with in the request form (not to be confused with SymModel's
/// `FieldInput`, a value as it arrives to be parsed: the form turns its widgets into those).
public enum FormInput: Sendable, Equatable {
    case text(String)
    case toggle(Bool)
    /// Index into `allowed`; -1 is "none" (an optional field sent without a value).
    case choice(Int, allowed: [FieldValue])
    /// A list field's picked values (indices into `allowed`) and the value under the cursor (FormMultiple.swift).
    case multiple(Set<Int>, cursor: Int, allowed: [FieldValue])
}

/// One prompt field being filled in.
public struct FormField: Sendable {
    public var field: PromptField
    public var input: FormInput
    public var error: String?
    /// Where typing goes in a text input: a character offset, 0...text.count.
    public var cursor = 0
}

/// The request form of one flow and target.
public struct FormState: Sendable {
    public var flow: String
    public var target: String?
    public var fields: [FormField]
    /// When a scheduled window starts (FormStart.swift); nil for flows without a duration.
    public var start: FormField?
    /// Index of the focused field; `fields.count` is the Submit button, `fields.count + 1` the Start input.
    public var focus = 0
    /// A submit has been sent and awaits the daemon's answer.
    public var submitting = false

    public var onSubmit: Bool { focus == fields.count }
}

/// A question on the prompt line.
public enum PromptKind: Sendable, Equatable {
    case approve(id: Int64, selfApproval: Bool)
    case deny(id: Int64)
    case revoke(id: Int64)
    case extendDuration(id: Int64)
    case extendReason(id: Int64, duration: TimeSpan)
    case confirmCancel(id: Int64)
    case confirmRelease(id: Int64)

    /// Whether typed text is taken (confirmations only take Enter/Esc).
    public var takesText: Bool {
        switch self {
        case .confirmCancel, .confirmRelease: return false
        default: return true
        }
    }
}

/// The prompt line's state.
public struct PromptState: Sendable, Equatable {
    public var kind: PromptKind
    /// What the question says about its subject, already made safe.
    public var subject: String
    public var text = ""
    public var error: String?
}

/// A line for the message row.
public struct ConsoleMessage: Sendable, Equatable {
    /// `warning`: something went wrong that is not a refusal (the daemon did not answer in time).
    public enum Kind: Sendable { case info, ok, refused, warning }
    public var kind: Kind
    public var text: String
}

/// A command sent to the daemon whose answer has not come back yet.
public struct PendingAction: Sendable, Equatable {
    public var action: ConsoleAction
    /// The console clock when it was sent.
    public var since: Date
    /// No answer within `Console.answerTimeout`; the user has been told so.
    public var overdue = false
    public init(action: ConsoleAction, since: Date) { self.action = action; self.since = since }
}

/// Everything the console shows; changed only by `Console.reduce`.
public struct ConsoleState: Sendable {
    public var identity: ConsoleIdentity
    public var rows: Int
    public var cols: Int
    /// The clock countdowns are computed against (ticked every second).
    public var now: Date
    public var view: ConsoleView = .request
    public var flows: [FlowSummary] = []
    public var flowsError: String?
    /// The Request view's list of (flow, target) choices.
    public var requestList = ListState()
    public var lists: [ConsoleView: ListState] = [.review: ListState(), .mine: ListState(), .grants: ListState(), .audit: ListState()]
    public var form: FormState?
    public var prompt: PromptState?
    public var filterEditing = false
    /// The text on the `/` line while it is edited; `filter` takes it while it is a valid expression.
    public var filterLine = ""
    /// What is wrong with `filterLine` (an invalid regular expression), shown while the old filter stays.
    public var filterError: String?
    /// The `:` command line, when open.
    public var commandLine: CommandLineState?
    /// Command lines run, oldest first (the last `CommandLineState.historyLimit`), for Up/Down.
    public var commandHistory: [String] = []
    /// A wallboard: no command that changes anything is ever sent (`symtui --readonly`).
    public var readOnly = false
    /// The keys in force: the default keymap with `console.keys` applied.
    public var keymap: [KeyBinding] = Keymap.bindings
    /// nil when help is closed; else its first shown line.
    public var helpScroll: Int?
    public var detailExpanded = false
    public var message: ConsoleMessage?
    public var reviewCount: Int?
    public var daemonHealthy = true
    /// The daemon answers but its store does not (PostgreSQL down or unreachable): a read failed with "store
    /// unavailable". Cleared by the next page that loads; while set, each status check reads the view again.
    public var storeUnavailable = false
    /// Shown on the status line while audit delivery lags.
    public var reportingNote: String?
    /// Highest review request id already known; ids above it are new.
    public var reviewSeenThrough: Int64?
    /// New review requests, highlighted until the selection moves onto them.
    public var newRequestIds: Set<Int64> = []
    /// Commands out to the daemon, oldest first; their rows show "sending…" until the answer comes.
    public var pending: [PendingAction] = []
    public var quitting = false
    /// The Stats view's report and when it was loaded.
    public var stats = StatsState()

    public init(identity: ConsoleIdentity, rows: Int = 24, cols: Int = 80, now: Date = Date()) {
        self.identity = identity; self.rows = rows; self.cols = cols; self.now = now
    }

    public var layout: Layout { Layout(rows: rows, cols: cols) }

    /// Which keys are live now.
    public var mode: KeyMode {
        if helpScroll != nil { return .help }
        if prompt != nil { return .prompt }
        if commandLine != nil { return .command }
        if filterEditing { return .filter }
        if form != nil { return .form }
        return .list
    }

    /// The Request view's rows: each target of each flow, or the flow itself when approval-only.
    public var choices: [(flow: FlowSummary, target: TargetSummary?)] {
        flows.flatMap { f in f.isApprovalOnly ? [(f, nil)] : f.targets.map { (f, $0) } }
    }

    public func list(_ view: ConsoleView) -> ListState { view == .request ? requestList : lists[view] ?? ListState() }

    public func flow(named name: String) -> FlowSummary? { flows.first { $0.name == name } }

    /// The command out to the daemon for request `id`, if any.
    public func pendingAction(for id: Int64) -> PendingAction? { pending.first { $0.action.requestId == id } }

    /// The request under the selection of a request list, when loaded.
    public func selectedRequest(_ view: ConsoleView) -> AccessRequest? {
        let l = list(view)
        guard let p = l.page, l.selected >= p.offset, l.selected < p.offset + p.count else { return nil }
        let rows = p.requests
        return l.selected - p.offset < rows.count ? rows[l.selected - p.offset] : nil
    }

    /// The audit event under the selection, when loaded.
    public func selectedEvent() -> AuditEvent? {
        let l = list(.audit)
        guard let p = l.page, l.selected >= p.offset, l.selected - p.offset < p.events.count else { return nil }
        return p.events[l.selected - p.offset]
    }
}
