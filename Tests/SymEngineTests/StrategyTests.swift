import Foundation
import Synchronization
import XCTest
import SymModel
import SymProtocol
import SymTestSupport
@testable import SymEngine

// MARK: - fixtures

enum Fixture {
    static let python = "/usr/bin/python3"

    static func randomName(_ prefix: String = "symt_") -> String { uniqueName(prefix) }

    static func tempDirectory() throws -> String { try makeTemporaryDirectory(prefix: "symtui-test-") }

    /// Writes an executable script (the script may be a shell script: what matters is that we never run a shell).
    static func script(in dir: String, _ text: String, name: String = randomName("script-")) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// Runs a system tool the test needs for setup or for looking; fails the test if it fails.
    @discardableResult
    static func tool(_ path: String, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try ProcessRunner.run(path: path, arguments: args, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 60)
        XCTAssertTrue(result.succeeded, "\(path) \(args): \(result.summary)", file: file, line: line)
        return String(decoding: result.stdout, as: UTF8.self)
    }

    static func readPID(_ path: String) throws -> pid_t {
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try XCTUnwrap(pid_t(text))
    }

    /// True once the process no longer runs (gone, or a zombie nobody reaped yet).
    static func waitUntilGone(_ pid: pid_t, seconds: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if kill(pid, 0) != 0 { return true }
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z" { return true }
            usleep(50_000)
        } while Date() < deadline
        return false
    }

    static func request(id: Int64 = Int64.random(in: 1_000_000...9_999_999), user: String,
                        fields: [String: FieldValue] = [:], expires: Date? = Date(timeIntervalSince1970: 1_900_000_000)) -> AccessRequest {
        var r = AccessRequest(id: id, flow: "test-flow", target: "t", targetLabel: "T", requester: user, state: .escalating,
                              fields: fields, durationSeconds: 3600, createdAt: Date(timeIntervalSince1970: 1_899_990_000),
                              requestExpiresAt: Date(timeIntervalSince1970: 1_899_993_600))
        r.accessExpiresAt = expires
        return r
    }

    static func context(_ strategy: Strategy, user: String, request: AccessRequest? = nil, stepOutput: String? = nil,
                        others: Set<String> = []) -> GrantContext {
        GrantContext(request: request ?? Fixture.request(user: user), strategy: strategy, target: strategy.targets[0],
                     stepOutput: stepOutput, otherActiveHolders: others)
    }

    static func groupMembers(_ group: String) throws -> Set<String> {
        let line = try tool("/usr/bin/getent", ["group", group]).trimmingCharacters(in: .whitespacesAndNewlines)
        let members = line.split(separator: ":", omittingEmptySubsequences: false).last ?? ""
        return Set(members.split(separator: ",").map(String.init))
    }
}

// MARK: - settings

final class StrategySettingsTests: XCTestCase {
    func testTargetSettingsOverlayTheStrategysSettings() {
        let strategy = Strategy(name: "s", type: .command,
                                settings: ["timeout": .string("30s"), "escalate": .string("/bin/true")],
                                targets: [Target(name: "t", settings: ["timeout": .string("5s"), "role": .string("r")])])
        XCTAssertEqual(strategy.settings(for: strategy.targets[0]),
                       ["timeout": .string("5s"), "escalate": .string("/bin/true"), "role": .string("r")])
    }

    /// A config built in code (or one that slipped past `config check`) cannot make a deadline overflow.
    func testTimeoutsAreClampedToOneSecondToAnHour() {
        XCTAssertEqual(StrategyText.seconds(["timeout": .double(1e17)], "timeout", default: 30), 3600)
        XCTAssertEqual(StrategyText.seconds(["timeout": .double(.infinity)], "timeout", default: 30), 30)
        XCTAssertEqual(StrategyText.seconds(["timeout": .int(-5)], "timeout", default: 30), 1)
        XCTAssertEqual(StrategyText.seconds(["timeout": .string("45s")], "timeout", default: 30), 45)
    }

