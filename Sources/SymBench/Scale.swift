import Foundation
import SymModel
import SymProtocol
import SymStore

/// The store of `make bench-scale`: `requests` requests (1 in 20 pending for the bench user, 1 in 50 active, the rest
/// ended) and `events` chained audit events, built once by direct inserts in big transactions and kept under
/// `root/scale-…` between runs (a file `complete` says it was built to the end).
func scaleSite(root: String, requests: Int, events: Int) throws -> BenchSite {
    let name = "scale-\(requests)-\(events)"
    let dir = root + "/" + name
    let marker = dir + "/complete"
    if FileManager.default.fileExists(atPath: marker), FileManager.default.fileExists(atPath: dir + "/symtui.db") {
        log("scale: reusing \(dir)")
        return try BenchSite(root: root, name: name, keepStore: true)
    }
    let site = try BenchSite(root: root, name: name)
    log("scale: building \(requests) requests and \(events) events in \(dir) (once; kept for the next runs)")
    let started = monoNanos()
    let store = try Store.openForWriting(path: site.storePath)
    // Building a fixture: nothing is lost if the machine stops (it is built again), so no fsync per transaction.
    try store.db.execute("PRAGMA synchronous=OFF")
    try store.db.execute("PRAGMA cache_size=-262144")
    let now = Date()
    let batch = 50_000
    var i = 0
    while i < requests {
        let end = min(requests, i + batch)
        try store.write { tx in
            for j in i..<end { _ = try tx.insert(Seed.scaled(j, of: requests, now: now)) }
        }
        i = end
    }
    log("scale: \(requests) requests in \(fmt(elapsedSeconds(since: started), 1)) s")
    let perRequest = max(1, events / max(1, requests))
    // Straight inserts with real hashes (FixtureChain: no journal while building, ids made from the seq).
    let chain = try FixtureChain(store: store)
    let nowMs = FixtureChain.millis(now)
    for j in 0..<events {
        let rid = Int64(j / perRequest + 1)
        let type: EventType = j % perRequest == 0 ? .request : (j % perRequest == 1 ? .approve : .notify)
        // Spread over the last ~12 days, oldest first.
        try chain.append(type: type, requestId: rid, flow: "access", target: "db", requester: "user\(Int(rid) % 997)",
                         actor: type == .approve ? "alice" : "system", reason: "ticket OPS-\(rid)",
                         data: "{\"duration_seconds\":3600,\"step\":\(j % perRequest)}", timeMs: nowMs - Int64(events - j) * 100)
        if (j + 1) % 1_000_000 == 0 { log("scale: \(j + 1) events, \(fmt(elapsedSeconds(since: started), 1)) s") }
    }
    try chain.finish()
    try store.db.execute("PRAGMA synchronous=FULL")
    try store.db.execute("ANALYZE")
    try store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    let seconds = elapsedSeconds(since: started)
    let size = ((try? FileManager.default.attributesOfItem(atPath: site.storePath)[.size] as? Int) ?? 0) ?? 0
    try "built in \(fmt(seconds, 1)) s, \(size / 1_048_576) MB\n".write(toFile: marker, atomically: true, encoding: .utf8)
    log("scale: built in \(fmt(seconds, 1)) s (\(size / 1_048_576) MB)")
    return site
}

extension Seed {
    /// A request of the scale store: created oldest first over the last ~35 days; 1 in 20 pending for the bench
    /// user, 1 in 50 active, the rest ended.
    static func scaled(_ i: Int, of count: Int, now: Date) -> AccessRequest {
        let created = now.addingTimeInterval(-Double(count - i) * 3)
        let target = i % 2 == 0 ? "db" : "ssh"
        var r = AccessRequest(flow: "access", target: target, targetLabel: target == "db" ? "orders DB" : "Production SSH",
                              requester: "user\(i % 997)", state: .pending,
                              fields: ["reason": .string("ticket OPS-\(i): rotate the keys of shard \(i % 64)"),
                                       "duration": .duration(TimeSpan(seconds: 3600))],
                              durationSeconds: 3600, createdAt: created, requestExpiresAt: now.addingTimeInterval(3 * 86_400))
        r.routing = Routing(approvers: Approvers(users: ["alice", BenchSite.me]))
        if i % 20 == 0 { return r }
        r.decidedAt = created.addingTimeInterval(60)
        r.approvals = [Approval(user: "alice", at: created.addingTimeInterval(60), reason: "ok", isSelf: false)]
        r.accessStartsAt = created.addingTimeInterval(62)
        if i % 50 == 1 {
            r.state = .active
            r.accessExpiresAt = now.addingTimeInterval(86_400 + Double(i % 3600))
        } else {
            r.state = .ended
            r.endReason = .expired
            r.accessExpiresAt = created.addingTimeInterval(3662)
            r.endedAt = r.accessExpiresAt
        }
        return r
    }
}

/// Milliseconds from starting `symtui ARGS` to its exit, `runs` times (after 2 unmeasured runs).
func commandTimes(_ args: [String], runs: Int) throws -> (samples: Samples, output: String) {
    var s = Samples()
    var out = ""
    for k in 0..<(runs + 2) {
        let t = monoNanos()
        out = try run(symtuiExecutable, args)
        if k >= 2 { s.add(Double(monoNanos() - t) / 1e6) }
    }
    return (s, out)
}

