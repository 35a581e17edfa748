import Foundation
import SymEngine
import SymModel
import SymProtocol
import SymStore
import ThrowawayPostgres
#if canImport(Glibc)
import Glibc
#endif

/// The bench's own PostgreSQL 15 cluster (made on first use, removed at the end of the run), or why there is none.
final class BenchPostgres: @unchecked Sendable {
    nonisolated(unsafe) static var made: PostgresCluster?
    nonisolated(unsafe) static var failure: String?

    static func cluster() throws -> PostgresCluster {
        if let made { return made }
        if let failure { throw StoreError(failure) }
        if let reason = PostgresCluster.unavailableReason { failure = reason; throw StoreError(reason) }
        log("postgres: starting a throwaway cluster (initdb, pg_ctl)")
        do { made = try PostgresCluster(durable: true) } catch { failure = "\(error)"; throw error }
        return made!
    }

    /// A new empty schema on the bench's cluster: its connection string.
    static func freshStore() throws -> String { try cluster().freshSchema().conninfo }

    static func destroy() { made?.destroy(); made = nil }
}

/// Raw libpq: single-row INSERT transactions (one autocommitted parameterised INSERT of a 200-byte text each) on
/// `connections` connections at once for `seconds`; the total transactions/s.
func rawPostgresInsertRate(conninfo: String, connections: Int, seconds: Double) throws -> Double {
    let setup = try PostgresConnection(conninfo: conninfo)
    try setup.execute("CREATE TABLE IF NOT EXISTS bench_raw(id bigserial PRIMARY KEY, at bigint NOT NULL, body text NOT NULL)")
    let conns = Box(try (0..<connections).map { _ in try PostgresConnection(conninfo: conninfo) })
    let body = String(repeating: "x", count: 200)
    let counts = Counts(connections)
    let end = monoNanos() + UInt64(seconds * 1e9)
    let start = monoNanos()
    DispatchQueue.concurrentPerform(iterations: connections) { i in
        var n = 0
        let conn = conns.value[i]   // each thread its own connection
        while monoNanos() < end {
            if (try? conn.execute("INSERT INTO bench_raw(at, body) VALUES($1, $2)", [String(n), body])) == nil { counts.fail(); return }
            n += 1
        }
        counts.set(i, n)
    }
    let elapsed = elapsedSeconds(since: start)
    if counts.failed { throw StoreError("a raw INSERT failed") }
    return Double(counts.total) / elapsed
}

/// `Engine.execute` on PostgresStores: `stores` engines at once (one daemon's store and engine each, on its own
/// thread), each sending `request` then `approve` in turn; the total commands/s.
func postgresEngineRate(site: BenchSite, conninfo: String, stores: Int, seconds: Double) throws -> Double {
    let config = try site.config()
    let engines = try (0..<stores).map { i in
        Engine(config: config, store: try PostgresStore(conninfo: conninfo, hostName: "bench-\(i)"))
    }
    let bob = Identity(uid: 60_001, name: "bob", groups: ["dev"])
    let alice = Identity(uid: 60_002, name: "alice", groups: ["oncall"])
    return try pairRate(workers: stores, seconds: seconds) { i, n in
        let created = try engines[i].execute(.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "reindex \(n)"),
                                             by: bob).get()
        _ = try engines[i].execute(.approve(id: created.id, reason: "ok"), by: alice).get()
    }
}

/// `workers` threads at once, each running `pair(worker, n)` (two commands: a request and its approval) until
/// `seconds` pass; the total commands/s. The first failure is thrown.
func pairRate(workers: Int, seconds: Double, _ pair: @escaping @Sendable (Int, Int) throws -> Void) throws -> Double {
    let counts = Counts(workers)
    let errors = Box<String?>(nil)
    let end = monoNanos() + UInt64(seconds * 1e9)
    let start = monoNanos()
    DispatchQueue.concurrentPerform(iterations: workers) { i in
        var commands = 0
        do {
            while monoNanos() < end {
                try pair(i, commands)
                commands += 2
            }
        } catch {
            errors.value = "\(error)"
            counts.fail()
        }
        counts.set(i, commands)
    }
    let elapsed = elapsedSeconds(since: start)
    if let e = errors.value { throw StoreError("a command failed: \(e)") }
    return Double(counts.total) / elapsed
}