    /// Plain one-line errors take a shortcut; it must give what the general path gives.
    func testAnErrorBecomesOneTrimmedNeutralisedLine() {
        XCTAssertEqual(StrategyText.oneLine("  cannot run /x: No such file or directory "), "cannot run /x: No such file or directory")
        XCTAssertEqual(StrategyText.oneLine("   "), "")
        XCTAssertEqual(StrategyText.oneLine("first\n\n  second  \r\nthird"), "first; second; third")
        XCTAssertEqual(StrategyText.oneLine("bell\u{07} and \u{1B}[31mred"), "bell\u{2407} and \u{241B}red")
        XCTAssertEqual(StrategyText.oneLine(String(repeating: "a", count: 600)), String(repeating: "a", count: 500) + "…")
        XCTAssertEqual(StrategyText.oneLine(String(repeating: "a", count: 500)), String(repeating: "a", count: 500))
    }

    func testEachTypeMakesItsStrategy() {
        XCTAssertTrue(Strategies.make(Strategy(name: "a", type: .unixGroup)) is UnixGroupStrategy)
        XCTAssertTrue(Strategies.make(Strategy(name: "b", type: .sudoers)) is SudoersStrategy)
        XCTAssertTrue(Strategies.make(Strategy(name: "c", type: .command)) is CommandStrategy)
        XCTAssertTrue(Strategies.make(Strategy(name: "d", type: .http)) is HTTPStrategy)
    }
}

// MARK: - unix_group

final class UnixGroupStrategyTests: XCTestCase {
    private var user = "", group = ""
    private var strategy: Strategy!

    override func setUpWithError() throws {
        user = Fixture.randomName(); group = Fixture.randomName()
        try Fixture.tool("/usr/sbin/groupadd", [group])
        try Fixture.tool("/usr/sbin/useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", user])
        strategy = Strategy(name: "groups", type: .unixGroup, targets: [Target(name: "t", settings: ["group": .string(group)])])
    }

    override func tearDownWithError() throws {
        _ = try? ProcessRunner.run(path: "/usr/sbin/userdel", arguments: [user], timeout: 60)
        _ = try? ProcessRunner.run(path: "/usr/sbin/groupdel", arguments: [group], timeout: 60)
    }

    private var sut: any AccessStrategy { Strategies.make(strategy) }

    func testEscalateAddsTheUserToTheGroup() throws {
        let outcome = sut.escalate(Fixture.context(strategy, user: user))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        XCTAssertTrue(try Fixture.groupMembers(group).contains(user))
    }

    func testEscalateTwiceIsIdempotent() throws {
        XCTAssertTrue(sut.escalate(Fixture.context(strategy, user: user)).succeeded)
        let again = sut.escalate(Fixture.context(strategy, user: user))
        XCTAssertTrue(again.succeeded, again.error ?? "")
        XCTAssertEqual(again.data["already_member"], .bool(true))
        XCTAssertEqual(try Fixture.groupMembers(group), [user])
    }

    func testDeescalateRemovesTheUser() throws {
        XCTAssertTrue(sut.escalate(Fixture.context(strategy, user: user)).succeeded)
        let outcome = sut.deescalate(Fixture.context(strategy, user: user))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        XCTAssertFalse(try Fixture.groupMembers(group).contains(user))
    }

    func testDeescalateOfAUserNotInTheGroupSucceeds() {
        let outcome = sut.deescalate(Fixture.context(strategy, user: user))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        XCTAssertEqual(outcome.data["already_absent"], .bool(true))
    }

    func testDeescalateKeepsAUserWhoseOtherGrantIsStillActive() throws {
        XCTAssertTrue(sut.escalate(Fixture.context(strategy, user: user)).succeeded)
        let outcome = sut.deescalate(Fixture.context(strategy, user: user, others: [user]))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        XCTAssertEqual(outcome.data["kept"], .bool(true))
        XCTAssertTrue(try Fixture.groupMembers(group).contains(user))
    }

    func testCheckListsTheMembers() throws {
        XCTAssertEqual(try sut.check(target: strategy.targets[0])?.get().users, [])
        XCTAssertTrue(sut.escalate(Fixture.context(strategy, user: user)).succeeded)
        XCTAssertEqual(try sut.check(target: strategy.targets[0])?.get().users, [user])
    }

    func testEscalateToAMissingGroupFailsClearly() {
        let missing = Strategy(name: "g", type: .unixGroup, targets: [Target(name: "t", settings: ["group": .string(Fixture.randomName())])])
        let outcome = Strategies.make(missing).escalate(Fixture.context(missing, user: user))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("does not exist") ?? false, outcome.error ?? "")
    }

    func testUserNameThatIsNotPlainIsRejected() throws {
        let outcome = sut.escalate(Fixture.context(strategy, user: "-a\(user)"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("not a plain user name") ?? false, outcome.error ?? "")
        XCTAssertEqual(try Fixture.groupMembers(group), [])
    }

    /// gpasswd reads the group before it locks it (shadow-maint/shadow#347): unserialised, parallel runs on one group
    /// lost additions (found by the chaos harness; 8 parallel `gpasswd -a` lost one in 10 of 10 rounds).
    func testParallelChangesOfDifferentUsersInOneGroupAreAllKept() throws {
        let users = (0..<8).map { _ in Fixture.randomName() }
        for u in users { try Fixture.tool("/usr/sbin/useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", u]) }
        defer { for u in users { _ = try? ProcessRunner.run(path: "/usr/sbin/userdel", arguments: [u], timeout: 60) } }
        let strategy = self.strategy!
        for round in 0..<3 {
            let added = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: users.count) { i in
                if Strategies.make(strategy).escalate(Fixture.context(strategy, user: users[i])).succeeded {
                    added.wrappingAdd(1, ordering: .relaxed)
                }
            }
            XCTAssertEqual(added.load(ordering: .relaxed), users.count, "round \(round)")
            XCTAssertEqual(try Fixture.groupMembers(group), Set(users), "round \(round): additions lost")
            DispatchQueue.concurrentPerform(iterations: users.count) { i in
                _ = Strategies.make(strategy).deescalate(Fixture.context(strategy, user: users[i]))
            }
            XCTAssertEqual(try Fixture.groupMembers(group), [], "round \(round): removals lost")
        }
    }
}

