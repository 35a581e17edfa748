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