/// The figures of a 1,000,000-request, 10,000,000-event store (`make bench-scale`).
func measureScale(root: String, report: Report, requests: Int = 1_000_000, events: Int = 10_000_000) throws {
    log("scale: \(requests) requests, \(events) events")
    let buildStart = monoNanos()
    let site = try scaleSite(root: root, requests: requests, events: events)
    let built = (try? String(contentsOfFile: site.dir + "/complete", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    report.detail("scale store: \(requests) requests, \(events) events; \(built) (this run: \(fmt(elapsedSeconds(since: buildStart), 1)) s to have it)")
    let label = "\(requests / 1_000_000 > 0 ? "\(requests / 1_000_000)M" : "\(requests)") requests, \(events / 1_000_000)M events"

    // Daemon start → serving: from spawning `symtui daemon` until a ping is answered, 3 starts.
    var start = Samples()
    for _ in 0..<3 {
        let t = monoNanos()
        let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
        var served = false
        while monoNanos() - t < 30_000_000_000 && !served {
            if let c = try? connectUnixSocket(site.socketPath) {
                c.setReceiveTimeout(seconds: 10)
                if (try? c.writeLine(#"{"v":1,"event":"ping"}"#)) != nil, let line = try? c.readLine(), line.contains("\"ok\":true") {
                    served = true
                    start.add(Double(monoNanos() - t) / 1e6)
                }
            }
            if !served { usleep(2_000) }
        }
        stop(daemon)
    }
    report.detail("scale [\(label)]: daemon start → first ping answered: " + start.values.map { fmt($0, 0) + " ms" }.joined(separator: ", "))
    report.add(Figure(name: "daemon start → serving (\(label))", measured: "p50 \(fmt(start.median, 0)) ms (max \(fmt(start.max, 0)) ms)",
                      goal: "≤ 1 s", verdict: start.count == 3 ? (start.median <= 1000 ? .met : .missed) : .failed,
                      method: "3 starts of the real `symtui daemon` on the kept store; from the spawn until a `ping` on its socket is answered "
                        + "(polled every 2 ms), then SIGTERM; the store's pages are in the page cache (it was just built or used)."))

    let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
    defer { stop(daemon) }
    _ = try site.connectToDaemon()
    // The process alone: what any command costs before it asks anything.
    let bare = try commandTimes(["--version"], runs: 10)
    let someID = Int64(requests / 2 + 1)
    let commands: [(name: String, args: [String])] = [
        ("`symtui list --review`", ["--config", site.configPath, "list", "--review"]),
        ("`symtui show ID`", ["--config", site.configPath, "show", "\(someID)"]),
        ("`symtui status`", ["--config", site.configPath, "status"]),
    ]
    for c in commands {
        let (s, out) = try commandTimes(c.args, runs: 10)
        let lines = out.split(separator: "\n")
        report.detail("scale [\(label)]: \(c.name): " + s.values.map { fmt($0, 1) }.joined(separator: ", ") + " ms; "
                      + "\(lines.count) lines of output, first: \(lines.first.map { String($0.prefix(100)) } ?? "")")
        report.add(Figure(name: "\(c.name) (\(label))", measured: "p50 \(fmt(s.median, 1)) ms (`symtui --version` alone \(fmt(bare.samples.median, 1)) ms)",
                          goal: "≤ 20 ms", verdict: s.median <= 20 ? .met : .missed,
                          method: "the whole command as a process (spawn → exit) with the daemon running, 10 runs after 2 unmeasured; "
                            + "the bench user is an approver with \(requests / 20) requests waiting."))
    }

    // Console: start → first frame, and RSS, in tmux.
    Tmux.killServer()
    Tmux.startServer()
    defer { Tmux.killServer() }
    let command = "exec \(symtuiExecutable) --config \(site.configPath)"
    var first = Samples()
    for i in 0..<5 {
        if let ms = timeToMarker(session: "scale\(i)", command: command, marker: "symtui.db") { first.add(ms) }
        Tmux.kill("scale\(i)")
    }
    var baseline = Samples()
    for i in 0..<5 {
        if let ms = timeToMarker(session: "base\(i)", command: "echo SYMTUI-BENCH-READY; exec sleep 60", marker: "SYMTUI-BENCH-READY") { baseline.add(ms) }
        Tmux.kill("base\(i)")
    }
    Tmux.newSession("idle", command: command)
    sleepMs(5_000)
    let pid = Tmux.panePID("idle")
    let rss = Double(pid.flatMap { memoryKB(pid: $0) } ?? 0) / 1024
    let status = Tmux.capture("idle").split(separator: "\n").last.map(String.init) ?? ""
    Tmux.kill("idle")
    report.detail("scale [\(label)]: console start → first frame " + first.values.map { fmt($0, 1) }.joined(separator: ", ")
                  + " ms (tmux alone p50 \(fmt(baseline.median, 1)) ms); VmRSS after 5 s \(fmt(rss, 1)) MB; status line: \(status)")
    report.add(Figure(name: "console start → first frame / RSS (\(label))",
                      measured: "p50 \(fmt(first.median, 1)) ms (tmux alone \(fmt(baseline.median, 1)) ms) / \(fmt(rss, 1)) MB",
                      goal: "≤ 100 ms / ≤ 30 MB", verdict: first.count == 5 ? (first.median <= 100 && rss <= 30 ? .met : .missed) : .failed,
                      method: "5 fresh tmux sessions running the real console on the kept store with the daemon running, from `tmux new-session` "
                        + "until `capture-pane` shows the status line; VmRSS of one console 5 s after it started."))
}
