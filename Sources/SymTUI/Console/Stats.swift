import Foundation
import SymModel

/// The Stats view (key 6): the figures of `symtui report` for the last 30 days, as terminal charts.
public struct StatsState: Sendable {
    public var report: ActivityReport?
    public var error: String?
    /// The console clock when the last load was asked for; nil before the first.
    public var requestedAt: Date?
    /// A change arrived since that load: the next one waits until `Console.statsRefreshInterval` has passed.
    public var stale = false
    /// Charts in ASCII (`#`, `.`) rather than block characters: a monochrome terminal or a locale that is not UTF-8.
    public var ascii = false
    /// How far back the view looks.
    public var window = ActivityReport.defaultSpan
    public init() {}
}

extension Console {
    /// An aggregate need not follow every commit: the Stats view reloads at most this often (seconds).
    public static let statsRefreshInterval: TimeInterval = 5

    static func loadStats(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        s.stats.requestedAt = s.now
        s.stats.stale = false
        fx.append(.loadStats(since: s.now.addingTimeInterval(-TimeInterval(s.stats.window.seconds))))
    }

    /// The view was opened: load now.
    static func statsShown(_ s: inout ConsoleState, _ fx: inout [Effect]) { loadStats(&s, &fx) }

    /// Another process committed: reload if the last load is old enough, else on a later tick.
    static func statsChanged(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        guard s.view == .stats else { return }
        if let at = s.stats.requestedAt, s.now.timeIntervalSince(at) < statsRefreshInterval { s.stats.stale = true; return }
        loadStats(&s, &fx)
    }

    /// A change that waited for the interval, or a failed load (the daemon was away), is loaded once it has passed.
    static func statsTick(_ s: inout ConsoleState, _ fx: inout [Effect]) {
        guard s.view == .stats, s.stats.stale || s.stats.error != nil, let at = s.stats.requestedAt, s.now.timeIntervalSince(at) >= statsRefreshInterval else { return }
        loadStats(&s, &fx)
    }

    static func statsLoaded(_ s: inout ConsoleState, _ report: ActivityReport) {
        s.stats.report = report
        s.stats.error = nil
    }
}

/// Terminal charts: a sparkline (one cell per value) and a horizontal bar, in block characters or ASCII.
public enum Chart {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let asciiLevels: [Character] = [".", ":", "-", "=", "+", "*", "%", "#"]

    /// One cell per value, scaled to the largest: zero is the lowest level, the largest the highest.
    public static func sparkline(_ values: [Int64], ascii: Bool) -> String {
        let top = values.max() ?? 0
        let ramp = ascii ? asciiLevels : blocks
        return String(values.map { v -> Character in
            guard top > 0, v > 0 else { return ramp[0] }
            return ramp[min(7, max(1, Int((Double(v) / Double(top) * 7).rounded(.up))))]
        })
    }

    /// A bar `width` cells wide on a scale of `scale`: filled up to `value`, shaded on to `upTo`, blank after.
    public static func bar(_ value: Double?, upTo: Double?, scale: Double, width: Int, ascii: Bool) -> String {
        guard width > 0, scale > 0, let value else { return String(repeating: " ", count: max(0, width)) }
        let filled = min(width, Int((value / scale * Double(width)).rounded()))
        let shaded = min(width, max(filled, Int(((upTo ?? value) / scale * Double(width)).rounded())))
        return String(repeating: ascii ? "#" : "█", count: filled) + String(repeating: ascii ? "." : "░", count: shaded - filled)
            + String(repeating: " ", count: width - shaded)
    }
}

