import Foundation

/// A loaded, validated configuration (contract §3).
public struct Config: Sendable {
    /// The file it was read from (for messages).
    public var sourcePath: String
    public var store: String?
    /// This bastion's name in the fleet (`host_name`; default: the machine's host name).
    public var hostName: String = HostName.machine
    public var socket: String?
    public var storeGroup: String?
    /// File mode for the store, e.g. 0o640; nil means 0o644.
    public var storeMode: Int?
    public var strategies: [Strategy]
    public var flows: [Flow]
    public var reporting: Reporting
    public var limits: Limits
    public var notifications: Notifications
    public var oncall: [OnCallSchedule] = []
    /// Console settings (`console.keys`).
    public var console = ConsoleSettings()

    public init(sourcePath: String, store: String? = nil, socket: String? = nil, storeGroup: String? = nil,
                storeMode: Int? = nil, strategies: [Strategy] = [], flows: [Flow] = [], reporting: Reporting = Reporting(),
                limits: Limits = Limits()) {
        self.sourcePath = sourcePath; self.store = store; self.socket = socket; self.storeGroup = storeGroup
        self.storeMode = storeMode; self.strategies = strategies; self.flows = flows; self.reporting = reporting
        self.limits = limits
        self.notifications = Notifications()
    }

    public func flow(named name: String) -> Flow? { flows.first { $0.name == name } }
    public func strategy(named name: String) -> Strategy? { strategies.first { $0.name == name } }
    public func schedule(named name: String) -> OnCallSchedule? { oncall.first { $0.name == name } }
}

/// How access is granted and taken away, with its targets.
public struct Strategy: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case unixGroup = "unix_group", sudoers, command, http, sshCert = "ssh_cert", postgresRole = "postgres_role"
    }
    public var name: String
    public var type: Kind
    public var settings: [String: JSONValue]
    public var targets: [Target]

    public init(name: String, type: Kind, settings: [String: JSONValue] = [:], targets: [Target] = []) {
        self.name = name; self.type = type; self.settings = settings; self.targets = targets
    }

    public func target(named name: String) -> Target? { targets.first { $0.name == name } }
}

/// One thing access is granted to.
public struct Target: Sendable {
    public var name: String
    public var label: String
    public var settings: [String: JSONValue]
    /// Which daemon runs its strategy steps (`runs_on`); nil: the strategy type's default (`Strategy.runsOn`).
    public var runsOn: RunsOn?

    public init(name: String, label: String? = nil, settings: [String: JSONValue] = [:], runsOn: RunsOn? = nil) {
        self.name = name; self.label = label ?? name; self.settings = settings; self.runsOn = runsOn
    }
}

/// Who may decide: named users, members of Unix groups, and whoever an on-call schedule has on call.
public struct Approvers: Sendable, Equatable {
    public var users: [String]
    public var groups: [String]
    /// On-call schedule names; resolved to users when a request is made (or forwarded), never matched as such.
    public var oncall: [String]
    public init(users: [String] = [], groups: [String] = [], oncall: [String] = []) {
        self.users = users; self.groups = groups; self.oncall = oncall
    }
    public var isEmpty: Bool { users.isEmpty && groups.isEmpty && oncall.isEmpty }
}

/// One step of an AND-approval: `required` distinct approvers from its users/groups.
public struct ApprovalStep: Sendable, Equatable {
    public var name: String
    public var approvers: Approvers
    public var required: Int
    public init(name: String, approvers: Approvers, required: Int = 1) {
        self.name = name; self.approvers = approvers; self.required = required
    }
}

/// A prompt field of a flow.
public struct PromptField: Sendable {
    public var name: String
    public var type: FieldType
    public var label: String
    public var required: Bool
    public var defaultValue: FieldValue?
    public var allowedValues: [FieldValue]?
    public var visible: Bool
    public var prefetch: Bool

    public init(name: String, type: FieldType, label: String? = nil, required: Bool = true, defaultValue: FieldValue? = nil,
                allowedValues: [FieldValue]? = nil, visible: Bool = true, prefetch: Bool = false) {
        self.name = name; self.type = type; self.label = label ?? name; self.required = required
        self.defaultValue = defaultValue; self.allowedValues = allowedValues; self.visible = visible; self.prefetch = prefetch
    }
}

