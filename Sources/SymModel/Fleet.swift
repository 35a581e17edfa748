import Foundation

// The fleet: which bastion a daemon serves (`host_name`) and which daemon runs a target's strategy steps (`runs_on`).
// See contract §11 and docs/deployment.md ("Which bastion runs what").

/// A bastion's name in the fleet: an RFC 1123 host name (dot-separated labels of letters, digits and inner hyphens,
/// each 1–63 characters, 253 in all). Nothing else can reach a terminal, a header or a SQL parameter as a host.
public enum HostName {
    public static let maxLength = 253

    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxLength else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            return label.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D
            }
        }
    }

    /// This machine's host name (what `host_name` defaults to).
    public static var machine: String { ProcessInfo.processInfo.hostName }
}

/// Which daemon of the fleet runs a target's strategy steps (escalate, deescalate, their retries, the end of sessions).
public enum RunsOn: Sendable, Equatable {
    /// The daemon of the bastion the request was made on (the access lives on that machine).
    case requesterHost
    /// Whichever daemon gets to it first (the access lives elsewhere: an HTTP API, a database).
    case any
    /// The daemon whose `host_name` is this.
    case host(String)

    /// `requester_host`, `any`, or a host name; nil when it is none of these.
    public init?(setting: String) {
        switch setting {
        case "requester_host": self = .requesterHost
        case "any": self = .any
        default:
            guard HostName.isValid(setting) else { return nil }
            self = .host(setting)
        }
    }

    public var setting: String {
        switch self {
        case .requesterHost: return "requester_host"
        case .any: return "any"
        case let .host(name): return name
        }
    }

    /// The host a request made on `requestHost` is pinned to, or nil when any daemon may run its steps. Fixed when the
    /// request is made (like its approvers), so every daemon of the fleet agrees on it whatever its own config says.
    public func pinnedHost(requestHost: String) -> String? {
        switch self {
        case .requesterHost: return requestHost
        case .any: return nil
        case let .host(name): return name
        }
    }
}

extension Strategy.Kind {
    /// Where a target of this kind runs when it does not say: on the requester's bastion for access that lives on a
    /// machine (groups, sudo rules, certificates, local programs), anywhere for access that lives in another service.
    public var defaultRunsOn: RunsOn {
        switch self {
        case .unixGroup, .sudoers, .sshCert, .command: return .requesterHost
        case .http, .postgresRole: return .any
        }
    }
}

extension Strategy {
    /// Where `target`'s strategy steps run: its own `runs_on`, else this strategy type's default.
    public func runsOn(_ target: Target) -> RunsOn { target.runsOn ?? type.defaultRunsOn }
}
