import Foundation
import SymModel
#if canImport(Glibc)
import Glibc
#endif

/// What deescalation does with the processes that still hold the removed access (`end_sessions`).
public enum EndSessions: String, Sendable {
    /// SIGHUP, then SIGTERM, then SIGKILL, each after a bounded grace period.
    case terminate
    /// List them in the `deescalate` event and leave them running.
    case report

    /// The mode a strategy's settings ask for: `terminate` when absent.
    static func mode(_ settings: [String: JSONValue], strategy: String) -> Result<EndSessions, StrategyFailure> {
        let text = settings["end_sessions"]?.stringValue ?? EndSessions.terminate.rawValue
        guard let mode = EndSessions(rawValue: text) else {
            return .failure(StrategyFailure("\(strategy): end_sessions is \"\(SafeText.display(text))\"; expected terminate or report"))
        }
        return .success(mode)
    }
}

/// One process as /proc shows it: the ids that decide what it may do, and what it descends from.
public struct ProcessEntry: Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    /// `Name:` of /proc/PID/status (the kernel's 15-byte command name).
    public var command: String
    /// Real, effective, saved and filesystem uid / gid.
    public var uids: [UInt32]
    public var gids: [UInt32]
    /// Supplementary groups.
    public var groups: [UInt32]
    /// Clock ticks after boot at which it started (field 22 of /proc/PID/stat): with the pid, names it uniquely.
    public var startTicks: UInt64
    /// /proc/PID/loginuid: the uid of the login it descends from (pam_loginuid), nil when unset.
    public var loginUID: UInt32?
    /// `State:` is Z: it holds nothing any more and only waits to be reaped.
    public var isZombie: Bool

    public func belongs(to uid: UInt32) -> Bool { uids.prefix(3).contains(uid) }
    public func holds(gid: UInt32) -> Bool { groups.contains(gid) || gids.prefix(3).contains(gid) }
    public var runsAsRoot: Bool { uids.prefix(3).contains(0) }
}

/// Reading the process table from /proc.
public enum ProcessTable {
    static let root = "/proc"

    /// Every process readable now; processes that end while being read are skipped.
    public static func snapshot() -> [ProcessEntry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        return names.compactMap { Int32($0) }.compactMap(entry)
    }