/// Commit on store A → heard by store B's `PostgresListener`: `samples` single-request writes, one at a time, each
/// timed from the moment A's `write` began to B's listener reporting its id.
func postgresNoticeLatency(site: BenchSite, conninfo: String, samples: Int) throws -> (heard: Samples, commit: Samples, missed: Int) {
    let a = try PostgresStore(conninfo: conninfo, hostName: "a"), b = try PostgresStore(conninfo: conninfo, hostName: "b")
    let heardAt = HeardTimes()
    let listener = b.makeListener { ids, _ in heardAt.heard(ids ?? [], at: monoNanos()) }
    listener.start()
    defer { listener.stop() }
    let deadline = monoNanos() + 30_000_000_000
    while !listener.isConnected && monoNanos() < deadline { usleep(10_000) }
    guard listener.isConnected else { throw StoreError("the listener did not connect") }
    let engine = Engine(config: try site.config(), store: a)
    let bob = Identity(uid: 60_001, name: "bob", groups: ["dev"])
    var heard = Samples(), commit = Samples(), missed = 0
    for n in 0..<samples {
        let t0 = monoNanos()
        let id = try engine.execute(.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "n\(n)"), by: bob).get().id
        commit.add(Double(monoNanos() - t0) / 1e6)
        if let t = heardAt.wait(for: id, timeout: 2) { heard.add(Double(t &- t0) / 1e6) } else { missed += 1 }
        usleep(2_000)   // an idle fleet between commits, as in a console's day
    }
    return (heard, commit, missed)
}

/// `pg`: decisions/s through PostgresStore against raw libpq INSERT transactions/s on the same server (1 and 3 at
/// once), and commit → heard by another store's listener.
/// Five rounds: the raw baseline alone moves by a third from one round to the next on this kind of machine, and the
/// median of five is steadier than that of three.
func measurePostgres(root: String, report: Report, rounds: Int = 5, seconds: Double = 2) throws {
    let cluster: PostgresCluster
    do { cluster = try BenchPostgres.cluster() } catch {
        report.add(Figure(name: "PostgreSQL decisions ÷ raw INSERT", measured: "not measured: \(error)", goal: "≥ 0.3", verdict: .info,
                          method: "symtui-bench --only pg starts its own PostgreSQL 15 cluster (as root)"))
        return
    }
    log("pg: raw libpq vs Engine.execute on PostgresStore (1 and 3 at once), \(rounds) rounds; notice latency")
    let site = try BenchSite(root: root, name: "pg")
    for width in [1, 3] {
        let stores = width == 1 ? "1 store" : "\(width) stores at once"
        try ratioRounds(report, name: "PostgreSQL decisions ÷ raw INSERT (\(stores))", detail: "pg ×\(width)", rounds: rounds,
                        raw: { try rawPostgresInsertRate(conninfo: try cluster.freshSchema().conninfo, connections: width, seconds: seconds) },
                        measured: { try postgresEngineRate(site: site, conninfo: try cluster.freshSchema().conninfo, stores: width, seconds: seconds) },
                        method: "\(rounds) alternating rounds of \(fmt(seconds, 1)) s on the bench's own PostgreSQL 15 cluster (fsync on, 127.0.0.1 TCP, "
                            + "scram login). Baseline: \(width) libpq connection(s) at once, each one autocommitted single-row INSERT (200-byte text) "
                            + "per transaction. Measured: \(width) `PostgresStore` + `Engine` pair(s) at once (as \(width) daemon(s)), each `request` "
                            + "(flow `job`) then `approve` by another identity, every command one transaction with its audit event; total commands/s.")
    }
    // The same through real daemons: the socket, the daemon's threads and its JSON lines included.
    for width in [1, 3] {
        let name = "PostgreSQL decisions through real daemons ÷ raw INSERT (\(width == 1 ? "1 daemon" : "\(width) daemons at once"))"
        do {
            try ratioRounds(report, name: name, detail: "pg daemons ×\(width)", rounds: rounds,
                            raw: { try rawPostgresInsertRate(conninfo: try cluster.freshSchema().conninfo, connections: width, seconds: seconds) },
                            measured: { try postgresDaemonRate(root: root, cluster: cluster, daemons: width, seconds: seconds) },
                            method: "\(rounds) alternating rounds of \(fmt(seconds, 1)) s: the raw baseline as above, against \(width) release "
                                + "`symtui daemon`(s) (bastions) on one schema, one client per daemon on its socket sending `request` then `approve` "
                                + "(self-approval allowed) and reading each answer before the next; total commands/s.")
        } catch {
            report.add(Figure(name: name, measured: "error: \(error)", goal: "≥ 0.3", verdict: .failed,
                              method: "release `symtui daemon`s on the bench's cluster"))
        }
    }
    let latency = try postgresNoticeLatency(site: site, conninfo: try cluster.freshSchema().conninfo, samples: 400)
    let h = latency.heard
    let met = h.median <= 10 && h.p99 <= 50 && latency.missed == 0
    report.add(Figure(name: "PostgreSQL commit on A → heard by B's listener",
                      measured: "p50 \(fmt(h.median)) ms, p99 \(fmt(h.p99)) ms, max \(fmt(h.max)) ms, missed \(latency.missed) of \(h.count + latency.missed)",
                      goal: "p50 ≤ 10 ms, p99 ≤ 50 ms", verdict: met ? .met : .missed,
                      method: "two PostgresStores (two daemons) on one schema; A's engine makes a request (one transaction + NOTIFY), B's "
                        + "`PostgresListener` (its own LISTEN connection, poll()) reports the id; timed from the start of A's command, so the "
                        + "figure includes A's commit (p50 \(fmt(latency.commit.median)) ms); one commit at a time, 2 ms apart"))
    do {
        let d = try postgresDaemonFeedLatency(root: root, cluster: cluster, samples: 300)
        let met = d.heard.median <= 10 && d.heard.p99 <= 50 && d.missed == 0
        report.add(Figure(name: "PostgreSQL commit through daemon A → change line on daemon B",
                          measured: "p50 \(fmt(d.heard.median)) ms, p99 \(fmt(d.heard.p99)) ms, max \(fmt(d.heard.max)) ms, "
                            + "missed \(d.missed) of \(d.heard.count + d.missed)",
                          goal: "p50 ≤ 10 ms, p99 ≤ 50 ms", verdict: met ? .met : .missed,
                          method: "two real `symtui daemon`s (bastions bench-a, bench-b) on one schema; a `request` sent to A's socket, "
                            + "timed to the line naming it on a subscription to B's socket (what wakes an idle console there), so it "
                            + "includes A's whole command (its reply took p50 \(fmt(d.reply.median)) ms, p99 \(fmt(d.reply.p99)) ms, max \(fmt(d.reply.max)) ms); one at a time, 5 ms apart"))
    } catch {
        report.add(Figure(name: "PostgreSQL commit through daemon A → change line on daemon B", measured: "error: \(error)",
                          goal: "p50 ≤ 10 ms, p99 ≤ 50 ms", verdict: .failed, method: "two real daemons on the bench's cluster"))
    }
}

