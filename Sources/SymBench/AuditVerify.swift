import Foundation
import SymModel
import SymProtocol
import SymStore

/// What `symtui audit verify` runs: `AuditVerifier` over the store (stored columns hashed as they are).
func verifyChain(path: String) throws -> (events: Int, seconds: Double, bad: Int64?) {
    let store = try Store.openReadOnly(path: path)
    let start = monoNanos()
    let result = try AuditVerifier(store: store).verify()
    return (Int(result.checked), elapsedSeconds(since: start), result.problem?.seq)
}

func measureAuditVerify(root: String, report: Report, events: Int = 50_000, rounds: Int = 3) throws {
    log("audit verify: \(events) events")
    let site = try BenchSite(root: root, name: "audit")
    do {
        let store = try Store.openForWriting(path: site.storePath)
        try Seed.events(into: store, count: events, now: Date())
        try store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
    var rates = Samples()
    for _ in 0..<rounds {
        let r = try verifyChain(path: site.storePath)
        guard r.bad == nil, r.events == events else {
            report.add(Figure(name: "audit verify", measured: "chain broken at seq \(r.bad ?? -1)", goal: "≥ 200,000 events/s",
                              verdict: .failed, method: "")); return
        }
        rates.add(Double(r.events) / r.seconds)
    }
    // What the ranges bought: the page-by-page verifier (round 1's) over the same store.
    var paged = Samples()
    for _ in 0..<rounds {
        let t0 = monoNanos()
        let r = try AuditVerifier(store: try Store.openReadOnly(path: site.storePath), parallelFrom: .max).verify()
        paged.add(Double(r.checked) / elapsedSeconds(since: t0))
    }
    report.detail("audit verify: page-by-page verifier \(fmtInt(paged.median)) events/s, ranges on every core \(fmtInt(rates.median)) events/s "
                  + "(same store, same run; SHA extensions \(SHA256.accelerated ? "used" : "absent"))")
    // Where the time goes: the hash alone over the same canonical bytes.
    let store = try Store.openReadOnly(path: site.storePath)
    let sample = try store.events(afterSeq: 0, limit: 5_000)
    let canon = sample.map { Array(($0.prevHash + "\n" + $0.unhashedJSON.canonical).utf8) }
    var t = monoNanos()
    for bytes in canon { _ = SHA256.hex(bytes) }
    let shaPerEvent = Double(monoNanos() - t) / Double(canon.count) / 1e3
    t = monoNanos()
    for e in sample { _ = e.unhashedJSON.canonical }
    let canonPerEvent = Double(monoNanos() - t) / Double(sample.count) / 1e3
    let avgBytes = canon.map(\.count).reduce(0, +) / max(1, canon.count)
    report.detail("audit verify: \(rounds) rounds over \(events) events: median \(fmtInt(rates.median)) events/s (min \(fmtInt(rates.min))); "
                  + "per event: SHA256.hex \(fmt(shaPerEvent, 2)) µs "
                  + "over \(avgBytes) bytes, canonical JSON \(fmt(canonPerEvent, 2)) µs")
    report.add(Figure(name: "audit verify", measured: "\(fmtInt(rates.median)) events/s", goal: "≥ 200,000 events/s",
                      verdict: rates.median >= 200_000 ? .met : .missed,
                      method: "`AuditVerifier(store:).verify()` — what `symtui audit verify` runs — over \(events) chained events in a "
                        + "read-only store: gapless seq, each hash recomputed from the stored columns, each `prev_hash` link; median of \(rounds) rounds."))
}

/// `audit verify` over a big chain (10,000,000 events by default; `--events N`): the parallel verifier on all cores,
/// built once and kept.
func measureAuditVerifyScale(root: String, report: Report, events: Int) throws {
    log("audit verify at scale: \(events) events (built once under \(root)/events-10m)")
    let built = monoNanos()
    let builtCPU = processCPUSeconds()
    let path = try bigEventStore(root: root, events: events)
    report.detail("audit verify at scale: fixture of \(events) events ready in \(fmt(elapsedSeconds(since: built), 1)) s "
                  + "(\(fmt(processCPUSeconds() - builtCPU, 1)) s of CPU; 0 when it was kept from an earlier run)")
    let store = try Store.openReadOnly(path: path)
    func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }
    let cpu0 = cpuSeconds()
    let t = monoNanos()
    let result = try AuditVerifier(store: store).verify()
    let seconds = elapsedSeconds(since: t)
    let cpu = cpuSeconds() - cpu0
    guard result.ok, result.checked == Int64(events) else {
        report.add(Figure(name: "audit verify, \(events) events", measured: "chain not clean: \(String(describing: result.problem))",
                          goal: "≥ 1,000,000 events/s", verdict: .failed, method: "checked \(result.checked) of \(events)")); return
    }
    let rate = Double(events) / seconds
    report.detail("audit verify at scale: \(fmtInt(rate)) events/s over \(events) events in \(fmt(seconds, 1)) s on "
                  + "\(ProcessInfo.processInfo.activeProcessorCount) cores; \(fmt(cpu, 1)) s of CPU (\(fmt(cpu / Double(events) * 1e6, 2)) µs per event, "
                  + "\(fmtInt(Double(events) / cpu * Double(ProcessInfo.processInfo.activeProcessorCount))) events/s if every core were ours); "
                  + "SHA extensions \(SHA256.accelerated ? "used" : "absent")")
    report.add(Figure(name: "audit verify, \(fmtInt(Double(events))) events", measured: "\(fmtInt(rate)) events/s (\(fmt(seconds, 1)) s)",
                      goal: "≥ 1,000,000 events/s", verdict: rate >= 1_000_000 ? .met : .missed,
                      method: "`AuditVerifier(store:).verify()` (what `symtui audit verify` runs) on a read-only store of \(events) chained "
                        + "events built by `bigEventStore` (kept under .build/bench-data/events-10m): seq ranges on every core, hashes rebuilt "
                        + "from the column bytes, SHA-256 with the CPU's SHA extensions when present; one run."))
}
