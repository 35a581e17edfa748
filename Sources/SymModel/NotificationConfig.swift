import Foundation

/// Where notifications go (`notifications`): the channels, the ones flows use by default, and how a user name
/// becomes a mail address.
public struct Notifications: Sendable, Equatable {
    public var channels: [Channel]
    /// Used by flows that name no `notify`.
    public var defaultChannels: [String]
    /// `USER@email_domain` unless `users.NAME.email` is set.
    public var emailDomain: String?
    public var emails: [String: String]

    public init(channels: [Channel] = [], defaultChannels: [String] = [], emailDomain: String? = nil, emails: [String: String] = [:]) {
        self.channels = channels; self.defaultChannels = defaultChannels; self.emailDomain = emailDomain; self.emails = emails
    }

    public func channel(named name: String) -> Channel? { channels.first { $0.name == name } }

    /// The channels a flow's notifications go to: its own `notify`, else `default`.
    public func channels(for flow: Flow) -> [Channel] {
        (flow.notify ?? defaultChannels).compactMap(channel(named:))
    }

    /// The mail address of a user, or nil when neither `users.NAME.email` nor `email_domain` gives one.
    public func email(of user: String) -> String? {
        if let e = emails[user] { return e }
        return emailDomain.map { "\(user)@\($0)" }
    }
}

/// An escalation tier: a request still pending `after` its creation may be decided by these approvers too, who are
/// told on `notify` (or the flow's channels).
public struct EscalationTier: Sendable, Equatable {
    public var after: TimeSpan
    public var approvers: Approvers
    public var notify: [String]?
    public init(after: TimeSpan, approvers: Approvers, notify: [String]? = nil) {
        self.after = after; self.approvers = approvers; self.notify = notify
    }
}

/// One notification channel.
public struct Channel: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case tty, email, http, command }
    /// Payload shapes an `http` channel can post.
    public enum Format: String, Sendable, CaseIterable { case json, slack, mattermost, teams, pagerduty }

    public var name: String
    public var type: Kind
    /// http: where to POST.
    public var url: String?
    public var format: Format
    /// http pagerduty: a file holding the Events API v2 routing key (read at delivery, never logged).
    public var routingKeyFile: String?
    /// command: the absolute path of the program that gets the notification JSON on stdin.
    public var command: String?
    /// email: the From address.
    public var from: String?
    /// How long one delivery may take, in seconds.
    public var timeout: Int

    public init(name: String, type: Kind, url: String? = nil, format: Format = .json, routingKeyFile: String? = nil,
                command: String? = nil, from: String? = nil, timeout: Int = 10) {
        self.name = name; self.type = type; self.url = url; self.format = format; self.routingKeyFile = routingKeyFile
        self.command = command; self.from = from; self.timeout = timeout
    }

    /// Whether each recipient gets their own delivery (a terminal, a mailbox) rather than one per notification.
    public var isPerRecipient: Bool { type == .tty || type == .email }
}