/// `rounds` alternating rounds of `raw` and `measured` (rates), each logged; the figure is the ratio of their
/// medians, goal ≥ 0.3, with the lowest round's ratio.
func ratioRounds(_ report: Report, name: String, detail: String, rounds: Int, raw: () throws -> Double, measured: () throws -> Double,
                 method: String) throws {
    var base = Samples(), got = Samples(), ratios = Samples()
    for round in 0..<rounds {
        let r = try raw(), m = try measured()
        base.add(r); got.add(m); ratios.add(m / r)
        report.detail("\(detail) round \(round + 1): raw \(fmtInt(r)) tx/s, measured \(fmtInt(m)) commands/s, ratio \(fmt(m / r, 3))")
    }
    let ratio = got.median / base.median
    report.add(Figure(name: name, measured: "\(fmt(ratio, 3)) (\(fmtInt(got.median)) commands/s ÷ \(fmtInt(base.median)) tx/s; per-round min \(fmt(ratios.min, 3)))",
                      goal: "≥ 0.3", verdict: ratio >= 0.3 ? .met : .missed, method: method))
}

/// Per-thread counts of a concurrent run.
final class Counts: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int]
    private(set) var failed = false
    init(_ n: Int) { values = Array(repeating: 0, count: n) }
    func set(_ i: Int, _ v: Int) { lock.withLock { values[i] = v } }
    func fail() { lock.withLock { failed = true } }
    var total: Int { lock.withLock { values.reduce(0, +) } }
}

final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ v: T) { stored = v }
    var value: T { get { lock.withLock { stored } } set { lock.withLock { stored = newValue } } }
}

/// When a listener reported each request id.
final class HeardTimes: @unchecked Sendable {
    private let condition = NSCondition()
    private var times: [Int64: UInt64] = [:]
    func heard(_ ids: Set<Int64>, at t: UInt64) {
        condition.lock()
        for id in ids where times[id] == nil { times[id] = t }
        condition.broadcast()
        condition.unlock()
    }
    func wait(for id: Int64, timeout: TimeInterval) -> UInt64? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while times[id] == nil { guard condition.wait(until: deadline) else { return times[id] } }
        return times[id]
    }
}

