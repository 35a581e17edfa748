import Foundation

/// An on-call schedule (`oncall`): a `rotation` computed from the config, or a `command` that prints who is on call.
public struct OnCallSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case rotation, command }
    /// Someone else on call from `from` until `until` (UTC).
    public struct Override: Sendable, Equatable {
        public var user: String
        public var from: Date
        public var until: Date
        public init(user: String, from: Date, until: Date) { self.user = user; self.from = from; self.until = until }
    }

    public var name: String
    public var type: Kind
    public var users: [String]
    public var shift: TimeSpan
    public var start: Date
    public var overrides: [Override]
    public var command: String?

    public init(name: String, type: Kind, users: [String] = [], shift: TimeSpan = TimeSpan(seconds: 604_800),
                start: Date = Date(timeIntervalSince1970: 0), overrides: [Override] = [], command: String? = nil) {
        self.name = name; self.type = type; self.users = users; self.shift = shift; self.start = start
        self.overrides = overrides; self.command = command
    }

    /// Who a rotation has on call at `t`: the overrides covering `t` if any, else the user whose shift it is
    /// (shifts of fixed length in UTC from `start`, so no daylight-saving jumps); nobody before `start`.
    public func rotationOnCall(at t: Date) -> [String] {
        let covering = overrides.filter { $0.from <= t && t < $0.until }.map(\.user)
        if !covering.isEmpty { return covering.reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }
        guard !users.isEmpty, shift.seconds > 0, t >= start else { return [] }
        let n = Int(floor(t.timeIntervalSince(start) / Double(shift.seconds)))
        return [users[n % users.count]]
    }

    /// Reads a command schedule's output: one user name a line. Any line that is not a valid name makes the whole
    /// answer an error (nobody on call: fail closed, never "everyone").
    public static func parseCommandOutput(_ text: String) -> Result<[String], ScheduleError> {
        var out: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard UnixName.isValid(line) else { return .failure(ScheduleError(message: "line '\(FieldValues.clip(SafeText.display(line)))' is not a user name")) }
            if !out.contains(line) { out.append(line) }
        }
        return .success(out)
    }
}

extension Approvers {
    /// These approvers with the on-call schedules they name replaced by who is on call (`who(schedule)`).
    public func resolvingOnCall(_ who: (String) -> [String]) -> Approvers {
        var a = Approvers(users: users, groups: groups)
        for name in oncall { for u in who(name) where !a.users.contains(u) { a.users.append(u) } }
        return a
    }
}

extension Routing {
    /// The routing with every `oncall` name resolved to users (a request keeps who was on call when it was made).
    public func resolvingOnCall(_ who: (String) -> [String]) -> Routing {
        var r = self
        r.approvers = approvers.resolvingOnCall(who)
        r.steps = steps.map { s in var s = s; s.approvers = s.approvers.resolvingOnCall(who); return s }
        return r
    }
}

/// Why a schedule could not say who is on call (then nobody is).
public struct ScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
