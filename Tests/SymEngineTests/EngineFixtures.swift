import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// A clock the test moves by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date) { current = start }
    var now: Date { lock.lock(); defer { lock.unlock() }; return current }
    func advance(_ seconds: TimeInterval) { lock.lock(); current.addTimeInterval(seconds); lock.unlock() }
}

/// What the tests read and write of the engine's store, each call through the engine's `StoreWriter`: one SQLite
/// connection must never be used by a test thread while the loop's workers use it (the connection is not
/// thread-safe; the tests crashed inside SQLite now and then when they read it directly).
final class HarnessStore: @unchecked Sendable {
    let writer: any RequestStore
    let path: String
    init(writer: any RequestStore, path: String) { self.writer = writer; self.path = path }

    func request(id: Int64) throws -> AccessRequest? { try writer.read { try $0.request(id: id) } }
    func requests(_ q: RequestQuery) throws -> [AccessRequest] { try writer.read { try $0.requests(q) } }
    func requests(ids: [Int64]) throws -> [AccessRequest] { try writer.read { try $0.requests(ids: ids) } }
    func count(_ q: RequestQuery) throws -> Int { try writer.read { try $0.count(q) } }
    func events(requestId: Int64) throws -> [AuditEvent] { try writer.read { try $0.events(requestId: requestId) } }
    func lastSeq() throws -> Int64 { try writer.read { try $0.lastSeq() } }
    func holdsOtherGrant(requester: String, flows: [String], target: String, excluding id: Int64) throws -> Bool {
        try writer.read { try $0.holdsOtherGrant(requester: requester, flows: flows, target: target, excluding: id) }
    }
    /// A read-only connection of the test's own (WAL reader), for code that takes a `Store`.
    func readOnly() throws -> Store { try Store.openReadOnly(path: path) }
    func notifications(requestId: Int64?) throws -> [OutboxItem] { try writer.read { try $0.notifications(requestId: requestId) } }
    func channelBacklogs(channels: [String], now: Date) throws -> [ChannelBacklog] {
        try writer.read { try $0.channelBacklogs(channels: channels, now: now) }
    }
    @discardableResult
    func write<T>(_ body: (any StoreWriting) throws -> T) throws -> T { try writer.write(body) }
}

/// An engine on a fresh store, with a `command` strategy whose scripts log each run, and an injectable clock.
/// Create the file `fail-escalate` or `fail-deescalate` in `dir` to make the matching script exit 1.
final class EngineHarness {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    let dir: String
    /// The engine's store as the test sees it: through the engine's own writer, never the connection directly.
    let store: HarnessStore
    /// The writer's connection, only for its `afterCommit` hook (the daemon's change feed); nil on PostgreSQL.
    let opened: Store!
    /// The store on PostgreSQL (a schema of its own in the run's cluster), when the harness was made on it.
    let postgres: PostgresStore?
    /// "sqlite" or "postgresql", for failure messages.
    let backend: String
    let engine: Engine
    let loop: GrantLoop
    let clock = TestClock(EngineHarness.t0)

    let rita = Identity(uid: 2001, name: "rita", groups: ["dev"])
    let alice = Identity(uid: 2002, name: "alice", groups: ["staff"])
    let bob = Identity(uid: 2003, name: "bob", groups: ["oncall"])
    let sam = Identity(uid: 2004, name: "sam", groups: [])
    let olga = Identity(uid: 2005, name: "olga", groups: [])
    let mallory = Identity(uid: 2006, name: "mallory", groups: [])

    /// The backends a test that should behave alike on both runs on.
    enum Backend: String, CaseIterable { case sqlite, postgresql }

