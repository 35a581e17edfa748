import Foundation
import XCTest
@testable import SymModel

/// `symtui import sym-terraform`: Sym's Terraform fixtures become the config a person would write, and it validates.
final class SymTerraformTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/sym-terraform").path

    private func importFixture(_ name: String) throws -> SymTerraform.Result {
        let (directory, files) = try SymTerraform.sources(at: Self.fixtures + "/" + name)
        return try SymTerraform.translate(files: files, moduleDirectory: directory)
    }

    private func check(_ result: SymTerraform.Result) -> Swift.Result<Config, ConfigError> {
        ConfigLoader.parse(text: result.config, path: "imported.json5", baseDirectory: NSTemporaryDirectory())
    }

    private func config(_ name: String) throws -> Config {
        switch check(try importFixture(name)) {
        case let .success(config): return config
        case let .failure(error): XCTFail("\(name): \(error)"); throw error
        }
    }

    private static func translate(_ text: String) throws -> SymTerraform.Result {
        try SymTerraform.translate(files: [("main.tf", text)], moduleDirectory: "/m")
    }

    // MARK: v2 (params block, prompt_field blocks)

    func testV2AccessFlowPassesConfigCheck() throws {
        let config = try config("okta-access-v2")
        XCTAssertEqual(config.flows.map(\.name), ["okta-access"])
        XCTAssertEqual(config.strategies.map(\.name), ["prod-okta-groups"])
    }

    func testV2PromptFieldBlocksBecomePromptFields() throws {
        let flow = try XCTUnwrap(try config("okta-access-v2").flows.first)
        XCTAssertEqual(flow.promptFields.map(\.name), ["reason", "urgency", "duration"])
        XCTAssertEqual(flow.promptFields[0].label, "Why do you need access?")
        XCTAssertEqual(flow.promptFields[1].allowedValues?.count, 2)
        XCTAssertEqual(flow.promptFields[2].type, .duration)
    }

    func testLocalsVariablesAndHeredocsAreResolved() throws {
        let flow = try XCTUnwrap(try config("okta-access-v2").flows.first)
        XCTAssertEqual(flow.label, "Okta prod access")
        XCTAssertEqual(flow.vars["team"], .string("payments"))
        XCTAssertEqual(flow.additionalHeaderText, "Access is logged.\nSay which ticket this is for.\n")
    }

    func testImplementationIsTheAbsolutePathOfImplPy() throws {
        let flow = try XCTUnwrap(try config("okta-access-v2").flows.first)
        XCTAssertEqual(flow.implementation, Self.fixtures + "/okta-access-v2/impl.py")
    }

    func testAFlowWhoseImplementationDefinesGetApproversGetsNoApproversKey() throws {
        XCTAssertFalse(try importFixture("okta-access-v2").config.contains("approvers:"))
    }

    func testSymTargetsKeepNameLabelAndSettingsUnderACommandStrategy() throws {
        let strategy = try XCTUnwrap(try config("okta-access-v2").strategies.first)
        XCTAssertEqual(strategy.type, .command)
        XCTAssertEqual(strategy.targets.map(\.name), ["billing-admins", "support_readonly"])
        XCTAssertEqual(strategy.targets[0].label, "Billing admins")
        XCTAssertEqual(strategy.targets[0].settings["group_id"], .string("00g1billing"))
        XCTAssertEqual(strategy.settings["escalate"], .string("/usr/local/libexec/symtui/prod-okta-groups-escalate"))
    }

    func testSlackOktaAndTheEnvironmentAreNamedAsNotTranslated() throws {
        let result = try importFixture("okta-access-v2")
        for address in ["sym_integration.slack", "sym_integration.okta", "sym_environment.this"] {
            XCTAssertTrue(result.config.contains("//   - " + address), address)
            XCTAssertTrue(result.summary.contains { $0.hasPrefix("not translated: " + address) }, address)
        }
        XCTAssertEqual(result.untranslated, 3)
    }

    func testTheStrategyCommentSaysWhatToWrite() throws {
        let text = try importFixture("okta-access-v2").config
        XCTAssertTrue(text.contains("// sym_strategy.okta: Sym's okta strategy — SymTUI cannot grant okta access itself."))
        XCTAssertTrue(text.contains("Sym granted it through sym_integration.okta."))
    }

    // MARK: v1 (params map, prompt_fields_json)

    func testV1PromptFieldsJsonBecomesPromptFields() throws {
        let result = try importFixture("approval-and-sso-v1.tf")
        guard case let .failure(error) = check(result) else { return XCTFail("aws-prod has no approvers yet") }
        // Says exactly why it does not pass: the one flow whose approvers Sym took from Slack.
        XCTAssertEqual(error.problems.count, 1)
        XCTAssertTrue(error.problems[0].path.hasPrefix("flows[0].approvers"), error.description)
        XCTAssertTrue(result.summary.contains("flow aws-prod: name its approvers (users or groups) — Sym routed them through Slack"))
    }

    func testV1ConfigPassesOnceApproversAreNamed() throws {
        let text = try importFixture("approval-and-sso-v1.tf").config
            .replacingOccurrences(of: "approvers: { users: [], groups: [] }", with: "approvers: { groups: [\"sre\"] }")
        guard case let .success(config) = ConfigLoader.parse(text: text, path: "x", baseDirectory: "/") else { return XCTFail(text) }
        let sso = try XCTUnwrap(config.flow(named: "aws-prod"))
        XCTAssertEqual(sso.promptFields.map(\.name), ["reason", "duration"])
        XCTAssertEqual(sso.promptFields[1].defaultValue?.json, .string("15m"))
        XCTAssertEqual(config.strategies.map(\.name), ["aws-sso", "runbooks"])
        XCTAssertEqual(config.strategy(named: "aws-sso")?.targets.first?.settings["account_id"], .string("123456789012"))
        XCTAssertEqual(config.flow(named: "restart")?.allowRevoke, false)
    }

    func testNoStrategyIdMeansApprovalOnlyWithoutADurationField() throws {
        let result = try importFixture("approval-and-sso-v1.tf")
        let text = result.config.replacingOccurrences(of: "approvers: { users: [], groups: [] }", with: "approvers: { groups: [\"sre\"] }")
        guard case let .success(config) = ConfigLoader.parse(text: text, path: "x", baseDirectory: "/") else { return XCTFail(text) }
        let deploy = try XCTUnwrap(config.flow(named: "deploy-freeze-override"))
        XCTAssertTrue(deploy.isApprovalOnly)
        XCTAssertEqual(deploy.promptFields.map(\.name), ["service", "change_count"])
        XCTAssertTrue(result.summary.contains { $0.contains("sym_flow.deploy: prompt field duration dropped") })
    }

    func testFileFunctionGivesTheImplementationPath() throws {
        let text = try importFixture("approval-and-sso-v1.tf").config
        XCTAssertTrue(text.contains("implementation: \"" + Self.fixtures + "/deploy_impl.py\""))
    }

    func testStrategySettingsWithoutEquivalentAreNamed() throws {
        let result = try importFixture("approval-and-sso-v1.tf")
        XCTAssertTrue(result.summary.contains { $0.contains("sym_strategy.sso") && $0.contains("instance_arn") })
    }

    // MARK: small inputs

    func testFilesWithoutSymResourcesAreRefused() {
        XCTAssertThrowsError(try Self.translate("resource \"aws_iam_role\" \"r\" {\n  name = \"x\"\n}\n")) { error in
            XCTAssertEqual((error as? SymTerraformError)?.exitCode, 65)
        }
    }

    func testAFlowWithAStrategyOutsideTheFilesIsSkippedAndNamed() throws {
        let result = try Self.translate("""
        resource "sym_target" "t" {
          type = "okta_group"
          label = "T"
        }
        resource "sym_flow" "f" {
          name = "f"
          params = { strategy_id = module.other.strategy_id }
        }
        """)
        XCTAssertEqual(result.flows, 0)
        XCTAssertTrue(result.summary.contains { $0.contains("sym_flow.f") && $0.contains("flow skipped") })
    }

    func testNamesAreMadeValidSymTUINames() throws {
        let result = try Self.translate("""
        resource "sym_strategy" "s" {
          type = "okta"
          name = "Prod Okta/groups"
          targets = []
        }
        """)
        XCTAssertTrue(result.config.contains("name: \"Prod-Okta-groups\""))
    }

    func testCommentsCannotBreakOutOfTheirLine() throws {
        let result = try Self.translate("""
        resource "sym_integration" "x" {
          type = "slack\\n}, flows: [ { name: \\"evil\\" } ] //"
        }
        resource "sym_target" "t" {
          type = "okta_group\\ninjected: [1]"
          label = "T"
        }
        """)
        XCTAssertTrue(result.config.contains("evil"))
        for line in result.config.split(separator: "\n") where line.contains("evil") || line.contains("injected") {
            XCTAssertTrue(line.trimmingCharacters(in: .whitespaces).hasPrefix("//"), String(line))
        }
    }

    func testAttributesWithoutEquivalentAreNamed() throws {
        let result = try Self.translate("""
        resource "sym_flow" "f" {
          name = "f"
          allow_guest_interaction = true
          params = {
            include_decision_message = true
          }
        }
        """)
        XCTAssertTrue(result.summary.contains { $0.contains("sym_flow.f (main.tf:1): allow_guest_interaction has no equivalent") }, "\(result.summary)")
        XCTAssertTrue(result.summary.contains { $0.contains("params.include_decision_message has no equivalent") }, "\(result.summary)")
    }

    func testTheUnsupportedPromptFieldTypeIsNamed() throws {
        let result = try Self.translate("""
        resource "sym_flow" "f" {
          name = "f"
          params {
            prompt_field {
              name = "when"
              type = "date"
            }
          }
        }
        """)
        XCTAssertTrue(result.summary.contains { $0.contains("prompt field when of type date has no equivalent") })
    }
}
