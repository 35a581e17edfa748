import Foundation
import XCTest
@testable import SymModel
import SymTestSupport

final class ConfigLocateAndLoadTests: XCTestCase {
    func testLocatePrefersExplicitPath() {
        let p = ConfigLoader.locate(explicit: "/x/c.json5", environment: ["SYMTUI_CONFIG": "/env.json5"], home: "/home/a", exists: { _ in true })
        XCTAssertEqual(p, "/x/c.json5")
    }

    func testLocateUsesSymtuiConfigEnvironmentEvenIfMissing() {
        let p = ConfigLoader.locate(explicit: nil, environment: ["SYMTUI_CONFIG": "/env.json5"], home: "/home/a", exists: { _ in false })
        XCTAssertEqual(p, "/env.json5")
    }

    func testLocateUsesSystemPathWhenItExists() {
        let p = ConfigLoader.locate(explicit: nil, environment: [:], home: "/home/a", exists: { $0 == "/etc/symtui/config.json5" || $0.hasPrefix("/home") })
        XCTAssertEqual(p, "/etc/symtui/config.json5")
    }

    func testLocateUsesXDGConfigHome() {
        let p = ConfigLoader.locate(explicit: nil, environment: ["XDG_CONFIG_HOME": "/xdg"], home: "/home/a", exists: { $0.hasPrefix("/xdg") })
        XCTAssertEqual(p, "/xdg/symtui/config.json5")
    }

    func testLocateDefaultsToDotConfigUnderHome() {
        let p = ConfigLoader.locate(explicit: nil, environment: [:], home: "/home/a", exists: { $0.hasPrefix("/home/a") })
        XCTAssertEqual(p, "/home/a/.config/symtui/config.json5")
    }

    func testLocateReturnsNilWhenNoFileExists() {
        XCTAssertNil(ConfigLoader.locate(explicit: nil, environment: [:], home: "/home/a", exists: { _ in false }))
    }

    func testLoadOfMissingFileIsNotFound() {
        XCTAssertThrowsError(try ConfigLoader.load(path: "/nonexistent/symtui.json5")) { error in
            let e = error as? ConfigError
            XCTAssertEqual(e?.kind, .notFound)
            XCTAssertEqual(e?.exitCode, 66)
            XCTAssertEqual(e?.problems.first?.file, "/nonexistent/symtui.json5")
        }
    }

