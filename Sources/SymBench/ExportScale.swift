import Foundation
import SymModel
import SymStore

/// Runs `path args` with stdout into `output` (opened in place, created when missing: never `createFile`, whose
/// atomic rename would replace a device such as /dev/null with a regular file), returning the wall time in seconds.
private func timedToFile(_ path: String, _ args: [String], output: String) throws -> Double {
    let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw StoreError("cannot write \(output)") }
    let out = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    defer { try? out.close() }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.standardOutput = out
    p.standardError = FileHandle.standardError
    let start = monoNanos()
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw StoreError("\(path) \(args.joined(separator: " ")) exited \(p.terminationStatus)") }
    return elapsedSeconds(since: start)
}

/// CPU time of this process (every thread), user + system, in seconds.
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// `symtui audit export` of the big fixture (JSONL and CSV, from the store file as root does it) against `cat` of the
/// exported file to /dev/null in the same run.
func measureExportScale(root: String, report: Report, events: Int) throws {
    // The fixture the verify figure just built (or reused); its config is written beside it.
    let store = try bigEventStore(root: root, events: events)
    let site = try BenchSite(root: root, name: (store as NSString).deletingLastPathComponent.components(separatedBy: "/").last!, keepStore: true)
    let reader = try Store.openReadOnly(path: site.storePath)
    guard try reader.lastSeq() == Int64(events) else { throw StoreError("the fixture changed under the bench") }
    // In process, to /dev/null, the same export on one thread and on every core (what the parallel chunks buy, same run).
    let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
    defer { close(null) }
    for format in [AuditExport.Format.jsonl, .csv] {
        var rates: [Int: (wall: Double, cpu: Double)] = [:]
        for workers in [1, ProcessInfo.processInfo.activeProcessorCount] {
            var bytes = 0
            let t = monoNanos()
            let cpu0 = processCPUSeconds()
            try reader.exportEvents(AuditFilter(), format: format, workers: workers) { chunk in
                bytes += chunk.count
                _ = write(null, chunk.baseAddress, chunk.count)
            }
            rates[workers] = (Double(bytes) / elapsedSeconds(since: t) / 1e6, Double(bytes) / (processCPUSeconds() - cpu0) / 1e6)
        }
        let all = ProcessInfo.processInfo.activeProcessorCount
        report.detail("audit export \(format.rawValue) in process to /dev/null: one thread \(fmt(rates[1]!.wall, 0)) MB/s wall "
                      + "(\(fmt(rates[1]!.cpu, 0)) MB per CPU-second), \(all) threads \(fmt(rates[all]!.wall, 0)) MB/s wall "
                      + "(\(fmt(rates[all]!.cpu, 0)) MB per CPU-second; × \(fmt(rates[all]!.wall / rates[1]!.wall, 2)) wall)")
    }
    for format in ["jsonl", "csv"] {
        let file = site.dir + "/export." + format
        defer { try? FileManager.default.removeItem(atPath: file) }
        let seconds = try timedToFile(symtuiExecutable, ["--config", site.configPath, "audit", "export", "--format", format], output: file)
        let bytes = Double((try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0)
        let catSeconds = try timedToFile("/bin/cat", [file], output: "/dev/null")
        let rate = bytes / seconds / 1e6, catRate = bytes / catSeconds / 1e6
        report.detail("audit export \(format): \(fmt(bytes / 1e6, 0)) MB in \(fmt(seconds, 1)) s = \(fmt(rate, 0)) MB/s; "
                      + "cat of the same file to /dev/null \(fmt(catRate, 0)) MB/s (ratio \(fmt(rate / catRate, 3)))")
        report.add(Figure(name: "audit export \(format), \(fmtInt(Double(events))) events",
                          measured: "\(fmt(rate, 0)) MB/s (\(fmt(seconds, 1)) s; \(fmt(rate / catRate, 3)) × cat's \(fmt(catRate, 0)) MB/s)",
                          goal: "≥ 200 MB/s", verdict: rate >= 200 ? .met : .missed,
                          method: "`symtui --config CFG audit export --format \(format)` run by root (the store file is read directly) on the "
                            + "\(events)-event fixture, stdout to a file; then `cat` of that file to /dev/null; wall times, one run each."))
    }
}