    init(_ test: XCTestCase, backend: Backend = .sqlite) throws {
        dir = try temporaryDirectory(test, prefix: "symtui-engine-test-")
        let escalate = try EngineHarness.script(dir: dir, action: "escalate")
        let deescalate = try EngineHarness.script(dir: dir, action: "deescalate")
        let strategy = Strategy(name: "cmd", type: .command, settings: ["escalate": .string(escalate), "deescalate": .string(deescalate),
                                                                        "timeout": .string("10s")],
                                targets: [Target(name: "db", label: "Orders DB", settings: ["role": .string("orders_rw")])])
        let duration = PromptField(name: "duration", type: .duration, defaultValue: .duration(TimeSpan(seconds: 3600)))
        let reason = PromptField(name: "reason", type: .string, required: false)
        let people = Approvers(users: ["alice", "bob"])
        let config = Config(sourcePath: dir + "/config.json5", strategies: [strategy], flows: [
            Flow(name: "access", strategy: "cmd", approvers: people, maxDuration: TimeSpan(seconds: 8 * 3600),
                 promptFields: [duration, reason]),
            Flow(name: "two", strategy: "cmd", approvers: people, requiredApprovals: 2, promptFields: [duration]),
            Flow(name: "steps", strategy: "cmd",
                 approvalSteps: [ApprovalStep(name: "security", approvers: Approvers(users: ["sam"])),
                                 ApprovalStep(name: "owners", approvers: Approvers(users: ["olga"]))],
                 promptFields: [duration]),
            Flow(name: "job", approvers: people, promptFields: [reason]),
        ])
        self.backend = backend.rawValue
        let writer: any RequestStore
        switch backend {
        case .sqlite:
            opened = try Store.openForWriting(path: dir + "/symtui.db")
            postgres = nil
            writer = StoreWriter(opened)
        case .postgresql:
            let (_, conninfo) = try PostgresCluster.shared().freshSchema()
            let pg = try PostgresStore(conninfo: conninfo, hostName: "bastion-a")
            opened = nil
            postgres = pg
            writer = pg
        }
        store = HarnessStore(writer: writer, path: dir + "/symtui.db")
        let clock = self.clock
        engine = Engine(config: config, store: writer, now: { clock.now })
        engine.escalationRetry = RetryPolicy(name: "test escalation", base: 0.001, cap: 0.001, budget: 2)
        engine.deescalationRetry = RetryPolicy(name: "test deescalation", base: 0.001, cap: 0.001, budget: nil)
        loop = GrantLoop(engine: engine, parallelism: 2)
        loop.log = { _, _ in }
    }

    /// The daemon's read service on this harness's store, as the daemon makes it for that backend.
    func readService(feed: ChangeFeed = ChangeFeed(), now: (@Sendable () -> Date)? = nil) -> ReadService {
        let config: @Sendable () -> Config = { [engine] in engine.config }
        let clock: @Sendable () -> Date = now ?? { Date() }
        if let postgres {
            return ReadService(openReader: { try postgres.openQueries() }, cacheReviews: false, feed: feed, config: config, now: clock)
        }
        return ReadService(storePath: store.path, feed: feed, config: config, now: clock)
    }

    /// A script that logs `ACTION USER TARGET REQUEST_ID` (and its SYMTUI_* environment), failing while `fail-ACTION` exists.
    static func script(dir: String, action: String) throws -> String {
        let path = dir + "/" + action + ".sh"
        try """
            #!/bin/sh
            echo "\(action) $1 $2 $SYMTUI_REQUEST_ID" >> '\(dir)/\(action).log'
            env | grep '^SYMTUI_' | sort > '\(dir)/env-\(action)-'"$SYMTUI_REQUEST_ID"
            if [ -e '\(dir)/fail-\(action)' ]; then echo "\(action) is broken" >&2; exit 1; fi
            exit 0
            """.write(toFile: path, atomically: true, encoding: .utf8)
        _ = chmod(path, 0o755)
        return path
    }

    /// The lines the script for `action` logged.
    func runs(_ action: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/" + action + ".log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func environment(_ action: String, _ id: Int64) -> [String: String] {
        let text = (try? String(contentsOfFile: dir + "/env-\(action)-\(id)", encoding: .utf8)) ?? ""
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { env[parts[0]] = parts[1] }
        }
        return env
    }

    func breakScript(_ action: String) { _ = FileManager.default.createFile(atPath: dir + "/fail-" + action, contents: Data()) }
    func fixScript(_ action: String) { try? FileManager.default.removeItem(atPath: dir + "/fail-" + action) }

    @discardableResult
    func execute(_ command: ChangeCall, by who: Identity, file: StaticString = #filePath, line: UInt = #line) throws -> AccessRequest {
        switch engine.execute(command, by: who) {
        case let .success(r): return r
        case let .failure(e):
            XCTFail("\(command) by \(who.name) failed: \(e.code) \(e.message)", file: file, line: line)
            throw e
        }
    }

    func refusal(_ command: ChangeCall, by who: Identity, file: StaticString = #filePath, line: UInt = #line) -> CommandError? {
        switch engine.execute(command, by: who) {
        case let .success(r):
            XCTFail("\(command) by \(who.name) succeeded (request \(r.id) is \(r.state)); expected a refusal", file: file, line: line)
            return nil
        case let .failure(e): return e
        }
    }

    func request(_ flow: String = "access", duration: String? = "1h", by who: Identity? = nil) throws -> AccessRequest {
        try execute(.request(flow: flow, target: flow == "job" ? nil : "db", fields: [:], duration: flow == "job" ? nil : duration,
                             reason: nil), by: who ?? rita)
    }

