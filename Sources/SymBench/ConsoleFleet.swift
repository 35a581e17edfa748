import Foundation
import SymModel
import SymProtocol
import SymStore

/// Commits at a steady rate through the real daemon, on a thread of its own, until stopped.
final class CommitPacer: @unchecked Sendable {
    /// Which commits: requests the consoles' user may not decide (their own, on a flow without self-approval) and
    /// their cancellation — traffic that touches nothing a console shows; or requests on a flow where self-approval
    /// is allowed, which enter the head of every console's review queue (and their cancellation leaves it).
    enum Mix: String { case others, theirs }

    private let site: BenchSite
    private let mix: Mix
    private let perSecond: Double
    private let lock = NSLock()
    private var stopping = false
    private var finished = false
    private(set) var commits = 0
    private(set) var failure: String?

    init(site: BenchSite, mix: Mix, perSecond: Double) { self.site = site; self.mix = mix; self.perSecond = perSecond }

    func start() {
        let t = Thread { [self] in loop() }
        t.start()
    }

    /// Stops and waits for the thread; returns how many commits it made.
    @discardableResult
    func stop() -> Int {
        lock.withLock { stopping = true }
        while !lock.withLock({ finished }) { usleep(10_000) }
        return commits
    }

    private func loop() {
        defer { lock.withLock { finished = true } }
        do {
            let conn = try site.connectToDaemon()
            func send(_ c: ChangeCall) throws -> JSONValue {
                try conn.writeLine(c.json.compact)
                guard let line = try conn.readLine() else { throw StoreError("the daemon closed the connection") }
                let reply = try JSONValue.parse(line)
                guard reply["ok"]?.boolValue == true else { throw StoreError("daemon refused: \(line)") }
                return reply
            }
            let interval = UInt64(1e9 / perSecond)
            var next = monoNanos()
            var open: Int64?
            while !lock.withLock({ stopping }) {
                if let id = open {
                    _ = try send(.cancel(id: id))
                    open = nil
                } else {
                    let call: ChangeCall = mix == .others
                        ? .request(flow: "access", target: "db", fields: [:], duration: "1h", reason: "bench traffic \(commits)")
                        : .request(flow: "job", target: nil, fields: [:], duration: nil, reason: "bench queue traffic \(commits)")
                    open = try send(call)["request"]?["id"]?.intValue
                }
                lock.withLock { commits += 1 }
                next += interval
                let now = monoNanos()
                if next > now { usleep(UInt32((next - now) / 1000)) } else { next = now }
            }
            if let id = open { _ = try? send(.cancel(id: id)) }
        } catch {
            lock.withLock { failure = "\(error)" }
        }
    }
}

/// CPU time (clock ticks) of the processes, summed; processes that went away count what they had.
func ticks(_ pids: [Int32]) -> Int { pids.reduce(0) { $0 + (cpuTicks(pid: $1) ?? 0) } }

