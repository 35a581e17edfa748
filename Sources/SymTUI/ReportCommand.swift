import Foundation
import SymModel
import SymProtocol

/// `symtui report`: per-flow figures for auditors (approval times, outcomes, break-glass), requests per day and the
/// most grants active at once each day. The daemon computes them (the same read as the console's Stats view).
enum ReportCommand {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["report"], summary: "approval times, outcomes and break-glass per flow; requests and grants per day",
                    options: [.value("since", "D", "start of the window: a date (YYYY-MM-DD, UTC) or a span back from now (30d, 12h); default 30d")],
                    details: """
                    Counts requests created in the window, per flow: approved, denied, expired (nobody decided in time),
                    cancelled, failed, still pending, break-glass (approved by their own requester), and the time from
                    request to approval (nearest-rank median and 90th percentile). Per UTC day: requests created and the
                    most grants active at the same moment (a grant that began before the window counts too). Anyone who
                    may read the audit log may read this (every local user, as for audit export). At most 999 days back;
                    the daemon's work grows with the requests in the window. The console's Stats view (key 6) shows the same.
                    --json: {"since","until" (RFC 3339), "flows":[{"flow","requests","approved","denied","expired","cancelled",
                    "failed","pending","break_glass","approval_seconds":{"median","p90"}}] (by name; seconds, null without
                    approvals), "total":{the same without "flow"}, "days":[{"date":"YYYY-MM-DD","requests","grants_max"}]}.
                    """,
                    run: run),
    ] }

    static func run(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let now = Date()
        let since: Date
        switch ActivityReport.parseSince(a.value("since") ?? "30d", now: now) {
        case let .success(d): since = d
        case let .failure(p): throw UsageError(message: "--since: " + p.message)
        }
        let report = try c.reader().report(since: since)
        if c.json { Output.json(report.json); return ExitCode.ok }
        Output.print(String(text(report).dropLast()))
        return ExitCode.ok
    }

    /// Seconds as people read a wait: 42s, 3m 20s, 1h 05m, 2d 3h.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "—" }
        let s = Int(seconds.rounded())
        if s < 60 { return seconds < 10 && seconds != seconds.rounded() ? String(format: "%.1fs", seconds) : "\(s)s" }
        if s < 3600 { return "\(s / 60)m " + String(format: "%02ds", s % 60) }
        if s < 86_400 { return "\(s / 3600)h " + String(format: "%02dm", s % 3600 / 60) }
        return "\(s / 86_400)d \(s % 86_400 / 3600)h"
    }

    /// The readable table: one row per flow and a total, then one row per day.
    static func text(_ r: ActivityReport) -> String {
        var out = "report: requests created \(Timestamp.format(r.since)) – \(Timestamp.format(r.until))\n\n"
        let head = ["flow", "requests", "approved", "denied", "expired", "cancelled", "failed", "pending", "break-glass", "median", "p90"]
        func row(_ f: ActivityReport.Figures) -> [String] {
            [SafeText.display(f.flow ?? "all flows"), "\(f.requests)", "\(f.approved)", "\(f.denied)", "\(f.expired)", "\(f.cancelled)",
             "\(f.failed)", "\(f.pending)", "\(f.breakGlass)", duration(f.approvalMedian), duration(f.approvalP90)]
        }
        out += table([head] + r.flows.map(row) + [row(r.total)], rightFrom: 1)
        out += "\nmedian, p90: time from request to approval (nearest rank), approved requests only\n\n"
        out += table([["day (UTC)", "requests", "grants max"]] + r.days.map { [$0.date, "\($0.requests)", "\($0.grantsMax)"] }, rightFrom: 1)
        out += "\ngrants max: the most grants active at the same moment during the day\n"
        return out
    }

    /// Columns padded to their widest cell (display width); columns from `rightFrom` right-aligned.
    static func table(_ rows: [[String]], rightFrom: Int) -> String {
        guard let n = rows.first?.count else { return "" }
        let w = (0..<n).map { i in rows.map { DisplayWidth.of($0[i]) }.max() ?? 0 }
        return rows.map { cells in
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: max(0, w[i] - DisplayWidth.of(c)))
                return i >= rightFrom ? pad + c : c + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n") + "\n"
    }
}
