import Foundation
import SymModel
import SymProtocol
import SymStore
#if canImport(Glibc)
import Glibc
#endif

/// How a watch probe learns of a commit, as a reader would.
enum ProbeMode: String, CaseIterable {
    /// What a console does: ConsoleApp's idle loop polls stdin *and* its subscription to the daemon's change feed (up to
    /// the next second tick); when the feed woke it, it drains it and asks the daemon for the newest event.
    case feed
    /// A trusted direct reader (root, `store_group`): `ChangeWatcher.wait(timeoutMs: 1000)` on the file (inotify +
    /// data_version), then `max(seq)` from its own read-only connection.
    case watcher
}

/// `symtui-bench watch-probe STORE SOCKET MODE LAST_SEQ READY_FILE`: a reader process that follows the store as a
/// console (`feed`) or a trusted direct reader (`watcher`) does, and prints `SEQ MONO_NS` each time it sees a new
/// head of the audit chain, until it has seen LAST_SEQ.
func watchProbe(_ args: [String]) throws -> Int32 {
    guard args.count == 5, let mode = ProbeMode(rawValue: args[2]), let last = Int64(args[3]) else {
        log("usage: symtui-bench watch-probe STORE SOCKET feed|watcher LAST_SEQ READY_FILE")
        return 64
    }
    var lines: [String] = []
    let deadline = monoNanos() + 120_000_000_000
    switch mode {
    case .watcher:
        let store = try Store.openReadOnly(path: args[0])
        let watcher = ChangeWatcher(store: store)
        var seen = try store.lastSeq()
        _ = FileManager.default.createFile(atPath: args[4], contents: Data("\(watcher.usesInotify)".utf8))
        while seen < last && monoNanos() < deadline {
            guard watcher.wait(timeoutMs: 1000) else { continue }
            let t = monoNanos()
            let s = try store.lastSeq()
            if s > seen { lines.append("\(s) \(t)"); seen = s }
        }
    case .feed:
        let feed = try connectUnixSocket(args[1])
        feed.setReceiveTimeout(seconds: 10)
        try feed.writeLine(DaemonCall.read(.subscribe).json.compact)
        guard try feed.readLine() != nil else { throw StoreError("no answer to subscribe") }
        let reads = try connectUnixSocket(args[1])
        reads.setReceiveTimeout(seconds: 10)
        reads.lineLimit = 64 << 20
        func head() throws -> Int64 {
            try reads.writeLine(DaemonCall.read(.lastEvents(count: 1)).json.compact)
            guard let line = try reads.readLine() else { throw StoreError("the daemon closed the read connection") }
            return try JSONValue.parse(line)["events"]?.arrayValue?.last?["seq"]?.intValue ?? 0
        }
        var seen = try head()
        // A terminal with no key pressed: a pipe nobody writes.
        var idleInput: [Int32] = [-1, -1]
        _ = pipe(&idleInput)
        _ = FileManager.default.createFile(atPath: args[4], contents: Data("feed".utf8))
        var buf = [UInt8](repeating: 0, count: 4096)
        while seen < last && monoNanos() < deadline {
            var fds = [pollfd(fd: idleInput[0], events: Int16(POLLIN), revents: 0), pollfd(fd: feed.fd, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, 1000) > 0, fds[1].revents != 0 else { continue }
            while recv(feed.fd, &buf, buf.count, Int32(MSG_DONTWAIT)) > 0 {}
            let s = try head()
            let t = monoNanos()
            if s > seen { lines.append("\(s) \(t)"); seen = s }
        }
    }
    print(lines.joined(separator: "\n"))
    return 0
}

/// Commit → visible: commands go through the real daemon at random moments while 20 reader processes watch.
func measureCommitLatency(root: String, report: Report, readers: Int = 20, commits: Int = 120) throws {
    log("commit → visible with \(readers) reader processes")
    for mode in ProbeMode.allCases {
        let site = try BenchSite(root: root, name: "latency-\(mode.rawValue)")
        do {
            let store = try Store.openForWriting(path: site.storePath)
            try Seed.events(into: store, count: 10, now: Date())
        }
        let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
        defer { stop(daemon) }
        let writer = try site.connectToDaemon()
        // Each request writes one event; the probes stop once they have seen the last one.
        let first = Int64(10)
        let last = first + Int64(commits)
        var probes: [(Process, Pipe)] = []
        for i in 0..<readers {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: benchExecutable)
            p.arguments = ["watch-probe", site.storePath, site.socketPath, mode.rawValue, String(last), site.dir + "/ready-\(i)"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            probes.append((p, out))
        }
        let readyDeadline = monoNanos() + 20_000_000_000
        while monoNanos() < readyDeadline,
              (0..<readers).contains(where: { !FileManager.default.fileExists(atPath: site.dir + "/ready-\($0)") }) {
            sleepMs(20)
        }
        sleepMs(300)
        // The writer: one approval-only request per command through the daemon (one transaction, WAL+FULL), at random
        // 15–45 ms intervals; its commit time is when the daemon's answer arrived.
        var committed: [Int64: UInt64] = [:]
        var commitMs = Samples()
        for i in 0..<commits {
            sleepMs(Double.random(in: 15...45))
            let t0 = monoNanos()
            try writer.writeLine(ChangeCall.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "latency probe \(i)").json.compact)
            guard let line = try writer.readLine(), Wire.refusal(in: try JSONValue.parse(line)) == nil else {
                throw StoreError("the daemon refused a latency probe request")
            }
            let t1 = monoNanos()
            committed[first + Int64(i) + 1] = t1
            commitMs.add(Double(t1 - t0) / 1e6)
        }
        var latencies = Samples()
        var missing = 0
        for (p, out) in probes {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let seen: [(Int64, UInt64)] = text.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ")
                guard parts.count == 2, let s = Int64(parts[0]), let t = UInt64(parts[1]) else { return nil }
                return (s, t)
            }
            for (seq, t) in committed {
                guard let hit = seen.first(where: { $0.0 >= seq }) else { missing += 1; continue }
                // Seen before the writer had the daemon's answer counts as 0.
                latencies.add(hit.1 > t ? Double(hit.1 - t) / 1e6 : 0)
            }
        }
        let inotify = (try? String(contentsOfFile: site.dir + "/ready-0", encoding: .utf8)) ?? "?"
        report.detail("commit→visible [\(mode.rawValue)]: \(latencies.count) observations (\(readers) readers × \(commits) commits), "
                      + "p50 \(fmt(latencies.median)) ms, p90 \(fmt(latencies.percentile(90))) ms, p99 \(fmt(latencies.p99)) ms, "
                      + "max \(fmt(latencies.max)) ms, missed \(missing); probe=\(inotify); request through the daemon p50 \(fmt(commitMs.median)) ms")
        let name: String
        let method: String
        switch mode {
        case .feed:
            name = "commit → visible in an idle console, 20 consoles, through the daemon"
            method = "\(readers) `symtui-bench watch-probe` processes follow ConsoleApp's idle loop: a poll(2) of up to 1 s on stdin (no key "
                + "arrives) *and* their subscription to the real daemon's change feed; when the feed wakes them they drain it and ask "
                + "the daemon for the newest event. The bench sends \(commits) requests through the daemon at random 15–45 ms intervals; "
                + "latency = CLOCK_MONOTONIC when a probe read the new seq − when the writer had the daemon's answer."
        case .watcher:
            name = "commit → visible, 20 trusted direct readers (store_group), ChangeWatcher"
            method = "as above, but each probe opens the store file read-only with `ChangeWatcher` (inotify + data_version) and loops "
                + "on `wait(timeoutMs: 1000)`, then reads `max(seq)` itself."
        }
        let ok = latencies.median <= 5 && latencies.p99 <= 25 && missing == 0
        report.add(Figure(name: name, measured: "p50 \(fmt(latencies.median)) ms / p99 \(fmt(latencies.p99)) ms",
                          goal: "≤ 5 ms / ≤ 25 ms", verdict: ok ? .met : .missed, method: method))
        for (p, _) in probes where p.isRunning { stop(p) }
    }
}
