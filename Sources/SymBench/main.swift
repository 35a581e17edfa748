import Foundation
import SymModel
import SymStore
#if canImport(Glibc)
import Glibc
#endif

/// `symtui-bench [run] [--dir DIR] [--out FILE] [--only NAME,...]`: every figure of docs/PERFORMANCE.md in one run.
/// `symtui-bench watch-probe …`: one reader process of the commit → visible figure.
/// `symtui-bench pg-decider …`: one daemon's store and deciders, for the fleet fault tests (FleetDecider.swift).
let arguments = Array(CommandLine.arguments.dropFirst())
// The store's SQLite settings, as the daemon has them, before the raw baselines open SQLite themselves.
_ = Database.libraryConfigured

func value(_ flag: String) -> String? {
    guard let i = arguments.firstIndex(of: flag), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}

if arguments.first == "pg-decider" {
    do { exit(try fleetDecider(Array(arguments.dropFirst()))) } catch {
        log("pg-decider: \(error)")
        exit(69)
    }
}

if arguments.first == "watch-probe" {
    do { exit(try watchProbe(Array(arguments.dropFirst()))) } catch {
        log("watch-probe: \(error)")
        exit(69)
    }
}

let all = ["render", "audit", "throughput", "group-commit", "latency", "expiry-lag", "expiry-burst", "console", "status", "report", "shaped",
           "pg", "fleet"]
/// Figures that take longer or need a big store: only when named (`make bench-scale`).
let scaleFigures = ["scale", "audit-scale", "migrate"]
let only = value("--only").map { $0.split(separator: ",").map(String.init) } ?? all
// Absolute: the daemons the bench starts are given paths under it (a relative socket path was refused).
let root: String = {
    let dir = value("--dir") ?? ".build/bench-data"
    return dir.hasPrefix("/") ? dir : FileManager.default.currentDirectoryPath + "/" + dir
}()
try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
guard FileManager.default.isExecutableFile(atPath: symtuiExecutable) else {
    log("symtui-bench: \(symtuiExecutable) is missing; build it first (swift build -c release)")
    exit(69)
}
BrokenPipes.ignore()
let report = Report()
let started = monoNanos()
for name in only {
    do {
        switch name {
        case "render": measureRender(report: report)
        case "audit": try measureAuditVerify(root: root, report: report)
        case "audit-scale":
            let events = Int(value("--events") ?? "") ?? 10_000_000
            try measureAuditVerifyScale(root: root, report: report, events: events)
            try measureExportScale(root: root, report: report, events: events)
        case "throughput": try measureThroughput(root: root, report: report)
        case "group-commit":
            try measureGroupCommit(root: root, report: report)
            try measureGroupCommitInProcess(root: root, report: report)
        case "latency": try measureCommitLatency(root: root, report: report)
        case "expiry-lag": try measureExpiryLag(root: root, report: report)
        case "expiry-burst": try measureExpiryBurst(root: root, report: report, count: Int(value("--burst") ?? "") ?? 10_000)
        case "console": try measureConsole(root: root, report: report)
        case "status": try measureStatusLine(root: root, report: report)
        case "report": try measureReport(root: root, report: report)
        case "shaped": try measureShapedReads(root: root, report: report)
        case "pg": try measurePostgres(root: root, report: report)
        case "migrate": try measureMigrate(root: root, report: report, pg: value("--pg") ?? ProcessInfo.processInfo.environment["SYMTUI_BENCH_PG"])
        case "scale":
            try measureScale(root: root, report: report, requests: Int(value("--requests") ?? "") ?? 1_000_000,
                             events: Int(value("--events") ?? "") ?? 10_000_000)
        case "fleet": try measureConsoleFleet(root: root, report: report, consoles: Int(value("--consoles") ?? "") ?? 100,
                                              sites: Int(value("--fleet-sites") ?? "") ?? 2)
        default:
            log("symtui-bench: unknown figure \(name) (one of \((all + scaleFigures).joined(separator: ", ")))")
            BenchPostgres.destroy()
            exit(64)
        }
    } catch {
        report.add(Figure(name: name, measured: "error: \(error)", goal: "", verdict: .failed, method: ""))
    }
}
BenchPostgres.destroy()
report.detail("bench wall time: \(fmt(elapsedSeconds(since: started), 1)) s")
let markdown = report.markdown
if let out = value("--out") {
    try markdown.write(toFile: out, atomically: true, encoding: .utf8)
} else {
    print(markdown)
}
exit(report.figures.contains { $0.verdict == .failed } ? 1 : 0)