/// A named workflow: an access flow (with a strategy) or an approval-only flow.
public struct Flow: Sendable {
    public var name: String
    public var label: String
    public var strategy: String?
    /// Single-step approvers; empty when `approvalSteps` is used.
    public var approvers: Approvers
    public var approvalSteps: [ApprovalStep]
    public var requiredApprovals: Int
    public var allowSelfApproval: Bool
    public var allowRevoke: Bool
    public var scheduleDeescalation: Bool
    public var requestTTL: TimeSpan
    public var maxDuration: TimeSpan?
    public var promptFields: [PromptField]
    public var implementation: String?
    public var handlerTimeout: TimeSpan
    public var vars: [String: JSONValue]
    public var additionalHeaderText: String?
    /// Channel names for this flow's notifications; nil = `notifications.default`.
    public var notify: [String]?
    /// Approvers are told again every `reminder` while a request is still pending.
    public var reminder: TimeSpan?
    /// The requester is told this long before their grant ends.
    public var expiryWarning = TimeSpan(seconds: 300)
    /// Who else may decide a request still pending after each tier's `after`, in order.
    public var escalation: [EscalationTier] = []

    public init(name: String, label: String? = nil, strategy: String? = nil, approvers: Approvers = Approvers(),
                approvalSteps: [ApprovalStep] = [], requiredApprovals: Int = 1, allowSelfApproval: Bool = false,
                allowRevoke: Bool = true, scheduleDeescalation: Bool = true, requestTTL: TimeSpan = TimeSpan(seconds: 3600),
                maxDuration: TimeSpan? = nil, promptFields: [PromptField] = [], implementation: String? = nil,
                handlerTimeout: TimeSpan = TimeSpan(seconds: 10), vars: [String: JSONValue] = [:], additionalHeaderText: String? = nil) {
        self.name = name; self.label = label ?? name; self.strategy = strategy; self.approvers = approvers
        self.approvalSteps = approvalSteps; self.requiredApprovals = requiredApprovals; self.allowSelfApproval = allowSelfApproval
        self.allowRevoke = allowRevoke; self.scheduleDeescalation = scheduleDeescalation; self.requestTTL = requestTTL
        self.maxDuration = maxDuration; self.promptFields = promptFields; self.implementation = implementation
        self.handlerTimeout = handlerTimeout; self.vars = vars; self.additionalHeaderText = additionalHeaderText
    }

    public var isApprovalOnly: Bool { strategy == nil }
    public func field(named name: String) -> PromptField? { promptFields.first { $0.name == name } }
}

/// Where audit events are shipped.
public struct Reporting: Sendable {
    public var destinations: [Destination]
    /// A key file only the daemon can read; when set, every new event gets an `hmac` of its hash.
    public var hmacKeyFile: String?
    public init(destinations: [Destination] = [], hmacKeyFile: String? = nil) {
        self.destinations = destinations; self.hmacKeyFile = hmacKeyFile
    }
}

/// One reporting destination: `jsonl` (path), `syslog` (socket), `http` (url), `command` (path).
public struct Destination: Sendable, Equatable {
    public var type: String
    public var settings: [String: JSONValue]
    public init(type: String, settings: [String: JSONValue] = [:]) { self.type = type; self.settings = settings }
}

/// How much one user may ask of the daemon: pending requests at a time, and the size of what a request carries.
public struct Limits: Sendable, Equatable {
    /// Requests (extensions included) one user may have pending at once.
    public var pendingPerUser: Int
    /// Largest value of one prompt field (and of a reason), in UTF-8 bytes of its JSON form.
    public var fieldBytes: Int
    /// Largest request in all: every field value plus the reason, in UTF-8 bytes.
    public var requestBytes: Int

    public static let defaultPendingPerUser = 20
    public static let defaultFieldBytes = 16_384
    public static let defaultRequestBytes = 65_536
    public static let pendingRange = 1...10_000
    public static let fieldBytesRange = 64...65_536
    public static let requestBytesRange = 256...1_048_576

    public init(pendingPerUser: Int = Limits.defaultPendingPerUser, fieldBytes: Int = Limits.defaultFieldBytes,
                requestBytes: Int = Limits.defaultRequestBytes) {
        self.pendingPerUser = pendingPerUser; self.fieldBytes = fieldBytes; self.requestBytes = requestBytes
    }
}