// MARK: - sudoers

final class SudoersStrategyTests: XCTestCase {
    private var dir = ""
    private let rule = "ALL=(root) NOPASSWD: /usr/bin/systemctl restart nginx"
    private var cleanup: [String] = []

    override func setUpWithError() throws { dir = try Fixture.tempDirectory() }
    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
        for path in cleanup { unlink(path) }
    }

    private func strategy(rule: String? = nil, dir: String? = nil) -> Strategy {
        Strategy(name: "sudo", type: .sudoers, settings: ["sudoers_dir": .string(dir ?? self.dir)],
                 targets: [Target(name: "nginx", settings: ["rule": .string(rule ?? self.rule)])])
    }

    private func files(_ dir: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }

    func testEscalateWritesADropInOnlyRootCanReadThatVisudoAccepts() throws {
        let s = strategy()
        let request = Fixture.request(id: 42, user: "alice")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        let path = dir + "/symtui-42-alice"
        XCTAssertEqual(files(dir), ["symtui-42-alice"])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o440)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains("\nalice \(rule)\n"), text)
        XCTAssertTrue(text.contains("# Expires: \(Timestamp.format(request.accessExpiresAt!))"), text)
        try Fixture.tool(SudoersStrategy.visudo, ["-c", "-f", path])
    }

    func testRuleThatVisudoRejectsFailsWithItsMessageAndLeavesNoFile() {
        let s = strategy(rule: "ALL=(root NOPASSWD: /bin/ls")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("visudo rejected the rule") ?? false, outcome.error ?? "")
        XCTAssertTrue(outcome.error?.contains("syntax error") ?? false, outcome.error ?? "")
        XCTAssertEqual(files(dir), [])
    }

    func testRuleWithALineBreakIsRefusedBeforeAnythingIsWritten() {
        let s = strategy(rule: "ALL=(root) /bin/ls\nmallory ALL=(ALL) NOPASSWD: ALL")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("line break") ?? false, outcome.error ?? "")
        XCTAssertEqual(files(dir), [])
    }

    func testUserNameThatIsNotPlainIsRefused() {
        let s = strategy()
        for user in ["%sudo", "ALL", "ADMINS", "bob ALL=(ALL) ALL #", "+netgroup", "#0", "bob\n"] {
            let outcome = Strategies.make(s).escalate(Fixture.context(s, user: user))
            XCTAssertFalse(outcome.succeeded, user)
        }
        XCTAssertEqual(files(dir), [])
    }

    func testEscalateTwiceLeavesOneDropIn() {
        let s = strategy()
        let request = Fixture.request(id: 5, user: "alice")
        XCTAssertTrue(Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request)).succeeded)
        let again = Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request))
        XCTAssertTrue(again.succeeded, again.error ?? "")
        XCTAssertEqual(files(dir), ["symtui-5-alice"])
    }

    func testDeescalateRemovesTheDropIn() {
        let s = strategy()
        let request = Fixture.request(user: "alice")
        XCTAssertTrue(Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request)).succeeded)
        let outcome = Strategies.make(s).deescalate(Fixture.context(s, user: "alice", request: request))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        XCTAssertEqual(files(dir), [])
    }

    func testDeescalateOfAMissingDropInSucceeds() {
        let s = strategy()
        let outcome = Strategies.make(s).deescalate(Fixture.context(s, user: "alice"))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        XCTAssertEqual(outcome.data["already_absent"], .bool(true))
    }

    func testCheckListsUsersWithTheTargetsRule() throws {
        let s = strategy()
        let other = strategy(rule: "ALL=(root) NOPASSWD: /usr/bin/true")
        XCTAssertTrue(Strategies.make(s).escalate(Fixture.context(s, user: "alice")).succeeded)
        XCTAssertTrue(Strategies.make(s).escalate(Fixture.context(s, user: "bob.smith")).succeeded)
        XCTAssertTrue(Strategies.make(other).escalate(Fixture.context(other, user: "carol")).succeeded)
        XCTAssertEqual(try Strategies.make(s).check(target: s.targets[0])?.get().users, ["alice", "bob.smith"])
    }

    /// A `sudoers_dir` that sudo does not read made grants `active` that granted nothing.
    func testAGrantInADirectorySudoDoesNotReadFailsAndLeavesNoDropIn() throws {
        let user = Fixture.randomName()
        try Fixture.tool("/usr/sbin/useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", user])
        defer { _ = try? ProcessRunner.run(path: "/usr/sbin/userdel", arguments: [user], timeout: 60) }
        let s = strategy(rule: "ALL=(root) NOPASSWD: /usr/bin/true")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: user))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("sudo does not read \(dir)") ?? false, outcome.error ?? "")
        XCTAssertEqual(outcome.data["effective"], .bool(false))
        XCTAssertEqual(files(dir), [])
    }

    func testCheckDoesNotCountADropInSudoDoesNotActOn() throws {
        let user = Fixture.randomName()
        try Fixture.tool("/usr/sbin/useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", user])
        defer { _ = try? ProcessRunner.run(path: "/usr/sbin/userdel", arguments: [user], timeout: 60) }
        let s = strategy(rule: "ALL=(root) NOPASSWD: /usr/bin/true")
        try "\(user) ALL=(root) NOPASSWD: /usr/bin/true\n".write(toFile: dir + "/" + SudoersStrategy.fileName(requestID: 9, user: user),
                                                               atomically: true, encoding: .utf8)
        XCTAssertEqual(try Strategies.make(s).check(target: s.targets[0])?.get().users, [])
    }

    func testSudoListingsCompareWithoutHostRunAsAndSpacing() {
        XCTAssertEqual(SudoersStrategy.comparable("ALL=(root) NOPASSWD: /usr/bin/systemctl restart nginx, /bin/true", hasHost: true),
                       SudoersStrategy.comparable("    (root) NOPASSWD: /usr/bin/systemctl restart nginx, /bin/true", hasHost: false))
        XCTAssertEqual(SudoersStrategy.comparable("ALL = (ALL:ALL) ALL", hasHost: true), SudoersStrategy.comparable("    (ALL : ALL) ALL", hasHost: false))
        XCTAssertNotEqual(SudoersStrategy.comparable("ALL=(root) /bin/a", hasHost: true), SudoersStrategy.comparable("(root) /bin/ab", hasHost: false))
    }

    func testGrantInTheRealSudoersDirectoryIsSeenBySudo() throws {
        let user = Fixture.randomName()
        try Fixture.tool("/usr/sbin/useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", user])
        defer { _ = try? ProcessRunner.run(path: "/usr/sbin/userdel", arguments: [user], timeout: 60) }
        let s = strategy(rule: "ALL=(root) NOPASSWD: /usr/bin/true", dir: SudoersStrategy.defaultDirectory)
        let request = Fixture.request(user: user)
        let path = SudoersStrategy.defaultDirectory + "/" + SudoersStrategy.fileName(requestID: request.id, user: user)
        cleanup.append(path)

        let up = Strategies.make(s).escalate(Fixture.context(s, user: user, request: request))
        XCTAssertTrue(up.succeeded, up.error ?? "")
        XCTAssertEqual(up.data["effective"], .bool(true))
        try Fixture.tool(SudoersStrategy.visudo, ["-c"])
        XCTAssertTrue(try Fixture.tool("/usr/bin/sudo", ["-n", "-l", "-U", user]).contains("NOPASSWD: /usr/bin/true"))

        XCTAssertTrue(Strategies.make(s).deescalate(Fixture.context(s, user: user, request: request)).succeeded)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(try Fixture.tool("/usr/bin/sudo", ["-n", "-l", "-U", user]).contains("/usr/bin/true"))
    }
}

