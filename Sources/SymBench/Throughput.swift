import CSQLite3
import Foundation
import SymEngine
import SymModel
import SymProtocol
import SymStore

/// Raw SQLite: single-row INSERT transactions (BEGIN IMMEDIATE … COMMIT), WAL + synchronous=FULL, for `seconds`.
func rawInsertRate(path: String, seconds: Double) throws -> Double {
    for f in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: f) }
    var db: OpaquePointer?
    guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let db else {
        throw StoreError("cannot open \(path)")
    }
    defer { sqlite3_close_v2(db) }
    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw StoreError(String(cString: sqlite3_errmsg(db))) }
    }
    try exec("PRAGMA journal_mode=WAL")
    try exec("PRAGMA synchronous=FULL")
    try exec("CREATE TABLE t(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL)")
    var stmt: OpaquePointer?
    guard sqlite3_prepare_v2(db, "INSERT INTO t(at, body) VALUES(?, ?)", -1, &stmt, nil) == SQLITE_OK, let stmt else {
        throw StoreError("prepare failed")
    }
    defer { sqlite3_finalize(stmt) }
    let body = String(repeating: "x", count: 200)
    var n = 0
    let start = monoNanos()
    let end = start + UInt64(seconds * 1e9)
    while monoNanos() < end {
        try exec("BEGIN IMMEDIATE")
        sqlite3_bind_int64(stmt, 1, Int64(n))
        sqlite3_bind_text(stmt, 2, body, -1, nil)
        guard sqlite3_step(stmt) == SQLITE_DONE else { throw StoreError(String(cString: sqlite3_errmsg(db))) }
        sqlite3_reset(stmt)
        try exec("COMMIT")
        n += 1
    }
    return Double(n) / elapsedSeconds(since: start)
}

/// Engine.execute in-process, one caller: request (bob) then approve (alice), each one transaction with its events.
func engineRate(site: BenchSite, seconds: Double) throws -> (commands: Double, pairs: Double) {
    for f in [site.storePath, site.storePath + "-wal", site.storePath + "-shm"] { try? FileManager.default.removeItem(atPath: f) }
    let store = try Store.openForWriting(path: site.storePath)
    let engine = Engine(config: try site.config(), store: store)
    let bob = Identity(uid: 60_001, name: "bob", groups: ["dev"])
    let alice = Identity(uid: 60_002, name: "alice", groups: ["oncall"])
    var pairs = 0
    let start = monoNanos()
    let end = start + UInt64(seconds * 1e9)
    while monoNanos() < end {
        let created = try engine.execute(.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "reindex \(pairs)"), by: bob).get()
        _ = try engine.execute(.approve(id: created.id, reason: "ok"), by: alice).get()
        pairs += 1
    }
    let elapsed = elapsedSeconds(since: start)
    return (Double(pairs * 2) / elapsed, Double(pairs) / elapsed)
}

/// Through the real daemon's socket: request, then a self-approval (one uid here), one connection.
func socketRate(site: BenchSite, seconds: Double) throws -> (commands: Double, pairs: Double) {
    let daemon = try spawn(symtuiExecutable, ["--config", site.configPath, "daemon"], logPath: site.dir + "/daemon.log")
    defer { stop(daemon) }
    let conn = try site.connectToDaemon()
    func send(_ c: ChangeCall) throws -> JSONValue {
        try conn.writeLine(c.json.compact)
        guard let line = try? conn.readLine() else {
            let before = cpuTicks(pid: daemon.processIdentifier) ?? 0
            sleepMs(1000)
            let busy = Double((cpuTicks(pid: daemon.processIdentifier) ?? 0) - before) / clockTicksPerSecond * 100
            throw StoreError("the daemon stopped answering after \(pairs) request+approve pairs (no reply in 10 s; "
                             + "daemon at \(fmt(busy, 0)) % CPU meanwhile)")
        }
        let reply = try JSONValue.parse(line)
        guard reply["ok"]?.boolValue == true else { throw StoreError("daemon refused: \(line)") }
        return reply
    }
    var pairs = 0
    let start = monoNanos()
    let end = start + UInt64(seconds * 1e9)
    while monoNanos() < end {
        let reply = try send(.request(flow: "job", target: nil, fields: [:], duration: nil, reason: "reindex \(pairs)"))
        guard let id = reply["request"]?["id"]?.intValue else { throw StoreError("no request id in the reply") }
        _ = try send(.approve(id: id, reason: "break-glass: bench"))
        pairs += 1
    }
    let elapsed = elapsedSeconds(since: start)
    return (Double(pairs * 2) / elapsed, Double(pairs) / elapsed)
}

