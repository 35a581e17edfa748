import XCTest
import Foundation
import SymModel
import SymProtocol
import SymTestSupport
@testable import SymEngine

/// contract §8: handlers are real programs speaking JSON on stdin/stdout; these tests run real python3 files.
final class HandlerTests: XCTestCase {
    static let python = "/usr/bin/python3"
    /// Generous: two shared cores can make a cold python3 start slow.
    static let timeout: TimeInterval = 30
    var dir = ""
    var runner = HandlerRunner(sdkDirectory: "/nonexistent")

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.python), "needs \(Self.python)")
        dir = try makeTemporaryDirectory(prefix: "symtui-handlers-")
        runner = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: dir + "/sdk"), python: Self.python)
    }

    override func tearDownWithError() throws {
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    // MARK: fixtures

    /// Writes a Python implementation file (the SDK import is added) and returns its path.
    func implementation(_ body: String, name: String = "impl.py") throws -> String {
        let path = dir + "/" + name
        let text = "from symtui_sdk import hook, reducer, prefetch, approve, deny, ignore\n" + body
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Writes an executable that is not Python and returns its path.
    func executable(_ script: String, name: String = "handler") throws -> String {
        let path = dir + "/" + name
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(path, 0o755), 0)
        return path
    }

    func flow(implementation: String?, approvalOnly: Bool = false, timeout: Int = 30) -> Flow {
        Flow(name: approvalOnly ? "run-reindex" : "prod-access", label: "Production access",
             strategy: approvalOnly ? nil : "prod-groups", implementation: implementation,
             handlerTimeout: TimeSpan(seconds: timeout), vars: ["team": .string("sre")])
    }

    let target = Target(name: "prod-ssh", label: "Production SSH", settings: ["group": .string("prod-ssh")])

    func request(approvalOnly: Bool = false) -> AccessRequest {
        var r = AccessRequest(id: 42, flow: approvalOnly ? "run-reindex" : "prod-access",
                              target: approvalOnly ? nil : "prod-ssh", targetLabel: approvalOnly ? nil : "Production SSH",
                              requester: "bob", fields: ["reason": .string("deploy 1.2"), "duration": .duration(TimeSpan(seconds: 3600))],
                              createdAt: Date(timeIntervalSince1970: 1_800_000_000),
                              requestExpiresAt: Date(timeIntervalSince1970: 1_800_003_600))
        r.approvals = [Approval(user: "carol", at: Date(timeIntervalSince1970: 1_800_000_100), reason: "ok", isSelf: false,
                                step: "security")]
        return r
    }

    func run(_ handler: String, _ file: String, timeout: TimeInterval = HandlerTests.timeout) -> HandlerOutcome {
        let event = HandlerRunner.event(for: handler, flow: flow(implementation: file), target: target,
                                        request: request(), actor: "bob")
        return runner.run(handler, implementation: file, timeout: timeout, event: event)
    }

    // MARK: verdicts

    func testOnRequestReturningApproveApproves() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return approve('short request')\n")
        let outcome = run("on_request", file)
        XCTAssertEqual(outcome.verdict, .approve(reason: "short request"), outcome.failure ?? "")
        XCTAssertEqual(outcome.exitCode, 0)
    }

    func testApproveWithoutReasonHasNilReason() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return approve()\n")
        XCTAssertEqual(run("on_request", file).verdict, .approve(reason: nil))
    }

    func testOnRequestReturningDenyDenies() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return deny('no prod on fridays')\n")
        XCTAssertEqual(run("on_request", file).verdict, .deny(reason: "no prod on fridays"))
    }

    func testOnApproveReturningIgnoreIgnoresWithMessage() throws {
        let file = try implementation("@hook\ndef on_approve(event):\n    return ignore('ask in #sre first')\n")
        XCTAssertEqual(run("on_approve", file).verdict, .ignore(message: "ask in #sre first"))
    }

    func testHookReturningNothingContinues() throws {
        let file = try implementation("@hook\ndef after_request(event):\n    pass\n")
        let outcome = run("after_request", file)
        XCTAssertEqual(outcome.verdict, .proceed)
        XCTAssertEqual(outcome.auditData["outcome"], .string("continue"))
    }

    func testGetApproversListNamesUsers() throws {
        let file = try implementation("@reducer\ndef get_approvers(event):\n    return ['alice', 'dave']\n")
        XCTAssertEqual(run("get_approvers", file).verdict, .approvers(users: ["alice", "dave"], groups: []))
    }

    func testGetApproversDictNamesUsersAndGroups() throws {
        let file = try implementation("@reducer\ndef get_approvers(event):\n    return {'users': ['alice'], 'groups': ['oncall']}\n")
        XCTAssertEqual(run("get_approvers", file).verdict, .approvers(users: ["alice"], groups: ["oncall"]))
    }

    func testPrefetchReturnsOptions() throws {
        let file = try implementation("""
            @prefetch('database')
            def databases(event):
                return ['orders', {'value': 'billing', 'label': 'Billing DB'}]

            """)
        XCTAssertEqual(run("prefetch:database", file).verdict,
                       .options([.string("orders"), .object([("value", .string("billing")), ("label", .string("Billing DB"))])]))
    }

    func testUndefinedHandlerIsMissing() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return approve()\n")
        let outcome = run("on_deny", file)
        XCTAssertEqual(outcome.verdict, .missing)
        XCTAssertNil(outcome.failure)
    }

    func testUndecoratedFunctionIsMissingAndWarnedAbout() throws {
        let file = try implementation("def on_request(event):\n    return approve()\n")
        let outcome = run("on_request", file)
        XCTAssertEqual(outcome.verdict, .missing)
        XCTAssertTrue(outcome.stderrTail.contains("not decorated with @hook"), outcome.stderrTail)
    }

    func testFlowWithoutImplementationIsMissing() {
        let outcome = runner.run("on_request", flow: flow(implementation: nil), target: target, request: request(), actor: "bob")
        XCTAssertEqual(outcome.verdict, .missing)
    }

    func testMissingAnswerIsRememberedUntilTheFileChanges() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return None\n")
        XCTAssertEqual(run("on_approve", file).verdict, .missing)
        let cached = run("on_approve", file)
        XCTAssertEqual(cached.verdict, .missing)
        XCTAssertEqual(cached.durationMs, 0, "answered from the cache, without a process")
        _ = try implementation("@hook\ndef on_approve(event):\n    return deny('now defined')\n")
        XCTAssertEqual(run("on_approve", file).verdict, .deny(reason: "now defined"))
    }

    // MARK: fail closed

    func testHandlerRunningPastItsTimeoutIsKilledAndFails() throws {
        let file = try implementation("""
            import os, time
            @hook
            def on_request(event):
                with open('\(dir)/pid', 'w') as f:
                    f.write(str(os.getpid()))
                time.sleep(60)
                return approve()

            """)
        let started = Date()
        let outcome = run("on_request", file, timeout: 1)
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.failure?.contains("timed out") ?? false, outcome.failure ?? "")
        XCTAssertGreaterThanOrEqual(outcome.durationMs, 900)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertNil(outcome.exitCode)
        let pid = try XCTUnwrap(Int32(String(contentsOfFile: dir + "/pid", encoding: .utf8)))
        XCTAssertEqual(kill(pid, 0), -1, "the handler process is gone")
    }

    func testFlowHandlerTimeoutBoundsTheRun() throws {
        let file = try implementation("import time\n@hook\ndef on_request(event):\n    time.sleep(60)\n")
        let started = Date()
        let outcome = runner.run("on_request", flow: flow(implementation: file, timeout: 1), target: target,
                                 request: request(), actor: "bob")
        XCTAssertNil(outcome.verdict)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }

    func testRaisingHandlerFailsWithTheExceptionInStderrTail() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    raise RuntimeError('ldap is down')\n")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertEqual(outcome.exitCode, 1)
        XCTAssertTrue(outcome.stderrTail.contains("RuntimeError: ldap is down"), outcome.stderrTail)
        XCTAssertTrue(outcome.stderrTail.contains("Traceback"), outcome.stderrTail)
        XCTAssertEqual(outcome.auditData["outcome"], .string("failed"))
        XCTAssertEqual(outcome.auditData["stderr_tail"], .string(outcome.stderrTail))
    }

    func testGarbageWrittenToTheRealStdoutFailsClosed() throws {
        let file = try implementation("import os\n@hook\ndef on_request(event):\n    os.write(1, b'garbage ')\n    return approve()\n")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.failure?.contains("malformed") ?? false, outcome.failure ?? "")
        XCTAssertTrue(outcome.stdoutTail?.hasPrefix("garbage ") ?? false)
        XCTAssertNotNil(outcome.auditData["stdout_tail"])
    }

    func testPrintInsideHandlerDoesNotCorruptTheAnswer() throws {
        let file = try implementation("""
            print('importing')
            @hook
            def on_request(event):
                print('{"result": "deny", "reason": "printed"}')
                return approve('returned')

            """)
        let outcome = run("on_request", file)
        XCTAssertEqual(outcome.verdict, .approve(reason: "returned"), outcome.failure ?? "")
        XCTAssertTrue(outcome.stderrTail.contains("importing"), outcome.stderrTail)
        XCTAssertTrue(outcome.stderrTail.contains("printed"), outcome.stderrTail)
    }

    func testHookReturningSomethingElseFails() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return True\n")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.stderrTail.contains("must return approve"), outcome.stderrTail)
    }

    func testNonZeroExitFailsEvenWithAValidAnswer() throws {
        let file = try executable("#!/bin/sh\necho '{\"result\":\"approve\"}'\nexit 3\n")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertEqual(outcome.exitCode, 3)
    }

    func testUnknownResultFails() throws {
        let file = try executable("#!/bin/sh\necho '{\"result\":\"maybe\"}'\n")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.failure?.contains("unknown result") ?? false, outcome.failure ?? "")
    }

    func testAnswerOfTheWrongKindFails() throws {
        let file = try executable("#!/bin/sh\necho '{\"result\":\"options\",\"options\":[]}'\n")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.failure?.contains("may not") ?? false, outcome.failure ?? "")
    }

    func testEmptyStdoutFails() throws {
        let file = try executable("#!/bin/sh\ncat >/dev/null\n")
        XCTAssertEqual(run("on_request", file).failure?.contains("no answer"), true)
    }

    func testUnknownHandlerNameFailsWithoutRunning() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return approve()\n")
        let outcome = run("on_whatever", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertNil(outcome.exitCode)
    }

    func testImplementationWritableByOthersIsRefused() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return approve()\n")
        XCTAssertEqual(chmod(file, 0o666), 0)
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.failure?.contains("writable by group or others") ?? false, outcome.failure ?? "")
    }

    func testImplementationInADirectoryOthersCanWriteIsRefused() throws {
        let shared = dir + "/shared"
        XCTAssertEqual(mkdir(shared, 0o755), 0)
        XCTAssertEqual(chmod(shared, 0o777), 0)
        let file = try implementation("@hook\ndef on_request(event):\n    return approve()\n", name: "shared/impl.py")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict, "a module planted beside it would run with the daemon's privileges")
        XCTAssertTrue(outcome.failure?.contains("writable by group or others") ?? false, outcome.failure ?? "")
    }

    func testImplementationBelowADirectoryOthersCanWriteIsRefused() throws {
        XCTAssertEqual(mkdir(dir + "/open", 0o755), 0)
        XCTAssertEqual(mkdir(dir + "/open/deep", 0o755), 0)
        XCTAssertEqual(chmod(dir + "/open", 0o757), 0)
        let file = try implementation("@hook\ndef on_request(event):\n    return approve()\n", name: "open/deep/impl.py")
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict, "whoever writes a parent can swap the whole directory")
        XCTAssertTrue(outcome.failure?.contains("directory \(dir)/open is writable") ?? false, outcome.failure ?? "")
    }

    func testImplementationOwnedByAnotherUserIsRefused() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return approve()\n")
        XCTAssertEqual(chown(file, 65534, 65534), 0)
        let outcome = run("on_request", file)
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.failure?.contains("owned by uid 65534") ?? false, outcome.failure ?? "")
    }

    func testAModuleBesideTheImplementationCannotShadowTheStandardLibraryOrTheSDK() throws {
        let marker = dir + "/shadowed"
        // Modules the SDK has not imported yet when the implementation loads.
        for name in ["csv.py", "fractions.py", "symtui_sdk.py"] {
            try "open(\(String(reflecting: marker)), 'w').write('\(name)')\n".write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        let file = try implementation("import csv, fractions\n@hook\ndef on_request(event):\n    return approve(str(fractions.Fraction(1, 2)) + csv.excel.delimiter)\n")
        let outcome = run("on_request", file)
        XCTAssertEqual(outcome.verdict, .approve(reason: "1/2,"), outcome.failure ?? outcome.stderrTail)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a planted module ran")
    }

    func testANeighbourModuleWithItsOwnNameIsStillImportable() throws {
        try "WORD = 'neighbour'\n".write(toFile: dir + "/helpers_\(getpid()).py", atomically: true, encoding: .utf8)
        let file = try implementation("import helpers_\(getpid()) as h\n@hook\ndef on_request(event):\n    return approve(h.WORD)\n")
        XCTAssertEqual(run("on_request", file).verdict, .approve(reason: "neighbour"))
    }

    func testPythonRunsIsolatedFromPythonVariablesAndTheWorkingDirectory() {
        let args = runner.pythonArguments(implementation: "/etc/symtui/impl.py")
        XCTAssertEqual(Array(args.prefix(2)), ["-I", "-B"])
        XCTAssertEqual(Array(args.suffix(2)), [runner.sdkDirectory, "/etc/symtui/impl.py"])
    }

    func testUnreadableImplementationFails() {
        let outcome = run("on_request", dir + "/absent.py")
        XCTAssertNil(outcome.verdict)
        XCTAssertTrue(outcome.failure?.contains("cannot read") ?? false, outcome.failure ?? "")
    }

    // MARK: the protocol and the event

    func testNonPythonExecutableSpeaksTheSameProtocol() throws {
        let file = try executable("""
            #!/bin/sh
            input=$(cat)
            case "$input" in
              *'"protocol":1,"handler":"on_request"'*) echo "{\\"result\\":\\"deny\\",\\"reason\\":\\"sh saw $1\\"}" ;;
              *) echo '{"result":"none"}' ;;
            esac

            """)
        let outcome = run("on_request", file)
        XCTAssertEqual(outcome.verdict, .deny(reason: "sh saw on_request"), outcome.failure ?? outcome.stderrTail)
    }

    func testEventCarriesStepActorFieldsFlowTargetAndRequest() throws {
        let file = try implementation("""
            @hook
            def on_approve(event):
                parts = [event.name, event.user.username, event.user, event.fields['reason'], event.flow.name,
                         event.flow.vars['team'], event.target.name, event.target.label, event.target.settings['group'],
                         event.request.id, event.request.state, event.request.requester.username,
                         event.request.approvals[0]['user'], event.get_actor('request'), event.get_actor('security'),
                         event.get_actor('approve'), event.raw['handler']]
                return approve('|'.join(str(p) for p in parts))

            """)
        let outcome = runner.run("on_approve", flow: flow(implementation: file), target: target, request: request(), actor: "dave")
        XCTAssertEqual(outcome.verdict, .approve(reason:
            "approve|dave|dave|deploy 1.2|prod-access|sre|prod-ssh|Production SSH|prod-ssh|42|pending|bob|carol|bob|carol|dave|on_approve"),
            outcome.failure ?? outcome.stderrTail)
    }

    func testApprovalOnlyFlowEventHasNoTarget() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return deny(repr(event.target))\n")
        let outcome = runner.run("on_request", flow: flow(implementation: file, approvalOnly: true), target: nil,
                                 request: request(approvalOnly: true), actor: "bob")
        XCTAssertEqual(outcome.verdict, .deny(reason: "None"))
    }

    func testEventCarriesTheStrategysStepOutputOnceAccessWasGranted() {
        var granted = request()
        granted.stepOutput = #"{"body":{"message":"granted"},"errors":[]}"#
        let event = HandlerRunner.event(for: "after_escalate", flow: flow(implementation: nil), target: target,
                                        request: granted, actor: "system")
        XCTAssertEqual(event["step_output"]?["body"]?["message"], .string("granted"))
        XCTAssertNil(HandlerRunner.event(for: "on_request", flow: flow(implementation: nil), target: target,
                                         request: request(), actor: "bob")["step_output"])
        granted.stepOutput = "plain text"
        XCTAssertEqual(HandlerRunner.event(for: "after_escalate", flow: flow(implementation: nil), target: target,
                                           request: granted, actor: "system")["step_output"], .string("plain text"))
    }

    func testASymStyleImplementationRunsThroughTheInstalledSDK() throws {
        let path = dir + "/sym_impl.py"
        try """
            from sym.sdk.annotations import hook
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_request(event):
                return ApprovalTemplate.deny(reason=event.payload.fields["reason"] + " by " + event.user.username)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = runner.run("on_request", flow: flow(implementation: path), target: target, request: request(), actor: "bob")
        XCTAssertEqual(outcome.verdict, .deny(reason: "deploy 1.2 by bob"), outcome.failure ?? outcome.stderrTail)
    }

    func testExtraEventKeysReplaceBuiltOnes() {
        let event = HandlerRunner.event(for: "prefetch:database", flow: flow(implementation: nil), target: target,
                                        request: request(), actor: "bob",
                                        extra: .object([("name", .string("form")), ("query", .string("ord"))]))
        XCTAssertEqual(event["name"], .string("form"))
        XCTAssertEqual(event["query"], .string("ord"))
        XCTAssertEqual(event["flow"]?["vars"], .object([("team", .string("sre"))]))
    }

    func testHandlerEnvironmentIsMinimal() throws {
        let file = try implementation("""
            import os
            @hook
            def on_request(event):
                return approve(','.join(sorted(os.environ)) + ';' + os.environ['HOME'] + ';' + os.getcwd())

            """)
        let outcome = run("on_request", file)
        guard case let .approve(reason?)? = outcome.verdict else { return XCTFail(outcome.failure ?? outcome.stderrTail) }
        let parts = reason.split(separator: ";").map(String.init)
        XCTAssertEqual(Set(parts[0].split(separator: ",").map(String.init)), ["HOME", "LANG", "PATH", "SYMTUI_HANDLER"])
        XCTAssertEqual(parts[1], "/nonexistent")
        XCTAssertEqual(parts[2], "/")
    }

    func testAuditDataNamesHandlerOutcomeAndReason() throws {
        let file = try implementation("@hook\ndef on_request(event):\n    return deny('nope')\n")
        let data = run("on_request", file).auditData
        XCTAssertEqual(data["handler"], .string("on_request"))
        XCTAssertEqual(data["outcome"], .string("deny"))
        XCTAssertEqual(data["reason"], .string("nope"))
        XCTAssertEqual(data["error"], .null)
        XCTAssertEqual(data["exit_code"], .int(0))
        XCTAssertNotNil(data["duration_ms"]?.intValue)
    }

    // MARK: the embedded SDK

    func testEmbeddedSDKEqualsTheFilesUnderSdkPython() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("sdk/python")
        var onDisk: [String] = []
        for package in ["symtui_sdk", "sym"] {
            let names = FileManager.default.subpaths(atPath: root.path + "/" + package) ?? []
            onDisk += names.filter { $0.hasSuffix(".py") && !$0.contains("__pycache__") }.map { package + "/" + $0 }
        }
        XCTAssertEqual(Set(onDisk), Set(EmbeddedSDK.files.keys), "rerun scripts/embed-sdk.py")
        for (name, text) in EmbeddedSDK.files {
            let data = try Data(contentsOf: root.appendingPathComponent(name))
            XCTAssertEqual(data, Data(text.utf8), "\(name) differs from sdk/python; rerun scripts/embed-sdk.py")
        }
    }

    func testInstalledSDKFilesAreReadableByAll() throws {
        for name in EmbeddedSDK.files.keys {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/sdk/" + name)
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o644, name)
        }
    }

    func testInstallRefusesADirectoryThatIsASymbolicLink() throws {
        let elsewhere = dir + "/elsewhere"
        XCTAssertEqual(mkdir(elsewhere, 0o755), 0)
        XCTAssertEqual(symlink(elsewhere, dir + "/linked"), 0)
        XCTAssertThrowsError(try EmbeddedSDK.install(into: dir + "/linked")) { error in
            XCTAssertTrue("\(error)".contains("not a directory"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: elsewhere), [])
    }

    func testInstallRefusesADirectorySomeoneElseMadeFirst() throws {
        let planted = dir + "/planted"
        XCTAssertEqual(mkdir(planted, 0o755), 0)
        XCTAssertEqual(chown(planted, 65534, 65534), 0)
        XCTAssertThrowsError(try EmbeddedSDK.install(into: planted)) { error in
            XCTAssertTrue("\(error)".contains("owned by uid 65534"), "\(error)")
        }
    }

    func testInstallRefusesAParentOthersCanWrite() throws {
        XCTAssertEqual(mkdir(dir + "/open", 0o777), 0)
        XCTAssertEqual(chmod(dir + "/open", 0o777), 0)
        XCTAssertThrowsError(try EmbeddedSDK.install(into: dir + "/open/sdk")) { error in
            XCTAssertTrue("\(error)".contains("writable by group or others"), "\(error)")
        }
    }

    func testAPrivateDirectoryIsFreshAndOnlyItsOwnerCanEnterIt() throws {
        let a = try PrivateDirectory(prefix: "symtui-test-"), b = try PrivateDirectory(prefix: "symtui-test-")
        defer { a.remove(); b.remove() }
        XCTAssertNotEqual(a.path, b.path)
        var info = stat()
        XCTAssertEqual(lstat(a.path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)
        XCTAssertEqual(info.st_uid, geteuid())
    }

    func testInstallReplacesAStaleSDK() throws {
        let file = dir + "/sdk/symtui_sdk/__init__.py"
        try "broken".write(toFile: file, atomically: false, encoding: .utf8)
        try "x = 1\n".write(toFile: dir + "/sdk/symtui_sdk/old.py", atomically: false, encoding: .utf8)
        try EmbeddedSDK.install(into: dir + "/sdk")
        XCTAssertEqual(FileManager.default.contents(atPath: file), Data(EmbeddedSDK.files["symtui_sdk/__init__.py"]!.utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/sdk/symtui_sdk/old.py"))
    }

    func testInstallWritesSymModuleNamesInSubpackages() throws {
        try "x = 1\n".write(toFile: dir + "/sdk/sym/sdk/integrations/gone.py", atomically: false, encoding: .utf8)
        try EmbeddedSDK.install(into: dir + "/sdk")
        for name in ["sym/__init__.py", "sym/sdk/annotations.py", "sym/sdk/integrations/slack.py"] {
            XCTAssertEqual(FileManager.default.contents(atPath: dir + "/sdk/" + name), Data(EmbeddedSDK.files[name]!.utf8), name)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/sdk/sym/sdk/integrations/gone.py"))
    }
}