// MARK: - command

final class CommandStrategyTests: XCTestCase {
    private var dir = ""
    private var log = ""

    override func setUpWithError() throws { dir = try Fixture.tempDirectory(); log = dir + "/log.jsonl" }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A script that appends its argv and environment to the log, then prints `stdout` and exits with `exit`.
    private func loggingScript(stdout: String = "", exit: Int = 0, stderr: String = "") throws -> String {
        try Fixture.script(in: dir, """
            #!\(Fixture.python)
            import json, os, sys
            with open(\(String(reflecting: log)), "a") as f:
                f.write(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ)}) + "\\n")
            sys.stdout.write(\(String(reflecting: stdout)))
            sys.stderr.write(\(String(reflecting: stderr)))
            sys.exit(\(exit))
            """)
    }

    private func logged() throws -> [(argv: [String], env: [String: String])] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { line in
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return (try XCTUnwrap(object["argv"] as? [String]), try XCTUnwrap(object["env"] as? [String: String]))
        }
    }

    private func strategy(escalate: String, deescalate: String? = nil, check: String? = nil,
                          extra: [String: JSONValue] = [:]) -> Strategy {
        var settings: [String: JSONValue] = ["escalate": .string(escalate), "deescalate": .string(deescalate ?? escalate)]
        if let check { settings["check"] = .string(check) }
        settings.merge(extra) { $1 }
        return Strategy(name: "db", type: .command, settings: settings,
                        targets: [Target(name: "orders-rw", label: "orders DB read-write",
                                         settings: ["role": .string("orders_rw"), "port": .int(5432), "db-name": .string("orders")])])
    }

    func testArgvAndEnvironmentAreExactlyAsSpecified() throws {
        let s = strategy(escalate: try loggingScript(), extra: ["args": .array([.string("--mode"), .string("grant")])])
        var request = Fixture.request(id: 7, user: "alice", fields: ["reason": .string("deploy"), "ticket-id": .int(12),
                                                                      "dbs": .strList(["a", "b"])])
        request.accessExpiresAt = Date(timeIntervalSince1970: 1_900_000_000)
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")

        let entry = try XCTUnwrap(try logged().first)
        XCTAssertEqual(entry.argv, ["--mode", "grant", "alice", "orders-rw"])
        XCTAssertEqual(entry.env, [
            "SYMTUI_ACTION": "escalate", "SYMTUI_USER": "alice", "SYMTUI_TARGET": "orders-rw",
            "SYMTUI_TARGET_LABEL": "orders DB read-write", "SYMTUI_REQUEST_ID": "7",
            "SYMTUI_EXPIRES_AT": "2030-03-17T17:46:40Z",
            "SYMTUI_FIELD_REASON": "deploy", "SYMTUI_FIELD_TICKET_ID": "12", "SYMTUI_FIELD_DBS": "a,b",
            "SYMTUI_TARGET_ROLE": "orders_rw", "SYMTUI_TARGET_PORT": "5432", "SYMTUI_TARGET_DB_NAME": "orders",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
        ])
    }

    func testHostileFieldValuesAreNotExpanded() throws {
        let marker = dir + "/pwned"
        let hostile = "$(touch \(marker)); `touch \(marker)` | touch \(marker)\n$HOME"
        let s = strategy(escalate: try loggingScript())
        let request = Fixture.request(user: "alice", fields: ["reason": .string(hostile)])
        XCTAssertTrue(Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request)).succeeded)
        XCTAssertEqual(try logged().first?.env["SYMTUI_FIELD_REASON"], hostile)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    func testJSONOnStdoutIsKeptAndReachesDeescalate() throws {
        let escalate = try loggingScript(stdout: "{\"grant_id\": \"g-1\", \"n\": 2}\n")
        let deescalate = try loggingScript()
        let s = strategy(escalate: escalate, deescalate: deescalate)
        let request = Fixture.request(user: "alice")
        let up = Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request))
        XCTAssertEqual(up.output, #"{"grant_id":"g-1","n":2}"#)

        let down = Strategies.make(s).deescalate(Fixture.context(s, user: "alice", request: request, stepOutput: up.output))
        XCTAssertTrue(down.succeeded, down.error ?? "")
        let entries = try logged()
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(entries[1].env["SYMTUI_ACTION"], "deescalate")
        XCTAssertEqual(entries[1].env["SYMTUI_STEP_OUTPUT"], up.output)
        XCTAssertNil(entries[0].env["SYMTUI_STEP_OUTPUT"])
    }

    /// Linux refuses an environment string over 128 KiB: a large step output in SYMTUI_STEP_OUTPUT made deescalate
    /// impossible to start, and the grant impossible to remove.
    func testAStepOutputOf300KiBStillReachesDeescalateOnStdin() throws {
        let escalate = try Fixture.script(in: dir, """
            #!\(Fixture.python)
            import json, sys
            sys.stdout.write(json.dumps({"blob": "x" * (300 * 1024)}))
            """)
        let received = dir + "/stdin"
        let deescalate = try Fixture.script(in: dir, """
            #!\(Fixture.python)
            import os, sys
            data = sys.stdin.read()
            with open(\(String(reflecting: received)), "w") as f:
                f.write(data)
            sys.exit(0 if "SYMTUI_STEP_OUTPUT" not in os.environ and os.environ["SYMTUI_STEP_OUTPUT_BYTES"] == str(len(data)) else 3)
            """)
        let s = strategy(escalate: escalate, deescalate: deescalate)
        let request = Fixture.request(user: "alice")
        let up = Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request))
        let output = try XCTUnwrap(up.output)
        XCTAssertGreaterThan(output.utf8.count, 300 * 1024)

        let down = Strategies.make(s).deescalate(Fixture.context(s, user: "alice", request: request, stepOutput: output))
        XCTAssertTrue(down.succeeded, down.error ?? "")
        XCTAssertEqual(try String(contentsOfFile: received, encoding: .utf8), output)
    }

    func testASmallStepOutputIsOnStdinAndInTheEnvironment() throws {
        let deescalate = try Fixture.script(in: dir, """
            #!\(Fixture.python)
            import os, sys
            data = sys.stdin.read()
            sys.exit(0 if data == os.environ.get("SYMTUI_STEP_OUTPUT") == '{"k":1}' else 3)
            """)
        let s = strategy(escalate: deescalate, deescalate: deescalate)
        let down = Strategies.make(s).deescalate(Fixture.context(s, user: "alice", stepOutput: #"{"k":1}"#))
        XCTAssertTrue(down.succeeded, down.error ?? "")
    }

    func testSecretStepOutputIsKeptForDeescalateButHiddenInTheEventData() throws {
        let s = strategy(escalate: try loggingScript(stdout: #"{"grant_id":"g-1","secret":{"password":"hunter2"}}"#))
        let up = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertTrue(up.succeeded, up.error ?? "")
        XCTAssertEqual(try JSONValue.parse(try XCTUnwrap(up.output))["secret"]?["password"], .string("hunter2"),
                       "deescalate still gets the secret")
        let shown = try XCTUnwrap(up.data["output"])
        XCTAssertEqual(shown["grant_id"], .string("g-1"))
        XCTAssertEqual(shown["secret"]?["password"], .string(StepOutput.hidden))
        XCTAssertFalse(up.data.compact.contains("hunter2"))
    }

    func testStdoutThatIsNotJSONIsNotKept() throws {
        let s = strategy(escalate: try loggingScript(stdout: "granted, have fun\n"))
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertTrue(outcome.succeeded)
        XCTAssertNil(outcome.output)
    }

    func testFailingCommandReportsExitCodeAndStderrTail() throws {
        let s = strategy(escalate: try loggingScript(exit: 4, stderr: "warming up\nrole orders_rw is locked\n"))
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertEqual(outcome.error, "escalate command exit 4: role orders_rw is locked")
        XCTAssertEqual(outcome.data["exit_code"], .int(4))
        XCTAssertEqual(outcome.data["stderr_tail"], .string("warming up\nrole orders_rw is locked\n"))
        XCTAssertNotNil(outcome.data["duration_ms"]?.intValue)
    }

    func testTimeoutKillsTheCommandsProcessGroup() throws {
        let pidFile = dir + "/child.pid"
        let script = try Fixture.script(in: dir, "#!/bin/sh\n/bin/sleep 100 &\necho $! > \(pidFile)\nwait\n")
        let s = strategy(escalate: script, extra: ["timeout": .string("1s")])
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("timed out") ?? false, outcome.error ?? "")
        XCTAssertEqual(outcome.data["timed_out"], .bool(true))
        XCTAssertTrue(Fixture.waitUntilGone(try Fixture.readPID(pidFile)))
    }

    func testRelativeExecutableFailsWithoutRunning() {
        let s = strategy(escalate: "db-grant")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("absolute path") ?? false, outcome.error ?? "")
    }

    func testCheckReadsAJSONArrayOfUsers() throws {
        let check = try loggingScript(stdout: #"["alice", "bob"]"#)
        let s = strategy(escalate: check, check: check)
        XCTAssertEqual(try Strategies.make(s).check(target: s.targets[0])?.get().users, ["alice", "bob"])
        let entry = try XCTUnwrap(try logged().first)
        XCTAssertEqual(entry.argv, ["orders-rw"])
        XCTAssertEqual(entry.env["SYMTUI_ACTION"], "check")
        XCTAssertNil(entry.env["SYMTUI_USER"])
    }

    func testCheckReadsOneUserPerLine() throws {
        let check = try loggingScript(stdout: "alice\nbob\n\n")
        let s = strategy(escalate: check, check: check)
        XCTAssertEqual(try Strategies.make(s).check(target: s.targets[0])?.get().users, ["alice", "bob"])
    }

    func testWithoutACheckSettingThereIsNoCheck() throws {
        let s = strategy(escalate: try loggingScript())
        XCTAssertNil(Strategies.make(s).check(target: s.targets[0]))
    }
}

// MARK: - http

final class HTTPStrategyTests: XCTestCase {
    private var dir = ""
    private var log = ""
    private var server: LocalServer!
    private var port: Int { server.port }

    private static let serverSource = """
        import http.server, json, sys, time
        port, log = int(sys.argv[1]), sys.argv[2]
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with open(log, "a") as f:
                    f.write(json.dumps({"path": self.path, "body": body, "auth": self.headers.get("Authorization")}) + "\\n")
                if self.path.startswith("/slow"):
                    time.sleep(3)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", "/grant")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.startswith("/fail"):
                    code, out = 500, b'{"error": "backend exploded"}'
                elif self.path.startswith("/check"):
                    code, out = 200, b'["alice", "bob"]'
                else:
                    code, out = 200, b'{"grant_id": "g-42"}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    override func setUpWithError() throws {
        dir = try Fixture.tempDirectory()
        log = dir + "/requests.jsonl"
        try Self.serverSource.write(toFile: dir + "/server.py", atomically: true, encoding: .utf8)
        try startServer(port: 0)
    }

    override func tearDownWithError() throws {
        stopServer()
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func startServer(port wanted: Int) throws {
        if server == nil { server = LocalServer(script: dir + "/server.py", arguments: [log]) }
        try server.start(port: wanted)
    }

    private func stopServer() { server?.stop() }

    private func strategy(path: String, headers: [String: String] = [:], timeout: String = "5s") -> Strategy {
        var settings: [String: JSONValue] = ["url": .string("http://127.0.0.1:\(port)\(path)"), "timeout": .string(timeout)]
        if !headers.isEmpty { settings["headers"] = .object(headers.map { ($0.key, .string($0.value)) }) }
        return Strategy(name: "api", type: .http, settings: settings,
                        targets: [Target(name: "billing", label: "Billing admin", settings: ["role": .string("admin")])])
    }

    private func logged() throws -> [[String: Any]] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testSuccessfulAnswerEscalatesWithTheDocumentedBody() throws {
        let s = strategy(path: "/grant", headers: ["Authorization": "Bearer t0ken"])
        let request = Fixture.request(id: 9, user: "alice", fields: ["reason": .string("audit")])
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice", request: request))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        XCTAssertEqual(outcome.data["status"], .int(200))
        XCTAssertEqual(outcome.output, #"{"grant_id":"g-42"}"#)

        let entry = try XCTUnwrap(try logged().first)
        XCTAssertEqual(entry["auth"] as? String, "Bearer t0ken")
        let body = try XCTUnwrap(entry["body"] as? [String: Any])
        XCTAssertEqual(Set(body.keys), ["action", "request", "user", "target"])
        XCTAssertEqual(body["action"] as? String, "escalate")
        XCTAssertEqual(body["user"] as? String, "alice")
        XCTAssertEqual((body["request"] as? [String: Any])?["id"] as? Int, 9)
        XCTAssertEqual(((body["request"] as? [String: Any])?["fields"] as? [String: Any])?["reason"] as? String, "audit")
        let target = try XCTUnwrap(body["target"] as? [String: Any])
        XCTAssertEqual(target["name"] as? String, "billing")
        XCTAssertEqual(target["label"] as? String, "Billing admin")
        XCTAssertEqual(target["settings"] as? [String: String], ["role": "admin"])
    }

    func testDeescalateSendsTheStepOutputBack() throws {
        let s = strategy(path: "/grant")
        let outcome = Strategies.make(s).deescalate(Fixture.context(s, user: "alice", stepOutput: #"{"grant_id":"g-42"}"#))
        XCTAssertTrue(outcome.succeeded, outcome.error ?? "")
        let body = try XCTUnwrap(try logged().first?["body"] as? [String: Any])
        XCTAssertEqual(body["action"] as? String, "deescalate")
        XCTAssertEqual(body["step_output"] as? [String: String], ["grant_id": "g-42"])
    }

    func testServerErrorFailsWithStatusAndBody() {
        let s = strategy(path: "/fail")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertEqual(outcome.data["status"], .int(500))
        XCTAssertTrue(outcome.error?.contains("HTTP 500") ?? false, outcome.error ?? "")
        XCTAssertTrue(outcome.error?.contains("backend exploded") ?? false, outcome.error ?? "")
    }

    func testServerDownFailsClearlyAndSucceedsOnceItIsBack() throws {
        let s = strategy(path: "/grant")
        let samePort = port
        stopServer()
        let down = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(down.succeeded)
        XCTAssertTrue(down.error?.contains("connection refused") ?? false, down.error ?? "")

        try startServer(port: samePort)
        let up = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertTrue(up.succeeded, up.error ?? "")
    }

    func testRedirectIsNotFollowedAndIsNotSuccess() throws {
        let s = strategy(path: "/redirect")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertEqual(outcome.data["status"], .int(302))
        XCTAssertEqual(try logged().count, 1)
    }

    func testSlowServiceFailsAfterTheTimeout() {
        let s = strategy(path: "/slow", timeout: "1s")
        let started = Date()
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("timed out") ?? false, outcome.error ?? "")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.9)
    }

    func testCredentialsInTheURLStayOutOfErrorsAndAuditData() {
        var s = strategy(path: "/fail")
        s.settings["url"] = .string("http://user:s3cret@127.0.0.1:\(port)/fail?token=s3cret")
        let outcome = Strategies.make(s).escalate(Fixture.context(s, user: "alice"))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertFalse(outcome.error?.contains("s3cret") ?? true, outcome.error ?? "")
        XCTAssertFalse(outcome.data.compact.contains("s3cret"), outcome.data.compact)
    }

    func testCheckReadsTheUsersTheServiceReports() throws {
        let s = strategy(path: "/check")
        XCTAssertEqual(try Strategies.make(s).check(target: s.targets[0])?.get().users, ["alice", "bob"])
        XCTAssertEqual(try logged().first?["body"].flatMap { ($0 as? [String: Any])?["action"] as? String }, "check")
    }
}