/// 100 real consoles in tmux on a 100,000-request store while commits arrive at 10/s: what the consoles and the
/// daemon spend beyond what the daemon spends on the same commits with no console open.
func measureConsoleFleet(root: String, report: Report, consoles: Int = 100, seconds: Double = 30, rate: Double = 10, sites: Int = 2) throws {
    log("console fleet: \(consoles) real consoles in tmux, \(Int(rate)) commits/s for \(Int(seconds)) s")
    Tmux.killServer()
    Tmux.startServer()
    defer { Tmux.killServer() }
    let tmuxServer = Int32(Tmux.run(["display-message", "-p", "-t", "keep", "#{pid}"]).trimmingCharacters(in: .whitespacesAndNewlines))
    let runs: [(label: String, site: BenchSite, mix: CommitPacer.Mix, goal: Double)] = [
        ("100,000 requests, 5,000 pending for them", try consoleSite(root: root, name: "fleet-100k", total: 100_000, pendingEvery: 20), .others, 10),
        ("100,000 requests, all pending for them", try consoleSite(root: root, name: "fleet-100k-pending", total: 100_000, pendingEvery: 1), .others, 20),
    ]
    for run in runs.prefix(sites) {
        let daemon = try spawn(symtuiExecutable, ["--config", run.site.configPath, "daemon"], logPath: run.site.dir + "/daemon.log")
        defer { stop(daemon) }
        _ = try run.site.connectToDaemon()
        let dpid = daemon.processIdentifier
        func paced(_ mix: CommitPacer.Mix, _ pids: [Int32]) -> (daemon: Double, consoles: Double, tmux: Double, commits: Int, elapsed: Double, failure: String?) {
            let pacer = CommitPacer(site: run.site, mix: mix, perSecond: rate)
            let (d0, c0, t0) = (cpuTicks(pid: dpid) ?? 0, ticks(pids), tmuxServer.flatMap { cpuTicks(pid: $0) } ?? 0)
            let start = monoNanos()
            pacer.start()
            sleepMs(seconds * 1000)
            let commits = pacer.stop()
            let elapsed = elapsedSeconds(since: start)
            let (d1, c1, t1) = (cpuTicks(pid: dpid) ?? 0, ticks(pids), tmuxServer.flatMap { cpuTicks(pid: $0) } ?? 0)
            func pct(_ t: Int) -> Double { Double(t) / clockTicksPerSecond / elapsed * 100 }
            return (pct(d1 - d0), pct(c1 - c0), pct(t1 - t0), commits, elapsed, pacer.failure)
        }
        // The daemon alone at the same rate: what the commits cost without consoles.
        let alone = paced(run.mix, [])
        report.detail("fleet [\(run.label)]: no console, \(alone.commits) commits in \(fmt(alone.elapsed, 1)) s: daemon \(fmt(alone.daemon, 2)) % of a core"
                      + (alone.failure.map { " (pacer: \($0))" } ?? ""))
        let worstCase = run.label.hasPrefix("100,000 requests, 5,000")
        let aloneTheirs = worstCase ? paced(.theirs, []) : nil
        // The consoles, each in its own tmux session, started a few at a time.
        let command = "exec \(symtuiExecutable) --config \(run.site.configPath)"
        var pids: [Int32] = []
        for i in 0..<consoles {
            Tmux.newSession("c\(i)", command: command)
            if i % 10 == 9 { sleepMs(300) }
        }
        sleepMs(3_000)
        for i in 0..<consoles {
            if let pid = Tmux.panePID("c\(i)"), comm(pid: pid).hasPrefix("symtui") { pids.append(pid) }
        }
        defer { for i in 0..<consoles { Tmux.kill("c\(i)") } }
        // Settle: every console has drawn and read its first queue.
        var settled = false
        for _ in 0..<60 {
            let before = ticks(pids)
            sleepMs(1_000)
            // What idle consoles spend (a redraw a second for the countdowns) is ~0.1 % each: settled below 0.3 % each.
            if Double(ticks(pids) - before) / clockTicksPerSecond * 100 < 0.3 * Double(max(1, pids.count)) { settled = true; break }
        }
        let sample = Tmux.capture("c0").split(separator: "\n").last.map(String.init) ?? ""
        let rss = pids.compactMap { memoryKB(pid: $0) }.reduce(0, +) / max(1, pids.count) / 1024
        report.detail("fleet [\(run.label)]: \(pids.count) consoles running (settled: \(settled)), mean VmRSS \(rss) MB; c0's status line: \(sample)")
        // Idle: no commit at all.
        let i0 = (ticks(pids), cpuTicks(pid: dpid) ?? 0)
        let idleStart = monoNanos()
        sleepMs(10_000)
        let idleElapsed = elapsedSeconds(since: idleStart)
        let idle = (Double(ticks(pids) - i0.0) / clockTicksPerSecond / idleElapsed * 100,
                    Double((cpuTicks(pid: dpid) ?? 0) - i0.1) / clockTicksPerSecond / idleElapsed * 100)
        report.detail("fleet [\(run.label)]: idle, no commits, 10 s: consoles together \(fmt(idle.0, 2)) %, daemon \(fmt(idle.1, 2)) % of a core")
        let busy = paced(run.mix, pids)
        let extra = busy.consoles + busy.daemon - alone.daemon
        report.detail("fleet [\(run.label)]: \(pids.count) consoles, \(busy.commits) commits (\(run.mix.rawValue)) in \(fmt(busy.elapsed, 1)) s: "
                      + "consoles together \(fmt(busy.consoles, 2)) %, daemon \(fmt(busy.daemon, 2)) % (alone \(fmt(alone.daemon, 2)) %), "
                      + "tmux server \(fmt(busy.tmux, 2)) % of a core; extra = \(fmt(extra, 2)) %" + (busy.failure.map { " (pacer: \($0))" } ?? ""))
        report.add(Figure(name: "\(consoles) idle consoles, \(Int(rate)) commits/s [\(run.label)]: consoles + daemon beyond the daemon alone",
                          measured: "\(fmt(extra, 2)) % of one core (consoles \(fmt(busy.consoles, 2)) %, daemon \(fmt(busy.daemon, 2)) % vs \(fmt(alone.daemon, 2)) % alone)",
                          goal: "≤ \(Int(run.goal)) %", verdict: busy.failure == nil && pids.count == consoles ? (extra <= run.goal ? .met : .missed) : .failed,
                          method: "the real daemon on a store of 100,000 requests (\(run.label)); \(consoles) real `symtui` consoles, each in its own "
                            + "`tmux -L \(Tmux.socketName)` session (120x40), settled on Review; a client sends \(Int(rate)) commits/s for "
                            + "\(Int(seconds)) s through the socket (a request the consoles' user may not decide, then its cancellation). "
                            + "CPU = utime+stime from /proc/PID/stat of every console and the daemon over the run, minus the daemon's over the "
                            + "same run with no console open (measured first); the tmux server's share is in the details, not counted."))
        if let aloneTheirs {
            // The other extreme: every commit changes the head of every console's queue, so every console reads it.
            let theirs = paced(.theirs, pids)
            report.detail("fleet [\(run.label)]: commits that enter/leave the head of every console's queue (\(theirs.commits) in "
                          + "\(fmt(theirs.elapsed, 1)) s): consoles together \(fmt(theirs.consoles, 2)) %, daemon \(fmt(theirs.daemon, 2)) % "
                          + "(alone \(fmt(aloneTheirs.daemon, 2)) %), tmux server \(fmt(theirs.tmux, 2)) %; extra = "
                          + "\(fmt(theirs.consoles + theirs.daemon - aloneTheirs.daemon, 2)) % of a core (no goal: every console must redraw)")
        }
    }
}
