import Foundation
import SymModel
import SymProtocol
import SymEngine
import SymStore

/// One client's loop through the daemon's socket: request, then a self-approval (the bench has one uid), each answered
/// before the next is sent; every command's round trip in microseconds. The client is kept lean, since it shares the
/// machine's cores with the daemon it measures: its lines are written by hand and an answer is only scanned for
/// `"ok":true` and the request's id (`answerRequestID`); an answer that does not pass is parsed whole for the error.
private func clientLoop(_ conn: LineConnection, until end: UInt64, tag: String) throws -> (commands: Int, micros: [Double]) {
    var micros: [Double] = []
    micros.reserveCapacity(8_192)
    func send(_ line: String) throws -> Int64 {
        let t = monoNanos()
        try conn.writeLine(line)
        guard let answer = try conn.readLine() else { throw StoreError("the daemon closed the connection") }
        micros.append(Double(monoNanos() - t) / 1e3)
        if let id = answerRequestID(answer) { return id }
        let reply = try JSONValue.parse(answer)
        guard reply["ok"]?.boolValue == true else { throw StoreError("daemon refused: \(answer)") }
        throw StoreError("no request id in the answer: \(answer.prefix(200))")
    }
    var n = 0
    while monoNanos() < end {
        let id = try send(#"{"event":"request","flow":"job","reason":"reindex "# + tag + "-" + String(n) + #""}"#)
        _ = try send(#"{"event":"approve","request":"# + String(id) + #","reason":"break-glass: bench"}"#)
        n += 2
    }
    return (n, micros)
}

/// The request id of a successful change answer (`{"v":1,"ok":true,"request":{"id":N,…`), found by scanning the
/// line's first bytes; nil for anything else, which the caller then parses whole.
private func answerRequestID(_ line: String) -> Int64? {
    var line = line
    return line.withUTF8 { bytes -> Int64? in
        let head = UnsafeBufferPointer(rebasing: bytes.prefix(64))
        /// Where the first `needle` in `head` ends.
        func end(of needle: StaticString) -> Int? {
            let n = needle.utf8CodeUnitCount
            var i = 0
            while i + n <= head.count {
                if memcmp(head.baseAddress! + i, needle.utf8Start, n) == 0 { return i + n }
                i += 1
            }
            return nil
        }
        guard let ok = end(of: #","ok":true,"request":{"id":"#) else { return nil }
        var id: Int64 = 0, i = ok
        while i < head.count, head[i] >= 0x30, head[i] <= 0x39, i - ok < 18 { id = id * 10 + Int64(head[i] - 0x30); i += 1 }
        return i > ok && i < head.count && head[i] == UInt8(ascii: ",") ? id : nil
    }
}

/// Collects the clients' results across threads.
private final class ClientResults: @unchecked Sendable {
    private let lock = NSLock()
    var commands = 0
    var micros: [Double] = []
    var errors: [String] = []
    func add(_ r: (commands: Int, micros: [Double])) { lock.withLock { commands += r.commands; micros += r.micros } }
    func fail(_ e: String) { lock.withLock { errors.append(e) } }
}

/// `clients` connections to the real daemon at once, each sending request/approve one command at a time, for `seconds`.
func concurrentSocketRate(site: BenchSite, clients: Int, seconds: Double) throws -> (commands: Double, answered: Int, p50: Double, p99: Double) {
    let conns = try (0..<clients).map { _ in try site.connectToDaemon() }
    let results = ClientResults()
    let end = monoNanos() + UInt64(seconds * 1e9)
    let start = monoNanos()
    // One thread per client (concurrentPerform would run only as many at once as there are cores).
    let finished = DispatchGroup()
    for (i, conn) in conns.enumerated() {
        finished.enter()
        let t = Thread {
            do { results.add(try clientLoop(conn, until: end, tag: "c\(i)")) } catch { results.fail("client \(i): \(error)") }
            finished.leave()
        }
        t.start()
    }
    finished.wait()
    let elapsed = elapsedSeconds(since: start)
    if let first = results.errors.first { throw StoreError("\(results.errors.count) of \(clients) clients failed; \(first)") }
    let latency = Samples(results.micros)
    return (Double(results.commands) / elapsed, results.commands, latency.median / 1e3, latency.p99 / 1e3)
}

/// Group commit: 64 clients at once through the real daemon, and one client alone, both as ratios to raw SQLite
/// single-row FULL transactions measured in the same run.
func measureGroupCommit(root: String, report: Report, clients: Int = 64, rounds: Int = 3, seconds: Double = 3) throws {
    log("group commit: \(clients) clients and 1 client through the real daemon vs raw SQLite, \(rounds) rounds")
    let site = try BenchSite(root: root, name: "group-commit")
    var raw = Samples(), many = Samples(), one = Samples(), p50 = Samples(), p99 = Samples()
    var cpuPerCommand = Samples(), writesPerCommand = Samples(), kbPerCommand = Samples()
    for round in 0..<rounds {
        let r = try rawInsertRate(path: site.dir + "/raw.db", seconds: seconds / 2)
        raw.add(r)
        for f in [site.storePath, site.storePath + "-wal", site.storePath + "-shm"] { try? FileManager.default.removeItem(atPath: f) }
        let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
        defer { stop(daemon) }
        let m = try concurrentSocketRate(site: site, clients: clients, seconds: seconds)
        // What one command costs the daemon: its CPU and the write calls it makes (its commit, a checkpoint's share).
        let pid = daemon.processIdentifier
        let ticks0 = cpuTicks(pid: pid), writes0 = writeCounters(pid: pid)
        let s = try concurrentSocketRate(site: site, clients: 1, seconds: seconds / 2)
        if s.answered > 0, let t0 = ticks0, let t1 = cpuTicks(pid: pid), let w0 = writes0, let w1 = writeCounters(pid: pid) {
            let n = Double(s.answered)
            cpuPerCommand.add(Double(t1 - t0) / clockTicksPerSecond / n * 1e6)
            writesPerCommand.add(Double(w1.calls - w0.calls) / n)
            kbPerCommand.add(Double(w1.bytes - w0.bytes) / n / 1024)
        }
        // The disk's fsync rate moves with the machine's other work: measured again after, both count.
        raw.add(try rawInsertRate(path: site.dir + "/raw.db", seconds: seconds / 2))
        many.add(m.commands); one.add(s.commands); p50.add(m.p50); p99.add(m.p99)
        report.detail("group commit round \(round + 1): raw \(fmtInt(r)) then \(fmtInt(raw.values.last!)) tx/s; \(clients) clients \(fmtInt(m.commands)) commands/s "
                      + "(ratio \(fmt(m.commands / r, 2)), latency p50 \(fmt(m.p50, 1)) ms, p99 \(fmt(m.p99, 1)) ms); "
                      + "1 client \(fmtInt(s.commands)) commands/s (ratio \(fmt(s.commands / r, 2)))")
    }
    let ratio = many.median / raw.median
    let worstP99 = p99.max
    report.add(Figure(name: "\(clients) clients through the real daemon ÷ raw SQLite FULL (group commit)",
                      measured: "\(fmt(ratio, 2)) (\(fmtInt(many.median)) commands/s ÷ \(fmtInt(raw.median)) tx/s)",
                      goal: "≥ 2.0", verdict: ratio >= 2.0 ? .met : .missed,
                      method: "\(rounds) rounds: raw baseline (sqlite3 C API, single-row INSERT per BEGIN IMMEDIATE…COMMIT, WAL + FULL) for "
                        + "\(fmt(seconds / 2, 1)) s before and after each round, then a fresh real `symtui daemon` and \(clients) socket connections at once, each sending "
                        + "`request` then `approve` (flow `job`, self-approval with a reason) and waiting for each reply, for \(fmt(seconds, 0)) s. "
                        + "Commands/s counts both; ratio = median ÷ median."))
    report.add(Figure(name: "\(clients) clients: p99 command latency", measured: "\(fmt(p99.median, 1)) ms (worst round \(fmt(worstP99, 1)) ms; p50 \(fmt(p50.median, 1)) ms)",
                      goal: "≤ 20 ms", verdict: p99.median <= 20 ? .met : .missed,
                      method: "round trip of every command of the figure above (send the line → read the answer), nearest-rank p99 per round, median of the rounds."))
    let single = one.median / raw.median
    report.add(Figure(name: "one client through the real daemon ÷ raw SQLite FULL", measured: "\(fmt(single, 2)) (\(fmtInt(one.median)) commands/s)",
                      goal: "≥ 0.5", verdict: single >= 0.5 ? .met : .missed,
                      method: "as above with one connection, one command at a time, \(fmt(seconds / 2, 1)) s per round on the same daemon; same raw baseline."))
    report.add(Figure(name: "one client: what a command costs the daemon",
                      measured: "\(fmtInt(one.median > 0 ? 1e6 / one.median : .nan)) µs a command (raw tx \(fmtInt(raw.median > 0 ? 1e6 / raw.median : .nan)) µs); daemon CPU \(fmtInt(cpuPerCommand.median)) µs, "
                        + "\(fmt(writesPerCommand.median, 1)) write calls, \(fmt(kbPerCommand.median, 1)) KiB written a command",
                      goal: "(where the one-client time goes)", verdict: .info,
                      method: "during the one-client figure: utime+stime from /proc/PID/stat and syscw/wchar from /proc/PID/io of the daemon, "
                        + "divided by the commands answered; medians of the rounds. The writer's VFS writes a commit's WAL frames "
                        + "with one call (up to 64 KiB each), so write calls ≈ 1 a commit + 1 a checkpoint's share (the answer is a sendmsg, not counted)."))
}

/// What group commit buys, in one process: 64 threads calling `Engine.execute` (request, then approve by another
/// identity) on a writer that batches (the daemon's) and on one that commits every command alone (`maxBatch: 1`).
func engineConcurrentRate(site: BenchSite, threads: Int, maxBatch: Int, seconds: Double) throws -> (commands: Double, perBatch: Double) {
    for f in [site.storePath, site.storePath + "-wal", site.storePath + "-shm"] { try? FileManager.default.removeItem(atPath: f) }
    let writer = StoreWriter(try Store.openForWriting(path: site.storePath), maxBatch: maxBatch)
    let engine = Engine(config: try site.config(), store: writer)
    let bob = Identity(uid: 60_001, name: "bob", groups: ["dev"])
    let alice = Identity(uid: 60_002, name: "alice", groups: ["oncall"])
    let results = ClientResults()
    let end = monoNanos() + UInt64(seconds * 1e9)
    let start = monoNanos()
    let finished = DispatchGroup()
    for i in 0..<threads {
        finished.enter()
        Thread {
            var n = 0
            do {
                while monoNanos() < end {
                    let ask: ChangeCall = .request(flow: "job", target: nil, fields: [:], duration: nil, reason: "t\(i)-\(n)")
                    let r = try engine.execute(ask, by: bob).get()
                    let approve: ChangeCall = .approve(id: r.id, reason: "ok")
                    _ = try engine.execute(approve, by: alice).get()
                    n += 2
                }
            } catch { results.fail("thread \(i): \(error)") }
            results.add((commands: n, micros: [Double]()))
            finished.leave()
        }.start()
    }
    finished.wait()
    let elapsed = elapsedSeconds(since: start)
    if let first = results.errors.first { throw StoreError(first) }
    let counts = writer.commitCounts
    return (Double(results.commands) / elapsed, Double(counts.commands) / Double(max(1, counts.batches)))
}

func measureGroupCommitInProcess(root: String, report: Report, threads: Int = 64, rounds: Int = 3, seconds: Double = 2) throws {
    log("group commit in process: \(threads) threads, batching writer vs one commit per command")
    let site = try BenchSite(root: root, name: "group-commit-engine")
    var on = Samples(), off = Samples(), perBatch = Samples()
    for round in 0..<rounds {
        let b = try engineConcurrentRate(site: site, threads: threads, maxBatch: 128, seconds: seconds)
        let s = try engineConcurrentRate(site: site, threads: threads, maxBatch: 1, seconds: seconds)
        on.add(b.commands); off.add(s.commands); perBatch.add(b.perBatch)
        report.detail("group commit in process round \(round + 1): batching \(fmtInt(b.commands)) commands/s (\(fmt(b.perBatch, 1)) commands per commit), "
                      + "one commit per command \(fmtInt(s.commands)) commands/s (ratio \(fmt(b.commands / s.commands, 2)))")
    }
    report.add(Figure(name: "group commit on ÷ off, \(threads) threads in process", measured: "\(fmt(on.median / off.median, 2)) "
                        + "(\(fmtInt(on.median)) ÷ \(fmtInt(off.median)) commands/s; \(fmt(perBatch.median, 1)) commands per commit)",
                      goal: "(what group commit buys)", verdict: .info,
                      method: "\(threads) threads calling `Engine.execute` (request, then approve by another identity) for \(fmt(seconds, 0)) s on a "
                        + "`StoreWriter` that batches (maxBatch 128, the daemon's) and on one with maxBatch 1 (every command its own commit, as before); "
                        + "alternating, \(rounds) rounds, medians."))
}
