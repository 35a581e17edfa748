import Foundation
import SymModel

extension Store {
    /// The figures of `symtui report` and the console's Stats view for requests created in `since ... until`.
    ///
    /// Bounded by the window, not by the store: requests are numbered in creation order (one writer stamps
    /// `created_at` as it inserts), so the window is an id range found by a binary search over the primary key,
    /// and every query below reads that range only (a clock stepped back can move its first row by the step).
    /// Grants active in the window come from the `requests_grant_span` index (migration 9), which holds only rows
    /// that became grants, by end time: a grant that began before the window still counts on the days it was active.
    public func activityReport(since: Date, until: Date) throws -> ActivityReport {
        let s = Int64((since.timeIntervalSince1970 * 1000).rounded(.down))
        let u = Int64((until.timeIntervalSince1970 * 1000).rounded(.down))
        let day: Int64 = 86_400_000
        let day0 = ActivityReport.dayStartMillis(s)
        let dayCount = Int(max(0, (ActivityReport.dayStartMillis(u) - day0) / day) + 1)
        guard u >= s, dayCount <= ActivityReport.maxDays else {
            throw StoreError("a report covers 0 to \(ActivityReport.maxDays) days, not \(since) to \(until)")
        }
        let first = try firstRequestId(createdAtOrAfter: s)
        let window: [SQLValue] = [.int(first), .int(s), .int(u)]
        let inWindow = "id >= ? AND created_at >= ? AND created_at <= ?"

        var byFlow: [String: ActivityReport.Figures] = [:]
        var total = ActivityReport.Figures(flow: nil)
        var requestsPerDay = [Int64](repeating: 0, count: dayCount)
        func add(_ f: inout ActivityReport.Figures, state: RequestState?, approved: Bool, n: Int64) {
            f.requests += n
            if approved { f.approved += n }
            switch state {
            case .denied?: f.denied += n
            case .expired?: f.expired += n
            case .cancelled?: f.cancelled += n
            case .failed?: f.failed += n
            case .pending?: f.pending += n
            default: break
            }
        }
        // One pass over the window's rows: counts by flow, state and day, and each approval's time for the percentiles
        // (sorted here: a window function's sort in SQL cost three times as much on 80,000 rows).
        var approvalMillis: [String: [Int64]] = [:]
        try db.query("""
            SELECT flow, state, decided_at IS NOT NULL AND denial IS NULL, (created_at - ?) / 86400000, decided_at - created_at
            FROM requests WHERE \(inWindow)
            """, [.int(day0)] + window) { row in
            let flow = row.text(0), state = RequestState(rawValue: row.text(1)), approved = row.int(2) != 0
            add(&byFlow[flow, default: ActivityReport.Figures(flow: flow)], state: state, approved: approved, n: 1)
            add(&total, state: state, approved: approved, n: 1)
            let d = Int(row.int(3))
            if d >= 0 && d < dayCount { requestsPerDay[d] += 1 }
            if approved { approvalMillis[flow, default: []].append(row.int(4)) }
        }
        // Break-glass: requests approved by their own requester; the approvals of the window, by request id.
        try db.query("""
            SELECT r.flow, count(DISTINCT a.request_id) FROM approvals a JOIN requests r ON r.id = a.request_id
            WHERE a.request_id >= ? AND a.self != 0 AND r.created_at >= ? AND r.created_at <= ? GROUP BY r.flow
            """, window) { row in
            byFlow[row.text(0)]?.breakGlass = row.int(1)
            total.breakGlass += row.int(1)
        }
        // Nearest-rank median and p90: the values at ranks ceil(n/2) and ceil(9n/10) of the sorted times.
        func percentiles(_ f: inout ActivityReport.Figures, _ sorted: [Int64]) {
            guard !sorted.isEmpty else { return }
            let n = Int64(sorted.count)
            f.approvalMedian = Double(sorted[Int(ActivityReport.rank(0.5, count: n) - 1)]) / 1000
            f.approvalP90 = Double(sorted[Int(ActivityReport.rank(0.9, count: n) - 1)]) / 1000
        }
        var all: [Int64] = []
        for (flow, var times) in approvalMillis {
            times.sort()
            percentiles(&byFlow[flow]!, times)
            all += times
        }
        all.sort()
        percentiles(&total, all)

        let days = (0..<dayCount).map { d in
            ActivityReport.Day(date: ActivityReport.dayName(Date(timeIntervalSince1970: TimeInterval(day0 + Int64(d) * day) / 1000)),
                               requests: requestsPerDay[d], grantsMax: 0)
        }
        var report = ActivityReport(since: since, until: until, flows: byFlow.keys.sorted().map { byFlow[$0]! }, total: total, days: days)
        let peaks = try grantPeaks(from: s, to: u, day0: day0, dayCount: dayCount)
        for d in 0..<dayCount { report.days[d].grantsMax = peaks[d] }
        return report
    }

    /// The most grants active at once during each day of the window: a sweep over their starts (+1) and ends (-1) in
    /// time order; a day without a change keeps the level the day before ended with.
    private func grantPeaks(from s: Int64, to u: Int64, day0: Int64, dayCount: Int) throws -> [Int64] {
        var starts: [Int64] = [], ends: [Int64] = []
        // Two index ranges (live grants; grants that ended in or after the window) rather than one OR, which scans.
        let grants = "requests INDEXED BY requests_grant_span WHERE access_starts_at IS NOT NULL AND access_starts_at <= ?"
        try db.query("SELECT access_starts_at FROM \(grants) AND ended_at IS NULL", [.int(u)]) { starts.append(max($0.int(0), s)) }
        try db.query("SELECT access_starts_at, ended_at FROM \(grants) AND ended_at >= ? ORDER BY ended_at", [.int(u), .int(s)]) { row in
            let start = max(row.int(0), s), end = row.int(1)
            guard end > start else { return }   // ended before it began (a scheduled window cancelled), or as the window opened
            starts.append(start)
            if end < u { ends.append(end) }
        }
        starts.sort()
        var peaks = [Int64](repeating: 0, count: dayCount)
        var level: Int64 = 0
        var d = 0, i = 0, j = 0
        func day(_ t: Int64) -> Int { min(dayCount - 1, max(0, Int((t - day0) / 86_400_000))) }
        // An end and a start at the same moment do not overlap: the end goes first.
        while i < starts.count || j < ends.count {
            let isEnd = j < ends.count && (i == starts.count || ends[j] <= starts[i])
            let at = isEnd ? ends[j] : starts[i]
            let cd = day(at)
            while d < cd { d += 1; peaks[d] = level }
            if isEnd { level -= 1; j += 1 } else { level += 1; i += 1 }
            peaks[d] = max(peaks[d], level)
        }
        while d < dayCount - 1 { d += 1; peaks[d] = level }
        return peaks
    }

    /// The smallest request id created at or after `millis` (one past the last id when none is), by binary search
    /// over the primary key: ids grow with `created_at`.
    public func firstRequestId(createdAtOrAfter millis: Int64) throws -> Int64 {
        guard let last = try db.scalarInt("SELECT max(id) FROM requests") else { return 1 }
        var lo = try db.scalarInt("SELECT min(id) FROM requests") ?? 1, hi = last + 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            var created: Int64?
            var id: Int64 = hi
            try db.query("SELECT id, created_at FROM requests WHERE id >= ? ORDER BY id LIMIT 1", [.int(mid)]) { row in
                id = row.int(0); created = row.int(1)
            }
            guard let c = created else { hi = mid; continue }
            if c >= millis { hi = mid } else { lo = id + 1 }
        }
        return lo
    }
}
