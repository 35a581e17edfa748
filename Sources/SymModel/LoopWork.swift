import Foundation

/// What a committed change gives the loop to do.
public enum LoopWork: Sendable, Equatable {
    /// A strategy to run or a state to move now (approved grants, escalating, deescalating, a reload).
    case now
    /// A new deadline: a pending request's TTL, an active grant's expiry.
    case at(Date)
    /// Nothing: a final state, an approval-only decision, an audit event alone.
    case none

    public static func after(_ r: AccessRequest) -> LoopWork {
        switch r.state {
        case .pending: return .at(r.requestExpiresAt)
        case .active: return r.accessExpiresAt.map(LoopWork.at) ?? .none
        case .approved:
            guard r.target != nil && r.extends == nil else { return .none }
            if r.isScheduled, let start = r.accessStartsAt, start > Date() { return .at(start) }
            return .now
        case .escalating, .deescalating: return .now
        case .denied, .cancelled, .expired, .ended, .failed: return .none
        }
    }

    /// The more urgent of two: now, then the earlier deadline, then nothing.
    public static func sooner(_ a: LoopWork, _ b: LoopWork) -> LoopWork {
        switch (a, b) {
        case (.now, _), (_, .now): return .now
        case let (.at(x), .at(y)): return .at(min(x, y))
        case (.at, .none): return a
        default: return b
        }
    }
}
