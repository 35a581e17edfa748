import Foundation
import SymModel
import SymProtocol
import SymStore

/// A scratch directory holding one config and one store.
struct BenchSite {
    let dir: String
    var configPath: String { dir + "/config.json5" }
    var storePath: String { dir + "/symtui.db" }
    var socketPath: String { dir + "/symtui.sock" }
    /// The user running the bench: an approver of every flow (the console's "me").
    static let me: String = {
        guard let pw = getpwuid(getuid()), let n = pw.pointee.pw_name else { return "root" }
        return String(cString: n)
    }()

    /// A fresh site under `root/name` (`keepStore`: the store already there is kept); `deescalate` is the command
    /// strategy's deescalation executable.
    init(root: String, name: String, deescalate: String = "/bin/true", keepStore: Bool = false) throws {
        dir = root + "/" + name
        if !keepStore { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = """
            // symtui-bench fixture
            {
              store: "\(dir)/symtui.db",
              socket: "\(dir)/symtui.sock",
              // The 64-client throughput figure has up to 64 requests of one user pending at once.
              limits: { pending_per_user: 1000 },
              strategies: [
                { name: "cmd", type: "command",
                  settings: { escalate: "/bin/true", deescalate: "\(deescalate)", timeout: "30s" },
                  targets: [ { name: "db", label: "orders DB" }, { name: "ssh", label: "Production SSH" } ] },
              ],
              flows: [
                { name: "access", label: "Production access", strategy: "cmd",
                  approvers: { users: ["alice", "\(BenchSite.me)"] }, max_duration: "8h",
                  prompt_fields: [ { name: "reason", type: "string", label: "Why?", required: true } ] },
                { name: "job", label: "Run a job",
                  approvers: { users: ["alice", "\(BenchSite.me)"] }, allow_self_approval: true,
                  prompt_fields: [ { name: "reason", type: "string", label: "Why?", required: true } ] },
              ],
            }
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func config() throws -> Config { try ConfigLoader.load(path: configPath) }

    /// A connection to the site's daemon once it answers (it was just started), within 10 s; replies wait 10 s at
    /// most, so a daemon that stops answering cannot hang the bench.
    func connectToDaemon() throws -> LineConnection {
        let deadline = monoNanos() + 10_000_000_000
        while monoNanos() < deadline {
            if let c = try? connectUnixSocket(socketPath) {
                c.setReceiveTimeout(seconds: 10)
                return c
            }
            sleepMs(20)
        }
        throw StoreError("daemon did not answer on \(socketPath)")
    }
}

/// Rows written straight into a store (fixtures, not the engine's path).
enum Seed {
    /// An active grant of `access`/`db` for `user` that expires at `expires`.
    static func grant(user: String, expires: Date, now: Date) -> AccessRequest {
        let created = now.addingTimeInterval(-120)
        var r = AccessRequest(flow: "access", target: "db", targetLabel: "orders DB", requester: user, state: .active,
                              fields: ["reason": .string("incident 4711"), "duration": .duration(TimeSpan(seconds: 3600))],
                              durationSeconds: 3600, createdAt: created, requestExpiresAt: created.addingTimeInterval(3600))
        r.decidedAt = created.addingTimeInterval(30)
        r.accessStartsAt = created.addingTimeInterval(31)
        r.accessExpiresAt = expires
        r.approvals = [Approval(user: "alice", at: created.addingTimeInterval(30), reason: "ok", isSelf: false)]
        return r
    }

    /// A request of the console mix: mostly history, some pending for the bench user, some active.
    static func mixed(_ i: Int, now: Date, pendingEvery: Int, activeEvery: Int) -> AccessRequest {
        let created = now.addingTimeInterval(-Double(100_000 - i) * 30)
        let target = i % 2 == 0 ? "db" : "ssh"
        var r = AccessRequest(flow: "access", target: target, targetLabel: target == "db" ? "orders DB" : "Production SSH",
                              requester: "user\(i % 997)", state: .pending,
                              fields: ["reason": .string("ticket OPS-\(i): rotate the keys of shard \(i % 64)"),
                                       "duration": .duration(TimeSpan(seconds: 3600))],
                              durationSeconds: 3600, createdAt: created, requestExpiresAt: now.addingTimeInterval(3600))
        // As the engine stores it: who may decide, fixed when the request is made.
        r.routing = Routing(approvers: Approvers(users: ["alice", BenchSite.me]))
        if i % pendingEvery == 0 { return r }
        r.decidedAt = created.addingTimeInterval(60)
        r.approvals = [Approval(user: "alice", at: created.addingTimeInterval(60), reason: "ok", isSelf: false)]
        r.accessStartsAt = created.addingTimeInterval(62)
        if i % activeEvery == 1 {
            r.state = .active
            r.accessExpiresAt = now.addingTimeInterval(3600)
        } else {
            r.state = .ended
            r.endReason = .expired
            r.accessExpiresAt = created.addingTimeInterval(3662)
            r.endedAt = r.accessExpiresAt
        }
        return r
    }

    /// Inserts `count` requests made by `make`, in transactions of 5,000.
    static func insert(into store: Store, count: Int, _ make: (Int) -> AccessRequest) throws {
        var i = 0
        while i < count {
            let end = min(count, i + 5_000)
            try store.write { tx in
                for j in i..<end { _ = try tx.insert(make(j)) }
            }
            i = end
        }
    }

    /// Appends `count` audit events (chained, hashed) in transactions of 5,000.
    static func events(into store: Store, count: Int, now: Date, batch: Int = 5_000, first: Int = 0) throws {
        var i = first
        let count = first + count
        while i < count {
            let end = min(count, i + batch)
            try store.write { tx in
                for j in i..<end {
                    let draft = EventDraft(type: j % 3 == 0 ? .request : (j % 3 == 1 ? .approve : .deescalate), requestId: Int64(j / 3 + 1),
                                           flow: "access", target: "db", requester: "user\(j % 997)", actor: j % 3 == 1 ? "alice" : "system",
                                           reason: "ticket OPS-\(j)", data: .object([("duration_seconds", .int(3600)),
                                                                                    ("fields", .object([("reason", .string("ticket OPS-\(j)"))]))]))
                    try tx.append(draft, at: now)
                }
            }
            i = end
        }
    }
}

/// A store of `events` chained audit events at `root/name/symtui.db`, kept between runs (under .build/bench-data/):
/// built once by `FixtureChain` (prepared inserts in big transactions, no journal while building, real hashes), reused
/// while it still holds exactly that many events. For the 10,000,000-event figures (`make bench-scale`).
func bigEventStore(root: String, name: String = "events-10m", events: Int) throws -> String {
    let dir = root + "/" + name
    let path = dir + "/symtui.db"
    var have: Int64 = 0
    if FileManager.default.fileExists(atPath: path) {
        // An error reading it is an error, not a reason to throw away a store that took minutes to build.
        have = try Store.openReadOnly(path: path).lastSeq()
        if have == Int64(events) { return path }
        if have > Int64(events) { throw StoreError("\(path) holds \(have) events, more than \(events): remove it to build a smaller one") }
    }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let store = try Store.openForWriting(path: path)
    let chain = try FixtureChain(store: store)
    let start = monoNanos()
    let base = FixtureChain.millis(Date()) - Int64(events)
    // A build that was stopped goes on from where it got to (the chain continues from the stored head).
    var j = Int(chain.seq)
    while j < events {
        // Events 1 ms apart (a thousand a second); the same rows as `Seed.events` made, but for the ids.
        try chain.append(type: j % 3 == 0 ? .request : (j % 3 == 1 ? .approve : .deescalate), requestId: Int64(j / 3 + 1), flow: "access",
                         target: "db", requester: "user\(j % 997)", actor: j % 3 == 1 ? "alice" : "system", reason: "ticket OPS-\(j)",
                         data: "{\"duration_seconds\":3600,\"fields\":{\"reason\":\"ticket OPS-\(j)\"}}", timeMs: base + Int64(j))
        j += 1
        if j % 1_000_000 == 0 { log("  \(name): \(j) events (\(fmt(elapsedSeconds(since: start), 0)) s this run)") }
    }
    try chain.finish()
    try store.checkpoint()
    return path
}