extension Painter {
    mutating func drawStats() {
        let top = layout.bodyTop
        let bottom = layout.bodyTop + layout.bodyHeight
        let st = state.stats
        let days = st.window.seconds / 86_400
        guard let r = st.report else {
            buffer.put("Stats — the last \(days) days", row: top, col: 1, style: .title)
            if let e = st.error { buffer.put("✗ could not load: " + safe(e), row: top + 1, col: 1, style: .refusal) } else {
                buffer.put("loading…", row: top + 1, col: 1, style: .dim)
            }
            return
        }
        let since = Timestamp.format(r.since)
        buffer.put("Stats — requests created in the last \(days) days (since \(since.prefix(10)) \(since.dropFirst(11).prefix(5)) UTC)",
                   row: top, col: 1, style: .title)
        let cs = [Column(title: "", width: 0), Column(title: "Flow", width: 12, grow: 2, max: 24), Column(title: "Req", width: 5),
                  Column(title: "Appr", width: 5), Column(title: "Deny", width: 5), Column(title: "Exp", width: 4),
                  Column(title: "Canc", width: 4), Column(title: "Glass", width: 5), Column(title: "Median", width: 7),
                  Column(title: "p90", width: 7), Column(title: "median→p90", width: 8, grow: 3)]
        let w = Column.widths(cs, total: cols - 1)
        // Counts and times right-aligned, as figures are read down a column.
        func aligned(_ values: [String]) -> [String] {
            values.enumerated().map { i, v in (2...9).contains(i) ? String(repeating: " ", count: max(0, w[i] - DisplayWidth.of(v))) + v : v }
        }
        cellsRow(aligned(cs.map(\.title)), w, row: top + 1, style: .header)
        // Rows for the flows: what the charts below (7 lines) leave; the total row always shows.
        let room = max(1, bottom - (top + 2) - 8)
        let shown = r.flows.count <= room ? r.flows : Array(r.flows.prefix(room - 1))
        let scale = ([r.total] + r.flows).compactMap { $0.approvalP90 ?? $0.approvalMedian }.max() ?? 0
        func cells(_ f: ActivityReport.Figures, _ name: String) -> [String] {
            aligned(["", name, "\(f.requests)", "\(f.approved)", "\(f.denied)", "\(f.expired)", "\(f.cancelled)", "\(f.breakGlass)",
             ReportCommand.duration(f.approvalMedian), ReportCommand.duration(f.approvalP90),
             Chart.bar(f.approvalMedian, upTo: f.approvalP90, scale: scale, width: w.last ?? 0, ascii: st.ascii)])
        }
        var row = top + 2
        if r.flows.isEmpty { buffer.put("No requests in this window.", row: row, col: 1, style: .dim); row += 1 }
        for f in shown { cellsRow(cells(f, safe(f.flow)), w, row: row, style: .normal); row += 1 }
        if shown.count < r.flows.count {
            buffer.put("… \(r.flows.count - shown.count) more flows (symtui report lists them all)", row: row, col: 1, style: .dim); row += 1
        }
        cellsRow(cells(r.total, "all flows"), w, row: row, style: .header); row += 2
        // One cell per day, the most recent days when the window is wider than the screen.
        let label = 24
        let width = max(1, cols - label - 14)
        let recent = Array(r.days.suffix(width))
        func spark(_ title: String, _ values: [Int64]) {
            buffer.put(title, row: row, col: 1, width: label - 1)
            let line = Chart.sparkline(values, ascii: st.ascii)
            buffer.put(line, row: row, col: label, style: .title)
            buffer.put("max \(values.max() ?? 0)", row: row, col: label + DisplayWidth.of(line) + 2, style: .dim)
            row += 1
        }
        spark("Requests per day", recent.map(\.requests))
        spark("Grants active (peak)", recent.map(\.grantsMax))
        if let first = recent.first?.date, let last = recent.last?.date {
            // The first and the last day under the two ends of the lines (MM-DD).
            let a = String(first.dropFirst(5)), b = String(last.dropFirst(5))
            let gap = recent.count - a.count - b.count
            buffer.put(gap >= 1 ? a + String(repeating: " ", count: gap) + b : a, row: row, col: label, style: .dim)
        }
        row += 2
        if row < bottom {
            let legend = "Glass: self-approved (break-glass) · times: request to approval · UTC days"
            buffer.put(legend + (DisplayWidth.of(legend) + 24 < cols ? " · symtui report --json" : ""), row: row, col: 1, style: .dim)
        }
    }
}
