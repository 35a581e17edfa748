import Foundation
import SymModel
import SymProtocol

/// Who is on call: rotations from the config, command schedules by running their program (absolute path, argv, no
/// shell, 10 s). A failing or malformed command means nobody is on call (fail closed) and a line in the log.
extension Engine {
    public func onCall(_ name: String, at t: Date) -> Result<[String], ScheduleError> {
        guard let s = config.schedule(named: name) else { return .failure(ScheduleError(message: "no on-call schedule named \(SafeText.display(name))")) }
        switch s.type {
        case .rotation:
            return .success(s.rotationOnCall(at: t))
        case .command:
            guard let path = s.command else { return .failure(ScheduleError(message: "schedule \(name) has no command")) }
            let result: ProcessResult
            do {
                result = try ProcessRunner.run(path: path, environment: ["PATH": "/usr/bin:/bin", "SYMTUI_ONCALL_SCHEDULE": name,
                                                                        "SYMTUI_ONCALL_AT": Timestamp.format(t)],
                                               timeout: 10, maxOutput: 64 << 10)
            } catch {
                return logged(name, .failure(ScheduleError(message: "\(error)")))
            }
            guard result.succeeded else { return logged(name, .failure(ScheduleError(message: "\(path): \(result.summary)"))) }
            return logged(name, OnCallSchedule.parseCommandOutput(String(decoding: result.stdout, as: UTF8.self)))
        }
    }

    private func logged(_ name: String, _ r: Result<[String], ScheduleError>) -> Result<[String], ScheduleError> {
        if case let .failure(e) = r { DaemonLog.shared.log(.error, "on-call schedule \(name): \(e.message); nobody is on call") }
        return r
    }

    /// `symtui oncall`: each schedule (or the one named) with who is on call at `at` (default now).
    public func onCallAnswer(schedule: String?, at: String?) -> Result<[(String, JSONValue)], CommandError> {
        let t = at.flatMap(Timestamp.parse) ?? now()
        let schedules = config.oncall
        if let schedule, !schedules.contains(where: { $0.name == schedule }) {
            let known = schedules.map(\.name)
            return .failure(.invalid("no on-call schedule \"\(SafeText.display(schedule))\""
                                     + (known.isEmpty ? ": the config defines none (oncall)" : " (schedules: \(known.joined(separator: ", ")))")))
        }
        let rows: [JSONValue] = schedules.filter { schedule == nil || $0.name == schedule }.map { s in
            let result = onCall(s.name, at: t)
            let users = (try? result.get()) ?? []
            let error: String? = if case let .failure(e) = result { e.message } else { nil }
            return .obj([("name", .string(s.name)), ("type", .string(s.type.rawValue)),
                         ("users", .array(users.map(JSONValue.string))), ("error", .str(error))])
        }
        return .success([("at", .string(Timestamp.format(t))), ("schedules", .array(rows))])
    }

    /// Users on call now on `name`, or nobody when it cannot say.
    func onCallNow(_ name: String) -> [String] { (try? onCall(name, at: now()).get()) ?? [] }

    /// `onCallNow`, asked at most every 30 s per schedule (the escalation sweep runs every 2 s).
    func onCallCached(_ name: String) -> [String] {
        let t = now()
        if let hit = OnCallCache.shared.get(name, at: t) { return hit }
        let users = onCallNow(name)
        OnCallCache.shared.set(name, users, at: t)
        return users
    }
}

final class OnCallCache: @unchecked Sendable {
    static let shared = OnCallCache()
    private let lock = NSLock()
    private var entries: [String: (Date, [String])] = [:]
    func get(_ name: String, at t: Date) -> [String]? {
        lock.withLock { entries[name].flatMap { abs(t.timeIntervalSince($0.0)) < 30 ? $0.1 : nil } }
    }
    func set(_ name: String, _ users: [String], at t: Date) { lock.withLock { entries[name] = (t, users) } }
}
