import Foundation
import SymModel
import SymStore

/// Each daemon's heartbeat in the store's `hosts` table (host, version, pid, started, last seen), written every
/// `FleetStatus.heartbeatSeconds`: what `symtui hosts` reads to tell a live bastion from one that stopped.
final class Heartbeat: @unchecked Sendable {
    private let store: any RequestStore
    private let host: @Sendable () -> String
    private let version: String
    private let started: Date
    private let now: @Sendable () -> Date
    private let interval: TimeInterval
    private let cond = NSCondition()
    private var failing = false

    init(store: any RequestStore, host: @escaping @Sendable () -> String, version: String,
         now: @escaping @Sendable () -> Date = { Date() }, interval: TimeInterval = FleetStatus.heartbeatSeconds) {
        self.store = store; self.host = host; self.version = version; self.now = now; self.interval = interval
        started = now()
    }

    /// Writes this daemon's row now.
    func beat() throws {
        let record = HostRecord(host: host(), version: version, pid: Int64(getpid()), startedAt: started, seenAt: now())
        try store.write { try $0.recordHeartbeat(record) }
    }

    /// Beats until `stop` returns true (checked at least every heartbeat); a failed beat is logged once per outage.
    func run(until stop: @escaping @Sendable () -> Bool) {
        while !stop() {
            do {
                try beat()
                if failing { DaemonLog.shared.log(.info, "heartbeat: written again") }
                failing = false
            } catch {
                if !failing { DaemonLog.shared.log(.warning, "heartbeat: \(error)") }
                failing = true
            }
            cond.lock()
            _ = cond.wait(until: Date().addingTimeInterval(interval))
            cond.unlock()
        }
    }

    /// Wakes a sleeping `run` (at a stop).
    func wake() { cond.lock(); cond.broadcast(); cond.unlock() }
}

/// The answer to `{"read":"hosts"}`: every daemon that sent a heartbeat, and every host strategy steps wait for,
/// with how many are due for it. See docs/protocol.md ("hosts").
public enum FleetStatus {
    /// How often a daemon writes its heartbeat.
    public static let heartbeatSeconds: TimeInterval = 5
    /// A host is alive when its last heartbeat is at most this old (three heartbeats).
    public static let aliveWithin: TimeInterval = 3 * heartbeatSeconds

    /// The pairs after `"ok": true`: `hosts` (sorted by name) and `any_host_waiting`.
    public static func answer(_ store: any StoreReading, now: Date) throws -> [(String, JSONValue?)] {
        let beats = try store.fleetHosts()
        let work = try store.strategyWorkWaiting(now: now)
        var waiting: [String: Int] = [:]
        var anyHost = 0
        for w in work {
            if let h = w.host { waiting[h, default: 0] += w.count } else { anyHost += w.count }
        }
        let known = Dictionary(beats.map { ($0.host, $0) }, uniquingKeysWith: { a, _ in a })
        let names = Set(known.keys).union(waiting.keys).sorted()
        let hosts: [JSONValue] = names.map { name in
            let beat = known[name]
            let age = beat.map { now.timeIntervalSince($0.seenAt) }
            return .obj([
                ("host", .string(name)),
                ("version", .str(beat?.version)),
                ("pid", .num(beat.map { Int($0.pid) })),
                ("started_at", beat.map { .string(Timestamp.format($0.startedAt)) } ?? .null),
                ("last_seen", beat.map { .string(Timestamp.format($0.seenAt)) } ?? .null),
                ("last_seen_ms", beat.map { .int(Int64(($0.seenAt.timeIntervalSince1970 * 1000).rounded())) } ?? .null),
                ("alive", .bool(age.map { $0 <= aliveWithin } ?? false)),
                ("waiting", .int(Int64(waiting[name] ?? 0))),
            ])
        }
        return [("hosts", .array(hosts)), ("any_host_waiting", .int(Int64(anyHost))),
                ("heartbeat_seconds", .int(Int64(heartbeatSeconds)))]
    }
}
