import Foundation
import SymModel

// The fleet on SQLite (a fleet of one bastion, or several daemons on one file in tests): heartbeats and the strategy
// steps waiting for each host. The PostgreSQL store answers the same questions (PostgresSession).

/// One daemon's heartbeat: which bastion, which build, which process, since when, last seen when.
public struct HostRecord: Sendable, Equatable {
    public var host: String
    public var version: String
    public var pid: Int64
    public var startedAt: Date
    public var seenAt: Date
    public init(host: String, version: String, pid: Int64, startedAt: Date, seenAt: Date) {
        self.host = host; self.version = version; self.pid = pid; self.startedAt = startedAt; self.seenAt = seenAt
    }
}

/// How many strategy steps are due for one host (nil: steps any daemon may run).
public struct HostWork: Sendable, Equatable {
    public var host: String?
    public var count: Int
    public init(host: String?, count: Int) { self.host = host; self.count = count }
}

extension Store {
    public func fleetHosts() throws -> [HostRecord] {
        var out: [HostRecord] = []
        try db.query("SELECT host, version, pid, started_at, seen_at FROM hosts ORDER BY host") { s in
            out.append(HostRecord(host: s.text(0), version: s.text(1), pid: s.int(2), startedAt: Store.date(s.int(3)), seenAt: Store.date(s.int(4))))
        }
        return out
    }

    public func strategyWorkWaiting(now: Date) throws -> [HostWork] {
        var out: [HostWork] = []
        try db.query("""
            SELECT runs_on, count(*) FROM requests INDEXED BY requests_retry WHERE state IN ('escalating', 'deescalating')
              AND (next_attempt_at IS NULL OR next_attempt_at <= ?) GROUP BY runs_on ORDER BY runs_on
            """, [.int(Store.millis(now))]) { s in
            out.append(HostWork(host: s.optText(0), count: Int(s.int(1))))
        }
        return out
    }
}

extension StoreTransaction {
    public func recordHeartbeat(_ h: HostRecord) throws {
        try begin()
        // Not `touched`: a heartbeat changes no request and no event, so no console is woken by it.
        try db.run("""
            INSERT INTO hosts(host, version, pid, started_at, seen_at) VALUES(?,?,?,?,?)
            ON CONFLICT(host) DO UPDATE SET version = excluded.version, pid = excluded.pid, started_at = excluded.started_at,
              seen_at = excluded.seen_at
            """, [.text(h.host), .text(h.version), .int(h.pid), .int(Store.millis(h.startedAt)), .int(Store.millis(h.seenAt))])
    }
}
