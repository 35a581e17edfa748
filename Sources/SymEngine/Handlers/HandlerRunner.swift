import Foundation
import SymModel
import SymProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Runs a flow's handlers (contract §8): the event as JSON on stdin, one JSON answer on stdout, a timeout,
/// and no verdict at all (fail closed) when anything about the run is wrong.
public struct HandlerRunner: Sendable {
    /// The protocol version sent as `protocol` on stdin.
    public static let protocolVersion: Int64 = 1
    /// The handler's whole environment: nothing of the daemon's leaks in.
    public static let path = "/usr/local/bin:/usr/bin:/bin"
    static let stdoutTailChars = 512

    /// The directory put first on the handler's sys.path; it holds `symtui_sdk/` (see `EmbeddedSDK.install`).
    public var sdkDirectory: String
    public var python: String
    private let missing = MissingHandlerCache()

    public init(sdkDirectory: String, python: String = "/usr/bin/python3") {
        self.sdkDirectory = sdkDirectory
        self.python = python
    }

    /// Builds the event JSON (name, user, fields, flow{name,vars}, target, request json, approvals) and runs the
    /// flow's implementation. Keys of `extra` (an object) are added to the event, replacing built ones.
    /// A flow without an implementation answers `.missing` for every handler.
    public func run(_ handler: String, flow: Flow, target: Target?, request: AccessRequest, actor: String,
                    event extra: JSONValue = .object([])) -> HandlerOutcome {
        guard let implementation = flow.implementation else { return HandlerOutcome(handler: handler, verdict: .missing) }
        let event = HandlerRunner.event(for: handler, flow: flow, target: target, request: request, actor: actor, extra: extra)
        return run(handler, implementation: implementation, timeout: TimeInterval(flow.handlerTimeout.seconds), event: event)
    }

