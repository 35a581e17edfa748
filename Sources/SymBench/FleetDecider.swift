import Foundation
import SymEngine
import SymModel
import SymProtocol
import SymStore
#if canImport(Glibc)
import Glibc
#endif

/// `symtui-bench pg-decider …`: one "daemon" of a fleet at the store level, for the fleet fault tests
/// (Tests/e2e/fleet_faults_e2e.py): one `PostgresStore` and one `Engine`, as a daemon has, and `--deciders N` threads
/// deciding through it, as N CLI callers would.
///
/// - `--seed N`: makes N pending requests (flow `job`, requester `bob`) and prints their ids, one per line.
/// - `--approve FIRST-LAST`: every decider approves every request of the range (as `alice`), in its own random
///   order, until each is decided or `--seconds` pass; a call that answers 69 (the store unavailable) is tried again
///   after a pause. Each call's outcome is one JSON line on `--out`: `{"id":…,"code":…,"decider":…,"message":…}`.
/// - `--verify`: runs `audit verify` on the store and prints `ok` or the problem (exit 65).
func fleetDecider(_ args: [String]) throws -> Int32 {
    func arg(_ flag: String) -> String? {
        guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
        return args[i + 1]
    }
    guard let conninfo = arg("--conninfo"), let configPath = arg("--config") else {
        log("usage: symtui-bench pg-decider --conninfo C --config PATH (--seed N | --approve FIRST-LAST | --verify) "
            + "[--host NAME] [--deciders N] [--seconds S] [--out FILE]")
        return 64
    }
    let store = try PostgresStore(conninfo: conninfo, hostName: arg("--host") ?? "fleet")
    if args.contains("--verify") {
        let v = try AuditVerifier(store: store).verify()
        print(v.ok ? "ok \(v.checked)" : "broken: \(v.problem.map { "\($0)" } ?? "")")
        return v.ok ? 0 : 65
    }
    let engine = Engine(config: try ConfigLoader.load(path: configPath), store: store)
    if let n = arg("--seed").flatMap(Int.init) {
        let bob = Identity(uid: 60_001, name: "bob", groups: ["dev"])
        for i in 0..<n {
            let r = try engine.execute(.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "fleet \(i)"), by: bob).get()
            print(r.id)
        }
        return 0
    }
    guard let range = arg("--approve"), let dash = range.firstIndex(of: "-"),
          let first = Int64(range[..<dash]), let last = Int64(range[range.index(after: dash)...]), first <= last else {
        log("pg-decider: --approve FIRST-LAST names the requests")
        return 64
    }
    let deciders = Int(arg("--deciders") ?? "") ?? 8
    let deadline = Date().addingTimeInterval(Double(arg("--seconds") ?? "") ?? 120)
    let out = DeciderLog(path: arg("--out"))
    let alice = Identity(uid: 60_002, name: "alice", groups: ["oncall"])
    let host = arg("--host") ?? "fleet"
    DispatchQueue.concurrentPerform(iterations: deciders) { d in
        var open = Array(first...last).shuffled()
        while !open.isEmpty && Date() < deadline {
            var retry: [Int64] = []
            for id in open {
                switch engine.execute(.approve(id: id, reason: "\(host) decider \(d)"), by: alice) {
                case .success: out.add(id: id, code: 0, decider: d, message: "")
                case let .failure(e):
                    out.add(id: id, code: e.code, decider: d, message: e.message)
                    if e.code == ExitCode.unavailable { retry.append(id) }
                }
            }
            open = retry
            if !open.isEmpty { usleep(100_000) }
        }
    }
    try out.close()
    return 0
}

/// The outcome lines of a decider process, written as they happen (a process killed midway leaves whole lines).
final class DeciderLog: @unchecked Sendable {
    private let lock = NSLock()
    private let fd: Int32
    init(path: String?) { fd = path.map { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600) } ?? 1 }
    func add(id: Int64, code: Int32, decider: Int, message: String) {
        let line = JSONValue.obj([("id", .int(id)), ("code", .int(Int64(code))), ("decider", .int(Int64(decider))),
                                  ("message", .string(message))]).compact + "\n"
        lock.withLock { _ = line.withCString { write(fd, $0, strlen($0)) } }
    }
    func close() throws { if fd > 2 { Glibc.close(fd) } }
}
