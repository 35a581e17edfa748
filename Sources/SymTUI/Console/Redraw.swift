import Foundation
import SymModel

/// When the console must look at the clock again: the next instant a character on screen changes by itself
/// (a countdown or an age of a shown row), an answer becomes overdue, or the Stats view's delayed reload is due.
/// Pure: the loop sleeps until then (or until a key, an answer or a change line wakes it) instead of drawing a
/// frame every second.
extension Console {
    /// The earliest instant after `state.now` at which a `.tick` changes what `render` draws or what the reducer
    /// does; nil when nothing on screen depends on the clock. Only the rows of the current view's page are looked
    /// at (what is not on screen never wakes the console).
    public static func nextTick(_ state: ConsoleState) -> Date? {
        var due: Date?
        func consider(_ d: Date?) {
            guard let d else { return }
            if due.map({ d < $0 }) ?? true { due = d }
        }
        for p in state.pending where !p.overdue { consider(p.since.addingTimeInterval(answerTimeout)) }
        if state.view == .stats, state.stats.stale || state.stats.error != nil, let at = state.stats.requestedAt {
            consider(at.addingTimeInterval(statsRefreshInterval))
        }
        if state.view.isPaged, state.view != .audit, let rows = state.list(state.view).page?.requests {
            for r in rows { consider(nextChange(of: r, now: state.now)) }
        }
        // Never in the past: a due time that has passed is due now.
        return due.map { max($0, state.now) }
    }

    /// The next instant any time text the console may show for `r` (row cells and the detail pane) changes.
    static func nextChange(of r: AccessRequest, now: Date) -> Date? {
        var due: Date?
        func consider(_ d: Date?) {
            guard let d else { return }
            if due.map({ d < $0 }) ?? true { due = d }
        }
        // Shown counting down ("expires 42m", "9m59s left", "starts in 1h05m").
        if r.state == .pending { consider(untilChanges(r.requestExpiresAt, now: now)) }
        consider(untilChanges(r.accessStartsAt, now: now))
        consider(untilChanges(r.accessExpiresAt, now: now))
        // Shown as an age ("created 4m12s ago", "decided 2h05m ago", a grant's "Since").
        for d in [r.createdAt, r.decidedAt, r.endedAt, r.accessStartsAt, r.denial?.at] + r.approvals.map(\.at) {
            consider(agoChanges(d, now: now))
        }
        return due
    }

    /// When `TimeSpan.countdown` of the seconds left until `d` (rounded up, as `ConsoleState.until`) next differs
    /// from its text at `now`; nil once it shows "0s" for good.
    static func untilChanges(_ d: Date?, now: Date) -> Date? {
        guard let d else { return nil }
        let left = Int(d.timeIntervalSince(now).rounded(.up))
        guard left > 0 else { return nil }
        let step = TimeSpan.countdownStep(left)
        // The text holds while the rounded-up value stays at or above the step's first value.
        return d.addingTimeInterval(-TimeInterval(left / step * step - 1))
    }

    /// When `TimeSpan.countdown` of the whole seconds since `d` (as `ConsoleState.ago`) next differs from its text
    /// at `now`.
    static func agoChanges(_ d: Date?, now: Date) -> Date? {
        guard let d else { return nil }
        let elapsed = now.timeIntervalSince(d)
        guard elapsed >= 1 else { return d.addingTimeInterval(1) }   // "0s" until a whole second has passed
        let s = Int(elapsed)
        let step = TimeSpan.countdownStep(s)
        return d.addingTimeInterval(TimeInterval((s / step + 1) * step))
    }
}
