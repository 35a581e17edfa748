import Foundation
import SymModel
import SymProtocol
import SymStore
#if canImport(Glibc)
import Glibc
#endif

/// How a watch probe waits, as a console would.
enum ProbeMode: String, CaseIterable {
    /// `ChangeWatcher.wait(timeoutMs: 1000)` in a loop: the watcher alone (inotify + data_version).
    case watcher
    /// ConsoleApp's idle loop (`nextInput`): the key wait (up to the next second tick) polls stdin *and* the watcher's inotify
    /// descriptor, then `waitForChange(timeoutMs: 40)` when the descriptor woke it (else a cheap `changed()`).
    case console
}

/// `symtui-bench watch-probe STORE MODE LAST_SEQ READY_FILE`: a reader process that opens the store
/// read-only with a ChangeWatcher exactly as StoreBackend does, and prints `SEQ MONO_NS` each time it
/// sees a new head of the audit chain, until it has seen LAST_SEQ.
func watchProbe(_ args: [String]) throws -> Int32 {
    guard args.count == 4, let mode = ProbeMode(rawValue: args[1]), let last = Int64(args[2]) else {
        log("usage: symtui-bench watch-probe STORE watcher|console LAST_SEQ READY_FILE")
        return 64
    }
    let store = try Store.openReadOnly(path: args[0])
    let watcher = ChangeWatcher(store: store)
    var seen = try store.lastSeq()
    // A terminal with no key pressed: a pipe nobody writes.
    var idleInput: [Int32] = [-1, -1]
    _ = pipe(&idleInput)
    _ = FileManager.default.createFile(atPath: args[3], contents: Data("\(watcher.usesInotify)".utf8))
    var lines: [String] = []
    let deadline = monoNanos() + 120_000_000_000
    while seen < last && monoNanos() < deadline {
        let changed: Bool
        switch mode {
        case .watcher: changed = watcher.wait(timeoutMs: 1000)
        case .console:
            var fds = [pollfd(fd: idleInput[0], events: Int16(POLLIN), revents: 0),
                       pollfd(fd: watcher.pollDescriptor ?? -1, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, 1000)
            changed = n > 0 && fds[1].revents != 0 ? watcher.wait(timeoutMs: 40) : watcher.changed()
        }
        guard changed else { continue }
        let t = monoNanos()
        let s = try store.lastSeq()
        if s > seen {
            lines.append("\(s) \(t)")
            seen = s
        }
    }
    print(lines.joined(separator: "\n"))
    return 0
}

/// Commit → visible: one writer commits audit events at random moments while 20 reader processes watch.
func measureCommitLatency(root: String, report: Report, readers: Int = 20, commits: Int = 120) throws {
    log("commit → visible with \(readers) reader processes")
    for mode in ProbeMode.allCases {
        let site = try BenchSite(root: root, name: "latency-\(mode.rawValue)")
        let store = try Store.openForWriting(path: site.storePath)
        try Seed.events(into: store, count: 10, now: Date())
        let first = try store.lastSeq()
        let last = first + Int64(commits)
        var probes: [(Process, Pipe)] = []
        for i in 0..<readers {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: benchExecutable)
            p.arguments = ["watch-probe", site.storePath, mode.rawValue, String(last), site.dir + "/ready-\(i)"]
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
        // The writer: one audit event per transaction, synchronous=FULL, at random 15–45 ms intervals.
        var committed: [Int64: UInt64] = [:]
        var commitMs = Samples()
        for i in 0..<commits {
            sleepMs(Double.random(in: 15...45))
            let t0 = monoNanos()
            let e = try store.write { tx in
                try tx.append(EventDraft(type: .handler, requestId: nil, flow: nil, target: nil, requester: nil, actor: "system",
                                         reason: "latency probe \(i)"), at: Date())
            }
            let t1 = monoNanos()
            committed[e.seq] = t1
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
                // Seen before COMMIT returned to the writer counts as 0.
                latencies.add(hit.1 > t ? Double(hit.1 - t) / 1e6 : 0)
            }
        }
        let inotify = (try? String(contentsOfFile: site.dir + "/ready-0", encoding: .utf8)) ?? "?"
        report.detail("commit→visible [\(mode.rawValue)]: \(latencies.count) observations (\(readers) readers × \(commits) commits), "
                      + "p50 \(fmt(latencies.median)) ms, p90 \(fmt(latencies.percentile(90))) ms, p99 \(fmt(latencies.p99)) ms, "
                      + "max \(fmt(latencies.max)) ms, missed \(missing); inotify=\(inotify); writer commit p50 \(fmt(commitMs.median)) ms")
        let name: String
        let method: String
        switch mode {
        case .watcher:
            name = "commit → visible, 20 readers, ChangeWatcher.wait alone"
            method = "\(readers) `symtui-bench watch-probe` processes open the store read-only with `ChangeWatcher` as StoreBackend does and loop on "
                + "`wait(timeoutMs: 1000)`; the bench commits \(commits) audit events (one per BEGIN IMMEDIATE transaction, WAL+FULL) at "
                + "random 15–45 ms intervals; latency = CLOCK_MONOTONIC when a reader read the new `max(seq)` − when COMMIT returned."
        case .console:
            name = "commit → visible in an idle console, 20 consoles (ConsoleApp's loop)"
            method = "as above, but each reader follows ConsoleApp's idle loop (`nextInput`): a poll(2) of up to 1 s on stdin (no key "
                + "arrives) *and* `ChangeWatcher.pollDescriptor`, then `waitForChange(40)` when the descriptor woke it."
        }
        let ok = latencies.median <= 5 && latencies.p99 <= 25 && missing == 0
        report.add(Figure(name: name, measured: "p50 \(fmt(latencies.median)) ms / p99 \(fmt(latencies.p99)) ms",
                          goal: "≤ 5 ms / ≤ 25 ms", verdict: ok ? .met : .missed, method: method))
        for (p, _) in probes where p.isRunning { stop(p) }
    }
}
