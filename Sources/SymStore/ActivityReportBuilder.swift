import Foundation
import SymModel

extension ActivityReport {
    /// One request of the window as the report counts it: flow, state, approved, day index, approval time (ms).
    typealias RowSink = (String, RequestState?, Bool, Int64, Int64) -> Void

    /// The report's figures from what a backend reads (each backend in its own SQL, the same rows): `rows` emits
    /// every request created in [s, u] (times in ms; the day index counts from `day0`), `breakGlass` the number of
    /// self-approved requests per flow, `grants` the grants that may overlap the window: `live` the start of each
    /// one not ended, `ended` the (start, end) of each ended at or after `s`, in end order.
    static func build(since: Date, until: Date,
                      rows: (_ s: Int64, _ u: Int64, _ day0: Int64, _ emit: RowSink) throws -> Void,
                      breakGlass: (_ s: Int64, _ u: Int64, _ emit: (String, Int64) -> Void) throws -> Void,
                      grants: (_ s: Int64, _ u: Int64, _ live: (Int64) -> Void, _ ended: (Int64, Int64) -> Void) throws -> Void) throws -> ActivityReport {
        let s = Int64((since.timeIntervalSince1970 * 1000).rounded(.down))
        let u = Int64((until.timeIntervalSince1970 * 1000).rounded(.down))
        let day: Int64 = 86_400_000
        let day0 = ActivityReport.dayStartMillis(s)
        let dayCount = Int(max(0, (ActivityReport.dayStartMillis(u) - day0) / day) + 1)
        guard u >= s, dayCount <= ActivityReport.maxDays else {
            throw StoreError("a report covers 0 to \(ActivityReport.maxDays) days, not \(since) to \(until)")
        }
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
        // Each approval's time for the percentiles, sorted here: a window function's sort in SQL cost three times as
        // much on 80,000 rows.
        var approvalMillis: [String: [Int64]] = [:]
        try rows(s, u, day0) { flow, state, approved, d, millis in
            add(&byFlow[flow, default: ActivityReport.Figures(flow: flow)], state: state, approved: approved, n: 1)
            add(&total, state: state, approved: approved, n: 1)
            if d >= 0 && d < Int64(dayCount) { requestsPerDay[Int(d)] += 1 }
            if approved { approvalMillis[flow, default: []].append(millis) }
        }
        try breakGlass(s, u) { flow, n in
            byFlow[flow]?.breakGlass = n
            total.breakGlass += n
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
        var starts: [Int64] = [], ends: [Int64] = []
        try grants(s, u, { starts.append(max($0, s)) }, { begin, end in
            let start = max(begin, s)
            guard end > start else { return }   // ended before it began (a scheduled window cancelled), or as the window opened
            starts.append(start)
            if end < u { ends.append(end) }
        })
        let peaks = grantPeaks(starts: starts.sorted(), ends: ends, day0: day0, dayCount: dayCount)
        for d in 0..<dayCount { report.days[d].grantsMax = peaks[d] }
        return report
    }

    /// The most grants active at once during each day of the window: a sweep over their starts (+1) and ends (-1) in
    /// time order; a day without a change keeps the level the day before ended with.
    private static func grantPeaks(starts: [Int64], ends: [Int64], day0: Int64, dayCount: Int) -> [Int64] {
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
}