    /// A request by rita, approved by alice, escalated by the loop.
    func activeGrant(duration: String = "1h", file: StaticString = #filePath, line: UInt = #line) throws -> AccessRequest {
        let r = try request(duration: duration)
        try execute(.approve(id: r.id, reason: nil), by: alice)
        try loop.runUntilIdle()
        let now = try XCTUnwrap(try store.request(id: r.id))
        XCTAssertEqual(now.state, .active, file: file, line: line)
        return now
    }

    func current(_ r: AccessRequest) throws -> AccessRequest { try XCTUnwrap(try store.request(id: r.id)) }
    func events(_ r: AccessRequest) throws -> [EventType] { try store.events(requestId: r.id).map(\.type) }

    /// Moves the clock and does all work then due.
    func run(after seconds: TimeInterval = 0) throws {
        clock.advance(seconds)
        try loop.runUntilIdle()
    }
}

extension XCTestCase {
    /// Runs the calling test in a child copy of the test process, so that a crash (a product bug) fails this test
    /// only instead of ending the whole run. True in the child: run the body. In the parent: runs the child,
    /// turns its failures or crash into failures here, and returns false.
    func runsIsolated(function: String = #function, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        if ProcessInfo.processInfo.environment["SYMTUI_ISOLATED_TEST"] != nil { return true }
        let test = "SymEngineTests.\(String(describing: type(of: self)))/\(function.replacingOccurrences(of: "()", with: ""))"
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = [test]
        var env = ProcessInfo.processInfo.environment
        env["SYMTUI_ISOLATED_TEST"] = "1"
        child.environment = env
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = pipe
        do { try child.run() } catch { XCTFail("cannot run \(test) in a child process: \(error)", file: file, line: line); return false }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let notes = output.split(separator: "\n").filter {
            $0.contains("error:") || $0.contains("Fatal") || $0.contains("Simultaneous accesses")
        }.prefix(8).joined(separator: "\n")
        if child.terminationReason == .uncaughtSignal {
            XCTFail("\(test) crashed (signal \(child.terminationStatus)):\n\(notes)", file: file, line: line)
        } else if child.terminationStatus != 0 {
            XCTFail("\(test) failed in its child process:\n\(notes)", file: file, line: line)
        }
        return false
    }
}

/// A daemon loop (`GrantLoop`, `ReportingLoop`) running on its own thread, as in the daemon; `stop()` ends it and
/// waits for it.
final class RunningLoop<Loop: AnyObject & Sendable>: @unchecked Sendable {
    let loop: Loop
    private let flag = NSLock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)
    private let wake: @Sendable (Loop) -> Void

    init(_ loop: Loop, run: @escaping @Sendable (Loop, @escaping () -> Bool) -> Void, wake: @escaping @Sendable (Loop) -> Void) {
        self.loop = loop
        self.wake = wake
        Thread { [self] in
            run(loop, { self.flag.withLock { self.stopped } })
            done.signal()
        }.start()
    }

    func stop() {
        flag.withLock { stopped = true }
        wake(loop)
        _ = done.wait(timeout: .now() + 10)
    }
}

extension RunningLoop where Loop == GrantLoop {
    convenience init(_ loop: GrantLoop) { self.init(loop, run: { $0.run(until: $1) }, wake: { $0.poke() }) }
}

extension RunningLoop where Loop == ReportingLoop {
    convenience init(_ loop: ReportingLoop) { self.init(loop, run: { $0.run(until: $1) }, wake: { $0.poke() }) }
}

extension XCTestCase {
    /// True once `condition` holds, polled every 5 ms for up to `seconds`.
    func eventually(within seconds: TimeInterval = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(5_000)
        } while Date() < deadline
        return false
    }
}

/// Tests that must behave alike on both store backends: `eachBackend` runs the body on a fresh harness of each (a
/// backend that cannot be set up here, PostgreSQL without root, is skipped for that backend only); failures name it.
class EngineBackendCase: XCTestCase {
    private var current: String?

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        super.recordFailure(withDescription: current.map { "[\($0)] " + description } ?? description,
                            inFile: filePath, atLine: lineNumber, expected: expected)
    }

    func eachBackend(_ body: (EngineHarness) throws -> Void) throws {
        var skipped: [String] = []
        for backend in EngineHarness.Backend.allCases {
            let h: EngineHarness
            do { h = try EngineHarness(self, backend: backend) } catch let skip as XCTSkip { skipped.append("\(backend): \(skip)"); continue }
            current = backend.rawValue
            defer { current = nil }
            do { try body(h) } catch { XCTFail("\(error)") }
        }
        if skipped.count == EngineHarness.Backend.allCases.count { throw XCTSkip(skipped.joined(separator: "; ")) }
    }
}
