import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// Rules and handlers at each step, through the engine, with real python3 handler files.
final class EngineHandlerTests: XCTestCase {
    var dir: String!
    var store: Store!

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(prefix: "symtui-eh-")
        store = try Store.openForWriting(path: dir + "/s.db")
    }

    override func tearDownWithError() throws {
        store = nil
        try? FileManager.default.removeItem(atPath: dir)
    }

    let alice = Identity(uid: 5001, name: "alice", groups: ["dev"])
    let bob = Identity(uid: 5002, name: "bob", groups: ["oncall"])
    let carol = Identity(uid: 5003, name: "carol", groups: ["oncall", "managers"])
    let dave = Identity(uid: 5004, name: "dave", groups: ["oncall"])

    /// An engine over one approval-only flow `f` with `handlers` as its Python implementation.
    func engine(handlers: String? = nil, configure: (inout Flow) -> Void = { _ in }) throws -> Engine {
        var flow = Flow(name: "f", approvers: Approvers(groups: ["oncall"]),
                        promptFields: [PromptField(name: "reason", type: .string, required: false)])
        if let handlers {
            let path = dir + "/impl.py"
            try Data(("from symtui_sdk import hook, reducer, prefetch, approve, deny, ignore\n" + handlers).utf8)
                .write(to: URL(fileURLWithPath: path))
            chmod(path, 0o644)
            flow.implementation = path
            flow.handlerTimeout = TimeSpan(seconds: 2)
        }
        configure(&flow)
        let engine = Engine(config: Config(sourcePath: dir + "/c.json5", flows: [flow]), store: store)
        engine.handlers = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: dir + "/sdk"))
        return engine
    }

    func request(_ e: Engine, by who: Identity, fields: [String: JSONValue] = [:]) -> Result<AccessRequest, CommandError> {
        e.execute(.request(flow: "f", target: nil, fields: fields, duration: nil, reason: nil), by: who)
    }

    func events(_ type: EventType) throws -> [AuditEvent] {
        try store.events(afterSeq: 0, limit: 1000).filter { $0.type == type }
    }

    /// Waits for background (after_*) handlers to record their events.
    func waitForHandlerEvents(_ count: Int, timeout: TimeInterval = 10) throws -> [AuditEvent] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let found = try events(.handler)
            if found.count >= count { return found }
            usleep(50_000)
        }
        return try events(.handler)
    }

    func testOnRequestApproveDecidesAtOnceAsTheHandler() throws {
        let e = try engine(handlers: "@hook\ndef on_request(event):\n    return approve('auto')\n")
        let r = try request(e, by: alice).get()
        XCTAssertEqual(r.state, .approved)
        XCTAssertEqual(r.approvals.first?.user, "handler:on_request")
        XCTAssertEqual(try events(.approve).first?.actor, "handler:on_request")
        XCTAssertEqual(try events(.handler).first?.data["outcome"]?.stringValue, "approve")
        XCTAssertEqual(try events(.handler).first?.requestId, r.id, "the on_request run is part of the request's history")
    }

    func testOnRequestDenyDeniesWithTheHandlersReason() throws {
        let e = try engine(handlers: "@hook\ndef on_request(event):\n    return deny('not on weekends')\n")
        let r = try request(e, by: alice).get()
        XCTAssertEqual(r.state, .denied)
        XCTAssertEqual(r.denial?.reason, "not on weekends")
    }

    func testOnRequestIgnoreBlocksTheRequestWithItsMessage() throws {
        let e = try engine(handlers: "@hook\ndef on_request(event):\n    return ignore('use the runbook first')\n")
        guard case let .failure(err) = request(e, by: alice) else { return XCTFail("expected a refusal") }
        XCTAssertEqual(err.code, ExitCode.noPerm)
        XCTAssertEqual(err.message, "use the runbook first")
        XCTAssertEqual(try store.count(RequestQuery()), 0)
        XCTAssertEqual(try events(.handler).count, 1, "the blocked run is still audited")
    }

    func testCrashingOnRequestFailsClosed() throws {
        let e = try engine(handlers: "@hook\ndef on_request(event):\n    raise RuntimeError('boom')\n")
        guard case let .failure(err) = request(e, by: alice) else { return XCTFail("expected a refusal") }
        XCTAssertTrue(err.message.contains("on_request handler failed"), err.message)
        XCTAssertEqual(try store.count(RequestQuery()), 0)
        let h = try XCTUnwrap(try events(.handler).first)
        XCTAssertEqual(h.data["outcome"]?.stringValue, "failed")
        XCTAssertTrue(h.data["stderr_tail"]?.stringValue?.contains("boom") ?? false)
    }

    func testTimedOutOnRequestFailsClosed() throws {
        let e = try engine(handlers: "import time\n@hook\ndef on_request(event):\n    time.sleep(30)\n")
        let started = Date()
        guard case .failure = request(e, by: alice) else { return XCTFail("expected a refusal") }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(try store.count(RequestQuery()), 0)
    }

    func testMalformedHandlerOutputFailsClosed() throws {
        let e = try engine(handlers: "import os\n@hook\ndef on_request(event):\n    os.write(1, b'garbage')\n    return approve('x')\n")
        guard case .failure = request(e, by: alice) else { return XCTFail("a garbled answer must not approve") }
        XCTAssertEqual(try store.count(RequestQuery()), 0)
    }

    func testGetApproversRoutesTheRequestToItsAnswer() throws {
        let e = try engine(handlers: "@reducer\ndef get_approvers(event):\n    return ['carol']\n")
        let r = try request(e, by: alice).get()
        XCTAssertEqual(r.routing?.approvers.users, ["carol"])
        guard case let .failure(err) = e.execute(.approve(id: r.id, reason: nil), by: bob) else {
            return XCTFail("bob is a configured approver but not one get_approvers chose")
        }
        XCTAssertEqual(err.code, ExitCode.noPerm)
        XCTAssertEqual(try e.execute(.approve(id: r.id, reason: nil), by: carol).get().state, .approved)
    }

    func testOnApproveDenyTurnsTheApprovalIntoADenial() throws {
        let e = try engine(handlers: "@hook\ndef on_approve(event):\n    return deny('approvers may not approve after hours')\n")
        let r = try request(e, by: alice).get()
        let after = try e.execute(.approve(id: r.id, reason: nil), by: bob).get()
        XCTAssertEqual(after.state, .denied)
        XCTAssertEqual(after.denial?.user, "handler:on_approve")
    }

    func testOnApproveIgnoreLeavesTheRequestPending() throws {
        let e = try engine(handlers: "@hook\ndef on_approve(event):\n    return ignore('wait for the change window')\n")
        let r = try request(e, by: alice).get()
        guard case let .failure(err) = e.execute(.approve(id: r.id, reason: nil), by: bob) else { return XCTFail("expected a block") }
        XCTAssertEqual(err.message, "wait for the change window")
        XCTAssertEqual(try store.request(id: r.id)?.state, .pending)
    }

    func testAHookDoesNotRunForSomeoneWhoMayNotDecide() throws {
        let marker = dir + "/ran"
        let e = try engine(handlers: "@hook\ndef on_approve(event):\n    open('\(marker)', 'w').write('x')\n")
        let r = try request(e, by: alice).get()
        guard case .failure = e.execute(.approve(id: r.id, reason: nil), by: alice) else { return XCTFail() }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "user code must not run for a refused actor")
    }

    func testAfterApproveRunsAJobForAnApprovalOnlyFlow() throws {
        let out = dir + "/job.out"
        let e = try engine(handlers: """
            import subprocess
            @hook
            def after_approve(event):
                r = subprocess.run(['/bin/echo', 'reindexed for', event.request.requester], capture_output=True, text=True)
                open('\(out)', 'w').write(r.stdout)
                print('job exit', r.returncode)
            """)
        let r = try request(e, by: alice).get()
        _ = try e.execute(.approve(id: r.id, reason: "go"), by: bob).get()
        let handlerEvents = try waitForHandlerEvents(1)
        XCTAssertEqual(handlerEvents.first?.actor, "handler:after_approve")
        XCTAssertTrue(handlerEvents.first?.data["stderr_tail"]?.stringValue?.contains("job exit 0") ?? false)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "reindexed for alice\n")
    }

    func testPrefetchOptionsAreOfferedAndEnforcedOnSubmit() throws {
        let e = try engine(handlers: "@prefetch('service')\ndef services(event):\n    return ['api', 'worker']\n") { flow in
            flow.promptFields.append(PromptField(name: "service", type: .string, prefetch: true))
        }
        XCTAssertEqual(try e.prefetch(flow: "f", field: "service", by: alice).get(), [.string("api"), .string("worker")])
        guard case let .failure(err) = request(e, by: alice, fields: ["service": .string("database")]) else {
            return XCTFail("a value outside the prefetched options must be refused")
        }
        XCTAssertEqual(err.code, ExitCode.dataErr)
        XCTAssertEqual(try request(e, by: alice, fields: ["service": .string("worker")]).get().fields["service"], .string("worker"))
    }

    func testNOfMNeedsThatManyDistinctApprovers() throws {
        let e = try engine { $0.requiredApprovals = 2 }
        let r = try request(e, by: alice).get()
        XCTAssertEqual(try e.execute(.approve(id: r.id, reason: nil), by: bob).get().state, .pending)
        guard case .failure = e.execute(.approve(id: r.id, reason: nil), by: bob) else { return XCTFail("one person counts once") }
        XCTAssertEqual(try e.execute(.approve(id: r.id, reason: nil), by: dave).get().state, .approved)
    }

    func testTwoStepsNeedAPeerAndAManager() throws {
        let e = try engine { flow in
            flow.approvers = Approvers()
            flow.approvalSteps = [ApprovalStep(name: "peer", approvers: Approvers(groups: ["oncall"])),
                                  ApprovalStep(name: "manager", approvers: Approvers(groups: ["managers"]))]
        }
        let r = try request(e, by: alice).get()
        XCTAssertEqual(r.requiredApprovals, 2)
        XCTAssertEqual(try e.execute(.approve(id: r.id, reason: nil), by: bob).get().state, .pending)
        guard case .failure = e.execute(.approve(id: r.id, reason: nil), by: dave) else {
            return XCTFail("a second peer does not satisfy the manager step")
        }
        let done = try e.execute(.approve(id: r.id, reason: nil), by: carol).get()
        XCTAssertEqual(done.state, .approved)
        XCTAssertEqual(Set(done.approvals.compactMap(\.step)), ["peer", "manager"])
    }

    func testBreakGlassSelfApprovalNeedsAReasonAndIsMarkedSelf() throws {
        let e = try engine { $0.allowSelfApproval = true }
        let r = try request(e, by: bob).get()
        guard case let .failure(err) = e.execute(.approve(id: r.id, reason: nil), by: bob) else { return XCTFail() }
        XCTAssertEqual(err.code, ExitCode.dataErr)
        let done = try e.execute(.approve(id: r.id, reason: "prod is down"), by: bob).get()
        XCTAssertEqual(done.state, .approved)
        XCTAssertEqual(try events(.approve).first?.data["self"], .bool(true))
    }

    func testSelfApprovalWithoutTheFlowAllowingItIsRefusedWith77() throws {
        let e = try engine()
        let r = try request(e, by: bob).get()
        guard case let .failure(err) = e.execute(.approve(id: r.id, reason: "please"), by: bob) else { return XCTFail() }
        XCTAssertEqual(err.code, ExitCode.noPerm)
        XCTAssertTrue(err.message.contains("own request"), err.message)
    }

    /// An engine over one access flow `f` (command strategy writing marker files) with `handlers` as its implementation.
    func accessEngine(handlers: String) throws -> (Engine, GrantLoop, String) {
        let log = dir + "/grants.log"
        for action in ["grant", "revoke"] {
            let script = dir + "/\(action).sh"
            try Data("#!/bin/sh\necho \"\(action) $1 $2\" >> \(log)\n".utf8).write(to: URL(fileURLWithPath: script))
            chmod(script, 0o755)
        }
        let strategy = Strategy(name: "cmd", type: .command,
                                settings: ["escalate": .string(dir + "/grant.sh"), "deescalate": .string(dir + "/revoke.sh")],
                                targets: [Target(name: "db")])
        let impl = dir + "/impl.py"
        try Data(("from symtui_sdk import hook, approve, deny, ignore\n" + handlers).utf8).write(to: URL(fileURLWithPath: impl))
        chmod(impl, 0o644)
        let flow = Flow(name: "f", strategy: "cmd", approvers: Approvers(groups: ["oncall"]),
                        promptFields: [PromptField(name: "duration", type: .duration)], implementation: impl,
                        handlerTimeout: TimeSpan(seconds: 5))
        let engine = Engine(config: Config(sourcePath: dir + "/c.json5", strategies: [strategy], flows: [flow]), store: store)
        engine.handlers = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: dir + "/sdk"))
        return (engine, GrantLoop(engine: engine), log)
    }

    func grant(_ e: Engine, _ loop: GrantLoop) throws -> AccessRequest {
        let r = try e.execute(.request(flow: "f", target: "db", fields: ["duration": .string("1h")], duration: nil, reason: nil), by: alice).get()
        _ = try e.execute(.approve(id: r.id, reason: nil), by: bob).get()
        try loop.runUntilIdle()
        return try XCTUnwrap(try store.request(id: r.id))
    }

    func testOnEscalateDenyFailsTheRequestWithoutGrantingOrRetrying() throws {
        let (e, loop, log) = try accessEngine(handlers: "@hook\ndef on_escalate(event):\n    return deny('outside the change window')\n")
        let r = try grant(e, loop)
        XCTAssertEqual(r.state, .failed)
        XCTAssertTrue(r.error?.contains("outside the change window") ?? false, r.error ?? "")
        let lines = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertFalse(lines.contains("grant"), "nothing may be granted: \(lines)")
        XCTAssertEqual(try events(.escalateFailed).count, 1, "a refusal is not retried")
    }

    func testOnDeescalateIsRecordedAndAccessIsTakenAwayAnyway() throws {
        let (e, loop, log) = try accessEngine(handlers: """
            @hook
            def on_deescalate(event):
                return ignore('please keep it')
            @hook
            def after_escalate(event):
                print('granted')
            """)
        let r = try grant(e, loop)
        XCTAssertEqual(r.state, .active)
        _ = try e.execute(.release(id: r.id), by: alice).get()
        try loop.runUntilIdle()
        XCTAssertEqual(try store.request(id: r.id)?.state, .ended)
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("revoke alice db"))
        let handlers = try waitForHandlerEvents(2).map(\.actor)
        XCTAssertTrue(handlers.contains("handler:on_deescalate"), "\(handlers)")
        XCTAssertTrue(handlers.contains("handler:after_escalate"), "\(handlers)")
    }
}
