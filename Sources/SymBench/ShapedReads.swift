import Foundation
import SymModel
import SymProtocol

/// The console's sorted and regex-filtered pages on a 100,000-request store: the `requests` and `review` reads with a
/// `sort` or a `regex` (the daemon reads the newest `ListShape.scanLimit` rows, matches, sorts, pages), against the
/// same reads without, on one connection to the real daemon in the same run.
func measureShapedReads(root: String, report: Report, reads: Int = 40) throws {
    log("shaped reads: sorted / regex pages of the requests and review reads on a 100,000-request store")
    let site = try consoleSite(root: root, name: "shaped-100k", total: 100_000, pendingEvery: 20)
    let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
    defer { stop(daemon) }
    var conn: LineConnection?
    for _ in 0..<100 where conn == nil { conn = try? connectUnixSocket(site.socketPath); if conn == nil { sleepMs(50) } }
    guard let conn else { throw CommandError(ExitCode.unavailable, "the daemon did not open \(site.socketPath)") }
    conn.setReceiveTimeout(seconds: 30)

    func time(_ call: ReadCall) throws -> (Samples, Int) {
        let line = DaemonCall.read(call).json.compact
        var total = -1
        for _ in 0..<3 { try conn.writeLine(line); _ = try conn.readLine() }
        var s = Samples()
        for _ in 0..<reads {
            let t = monoNanos()
            try conn.writeLine(line)
            let answer = try conn.readLine() ?? ""
            s.add(Double(monoNanos() - t) / 1e6)
            total = Int((try? JSONValue.parse(answer))?["total"]?.intValue ?? -1)
        }
        return (s, total)
    }
    var all = RequestQuery(limit: 40)
    let (plain, plainTotal) = try time(.requests(all, count: true))
    all.shape = ListShape(sort: .flow)
    let (sorted, _) = try time(.requests(all, count: true))
    all.shape = ListShape(regex: "^(job|prod)")
    let (regex, regexTotal) = try time(.requests(all, count: true))
    let (review, reviewTotal) = try time(.review(search: nil, offset: 0, limit: 40))
    let (reviewSorted, _) = try time(.review(search: nil, offset: 0, limit: 40, shape: ListShape(sort: .requester, descending: true)))
    func line(_ label: String, _ s: Samples, _ base: Samples) -> String {
        "\(label): p50 \(fmt(s.median, 2)) ms, p99 \(fmt(s.p99, 2)) ms (\(fmt(s.median / base.median, 1))× the unshaped read)"
    }
    report.detail("requests read, 40 rows of \(plainTotal) [100,000 requests]: p50 \(fmt(plain.median, 2)) ms, p99 \(fmt(plain.p99, 2)) ms")
    report.detail(line("  sorted by flow (newest \(ListShape.scanLimit) read and sorted)", sorted, plain))
    report.detail(line("  regex ^(job|prod) (\(regexTotal) matches in the newest \(ListShape.scanLimit))", regex, plain))
    report.detail("review read, 40 rows of \(reviewTotal): p50 \(fmt(review.median, 2)) ms, p99 \(fmt(review.p99, 2)) ms")
    report.detail(line("  sorted by requester, reversed", reviewSorted, review))
    let worst = max(sorted.p99, regex.p99, reviewSorted.p99)
    report.add(Figure(name: "sorted / regex console page through the daemon (100,000 requests)",
                      measured: "p99 \(fmt(worst, 1)) ms (unshaped p99 \(fmt(max(plain.p99, review.p99), 2)) ms)",
                      goal: "≤ 250 ms", verdict: worst <= 250 ? .met : .missed,
                      method: "the console's 40-row page as `requests` (sort flow; regex) and `review` (sort requester desc) reads, "
                        + "\(reads) times each on one connection to the real daemon over 100,000 requests (1 in 20 pending); "
                        + "the same reads without a shape in the same run are the baseline."))
}