    /// One process, or nil when it is gone (or its entry cannot be read).
    public static func entry(_ pid: Int32) -> ProcessEntry? {
        guard let status = read("\(root)/\(pid)/status"), let stat = read("\(root)/\(pid)/stat"),
              let ticks = startTicks(stat) else { return nil }
        var e = ProcessEntry(pid: pid, ppid: 0, command: "", uids: [], gids: [], groups: [], startTicks: ticks, loginUID: nil, isZombie: false)
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            let numbers = { value.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) } }
            switch key {
            case "Name": e.command = SafeText.display(value)
            case "State": e.isZombie = value.hasPrefix("Z")
            case "PPid": e.ppid = Int32(value) ?? 0
            case "Uid": e.uids = numbers()
            case "Gid": e.gids = numbers()
            case "Groups": e.groups = numbers()
            default: break
            }
        }
        guard e.uids.count >= 3, e.gids.count >= 3 else { return nil }
        if let text = read("\(root)/\(pid)/loginuid"), let uid = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
           uid != UInt32.max {
            e.loginUID = uid
        }
        return e
    }

    /// The start time from /proc/PID/stat; the command name in parentheses may itself hold spaces and `)`.
    static func startTicks(_ stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, starttime field 22.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Seconds since the epoch at which the machine booted, to the nanosecond: the wall clock less the time since
    /// boot (`CLOCK_BOOTTIME`, the clock of /proc/PID/stat's start ticks). `btime` of /proc/stat is the same instant
    /// in whole seconds, which made every process look up to a second older than it is: the fallback only.
    static func bootTime() -> TimeInterval? {
        var wall = timespec(), sinceBoot = timespec()
        if clock_gettime(CLOCK_REALTIME, &wall) == 0, clock_gettime(CLOCK_BOOTTIME, &sinceBoot) == 0 {
            return TimeInterval(wall.tv_sec - sinceBoot.tv_sec) + TimeInterval(wall.tv_nsec - sinceBoot.tv_nsec) / 1e9
        }
        guard let text = read("\(root)/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return TimeInterval(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static let ticksPerSecond = TimeInterval(max(1, sysconf(Int32(_SC_CLK_TCK))))

    /// When a process started, from its start ticks.
    static func startDate(_ e: ProcessEntry, boot: TimeInterval) -> Date {
        Date(timeIntervalSince1970: boot + TimeInterval(e.startTicks) / ticksPerSecond)
    }

    /// `pids` and every process descending from them.
    static func withDescendants(_ pids: Set<Int32>, in table: [ProcessEntry]) -> Set<Int32> {
        var children: [Int32: [Int32]] = [:]
        for e in table { children[e.ppid, default: []].append(e.pid) }
        var found = pids
        var todo = Array(pids)
        while let p = todo.popLast() {
            for c in children[p] ?? [] where found.insert(c).inserted { todo.append(c) }
        }
        return found
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
            if out.count > 65_536 { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// One process that held removed access, and what deescalation did to it (an entry of `data.sessions`).
public struct HeldSession: Sendable, Equatable {
    public var pid: Int32
    public var command: String
    /// `terminated` (ended by `signal`), `gone` (ended before a signal reached it), `failed` (still running after
    /// SIGKILL), `reported` (left running: end_sessions is report).
    public var outcome: String
    public var signal: String?
    public var startTicks: UInt64

    public var json: JSONValue {
        .obj([("pid", .int(Int64(pid))), ("command", .string(command)), ("outcome", .string(outcome)), ("signal", .str(signal))])
    }
}

/// Ends (or lists) processes, each named by pid and start time so that a reused pid is never signalled.
public enum SessionEnder {
    /// Grace periods after SIGHUP and after SIGTERM; after SIGKILL the kernel needs no grace, only time to act.
    public static let hangupGrace: TimeInterval = 1
    public static let terminateGrace: TimeInterval = 2
    static let killWait: TimeInterval = 2

    public static func end(_ processes: [ProcessEntry], mode: EndSessions) -> [HeldSession] {
        var sessions = processes.sorted { $0.pid < $1.pid }.map {
            HeldSession(pid: $0.pid, command: $0.command, outcome: mode == .report ? "reported" : "running", signal: nil, startTicks: $0.startTicks)
        }
        guard mode == .terminate, !sessions.isEmpty else { return sessions }
        for (sig, name, grace) in [(SIGHUP, "SIGHUP", hangupGrace), (SIGTERM, "SIGTERM", terminateGrace), (SIGKILL, "SIGKILL", killWait)] {
            for i in sessions.indices where sessions[i].outcome == "running" {
                guard isSame(sessions[i]) else { sessions[i].outcome = sessions[i].signal == nil ? "gone" : "terminated"; continue }
                if kill(sessions[i].pid, sig) == 0 { sessions[i].signal = name } else if errno == ESRCH {
                    sessions[i].outcome = sessions[i].signal == nil ? "gone" : "terminated"
                }
            }
            let deadline = Date().addingTimeInterval(grace)
            while Date() < deadline {
                for i in sessions.indices where sessions[i].outcome == "running" && !isSame(sessions[i]) {
                    sessions[i].outcome = sessions[i].signal == nil ? "gone" : "terminated"
                }
                if !sessions.contains(where: { $0.outcome == "running" }) { return sessions }
                usleep(20_000)
            }
        }
        for i in sessions.indices where sessions[i].outcome == "running" { sessions[i].outcome = "failed" }
        return sessions
    }

    /// The process still runs (not a zombie) and is the one that was found (same start time).
    static func isSame(_ s: HeldSession) -> Bool {
        guard let e = ProcessTable.entry(s.pid) else { return false }
        return e.startTicks == s.startTicks && !e.isZombie
    }
}

/// Finding the processes that hold access a strategy removed.
public enum SessionHolders {
    // The reentrant look-ups: several strategy workers run at once, and getpwnam's static buffer is shared.
    static func uid(of user: String) -> (uid: UInt32, gid: UInt32)? {
        var pw = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(user, &pw, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        return (pw.pw_uid, pw.pw_gid)
    }

    static func user(uid: UInt32) -> (name: String, gid: UInt32)? {
        var pw = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &pw, &buffer, buffer.count, &found) == 0, found != nil, let name = pw.pw_name else { return nil }
        return (String(cString: name), pw.pw_gid)
    }

    static func gid(of group: String) -> UInt32? {
        var gr = group_t()
        var found: UnsafeMutablePointer<group_t>?
        var buffer = [CChar](repeating: 0, count: 65_536)
        guard getgrnam_r(group, &gr, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        return gr.gr_gid
    }

    /// The user's processes holding the group: in their supplementary groups, or as real/effective/saved group (sg, newgrp).
    public static func holdingGroup(_ group: String, user: String, table: [ProcessEntry] = ProcessTable.snapshot()) -> [ProcessEntry] {
        guard let (uid, primary) = uid(of: user), let gid = gid(of: group), gid != primary else { return [] }
        return table.filter { !$0.isZombie && $0.belongs(to: uid) && $0.holds(gid: gid) }
    }

    /// Processes running through sudo started by the user since `since`: every `sudo` process whose real uid is the
    /// user's, with all its descendants, and root processes whose login uid is the user's (pam_loginuid), which
    /// catches those that left the sudo tree (double fork, setsid) when the login set a login uid.
    /// `until`: only what started before then (the end of an ended grant, for `symtui check`).
    public static func startedThroughSudo(user: String, since: Date?, until: Date? = nil,
                                          table: [ProcessEntry] = ProcessTable.snapshot()) -> [ProcessEntry] {
        guard let (uid, _) = uid(of: user), uid != 0 else { return [] }
        let boot = ProcessTable.bootTime()
        // Start times have clock-tick resolution and the grant's start is recorded after the drop-in is in place.
        func inWindow(_ e: ProcessEntry) -> Bool {
            guard let boot else { return since == nil && until == nil }
            let started = ProcessTable.startDate(e, boot: boot)
            if let since, started < since.addingTimeInterval(-2) { return false }
            if let until, started > until { return false }
            return true
        }
        let me = getpid()
        let roots = Set(table.filter { $0.command == "sudo" && $0.uids.first == uid && inWindow($0) }.map(\.pid))
        var pids = ProcessTable.withDescendants(roots, in: table)
        for e in table where e.loginUID == uid && e.runsAsRoot && inWindow(e) { pids.insert(e.pid) }
        pids = ProcessTable.withDescendants(pids, in: table)
        return table.filter { pids.contains($0.pid) && $0.pid != me && !$0.isZombie && $0.pid > 1 }
    }
}

extension StrategyOutcome {
    /// Adds `data.sessions`; a process that survived SIGKILL makes the deescalation fail (it is retried).
    static func withSessions(_ outcome: StrategyOutcome, _ sessions: [HeldSession], who: String) -> StrategyOutcome {
        var pairs = outcome.data.objectValue ?? []
        pairs.append(("sessions", .array(sessions.map(\.json))))
        let failed = sessions.filter { $0.outcome == "failed" }
        guard outcome.succeeded, failed.isEmpty else {
            if !outcome.succeeded { return StrategyOutcome(succeeded: false, error: outcome.error, output: outcome.output, data: .object(pairs)) }
            return .failure("could not end process(es) " + failed.map { String($0.pid) }.joined(separator: ", ") + " of \(who)", data: pairs)
        }
        return StrategyOutcome(succeeded: true, error: nil, output: outcome.output, data: .object(pairs))
    }
}
