import Foundation
import SymModel
import SymStore

/// Verifies the whole chain the way `audit verify` would: pages of events, prev_hash links, recomputed hashes.
/// Returns (events, seconds, seconds spent decoding only, first bad seq).
func verifyChain(path: String) throws -> (events: Int, seconds: Double, decodeSeconds: Double, bad: Int64?) {
    let store = try Store.openReadOnly(path: path)
    var prev = AuditEvent.genesisHash
    var after: Int64 = 0
    var n = 0
    var bad: Int64?
    var decode = 0.0
    let start = monoNanos()
    while true {
        let t = monoNanos()
        let page = try store.events(afterSeq: after, limit: 5_000)
        decode += Double(monoNanos() - t) / 1e9
        guard let last = page.last else { break }
        for e in page {
            if bad == nil && (e.prevHash != prev || e.computedHash != e.hash || e.seq != after + 1) { bad = e.seq }
            prev = e.hash
            after = e.seq
            n += 1
        }
        after = last.seq
    }
    return (n, elapsedSeconds(since: start), decode, bad)
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
    var decodeShare = Samples()
    for _ in 0..<rounds {
        let r = try verifyChain(path: site.storePath)
        guard r.bad == nil, r.events == events else {
            report.add(Figure(name: "audit verify", measured: "chain broken at seq \(r.bad ?? -1)", goal: "≥ 200,000 events/s",
                              verdict: .failed, method: "")); return
        }
        rates.add(Double(r.events) / r.seconds)
        decodeShare.add(r.decodeSeconds / r.seconds * 100)
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
                  + "reading+decoding rows \(fmt(decodeShare.median, 1)) % of the time; per event: SHA256.hex \(fmt(shaPerEvent, 2)) µs "
                  + "over \(avgBytes) bytes, canonical JSON \(fmt(canonPerEvent, 2)) µs")
    report.add(Figure(name: "audit verify", measured: "\(fmtInt(rates.median)) events/s", goal: "≥ 200,000 events/s",
                      verdict: rates.median >= 200_000 ? .met : .missed,
                      method: "no `symtui audit verify` in this tree yet, so the bench verifies as it would: `Store.events(afterSeq:limit: 5000)` "
                        + "pages over \(events) chained events, checking seq, `prev_hash` links and `AuditEvent.computedHash`; median of \(rounds) rounds."))
}