func measureThroughput(root: String, report: Report, rounds: Int = 5, seconds: Double = 1.5) throws {
    log("throughput: raw SQLite vs Engine.execute vs the daemon socket, \(rounds) rounds")
    let site = try BenchSite(root: root, name: "throughput")
    var raw = Samples(), engine = Samples(), ratios = Samples()
    for round in 0..<rounds {
        let r = try rawInsertRate(path: site.dir + "/raw.db", seconds: seconds)
        let e = try engineRate(site: site, seconds: seconds)
        raw.add(r); engine.add(e.commands); ratios.add(e.commands / r)
        report.detail("throughput round \(round + 1): raw \(fmtInt(r)) tx/s, engine \(fmtInt(e.commands)) commands/s "
                      + "(\(fmtInt(e.pairs)) request+approve pairs/s), ratio \(fmt(e.commands / r, 3))")
    }
    let ratio = engine.median / raw.median
    report.add(Figure(name: "daemon throughput ÷ raw SQLite FULL (Engine.execute in-process)",
                      measured: "\(fmt(ratio, 3)) (\(fmtInt(engine.median)) commands/s ÷ \(fmtInt(raw.median)) tx/s; per-round ratio p50 \(fmt(ratios.median, 3)), min \(fmt(ratios.min, 3)))",
                      goal: "≥ 0.3", verdict: ratio >= 0.3 ? .met : .missed,
                      method: "\(rounds) alternating rounds of \(seconds) s each. Baseline: sqlite3 C API, one prepared single-row INSERT (200-byte text) "
                        + "per BEGIN IMMEDIATE…COMMIT, WAL + synchronous=FULL, same directory. Engine: `Engine.execute` with one caller, "
                        + "`request` (approval-only flow `job`, reason field) then `approve` by another identity; each command is one "
                        + "transaction with its audit event(s), store opened by `Store.openForWriting` (WAL+FULL). Ratio = median commands/s ÷ median raw tx/s."))
    var sock = Samples()
    for round in 0..<2 {
        do {
            let s = try socketRate(site: site, seconds: seconds)
            sock.add(s.commands)
            report.detail("socket round \(round + 1): \(fmtInt(s.commands)) commands/s (\(fmtInt(s.pairs)) pairs/s) through the real daemon")
        } catch {
            report.detail("socket round \(round + 1): \(error)")
            report.add(Figure(name: "daemon throughput ÷ raw SQLite FULL (real daemon, Unix socket)", measured: "\(error)", goal: "≥ 0.3",
                              verdict: .failed, method: "the real `symtui daemon`; one socket connection sends `request` then `approve` "
                                + "(a self-approval with a reason: the bench has one uid) and waits for each reply."))
            return
        }
    }
    let sratio = sock.median / raw.median
    report.add(Figure(name: "daemon throughput ÷ raw SQLite FULL (real daemon, Unix socket)",
                      measured: "\(fmt(sratio, 3)) (\(fmtInt(sock.median)) commands/s)",
                      goal: "≥ 0.3", verdict: sratio >= 0.3 ? .met : .missed,
                      method: "the real `symtui daemon` on the same config; one socket connection sends `request` then `approve` "
                        + "(a self-approval with a reason: the bench has one uid) and waits for each reply; 2 rounds; same raw baseline."))
}