    func testLoadOfDirectoryIsUnreadable() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertThrowsError(try ConfigLoader.load(path: dir)) { error in
            XCTAssertEqual((error as? ConfigError)?.kind, .unreadable)
            XCTAssertEqual((error as? ConfigError)?.exitCode, 74)
        }
    }

    func testLoadOfInvalidFileIsInvalidWithExitCode65() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/c.json5"
        try "{ flows: 3 }".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ConfigLoader.load(path: path)) { error in
            XCTAssertEqual((error as? ConfigError)?.kind, .invalid)
            XCTAssertEqual((error as? ConfigError)?.exitCode, 65)
        }
    }

    func testLoadResolvesRelativeImplementationAgainstConfigDirectory() throws {
        let dir = try temporaryDirectory(self)
        try "def get_approvers(event):\n    return []\n".write(toFile: dir + "/impl.py", atomically: true, encoding: .utf8)
        let text = ConfigText.with(flows: [#"{ name: "f", strategy: "s", implementation: "impl.py" }"#])
        try text.write(toFile: dir + "/c.json5", atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(path: dir + "/c.json5")
        XCTAssertEqual(config.flows.first?.implementation, dir + "/impl.py")
        XCTAssertEqual(config.sourcePath, dir + "/c.json5")
    }

    func testStarterConfigLoads() {
        let config = assertValid(StarterConfig.text)
        XCTAssertEqual(config?.flows.count, 2)
        XCTAssertEqual(config?.flows.filter(\.isApprovalOnly).count, 1)
    }

    func testSpecExampleLoads() throws {
        let dir = try temporaryDirectory(self)
        try "@reducer\ndef get_approvers(event): pass\n".write(toFile: dir + "/prod.py", atomically: true, encoding: .utf8)
        try "".write(toFile: dir + "/jobs.py", atomically: true, encoding: .utf8)
        let text = """
        {
          store: "/var/lib/symtui/symtui.db",
          socket: "/run/symtui/symtui.sock",
          store_group: "symtui", store_mode: "0640",
          strategies: [
            { name: "prod-groups", type: "unix_group",
              targets: [ { name: "prod-ssh", label: "Production SSH", settings: { group: "prod-ssh" } } ] },
            { name: "db", type: "command",
              settings: { escalate: "/usr/local/libexec/db-grant", deescalate: "/usr/local/libexec/db-revoke",
                          check: "/usr/local/libexec/db-check", timeout: "30s" },
              targets: [ { name: "orders-rw", label: "orders DB read-write", settings: { role: "orders_rw" } } ] },
          ],
          flows: [
            { name: "prod-access", label: "Production access", strategy: "prod-groups",
              approvers: { groups: ["oncall"], users: ["alice"] },
              required_approvals: 1, allow_self_approval: false, allow_revoke: true, schedule_deescalation: true,
              request_ttl: "1h", max_duration: "8h",
              prompt_fields: [
                { name: "reason",   type: "string",   label: "Why?", required: true },
                { name: "duration", type: "duration", allowed_values: ["15m", "1h", "4h"], default: "1h" },
              ],
              implementation: "prod.py",
              vars: { team: "sre" } },
            { name: "run-reindex", label: "Run the nightly reindex now",
              approvers: { groups: ["dba"] },
              prompt_fields: [ { name: "reason", type: "string", required: true } ],
              implementation: "jobs.py" },
          ],
          reporting: { destinations: [ { type: "jsonl", path: "/var/log/symtui/audit.jsonl" },
                                       { type: "syslog" }, { type: "http", url: "http://127.0.0.1:9000/audit" } ] },
        }
        """
        guard let config = assertValid(text, base: dir) else { return }
        XCTAssertEqual(config.storeMode, 0o640)
        XCTAssertEqual(config.storeGroup, "symtui")
        XCTAssertEqual(config.strategies.map(\.type), [.unixGroup, .command])
        XCTAssertEqual(config.flow(named: "prod-access")?.maxDuration, TimeSpan(seconds: 8 * 3600))
        XCTAssertEqual(config.flow(named: "prod-access")?.field(named: "duration")?.defaultValue, .duration(TimeSpan(seconds: 3600)))
        XCTAssertEqual(config.flow(named: "prod-access")?.vars["team"], .string("sre"))
        XCTAssertTrue(config.flow(named: "run-reindex")?.isApprovalOnly ?? false)
        XCTAssertEqual(config.reporting.destinations.map(\.type), ["jsonl", "syslog", "http"])
    }
}

final class ConfigProblemTests: XCTestCase {
    func testSyntaxErrorIsOneProblemWithItsLine() {
        let found = problems("{\n  flows: [\n    { name: \"f\" \n    name2: 1 }\n  ]\n}")
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.line, 4)
        XCTAssertTrue(found.first?.message.contains("not valid JSON5") ?? false)
    }

    func testProblemDescriptionIsFileLinePathMessage() {
        let p = ConfigProblem(file: "c.json5", path: "flows[0].name", line: 3, message: "bad")
        XCTAssertEqual(p.description, "c.json5:3: flows[0].name: bad")
    }

    func testProblemDescriptionOmitsUnknownLineAndPath() {
        XCTAssertEqual(ConfigProblem(file: "c.json5", path: "", line: nil, message: "bad").description, "c.json5: bad")
    }

    func testProblemCarriesJSONPathAndLineOfTheValue() {
        let text = ConfigText.fields("""
        { name: "a", type: "string" },
        { name: "b", type: "int",
          default: "x" }
        """)
        let p = problems(text).first { $0.path == "flows[0].prompt_fields[1].default" }
        XCTAssertNotNil(p)
        let expectedLine = text.components(separatedBy: "\n").firstIndex { $0.contains("default: \"x\"") }.map { $0 + 1 }
        XCTAssertEqual(p?.line, expectedLine)
        XCTAssertEqual(p?.file, "test.json5")
    }

    func testMissingKeyProblemPointsAtItsObjectLine() {
        let text = "{\n flows: [\n  { label: \"x\", strategy: \"s\" }\n ]\n}"
        let p = problems(text).first { $0.message.contains("needs 'name'") }
        XCTAssertEqual(p?.path, "flows[0]")
        XCTAssertEqual(p?.line, 3)
    }

    func testAllProblemsAreReportedAtOnce() {
        let text = ConfigText.with(flows: [
            #"{ name: "a", strategy: "nope", approvers: { users: ["alice"] }, request_ttl: "soon" }"#,
            #"{ name: "a", approvers: { users: ["alice"] }, max_duration: "1h", colour: "red" }"#,
        ])
        let found = problems(text)
        XCTAssertGreaterThanOrEqual(found.count, 5, found.map(\.description).joined(separator: "\n"))
    }

    func testProblemsAreListedInFileOrder() {
        let text = "{\n flows: [\n  { name: \"f\", strategy: \"s\",\n    approvers: { users: [\"a\"] },\n    request_ttl: \"x\" },\n ],\n store: 5,\n}"
        let lines = problems(text).compactMap(\.line)
        XCTAssertEqual(lines, lines.sorted())
        XCTAssertGreaterThanOrEqual(lines.count, 3)
    }

    func testConfigErrorDescriptionHasOneLinePerProblem() {
        guard case let .failure(e) = parseConfig("{ store: 1, socket: 2 }") else { return XCTFail() }
        XCTAssertEqual(e.description.split(separator: "\n").count, e.problems.count)
        XCTAssertTrue(e.description.hasPrefix("test.json5:1: "))
    }

    func testMutatedConfigsNeverCrash() {
        // Deterministic mutations of a valid config: deleting, duplicating or swapping one byte.
        let bytes = Array(StarterConfig.text.utf8)
        var seed: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Int { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return Int(seed % UInt64(bytes.count)) }
        let junk: [UInt8] = Array("{}[]:,\"'/*\\0x-e9 \n".utf8)
        for i in 0..<1500 {
            var b = bytes
            let at = next()
            switch i % 3 {
            case 0: b.remove(at: at)
            case 1: b.insert(junk[i % junk.count], at: at)
            default: b[at] = junk[(i / 3) % junk.count]
            }
            _ = parseConfig(String(decoding: b, as: UTF8.self))
        }
    }

    func testUnknownKeySuggestsTheClosestKnownKey() {
        assertProblem(ConfigText.flow(#"max_duraton: "1h""#), "did you mean 'max_duration'?", path: "flows[0].max_duraton")
    }

    func testUnknownTopLevelKeyIsRejected() {
        assertProblem(ConfigText.with(extra: "flow: []"), "unknown key 'flow'")
    }

    func testWrongJSONTypeIsNamed() {
        assertProblem(ConfigText.flow("required_approvals: \"two\""), "expected a whole number, found a string")
        assertProblem("{ flows: \"x\" }", "expected an array, found a string", path: "flows")
    }

    func testDocumentMustBeAnObject() {
        assertProblem("[1, 2]", "expected an object, found an array", path: "")
    }

    func testConfigWithoutFlowsIsRejected() {
        assertProblem("{}", "no flows are defined")
    }

    func testDeepNestingDoesNotCrash() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        XCTAssertFalse(problems("{ flows: \(deep) }").isEmpty)
        let vars = String(repeating: "{a:", count: 150) + "1" + String(repeating: "}", count: 150)
        assertValid(ConfigText.flow("vars: \(vars)"))
    }

    func testHugeNumbersDoNotCrash() {
        assertProblem(ConfigText.flow("required_approvals: 1e400"), "is too large")
        assertProblem(ConfigText.flow("required_approvals: 99999999999999999999999"), "must be between 1 and 1000")
        assertProblem(ConfigText.flow("required_approvals: 1.5"), "expected a whole number")
        assertProblem(ConfigText.flow("required_approvals: -9223372036854775808"), "must be between 1 and")
        assertProblem(ConfigText.with(extra: "store_mode: 99999999999999999999"), "not an octal file mode")
    }

    func testWrongTypesEverywhereAreAllReported() {
        let text = """
        { store: 1, socket: [], store_group: {}, store_mode: true, reporting: 3,
          strategies: [ 1, { name: 2, type: [], settings: "x", targets: {} } ],
          flows: [ null, { name: true, label: 1, strategy: 2, approvers: [], approval_steps: {}, required_approvals: "1",
                           allow_self_approval: "no", allow_revoke: 1, schedule_deescalation: null, request_ttl: 60,
                           max_duration: false, prompt_fields: {}, implementation: 3, handler_timeout: [], vars: [],
                           additional_header_text: 5 } ] }
        """
        let found = problems(text)
        XCTAssertGreaterThanOrEqual(found.count, 20, found.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(found.allSatisfy { $0.line != nil })
    }

    func testStoreModeStringIsOctal() {
        XCTAssertEqual(assertValid(ConfigText.with(extra: #"store_mode: "0600""#))?.storeMode, 0o600)
    }

    func testStoreModeNumberIsReadAsOctalDigits() {
        XCTAssertEqual(assertValid(ConfigText.with(extra: "store_mode: 640"))?.storeMode, 0o640)
    }

    func testStoreModeGrantingWriteToGroupIsRejected() {
        assertProblem(ConfigText.with(extra: #"store_mode: "0664""#), "lets group or others write")
    }

    func testStoreModeAbove0777IsRejected() {
        assertProblem(ConfigText.with(extra: #"store_mode: "4644""#), "larger than 0777")
    }

    func testStoreModeWithNonOctalDigitIsRejected() {
        assertProblem(ConfigText.with(extra: #"store_mode: "0680""#), "not an octal file mode")
    }

    func testStoreModeMustLetOwnerWrite() {
        assertProblem(ConfigText.with(extra: #"store_mode: "0440""#), "owner (the daemon) read and write")
    }

    func testStoreGroupMustBeAValidUnixName() {
        assertProblem(ConfigText.with(extra: #"store_group: "sym tui""#), "not a valid Unix group name")
    }

    func testRelativeStorePathResolvesAgainstConfigDirectory() {
        XCTAssertEqual(assertValid(ConfigText.with(extra: #"store: "data/s.db""#), base: "/srv/sym")?.store, "/srv/sym/data/s.db")
    }

    func testTildeInStorePathIsRejected() {
        assertProblem(ConfigText.with(extra: #"store: "~/s.db""#), "'~' is not expanded")
    }
}

final class StrategyConfigTests: XCTestCase {
    func testDuplicateStrategyNamesAreRejected() {
        assertProblem(ConfigText.with(strategies: [ConfigText.strategy, ConfigText.strategy]), "duplicate strategy name 's'", path: "strategies[1].name")
    }

    func testDuplicateTargetNamesWithinAStrategyAreRejected() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "unix_group", targets: [ { name: "t", settings: { group: "g" } }, { name: "t", settings: { group: "h" } } ] }"#),
                      "duplicate target name 't'")
    }

    func testUnknownStrategyTypeSuggestsClosest() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "unixgroup", targets: [ { name: "t" } ] }"#), "did you mean 'unix_group'?")
    }

    func testStrategyWithoutTargetsIsRejected() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true" } }"#), "needs 'targets'")
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true" }, targets: [] }"#), "at least one target")
    }

    func testUnixGroupTargetNeedsGroup() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "unix_group", targets: [ { name: "t" } ] }"#), "needs settings.group", path: "strategies[0].targets[0]")
    }

    func testUnixGroupGroupMayComeFromStrategySettings() {
        assertValid(ConfigText.strategy(#"{ name: "s", type: "unix_group", settings: { group: "wheel" }, targets: [ { name: "t" } ] }"#))
    }

    func testUnixGroupRejectsInvalidGroupName() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "unix_group", targets: [ { name: "t", settings: { group: "a;b" } } ] }"#), "not a valid Unix group name")
    }

    func testSudoersTargetNeedsRule() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "sudoers", targets: [ { name: "t" } ] }"#), "needs settings.rule")
    }

    func testSudoersRuleWithLineBreakIsRejected() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "sudoers", targets: [ { name: "t", settings: { rule: "ALL=(ALL) ALL\nroot ALL" } } ] }"#), "must be one line")
    }

    func testSudoersRuleWithNULIsRejected() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "sudoers", targets: [ { name: "t", settings: { rule: "ALL\u0000" } } ] }"#), "NUL")
    }

    func testCommandNeedsEscalateAndDeescalate() {
        let text = ConfigText.strategy(#"{ name: "s", type: "command", targets: [ { name: "t" } ] }"#)
        assertProblem(text, "needs settings.escalate")
        assertProblem(text, "needs settings.deescalate")
    }

    func testCommandRelativeEscalateIsRejected() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "command", settings: { escalate: "grant", deescalate: "/bin/true" }, targets: [ { name: "t" } ] }"#),
                      "must be an absolute path", path: "strategies[0].settings.escalate")
    }

    func testCommandCheckMustBeAbsolute() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true", check: "bin/check" }, targets: [ { name: "t" } ] }"#),
                      "must be an absolute path")
    }

    func testCommandTimeoutMustBeADuration() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true", timeout: "30" }, targets: [ { name: "t" } ] }"#),
                      "is not a duration")
    }

    func testHttpStrategyNeedsURL() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "http", targets: [ { name: "t" } ] }"#), "needs settings.url")
    }

    func testHttpStrategyURLMustBeHttpOrHttps() {
        assertProblem(ConfigText.strategy(#"{ name: "s", type: "http", settings: { url: "ftp://x/y" }, targets: [ { name: "t" } ] }"#), "not an http:// or https:// URL")
    }

    func testTargetLabelDefaultsToItsName() {
        XCTAssertEqual(assertValid(ConfigText.with())?.strategies.first?.targets.first?.label, "t")
    }

    func testTargetSettingsOverrideIsKept() {
        let c = assertValid(ConfigText.strategy(#"{ name: "s", type: "unix_group", settings: { group: "a" }, targets: [ { name: "t", settings: { group: "b" } } ] }"#))
        XCTAssertEqual(c?.strategies.first?.targets.first?.settings["group"], .string("b"))
    }
}

final class NameConfigTests: XCTestCase {
    func testNameWithInvalidCharactersIsRejected() {
        assertProblem(ConfigText.with(flows: [#"{ name: "prod access", strategy: "s", approvers: { users: ["a"] } }"#]), "may only use letters, digits")
    }

    func testNameLongerThan64CharactersIsRejected() {
        let long = String(repeating: "x", count: 65)
        assertProblem(ConfigText.with(flows: [#"{ name: "\#(long)", strategy: "s", approvers: { users: ["a"] } }"#]), "longer than 64")
    }

    func testEmptyNameIsRejected() {
        assertProblem(ConfigText.with(flows: [#"{ name: "", strategy: "s", approvers: { users: ["a"] } }"#]), "must not be empty")
    }

    func testLabelWithControlCharactersIsRejected() {
        assertProblem(ConfigText.flow(#"label: "evil\u001b[2J""#), "control characters")
    }

    func testApproverUserNameMustBeValid() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { users: ["al ice"] } }"#]), "not a valid Unix user name")
    }
}

final class FlowConfigTests: XCTestCase {
    func testDuplicateFlowNamesAreRejected() {
        assertProblem(ConfigText.with(flows: [ConfigText.flow, ConfigText.flow]), "duplicate flow name 'f'", path: "flows[1].name")
    }

    func testFlowStrategyMustNameAnExistingStrategy() {
        assertProblem(ConfigText.flow("", strategy: "ss"), "did you mean 's'?", path: "flows[0].strategy")
    }

    func testFlowDefaultsMatchTheSpec() {
        guard let f = assertValid(ConfigText.with())?.flows.first else { return }
        XCTAssertEqual(f.label, "f")
        XCTAssertEqual(f.requiredApprovals, 1)
        XCTAssertFalse(f.allowSelfApproval)
        XCTAssertTrue(f.allowRevoke)
        XCTAssertTrue(f.scheduleDeescalation)
        XCTAssertEqual(f.requestTTL, TimeSpan(seconds: 3600))
        XCTAssertEqual(f.handlerTimeout, TimeSpan(seconds: 10))
        XCTAssertNil(f.maxDuration)
    }

    func testApprovalOnlyFlowWithMaxDurationIsRejected() {
        assertProblem(ConfigText.flow(#"max_duration: "1h""#, strategy: nil), "approval-only flow (no strategy) cannot have max_duration")
    }

    func testApprovalOnlyFlowWithDurationFieldIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "duration", type: "duration" }"#, strategy: nil), "cannot have a 'duration' field")
    }

    func testApprovalOnlyFlowGetsNoDurationField() {
        XCTAssertNil(assertValid(ConfigText.flow("", strategy: nil))?.flows.first?.field(named: "duration"))
    }

    func testAccessFlowGetsTheDefaultDurationField() {
        let field = assertValid(ConfigText.with())?.flows.first?.field(named: "duration")
        XCTAssertEqual(field?.type, .duration)
        XCTAssertEqual(field?.allowedValues, [1800, 3600, 14400].map { .duration(TimeSpan(seconds: $0)) })
        XCTAssertEqual(field?.defaultValue, .duration(TimeSpan(seconds: 3600)))
    }

    func testAddedDurationFieldDropsValuesAboveMaxDuration() {
        let field = assertValid(ConfigText.flow(#"max_duration: "45m""#))?.flows.first?.field(named: "duration")
        XCTAssertEqual(field?.allowedValues, [.duration(TimeSpan(seconds: 1800))])
        XCTAssertEqual(field?.defaultValue, .duration(TimeSpan(seconds: 1800)))
    }

    func testAddedDurationFieldUsesMaxDurationWhenItIsShorterThanAllChoices() {
        let field = assertValid(ConfigText.flow(#"max_duration: "10m""#))?.flows.first?.field(named: "duration")
        XCTAssertEqual(field?.allowedValues, [.duration(TimeSpan(seconds: 600))])
        XCTAssertEqual(field?.defaultValue, .duration(TimeSpan(seconds: 600)))
    }

    func testAccessFlowWithoutScheduledDeescalationGetsNoDurationField() {
        XCTAssertNil(assertValid(ConfigText.flow("schedule_deescalation: false"))?.flows.first?.field(named: "duration"))
    }

    func testRevokeAndScheduledDeescalationBothOffIsRejected() {
        assertProblem(ConfigText.flow("allow_revoke: false, schedule_deescalation: false"), "at least one of allow_revoke and schedule_deescalation")
    }

    func testRequiredApprovalsBelowOneIsRejected() {
        assertProblem(ConfigText.flow("required_approvals: 0"), "must be between 1 and", path: "flows[0].required_approvals")
    }

    func testRequiredApprovalsMoreThanNamedUsersIsRejected() {
        assertProblem(ConfigText.flow("required_approvals: 2"), "names only 1 user")
    }

    func testRequiredApprovalsWithGroupsIsAccepted() {
        assertValid(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { groups: ["ops"] }, required_approvals: 3 }"#]))
    }

    func testApproversAndApprovalStepsTogetherAreRejected() {
        assertProblem(ConfigText.flow(#"approval_steps: [ { name: "a", users: ["bob"] } ]"#), "either approvers or approval_steps, not both")
    }

    func testFlowWithoutApproversIsRejected() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s" }"#]), "names no approvers")
    }

    func testEmptyApproversAreRejected() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { users: [], groups: [] } }"#]), "approvers is empty")
    }

    func testEmptyApproversAreAllowedWhenImplementationDefinesGetApprovers() throws {
        let dir = try temporaryDirectory(self)
        try "from symtui_sdk import reducer\n\n@reducer\ndef get_approvers(event):\n    return ['bob']\n".write(toFile: dir + "/h.py", atomically: true, encoding: .utf8)
        assertValid(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: {}, implementation: "h.py" }"#]), base: dir)
        assertValid(ConfigText.with(flows: [#"{ name: "f", strategy: "s", implementation: "h.py" }"#]), base: dir)
    }

    func testReducerNamedGetApproversCountsAsDefiningIt() {
        XCTAssertTrue(ConfigValidation.definesGetApprovers("@reducer(\"get_approvers\")\ndef pick(e): pass"))
        XCTAssertFalse(ConfigValidation.definesGetApprovers("def get_approvers_old(e): pass"))
    }

    func testMissingImplementationFileIsRejected() {
        assertProblem(ConfigText.flow(#"implementation: "/nonexistent/impl.py""#), "implementation file '/nonexistent/impl.py' does not exist")
    }

    func testRelativeImplementationResolvesAgainstTheConfigDirectory() throws {
        let dir = try temporaryDirectory(self)
        try "".write(toFile: dir + "/impl.py", atomically: true, encoding: .utf8)
        XCTAssertEqual(assertValid(ConfigText.flow(#"implementation: "impl.py""#), base: dir)?.flows.first?.implementation, dir + "/impl.py")
        assertProblem(ConfigText.flow(#"implementation: "other.py""#), "does not exist", base: dir)
    }

    func testApprovalStepsAreLoaded() {
        let c = assertValid(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approval_steps: [ { name: "lead", users: ["a", "b"], required: 2 }, { name: "sec", groups: ["security"] } ] }"#]))
        XCTAssertEqual(c?.flows.first?.approvalSteps, [
            ApprovalStep(name: "lead", approvers: Approvers(users: ["a", "b"]), required: 2),
            ApprovalStep(name: "sec", approvers: Approvers(groups: ["security"]), required: 1),
        ])
        XCTAssertEqual(c?.flows.first?.requiredApprovals, 3)
    }

    func testApprovalStepRequiredBelowOneIsRejected() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approval_steps: [ { name: "a", groups: ["g"], required: 0 } ] }"#]), "must be between 1 and")
    }

    func testApprovalStepNamesMustBeUnique() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approval_steps: [ { name: "a", groups: ["g"] }, { name: "a", groups: ["h"] } ] }"#]), "duplicate approval step name 'a'")
    }

    func testApprovalStepWithoutUsersOrGroupsIsRejected() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approval_steps: [ { name: "a" } ] }"#]), "names no users or groups")
    }

    func testRequiredApprovalsWithApprovalStepsIsRejected() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", required_approvals: 2, approval_steps: [ { name: "a", groups: ["g"] } ] }"#]), "does not apply with approval_steps")
    }

    func testRequestTTLMustBeADuration() {
        assertProblem(ConfigText.flow(#"request_ttl: "an hour""#), "is not a duration", path: "flows[0].request_ttl")
    }

    func testHandlerTimeoutMustBeADuration() {
        assertProblem(ConfigText.flow(#"handler_timeout: "10""#), "is not a duration", path: "flows[0].handler_timeout")
    }

    func testMaxDurationMustBeADuration() {
        assertProblem(ConfigText.flow(#"max_duration: "1w""#), "is not a duration", path: "flows[0].max_duration")
    }

    func testAdditionalHeaderTextMayHaveLineBreaks() {
        XCTAssertEqual(assertValid(ConfigText.flow(#"additional_header_text: "line one\nline two""#))?.flows.first?.additionalHeaderText, "line one\nline two")
    }
}

final class FieldConfigTests: XCTestCase {
    func testFieldDefaultsMatchTheSpec() {
        let f = assertValid(ConfigText.fields(#"{ name: "reason", type: "string" }"#))?.flows.first?.field(named: "reason")
        XCTAssertEqual(f?.required, true)
        XCTAssertEqual(f?.visible, true)
        XCTAssertEqual(f?.prefetch, false)
        XCTAssertEqual(f?.label, "reason")
    }

    func testDuplicateFieldNamesAreRejected() {
        assertProblem(ConfigText.fields(#"{ name: "a", type: "string" }, { name: "a", type: "int" }"#), "duplicate field name 'a'")
    }

    func testUnknownFieldTypeSuggestsClosest() {
        assertProblem(ConfigText.fields(#"{ name: "a", type: "strlist" }"#), "did you mean 'str_list'?")
    }

    func testFieldWithoutTypeIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "a" }"#), "a prompt field needs 'type'")
    }

    func testDefaultOnListFieldIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "a", type: "str_list", default: "x" }"#), "a str_list field cannot have a default")
    }

    func testDefaultOnUserFieldIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "a", type: "user", default: "root" }"#), "a user field cannot have a default")
    }

    func testAllowedValuesOnUserFieldIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "a", type: "user_list", allowed_values: ["root"] }"#), "cannot have allowed_values")
    }

    func testAllowedValueMustParseAsTheFieldType() {
        assertProblem(ConfigText.fields(#"{ name: "n", type: "int", allowed_values: [1, "two"] }"#), "is not a valid int", path: "flows[0].prompt_fields[0].allowed_values[1]")
    }

    func testDefaultMustParseAsTheFieldType() {
        assertProblem(ConfigText.fields(#"{ name: "b", type: "bool", default: "maybe" }"#), "is not a valid bool")
    }

    func testDefaultMustBeOneOfAllowedValues() {
        assertProblem(ConfigText.fields(#"{ name: "env", type: "string", allowed_values: ["dev", "prod"], default: "test" }"#), "is not one of allowed_values")
    }

    func testEmptyAllowedValuesIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "env", type: "string", allowed_values: [] }"#), "must not be empty")
    }

    func testDuplicateAllowedValueIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "env", type: "string", allowed_values: ["a", "a"] }"#), "appears twice")
    }

    func testDurationAllowedValueAboveMaxDurationIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "duration", type: "duration", allowed_values: ["1h", "1d"] }"#, flowKeys: #"max_duration: "8h""#),
                      "longer than the flow's max_duration")
    }

    func testDurationDefaultAboveMaxDurationIsRejected() {
        assertProblem(ConfigText.fields(#"{ name: "duration", type: "duration", default: "9h" }"#, flowKeys: #"max_duration: "8h""#),
                      "longer than the flow's max_duration", path: "flows[0].prompt_fields[0].default")
    }

    func testFieldNamedDurationMustHaveDurationType() {
        assertProblem(ConfigText.fields(#"{ name: "duration", type: "int" }"#), "must have type duration")
    }

    func testListAllowedValuesAreElementValues() {
        let f = assertValid(ConfigText.fields(#"{ name: "dbs", type: "str_list", allowed_values: ["a", "b"] }"#))?.flows.first?.field(named: "dbs")
        XCTAssertEqual(f?.allowedValues, [.string("a"), .string("b")])
    }

    func testTypedDefaultsAreParsed() {
        let c = assertValid(ConfigText.fields(#"{ name: "n", type: "int", default: 3 }, { name: "b", type: "bool", default: false }, { name: "duration", type: "duration", default: "2h" }"#))
        XCTAssertEqual(c?.flows.first?.field(named: "n")?.defaultValue, .int(3))
        XCTAssertEqual(c?.flows.first?.field(named: "b")?.defaultValue, .bool(false))
        XCTAssertEqual(c?.flows.first?.field(named: "duration")?.defaultValue, .duration(TimeSpan(seconds: 7200)))
    }

    func testPrefetchFieldNeedsAnImplementation() {
        assertProblem(ConfigText.fields(#"{ name: "db", type: "string", prefetch: true }"#), "prefetch needs an implementation file")
    }

    func testPrefetchFieldNeedsItsHandlerInTheImplementation() throws {
        let dir = try temporaryDirectory(self)
        try "@prefetch(\"other\")\ndef f(e): pass\n".write(toFile: dir + "/h.py", atomically: true, encoding: .utf8)
        assertProblem(ConfigText.fields(#"{ name: "db", type: "string", prefetch: true }"#, flowKeys: #"implementation: "h.py""#),
                      "defines no @prefetch(\"db\") handler", base: dir)
    }

    func testPrefetchFieldWithItsHandlerLoads() throws {
        let dir = try temporaryDirectory(self)
        try "@prefetch('db')\ndef dbs(e): return []\n".write(toFile: dir + "/h.py", atomically: true, encoding: .utf8)
        let f = assertValid(ConfigText.fields(#"{ name: "db", type: "string", prefetch: true }"#, flowKeys: #"implementation: "h.py""#), base: dir)
        XCTAssertEqual(f?.flows.first?.field(named: "db")?.prefetch, true)
    }

    func testPrefetchWithAllowedValuesIsRejected() throws {
        let dir = try temporaryDirectory(self)
        try "@prefetch('db')\ndef dbs(e): return []\n".write(toFile: dir + "/h.py", atomically: true, encoding: .utf8)
        assertProblem(ConfigText.fields(#"{ name: "db", type: "string", prefetch: true, allowed_values: ["a"] }"#, flowKeys: #"implementation: "h.py""#),
                      "remove allowed_values", base: dir)
    }
}

final class ReportingConfigTests: XCTestCase {
    func testDestinationsLoadWithDefaults() {
        let c = assertValid(ConfigText.with(extra: #"reporting: { destinations: [ { type: "syslog" }, { type: "jsonl", path: "audit.jsonl" }, { type: "http", url: "https://x/a", headers: { Authorization: "Bearer t" }, batch_size: 50 }, { type: "command", path: "/usr/bin/logger", args: ["-t", "sym"] } ] }"#), base: "/srv")
        let d = c?.reporting.destinations ?? []
        XCTAssertEqual(d.map(\.type), ["syslog", "jsonl", "http", "command"])
        XCTAssertEqual(d.first?.settings["socket"], .string("/dev/log"))
        XCTAssertEqual(d.first?.settings["app_name"], .string("symtui"))
        XCTAssertEqual(d.dropFirst().first?.settings["path"], .string("/srv/audit.jsonl"))
        XCTAssertEqual(d.dropFirst(2).first?.settings["batch_size"], .int(50))
    }

    func testHMACKeyFileIsAPathResolvedNextToTheConfig() {
        let c = assertValid(ConfigText.with(extra: #"reporting: { hmac_key_file: "keys/audit.key" }"#), base: "/srv")
        XCTAssertEqual(c?.reporting.hmacKeyFile, "/srv/keys/audit.key")
        XCTAssertEqual(c?.reporting.destinations.count, 0)
        XCTAssertNil(assertValid(ConfigText.with())?.reporting.hmacKeyFile, "not signed unless asked")
    }

    func testAnEmptyHMACKeyFileIsAProblem() {
        assertProblem(ConfigText.with(extra: #"reporting: { hmac_key_file: "" }"#), "must not be empty", path: "reporting.hmac_key_file")
    }

    func testUnknownDestinationTypeSuggestsClosest() {
        assertProblem(ConfigText.with(extra: #"reporting: { destinations: [ { type: "sylog" } ] }"#), "did you mean 'syslog'?")
    }

    func testJsonlDestinationNeedsPath() {
        assertProblem(ConfigText.with(extra: #"reporting: { destinations: [ { type: "jsonl" } ] }"#), "a jsonl destination needs 'path'")
    }

    func testDestinationRejectsKeysOfAnotherType() {
        assertProblem(ConfigText.with(extra: #"reporting: { destinations: [ { type: "http", url: "http://x/", path: "/tmp/x" } ] }"#), "unknown key 'path' in a http destination")
    }

    func testCommandDestinationNeedsAbsolutePath() {
        assertProblem(ConfigText.with(extra: #"reporting: { destinations: [ { type: "command", path: "logger" } ] }"#), "must be an absolute path")
    }

    func testHttpDestinationBatchSizeMustBePositive() {
        assertProblem(ConfigText.with(extra: #"reporting: { destinations: [ { type: "http", url: "http://x/", batch_size: 0 } ] }"#), "must be between 1 and")
    }

    func testHttpDestinationURLMustBeHttp() {
        assertProblem(ConfigText.with(extra: #"reporting: { destinations: [ { type: "http", url: "file:///etc/passwd" } ] }"#), "not an http:// or https:// URL")
    }
}

/// Runs Tests/Fixtures/bad-configs: each file starts `// expect: FRAGMENT` and must fail with a problem containing it.
final class BadConfigCorpusTests: XCTestCase {
    func testEveryBadConfigIsInvalidWithItsExpectedProblem() throws {
        let dir = fixturesDirectory.appendingPathComponent("bad-configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json5") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 45)
        for name in files {
            let path = dir.appendingPathComponent(name).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let first = text.split(separator: "\n").first, first.hasPrefix("// expect: ") else {
                XCTFail("\(name): first line must be `// expect: <fragment>`"); continue
            }
            let expect = String(first.dropFirst("// expect: ".count))
            do {
                _ = try ConfigLoader.load(path: path)
                XCTFail("\(name): loaded, expected a problem containing '\(expect)'")
            } catch let error as ConfigError {
                XCTAssertEqual(error.kind, .invalid, name)
                XCTAssertTrue(error.problems.contains { $0.message.contains(expect) && $0.file == path },
                              "\(name): no problem contains '\(expect)':\n\(error)")
                XCTAssertTrue(error.problems.allSatisfy { $0.line != nil }, "\(name): a problem has no line:\n\(error)")
            }
        }
    }
}