/// Real `symtui daemon`s (bastions bench-NAME) on one fresh schema of the cluster; their sockets, and the processes
/// to stop. The first one makes the schema before the others start.
func startPostgresDaemons(root: String, cluster: PostgresCluster, names: [String]) throws -> (sockets: [String], processes: [Process]) {
    let schema = try cluster.freshSchema().schema
    let uri = "postgresql://\(cluster.owner)@127.0.0.1:\(cluster.port)/symtui?passfile=\(cluster.passfile)&options=-c%20search_path%3D\(schema)"
    let dir = root + "/pg-daemons"
    try? FileManager.default.removeItem(atPath: dir)
    var daemons: [Process] = []
    var sockets: [String] = []
    func start(_ name: String) throws {
        let state = dir + "/" + name
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let config = """
            { store: "\(uri)", socket: "\(state)/symtui.sock", host_name: "bench-\(name)", limits: { pending_per_user: 10000 },
              flows: [ { name: "job", label: "Run a job", approvers: { users: ["\(BenchSite.me)"] }, allow_self_approval: true,
                         prompt_fields: [ { name: "reason", type: "string", label: "Why?", required: true } ] } ] }
            """
        try config.write(toFile: state + "/config.json5", atomically: true, encoding: .utf8)
        daemons.append(try spawn(symtuiExecutable, ["--config", state + "/config.json5", "daemon"], logPath: state + "/daemon.log"))
        sockets.append(state + "/symtui.sock")
        // The first daemon makes the schema; the others start on a current one.
        if sockets.count == 1 { _ = try connect(sockets[0]) }
    }
    do { try names.forEach(start) } catch {
        daemons.forEach(stop)
        throw error
    }
    return (sockets, daemons)
}

/// Commands/s through real daemons on PostgreSQL: one client per daemon (its own socket connection, as one
/// `symtui events` stream), each sending `request` then `approve` in turn for `seconds`; the total.
func postgresDaemonRate(root: String, cluster: PostgresCluster, daemons: Int, seconds: Double) throws -> Double {
    let (sockets, processes) = try startPostgresDaemons(root: root, cluster: cluster, names: (0..<daemons).map { "r\($0)" })
    defer { processes.forEach(stop) }
    let clients = Box(try sockets.map { try connect($0) })
    return try pairRate(workers: daemons, seconds: seconds) { i, n in
        let c = clients.value[i]
        try c.writeLine(ChangeCall.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "rate \(n)").json.compact)
        guard let line = try c.readLine(), let id = try JSONValue.parse(line)["request"]?["id"]?.intValue else {
            throw StoreError("the daemon refused the request")
        }
        try c.writeLine(ChangeCall.approve(id: id, reason: "ok").json.compact)
        guard let answer = try c.readLine(), try JSONValue.parse(answer)["request"]?["state"]?.stringValue == "approved" else {
            throw StoreError("the daemon refused the approval")
        }
    }
}

/// Two real daemons (release `symtui daemon`, bastions `bench-a` and `bench-b`) on one schema of the bench's cluster:
/// `samples` requests sent one at a time to A's socket, each timed from sending it to the change line naming it on a
/// subscription to B's socket (what wakes an idle console on bastion B).
func postgresDaemonFeedLatency(root: String, cluster: PostgresCluster, samples: Int) throws -> (heard: Samples, reply: Samples, missed: Int) {
    let (sockets, daemons) = try startPostgresDaemons(root: root, cluster: cluster, names: ["a", "b"])
    defer { daemons.forEach(stop) }
    let commands = try connect(sockets[0])
    let feed = try connect(sockets[1])
    try feed.writeLine(DaemonCall.read(.subscribe).json.compact)
    guard let ok = try feed.readLine(), ok.contains("subscribed") else { throw StoreError("B did not confirm the subscription") }
    var heard = Samples(), reply = Samples(), missed = 0
    for n in 0..<samples {
        let t0 = monoNanos()
        try commands.writeLine(ChangeCall.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "n\(n)").json.compact)
        guard let line = try commands.readLine(), let id = try JSONValue.parse(line)["request"]?["id"]?.intValue else {
            throw StoreError("A refused the request")
        }
        reply.add(Double(monoNanos() - t0) / 1e6)
        var seen = false
        var lines: [String] = []
        let deadline = monoNanos() + 2_000_000_000
        while !seen && monoNanos() < deadline {
            guard let change = try? feed.readLine(), let v = try? JSONValue.parse(change) else { lines.append("(no line)"); break }
            lines.append(change)
            // A line without ids means "anything changed": it covers this commit too.
            if let ids = v["ids"]?.arrayValue { seen = ids.contains { $0.intValue == id } } else { seen = true }
            if seen { heard.add(Double(monoNanos() - t0) / 1e6) }
        }
        if !seen { missed += 1; log("pg daemons: #\(id) not seen on B within 2 s; lines: \(lines)") }
        usleep(5_000)   // one commit at a time, an idle fleet in between
    }
    return (heard, reply, missed)
}

/// A connection to a daemon's socket once it answers (within 20 s).
private func connect(_ socket: String) throws -> LineConnection {
    let deadline = monoNanos() + 20_000_000_000
    while monoNanos() < deadline {
        if let c = try? connectUnixSocket(socket) { c.setReceiveTimeout(seconds: 10); return c }
        sleepMs(20)
    }
    throw StoreError("no daemon answered on \(socket)")
}
