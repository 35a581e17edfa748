import Foundation
import SymEngine
import SymModel
import SymProtocol
import SymTUI

/// The engine's side of the command line: `daemon`, `handlers test`, `check`, and starting a detached daemon.
/// Assembled here, in the executable, so that the console and the CLI's reading code never link the engine.
struct LinkedEngine: EngineLink {
    func runDaemon(_ launch: DaemonLaunch) throws -> Int32 {
        if let text = launch.logLevel {
            guard let level = LogLevel(name: text) else {
                throw CommandError(ExitCode.usage, "--log-level: \"\(SafeText.display(text))\" is not one of debug, info, warning, error")
            }
            DaemonLog.shared.minimum = level
        }
        let daemon = Daemon(config: launch.config, storePath: launch.storePath, socketPath: launch.socketPath)
        daemon.version = symtuiVersion
        if let path = launch.configPath { daemon.reloadConfig = { try ConfigLoader.load(path: path) } }
        // Backoff of failed strategy runs: SYMTUI_RETRY_BASE (first delay) and SYMTUI_RETRY_CAP (longest delay).
        for (name, apply) in [("SYMTUI_RETRY_BASE", { (s: TimeInterval) in daemon.escalationRetry.base = s; daemon.deescalationRetry.base = s }),
                              ("SYMTUI_RETRY_CAP", { (s: TimeInterval) in daemon.escalationRetry.cap = s; daemon.deescalationRetry.cap = s })] {
            guard let text = launch.environment[name], !text.isEmpty else { continue }
            // A duration, or seconds as a decimal number (time-compressed reliability runs use fractions).
            if let span = TimeSpan(parsing: text), span.seconds > 0 {
                apply(TimeInterval(span.seconds))
            } else if let seconds = Double(text), seconds.isFinite, seconds >= 0.001, seconds <= 86_400 {
                apply(seconds)
            } else {
                throw CommandError(ExitCode.usage, "\(name)=\(SafeText.display(text)) is not a duration (e.g. 1s, 30s, or 0.02 seconds)")
            }
        }
        let code = try daemon.run(once: launch.once)
        // Leave without the process's exit handlers: every commit is durable by now, but worker threads may still be
        // inside libpq, and OpenSSL's exit handler (registered when libpq or libcurl first used it) frees the locks
        // they take — a daemon stopped by SIGTERM then died of SIGSEGV in pthread_rwlock_rdlock, seen once in the
        // fleet e2e. Nothing the daemon writes is buffered in stdio, but flush it anyway.
        fflush(nil)
        _exit(code)
    }

    func spawnDetached(path: String, arguments: [String], environment: [String: String], logPath: String) throws {
        try ProcessRunner.spawnDetached(path: path, arguments: arguments, environment: environment, logPath: logPath)
    }

    func testHandler(_ handler: String, flow: Flow, target: Target?, user: String, overrides: JSONValue) throws -> HandlerTestResult {
        let sample = AccessRequest(id: 1, flow: flow.name, target: target?.name, targetLabel: target?.label, requester: user,
                                   createdAt: Date(), requestExpiresAt: Date().addingTimeInterval(3600))
        let event = HandlerRunner.event(for: handler, flow: flow, target: target, request: sample, actor: user, extra: overrides)
        // A fresh private directory for the SDK: a predictable one could be made first by someone else.
        let sdk = try PrivateDirectory(prefix: "symtui-sdk-")
        defer { sdk.remove() }
        let runner = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: sdk.path))
        let outcome = runner.run(handler, implementation: flow.implementation!, timeout: TimeInterval(flow.handlerTimeout.seconds), event: event)
        return HandlerTestResult(auditData: outcome.auditData, outcome: outcome.verdict?.outcome ?? "failed",
                                 answer: outcome.verdict.map(LinkedEngine.describe), failure: outcome.failure,
                                 durationMs: outcome.durationMs, stderrTail: outcome.stderrTail, failed: outcome.didFail)
    }

    static func describe(_ v: HandlerVerdict) -> String {
        switch v {
        case let .approve(reason): return "approve" + (reason.map { ": \($0)" } ?? "")
        case let .deny(reason): return "deny: \(reason)"
        case let .ignore(message): return "ignore: \(message)"
        case .proceed: return "continue"
        case let .approvers(users, groups): return "approvers " + (users + groups.map { "group:" + $0 }).joined(separator: ", ")
        case let .options(o): return "options " + o.map(\.compact).joined(separator: ", ")
        case .missing: return "the implementation does not define this handler"
        }
    }

    func checkAccess(strategy: Strategy, target: Target, endedGrants: [EndedGrant]) -> AccessFinding? {
        switch Strategies.make(strategy).check(target: target) {
        case nil: return nil
        case let .failure(f)?: return .failed(f.message)
        case let .success(found)?:
            var holders = found.holders
            // A removed drop-in leaves no trace to check: what the ended grants started through sudo is what holds it.
            if strategy.type == .sudoers {
                holders += SudoersStrategy.survivors(of: endedGrants.map { ($0.user, $0.from, $0.until) })
            }
            return .found(users: found.users, holders: holders.map { ($0.user, $0.pid, $0.command) })
        }
    }
}
