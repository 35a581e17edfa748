import Foundation
import SymModel
import SymStore

/// `symtui store migrate` of a big store: 100,000 requests and 1,000,000 events copied from SQLite into the
/// PostgreSQL store at `--pg URI` (its role must own an empty database or schema; the password in a passfile), or
/// into a fresh schema of the bench's own throwaway cluster.
func measureMigrate(root: String, report: Report, pg given: String?, requests: Int = 100_000, events: Int = 1_000_000) throws {
    let pg: String
    do { pg = try given ?? BenchPostgres.freshStore() } catch {
        report.add(Figure(name: "store migrate", measured: "not measured: \(error)", goal: "time, events/s", verdict: .info,
                          method: "symtui-bench --only migrate [--pg URI] (the bench's own cluster, or an empty database or schema the URI's role owns)"))
        return
    }
    log("store migrate: \(requests) requests, \(events) events")
    let site = try BenchSite(root: root, name: "migrate")
    let now = Date()
    do {
        let store = try Store.openForWriting(path: site.storePath)
        try Seed.insert(into: store, count: requests) { Seed.mixed($0, now: now, pendingEvery: 50, activeEvery: 10) }
        try Seed.events(into: store, count: events, now: now)
        try store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
    let source = try Store.openReadOnly(path: site.storePath)
    let target = try PostgresStore(conninfo: pg)
    let t = monoNanos()
    let counts = try StoreMigration.copy(from: source, to: target)
    let seconds = Double(monoNanos() - t) / 1e9
    let tv = monoNanos()
    let v = try AuditVerifier(store: target).verify()
    let verifySeconds = Double(monoNanos() - tv) / 1e9
    guard v.ok, counts.events == events, counts.requests == requests else {
        report.add(Figure(name: "store migrate", measured: "copy incomplete or chain broken: \(counts), \(v.problem.map { "\($0)" } ?? "")",
                          goal: "time, events/s", verdict: .failed, method: ""))
        return
    }
    report.add(Figure(name: "store migrate", measured: "\(fmt(seconds, 1)) s, \(fmtInt(Double(events) / seconds)) events/s",
                      goal: "time, events/s", verdict: .info,
                      method: "\(fmtInt(Double(requests))) requests + \(fmtInt(Double(events))) events, SQLite → PostgreSQL in one transaction; "
                        + "audit verify on the target afterwards: \(fmt(verifySeconds, 1)) s"))
}
