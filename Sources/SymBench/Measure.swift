import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on CLOCK_MONOTONIC: one clock for every process on the machine, so a writer and
/// its readers can compare timestamps.
func monoNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func elapsedSeconds(since start: UInt64) -> Double { Double(monoNanos() &- start) / 1e9 }

/// Times `body` once, in milliseconds.
func timeMs(_ body: () throws -> Void) rethrows -> Double {
    let t = monoNanos()
    try body()
    return Double(monoNanos() - t) / 1e6
}

/// A distribution of samples.
struct Samples {
    var values: [Double] = []
    init(_ values: [Double] = []) { self.values = values }
    mutating func add(_ v: Double) { values.append(v) }
    var count: Int { values.count }
    /// Nearest-rank percentile (p in 0...100).
    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        let rank = Int((p / 100 * Double(s.count)).rounded(.up))
        return s[Swift.min(s.count - 1, Swift.max(0, rank - 1))]
    }
    var median: Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    var p99: Double { percentile(99) }
    var max: Double { values.max() ?? .nan }
    var min: Double { values.min() ?? .nan }
}

func fmt(_ v: Double, _ digits: Int = 2) -> String {
    v.isNaN ? "n/a" : String(format: "%.\(digits)f", v)
}

func fmtInt(_ v: Double) -> String {
    guard !v.isNaN else { return "n/a" }
    let n = Int(v.rounded())
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

/// One line of the results table.
struct Figure {
    enum Verdict: String { case met = "met", missed = "**MISSED**", info = "info", failed = "**ERROR**" }
    var name: String
    var measured: String
    var goal: String
    var verdict: Verdict
    var method: String
}

/// Everything one run measured: the table and the detail lines under it.
final class Report {
    var figures: [Figure] = []
    var details: [String] = []

    func add(_ f: Figure) {
        figures.append(f)
        log("  → \(f.name): \(f.measured) (goal \(f.goal)) \(f.verdict.rawValue)")
    }

    func detail(_ line: String) {
        details.append(line)
        log("    \(line)")
    }

    var markdown: String {
        var s = "| figure | measured | goal | verdict |\n|---|---|---|---|\n"
        for f in figures { s += "| \(f.name) | \(f.measured) | \(f.goal) | \(f.verdict.rawValue) |\n" }
        s += "\n### How each figure was measured\n\n"
        for f in figures { s += "- **\(f.name)** — \(f.method)\n" }
        if !details.isEmpty {
            s += "\n### Details\n\n```\n" + details.joined(separator: "\n") + "\n```\n"
        }
        return s
    }
}

func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Runs a program to completion (posix_spawn + waitpid) and returns its stdout. With `output: false`
/// stdout goes to /dev/null: a daemon it forks (tmux's server) must not hold our pipe open.
@discardableResult
func run(_ path: String, _ args: [String], output: Bool = true) throws -> String {
    var fds: [Int32] = [-1, -1]
    if output { guard pipe(&fds) == 0 else { throw BenchError("pipe failed") } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if output {
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    if output { close(fds[1]) }
    guard rc == 0 else {
        if output { close(fds[0]) }
        throw BenchError("cannot run \(path): \(String(cString: strerror(rc)))")
    }
    var data = [UInt8]()
    if output {
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n > 0 { data += buf[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        close(fds[0])
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return String(decoding: data, as: UTF8.self)
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Starts a program in the background with stdout and stderr sent to `logPath`.
func spawn(_ path: String, _ args: [String], logPath: String, environment: [String: String]? = nil) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let environment { p.environment = environment }
    _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    let fh = FileHandle(forWritingAtPath: logPath)
    p.standardOutput = fh
    p.standardError = fh
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return p
}

func stop(_ p: Process) {
    guard p.isRunning else { return }
    kill(p.processIdentifier, SIGTERM)
    let deadline = monoNanos() + 3_000_000_000
    while p.isRunning && monoNanos() < deadline { usleep(10_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
}

func sleepMs(_ ms: Double) { usleep(UInt32(max(0, ms) * 1000)) }

/// /proc/PID/stat: user+system CPU time in clock ticks.
func cpuTicks(pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state is field 3; utime and stime are fields 14 and 15 (1-based).
    guard fields.count > 13, let u = Int(fields[11]), let s = Int(fields[12]) else { return nil }
    return u + s
}

/// The numeric `key: value` lines of a /proc/PID file (`status` in kB, `io` in calls and bytes).
func procCounters(pid: Int32, file: String) -> [String: Int] {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .utf8) else { return [:] }
    var out: [String: Int] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":"),
              let n = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).lazy.compactMap({ Int($0) }).first else { continue }
        out[String(line[..<colon])] = n
    }
    return out
}

/// /proc/PID/status VmRSS / VmHWM in kB.
func memoryKB(pid: Int32, key: String = "VmRSS") -> Int? { procCounters(pid: pid, file: "status")[key] }

/// /proc/PID/io: write-family system calls (`syscw`, sockets included) and bytes passed to them (`wchar`).
func writeCounters(pid: Int32) -> (calls: Int, bytes: Int)? {
    let io = procCounters(pid: pid, file: "io")
    guard let calls = io["syscw"], let bytes = io["wchar"] else { return nil }
    return (calls, bytes)
}

func comm(pid: Int32) -> String {
    ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Children of a process (from /proc/PID/task/*/children).
func children(pid: Int32) -> [Int32] {
    let dir = "/proc/\(pid)/task"
    var out: [Int32] = []
    for t in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
        let text = (try? String(contentsOfFile: "\(dir)/\(t)/children", encoding: .utf8)) ?? ""
        out += text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
    return out
}

let clockTicksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

/// This executable, and the `symtui` built next to it.
let benchExecutable: String = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
let symtuiExecutable: String = ((benchExecutable as NSString).deletingLastPathComponent as NSString).appendingPathComponent("symtui")