    /// Runs one handler of `implementation` on a ready-made event (also used by `symtui handlers test`).
    /// `.py` files run through isolated python3 with the SDK first on sys.path; any other executable file runs directly, with
    /// the handler name as its only argument, under the same JSON protocol.
    public func run(_ handler: String, implementation: String, timeout: TimeInterval, event: JSONValue) -> HandlerOutcome {
        guard let kind = HandlerName.kind(of: handler) else {
            return .failed(handler, "unknown handler \"\(clipped(handler))\"")
        }
        let file = implementation.hasPrefix("/") ? implementation
            : URL(fileURLWithPath: implementation).standardizedFileURL.path
        let identity = FileIdentity(path: file)
        if let identity, missing.contains(file: file, handler: handler, identity: identity) {
            return HandlerOutcome(handler: handler, verdict: .missing)
        }

        let isPython = file.hasSuffix(".py")
        if isPython && access(file, R_OK) != 0 {
            return .failed(handler, "cannot read implementation \(file): \(String(cString: strerror(errno)))")
        }
        if let unsafe = HandlerRunner.unsafeOwnership(file) {
            return .failed(handler, "refusing to run implementation \(file): \(unsafe)")
        }
        let input = JSONValue.object([("protocol", .int(HandlerRunner.protocolVersion)), ("handler", .string(handler)),
                                      ("event", event)])
        let environment = ["PATH": HandlerRunner.path, "LANG": "C.UTF-8", "HOME": "/nonexistent", "SYMTUI_HANDLER": handler]
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: isPython ? python : file,
                                           arguments: isPython ? pythonArguments(implementation: file) : [handler],
                                           environment: environment, stdin: Data((input.compact + "\n").utf8),
                                           timeout: timeout, workingDirectory: "/")
        } catch {
            return .failed(handler, "\(handler) in \(file): \(error)")
        }

        let outcome = HandlerRunner.outcome(handler, kind: kind, implementation: file, result: result)
        if outcome.verdict == .missing, let identity {
            missing.insert(file: file, handler: handler, identity: identity)
        }
        return outcome
    }

    /// Handlers run with the daemon's privileges, so only the daemon's user or root may be able to change them, or
    /// anything they import: the file, its directory and every directory above (see `TrustedPath`).
    static func unsafeOwnership(_ file: String) -> String? {
        guard access(file, F_OK) == 0 else { return nil }  // the launch reports a missing file
        return TrustedPath.problem(with: file, ownDirectory: true)
    }

    /// Python runs isolated (`-I`: no PYTHONPATH or other PYTHON* variables, no user site-packages, neither the
    /// working nor the script's directory on sys.path) and without writing bytecode (`-B`); this bootstrap puts the
    /// SDK first on sys.path and runs it. The SDK appends the implementation's own directory last.
    static let pythonBootstrap = "import sys; sys.path.insert(0, sys.argv.pop(1)); from symtui_sdk.run import main; sys.exit(main())"

    /// The argv after the interpreter for a Python implementation.
    func pythonArguments(implementation: String) -> [String] {
        ["-I", "-B", "-c", HandlerRunner.pythonBootstrap, sdkDirectory, implementation]
    }

    /// Reads a finished run: exit status first, then exactly one answer object that `kind` may give.
    static func outcome(_ handler: String, kind: HandlerKind, implementation: String, result: ProcessResult) -> HandlerOutcome {
        let stdout = String(decoding: result.stdout, as: UTF8.self)
        func failed(_ why: String) -> HandlerOutcome {
            .failed(handler, "\(handler) in \(implementation): \(why)", durationMs: result.durationMs,
                    stderrTail: result.stderrTail, exitCode: result.exitCode,
                    stdoutTail: String(stdout.suffix(stdoutTailChars)))
        }
        guard result.succeeded else { return failed(result.summary) }
        let answer: JSONValue
        do {
            answer = try JSONValue.parse(stdout)
        } catch {
            return failed(stdout.isEmpty ? "no answer on stdout" : "malformed answer on stdout (\(error))")
        }
        let verdict: HandlerVerdict
        let messages: [HandlerMessage]
        do {
            verdict = try HandlerVerdict.parse(answer: answer)
            messages = try HandlerMessage.parse(answer: answer)
        } catch {
            return failed("malformed answer: \(error)")
        }
        guard verdict.isAllowed(for: kind) else {
            return failed("answered \"\(verdict.outcome)\", which \(handler) may not")
        }
        // A prefetch runs whenever a form opens: a message from it would be sent again and again.
        if case .prefetch = kind, !messages.isEmpty { return failed("a prefetch handler sends no messages") }
        var outcome = HandlerOutcome(handler: handler, verdict: verdict, durationMs: result.durationMs,
                                     stderrTail: result.stderrTail, exitCode: result.exitCode)
        outcome.messages = messages
        return outcome
    }

    /// The event object handlers receive; see docs/handlers.md.
    public static func event(for handler: String, flow: Flow, target: Target?, request: AccessRequest, actor: String,
                             extra: JSONValue = .object([]), now: Date = Date()) -> JSONValue {
        let step = HandlerName.step(of: handler) ?? handler
        let requestJSON = request.json
        var actors: [(String, JSONValue)] = [("request", .string(request.requester))]
        func setActor(_ key: String, _ user: String) {
            actors.removeAll { $0.0 == key }
            actors.append((key, .string(user)))
        }
        for approval in request.approvals {
            setActor("approve", approval.user)
            if let name = approval.step { setActor(name, approval.user) }
        }
        if let denial = request.denial { setActor("deny", denial.user) }
        setActor(step, actor)

        var pairs: [(String, JSONValue)] = [
            ("name", .string(step)),
            ("handler", .string(handler)),
            ("time", .string(Timestamp.format(now))),
            ("user", .string(actor)),
            ("fields", requestJSON["fields"] ?? .object([])),
            ("flow", .object([("name", .string(flow.name)), ("label", .string(flow.label)),
                              ("approval_only", .bool(flow.isApprovalOnly)),
                              ("vars", sortedObject(flow.vars))])),
            ("target", target.map { t in
                .object([("name", .string(t.name)), ("label", .string(t.label)), ("settings", sortedObject(t.settings))])
            } ?? .null),
            ("request", requestJSON),
            ("approvals", requestJSON["approvals"] ?? .array([])),
            ("actors", .object(actors)),
        ]
        // What the strategy answered when it granted access (JSON when it was JSON), for Sym's get_step_output().
        if let output = request.stepOutput {
            pairs.append(("step_output", (try? JSONValue.parse(output)) ?? .string(output)))
        }
        for (key, value) in extra.objectValue ?? [] {
            if let i = pairs.firstIndex(where: { $0.0 == key }) { pairs[i].1 = value } else { pairs.append((key, value)) }
        }
        return .object(pairs)
    }

    private static func sortedObject(_ dict: [String: JSONValue]) -> JSONValue {
        .object(dict.keys.sorted().map { ($0, dict[$0]!) })
    }
}

/// Remembers "this implementation does not define that handler" so that undefined hooks cost a stat, not a process.
final class MissingHandlerCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: FileIdentity] = [:]

    private func key(_ file: String, _ handler: String) -> String { file + "\u{0}" + handler }

    func contains(file: String, handler: String, identity: FileIdentity) -> Bool {
        lock.withLock { entries[key(file, handler)] == identity }
    }

    func insert(file: String, handler: String, identity: FileIdentity) {
        lock.withLock { entries[key(file, handler)] = identity }
    }
}
