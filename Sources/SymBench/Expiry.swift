import Foundation
import SymEngine
import SymModel
import SymProtocol
import SymStore

/// Expiry lag at normal load: the real daemon, `grants` grants expiring over `spread` seconds.
func measureExpiryLag(root: String, report: Report, grants: Int = 300, spread: Double = 10) throws {
    log("expiry lag: \(grants) grants expiring over \(Int(spread)) s, real daemon, command = /bin/true")
    let site = try BenchSite(root: root, name: "expiry-lag")
    let now = Date()
    let lead = 2.0
    var expiry: [Int64: Date] = [:]
    do {
        let store = try Store.openForWriting(path: site.storePath)
        try store.write { tx in
            for i in 0..<grants {
                let at = now.addingTimeInterval(lead + spread * Double(i) / Double(grants) + Double.random(in: 0..<0.02))
                let r = try tx.insert(Seed.grant(user: "user\(i)", expires: at, now: now))
                expiry[r.id] = r.accessExpiresAt
            }
        }
    }
    let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
    defer { stop(daemon) }
    let reader = try Store.openReadOnly(path: site.storePath)
    let deadline = Date().addingTimeInterval(lead + spread + 20)
    while Date() < deadline {
        if try reader.count(RequestQuery(states: [.ended])) >= grants { break }
        sleepMs(200)
    }
    var lag = Samples()
    var after: Int64 = 0
    while true {
        let events = try reader.events(afterSeq: after, limit: 5_000)
        guard let last = events.last else { break }
        after = last.seq
        for e in events where e.type == .deescalate {
            if let id = e.requestId, let exp = expiry[id] { lag.add(e.time.timeIntervalSince(exp) * 1000) }
        }
    }
    let ended = try reader.count(RequestQuery(states: [.ended]))
    report.detail("expiry lag: \(lag.count) deescalate events of \(grants) grants (\(ended) ended); lag p50 \(fmt(lag.median)) ms, "
                  + "p99 \(fmt(lag.p99)) ms, max \(fmt(lag.max)) ms (event times are stored in whole ms)")
    report.add(Figure(name: "expiry lag p99 at normal load", measured: "p99 \(fmt(lag.p99 / 1000, 3)) s (p50 \(fmt(lag.median / 1000, 3)) s, \(lag.count) grants)",
                      goal: "≤ 1 s", verdict: lag.count == grants && lag.p99 <= 1000 ? .met : .missed,
                      method: "\(grants) active grants written into a fresh store, expiring evenly over \(Int(spread)) s (≈\(Int(Double(grants) / spread))/s) starting "
                        + "\(Int(lead)) s after the real `symtui daemon` starts; `command` strategy with deescalate = /bin/true; "
                        + "lag = the `deescalate` event's recorded time − `access_expires_at`."))
}

/// 10,000 grants expiring together: `GrantLoop.runUntilIdle` (what `daemon --once` runs) in-process.
/// Returns seconds, how many ended, how many failures were recorded, and the store's commits during the run.
func expireTogether(site: BenchSite, count: Int, failFast: Bool) throws -> (seconds: Double, ended: Int, failed: Int, commits: Int) {
    let store = try Store.openForWriting(path: site.storePath)
    let now = Date()
    try Seed.insert(into: store, count: count) { i in Seed.grant(user: "user\(i)", expires: now, now: now) }
    let writer = StoreWriter(store)
    let engine = Engine(config: try site.config(), store: writer)
    // With an executable that cannot start, every run fails at once; keep the retries out of this run.
    if failFast { engine.deescalationRetry = RetryPolicy(name: "bench", base: 3600, cap: 3600, budget: nil) }
    let loop = GrantLoop(engine: engine)
    loop.log = { _, _ in }
    let start = monoNanos()
    try loop.runUntilIdle()
    let s = elapsedSeconds(since: start)
    let commits = writer.commitCounts.batches
    let ended = try writer.read { try $0.count(RequestQuery(states: [.ended])) }
    let failed = Int(try store.db.scalarInt("SELECT count(*) FROM events WHERE type = 'deescalate_failed'") ?? 0)
    return (s, ended, failed, commits)
}

func measureExpiryBurst(root: String, report: Report, count: Int = 10_000) throws {
    log("\(count) grants expiring together")
    let real = try BenchSite(root: root, name: "expiry-burst")
    let total = ProcessInfo.processInfo.environment["SYMTUI_BENCH_SKIP_REAL"] == nil
        ? try expireTogether(site: real, count: count, failFast: false) : (seconds: .nan, ended: 0, failed: 0, commits: 0)
    report.detail("burst: \(count) grants, command=/bin/true: \(fmt(total.seconds)) s, \(total.ended) ended, \(total.failed) deescalate_failed, "
                  + "\(total.commits) commits")
    let noop = try BenchSite(root: root, name: "expiry-burst-store", deescalate: "/nonexistent/symtui-bench-noop")
    let storeOnly = try expireTogether(site: noop, count: count, failFast: true)
    report.detail("burst store share: same loop, deescalate executable missing (fails at access(2), no process): "
                  + "\(fmt(storeOnly.seconds)) s, \(storeOnly.failed) deescalate_failed recorded, \(storeOnly.commits) commits")
    // The goals scale with the burst: 10,000 in 15 s / store 2 s (round 1), 100,000 in 60 s / store 10 s (round 2).
    let (allGoal, storeGoal): (Double, Double) = count >= 100_000 ? (60, 10) : (15, 2)
    let n = fmtInt(Double(count))
    report.add(Figure(name: "\(n) grants expiring together: all ended", measured: "\(fmt(total.seconds)) s (\(total.ended) ended)",
                      goal: "≤ \(Int(allGoal)) s", verdict: total.ended == count && total.seconds <= allGoal ? .met : .missed,
                      method: "\(count) active grants with `access_expires_at` = now written in one go; `GrantLoop(engine:)` (8 workers, as the daemon) "
                        + "`.runUntilIdle()` in-process, which is what `symtui daemon --once` runs; `command` strategy, deescalate = /bin/true."))
    report.add(Figure(name: "\(n) grants expiring together: store's share", measured: "\(fmt(storeOnly.seconds)) s",
                      goal: "≤ \(Int(storeGoal)) s", verdict: storeOnly.failed == count && storeOnly.seconds <= storeGoal ? .met : .missed,
                      method: "the same loop on a fresh copy whose deescalate executable does not exist: ProcessRunner refuses it at `access(2)` "
                        + "before any fork, so the run is the loop's store work alone — claims (`expireGrant`, 500 per transaction), "
                        + "`strategyWorkDue`, `holdsOtherGrant` per deescalation (asked by the workers), and outcomes recorded (`deescalate_failed`: one update + one event, like "
                        + "`deescalate`). Retries pushed out of the run."))
}
