import Foundation
import SymModel
import SymProtocol

/// What the command line needs from the privileged engine: the console and the CLI's readers never link it; the
/// `symtui` executable (SymTUIMain) provides this and hands it to `SymTUICommandLine.main`.
public protocol EngineLink: Sendable {
    /// `symtui daemon`: runs the engine on the store until stopped; returns the exit code.
    func runDaemon(_ launch: DaemonLaunch) throws -> Int32
    /// Starts a program in the background, detached from this process (single-user mode starts its daemon so).
    func spawnDetached(path: String, arguments: [String], environment: [String: String], logPath: String) throws
    /// Runs one handler of a flow on a sample event (`symtui handlers test`).
    func testHandler(_ handler: String, flow: Flow, target: Target?, user: String, overrides: JSONValue) throws -> HandlerTestResult
    /// Who really has access to a target now (a strategy's `check`), or nil when the strategy has none.
    /// `endedGrants`: the target's ended grants whose users have no grant of the strategy now; a strategy whose
    /// access leaves running processes behind (sudoers) looks for what they started.
    func checkAccess(strategy: Strategy, target: Target, endedGrants: [EndedGrant]) -> AccessFinding?
}

/// An ended grant's user and window, from its access start to its end.
public struct EndedGrant: Sendable, Equatable {
    public var user: String
    public var from: Date
    public var until: Date
    public init(user: String, from: Date, until: Date) { self.user = user; self.from = from; self.until = until }
}

/// How `symtui daemon` was asked to run.
public struct DaemonLaunch: Sendable {
    public var config: Config
    public var configPath: String?
    public var storePath: String
    public var socketPath: String
    public var once: Bool
    public var logLevel: String?
    public var environment: [String: String]
}

/// The outcome of `symtui handlers test`, ready to print.
public struct HandlerTestResult: Sendable {
    public var auditData: JSONValue
    public var outcome: String
    public var answer: String?
    public var failure: String?
    public var durationMs: Int
    public var stderrTail: String
    public var failed: Bool
    public init(auditData: JSONValue, outcome: String, answer: String?, failure: String?, durationMs: Int, stderrTail: String, failed: Bool) {
        self.auditData = auditData; self.outcome = outcome; self.answer = answer; self.failure = failure
        self.durationMs = durationMs; self.stderrTail = stderrTail; self.failed = failed
    }
}

/// A strategy check's answer: who has access, or why it could not tell.
public enum AccessFinding: Sendable {
    /// `holders`: processes that still hold the access for a user who is not in `users` (user, pid, command name).
    case found(users: Set<String>, holders: [(user: String, pid: Int32, command: String)])
    case failed(String)
}

/// The engine link the running program was given (set once by `SymTUICommandLine.main`).
enum Link {
    nonisolated(unsafe) static var engine: (any EngineLink)?

    static func require() throws -> any EngineLink {
        guard let engine else { throw CommandError(ExitCode.software, "this symtui was built without its engine") }
        return engine
    }
}
