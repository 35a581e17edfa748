import Foundation
import SymModel
import SymStore

/// `symtui report` (and the console's Stats view) on a 1,000,000-request store that spans a year: the store query the
/// daemon's `report` read runs, for the default 30-day window and for the whole year.
func measureReport(root: String, report: Report, total: Int = 1_000_000, runs: Int = 5) throws {
    log("report: the report read's store query on a \(total)-request store spanning a year")
    let path = root + "/report-\(total).db"
    let now = Date()
    let span: TimeInterval = 365 * 86_400
    if !FileManager.default.fileExists(atPath: path) {
        let store = try Store.openForWriting(path: path)
        try Seed.insert(into: store, count: total) { i in Seed.yearOfRequests(i, of: total, now: now, span: span) }
        log("report: seeded \(total) requests")
    }
    let store = try Store.openReadOnly(path: path)
    // The seeded store keeps its own clock: measure against the newest request, whenever it was made.
    var newest = now
    try store.db.query("SELECT max(created_at) FROM requests") { newest = Date(timeIntervalSince1970: Double($0.int(0)) / 1000 + 1) }
    // CPU time of this thread (wall time on a shared machine measures the neighbours), and as a ratio to the
    // cheapest question that reads each row of the window once (the baseline, in the same run).
    func cpuMs(_ body: () throws -> Void) rethrows -> Double {
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
        try body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
        return Double(b.tv_sec - a.tv_sec) * 1000 + Double(b.tv_nsec - a.tv_nsec) / 1e6
    }
    var figures: [(days: Int, median: Double, ratio: Double, requests: Int64)] = []
    for days in [30, 365] {
        let since = newest.addingTimeInterval(-Double(days) * 86_400)
        let ms = Int64(since.timeIntervalSince1970 * 1000)
        var samples = Samples(), scans = Samples()
        var requests: Int64 = 0
        for _ in 0..<runs {
            samples.add(try cpuMs { requests = try store.activityReport(since: since, until: newest).total.requests })
            scans.add(try cpuMs {
                _ = try store.db.scalarInt("SELECT count(*) FROM requests WHERE id >= ? AND created_at >= ? AND length(fields) > 0",
                                           [.int(try store.firstRequestId(createdAtOrAfter: ms)), .int(ms)])
            })
        }
        let ratio = samples.median / max(0.001, scans.median)
        figures.append((days, samples.median, ratio, requests))
        report.detail("report, \(days)-day window [\(total) requests in the store, \(requests) in the window]: CPU p50 \(fmt(samples.median, 1)) ms, "
                      + "max \(fmt(samples.max, 1)) ms over \(runs) runs; one scan of the window's rows \(fmt(scans.median, 1)) ms (× \(fmt(ratio, 1)))")
    }
    let month = figures[0], year = figures[1]
    report.add(Figure(name: "`symtui report` / Stats view, 1,000,000 requests over a year",
                      measured: "30 days (\(month.requests) requests): \(fmt(month.median, 0)) ms CPU, × \(fmt(month.ratio, 1)) one scan; "
                        + "365 days: \(fmt(year.median, 0)) ms, × \(fmt(year.ratio, 1))",
                      goal: "30 days ≤ 250 ms CPU", verdict: month.median <= 250 ? .met : .missed,
                      method: "Store.activityReport (what the daemon's `report` read runs) on a read-only connection, \(runs) runs each, "
                        + "CPU time of the thread (CLOCK_THREAD_CPUTIME_ID), beside one scan of the same window's rows, over "
                        + "\(total) requests created evenly over 365 days (1 in 10 denied, 1 in 20 expired, 1 in 33 cancelled, the rest "
                        + "approved grants of an hour; 1 in 100 self-approved). Work grows with the requests in the window."))
}

extension Seed {
    /// Request `i` of `total` made evenly over `span` before `now`: an hour's grant, or denied, expired or cancelled.
    static func yearOfRequests(_ i: Int, of total: Int, now: Date, span: TimeInterval) -> AccessRequest {
        let created = now.addingTimeInterval(-span * Double(total - i) / Double(total))
        var r = AccessRequest(flow: ["access", "sudo", "ssh", "deploy", "oncall"][i % 5], target: "db", targetLabel: "orders DB",
                              requester: "user\(i % 997)", state: .pending,
                              fields: ["reason": .string("ticket OPS-\(i)"), "duration": .duration(TimeSpan(seconds: 3600))],
                              durationSeconds: 3600, createdAt: created, requestExpiresAt: created.addingTimeInterval(86_400))
        let wait = Double((i * 7919) % 3600 + 5)
        switch i % 100 {
        case 0..<10:
            r.state = .denied
            r.decidedAt = created.addingTimeInterval(wait)
            r.denial = Denial(user: "alice", at: r.decidedAt!, reason: "no")
            r.endedAt = r.decidedAt
        case 10..<15: r.state = .expired; r.endedAt = r.requestExpiresAt
        case 15..<18: r.state = .cancelled; r.endedAt = created.addingTimeInterval(60)
        default:
            r.decidedAt = created.addingTimeInterval(wait)
            let selfApproved = i % 100 == 99
            r.approvals = [Approval(user: selfApproved ? r.requester : "alice", at: r.decidedAt!, reason: "ok", isSelf: selfApproved)]
            r.accessStartsAt = r.decidedAt!.addingTimeInterval(1)
            r.accessExpiresAt = r.accessStartsAt!.addingTimeInterval(3600)
            if r.accessExpiresAt! > now { r.state = .active } else { r.state = .ended; r.endReason = .expired; r.endedAt = r.accessExpiresAt }
        }
        return r
    }
}
