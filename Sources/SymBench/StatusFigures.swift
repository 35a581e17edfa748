import Foundation
import SymModel
import SymProtocol

/// `symtui status` on a 100,000-request store: the daemon's `status` read on an open connection (what a tmux status
/// line pays per refresh besides starting the process), and the whole command as tmux runs it.
func measureStatusLine(root: String, report: Report, reads: Int = 500, runs: Int = 30) throws {
    log("status: the daemon's status read and `symtui status` on a 100,000-request store")
    let site = try consoleSite(root: root, name: "status-100k", total: 100_000, pendingEvery: 20)
    let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
    defer { stop(daemon) }
    var conn: LineConnection?
    for _ in 0..<100 where conn == nil { conn = try? connectUnixSocket(site.socketPath); if conn == nil { sleepMs(50) } }
    guard let conn else { throw CommandError(ExitCode.unavailable, "the daemon did not open \(site.socketPath)") }
    let line = JSONValue.obj([("v", .int(protocolVersion)), ("read", .string("status"))]).compact
    var answer = ""
    for _ in 0..<20 { try conn.writeLine(line); answer = try conn.readLine() ?? "" }
    var read = Samples()
    for _ in 0..<reads {
        let t = monoNanos()
        try conn.writeLine(line)
        answer = try conn.readLine() ?? ""
        read.add(Double(monoNanos() - t) / 1e6)
    }
    let review = (try? JSONValue.parse(answer))?["review"]?.intValue ?? -1
    var whole = Samples()
    var printed = ""
    for _ in 0..<runs {
        let t = monoNanos()
        printed = try run(symtuiExecutable, ["--config", site.configPath, "status", "--format", "tmux"])
        whole.add(Double(monoNanos() - t) / 1e6)
    }
    report.detail("status read through the daemon [100,000 requests, \(review) waiting for me]: p50 \(fmt(read.median, 3)) ms, "
                  + "p99 \(fmt(read.p99, 3)) ms, max \(fmt(read.max, 3)) ms over \(reads) reads on one connection")
    report.detail("`symtui status --format tmux` as a process [100,000 requests]: p50 \(fmt(whole.median, 1)) ms, p99 \(fmt(whole.p99, 1)) ms "
                  + "over \(runs) runs; prints: \(printed.trimmingCharacters(in: .whitespacesAndNewlines))")
    report.add(Figure(name: "`symtui status` read through the daemon (100,000 requests)",
                      measured: "p50 \(fmt(read.median, 3)) ms / p99 \(fmt(read.p99, 3)) ms (whole process p50 \(fmt(whole.median, 1)) ms)",
                      goal: "≤ 5 ms", verdict: read.p99 <= 5 ? .met : .missed,
                      method: "the `status` read (`{\"read\":\"status\"}`) \(reads) times on one connection to the real daemon over a store of "
                        + "100,000 requests (1 in 20 pending, 1 in 50 active); then the real `symtui status --format tmux` \(runs) times, "
                        + "exec to exit, which adds process start, config load and connect."))
}
