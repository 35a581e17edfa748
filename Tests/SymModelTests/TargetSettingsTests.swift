import XCTest
@testable import SymModel
import SymTestSupport

/// Config check of the `ssh_cert` and `postgres_role` strategy settings.
final class TargetSettingsTests: XCTestCase {
    static func ssh(strategy: String = #"ca_key: "/etc/symtui/ca", krl: "/etc/ssh/revoked.krl""#,
                    target: String = #"principals: ["deploy"]"#) -> String {
        ConfigText.strategy(#"{ name: "s", type: "ssh_cert", settings: { \#(strategy) }, targets: [ { name: "t", settings: { \#(target) } } ] }"#)
    }

    static func pg(strategy: String = #"conninfo: "service=orders""#, target: String = #"role: "orders_rw""#) -> String {
        ConfigText.strategy(#"{ name: "s", type: "postgres_role", settings: { \#(strategy) }, targets: [ { name: "t", settings: { \#(target) } } ] }"#)
    }

    func testSSHCertWithCAKeyKRLAndPrincipalsIsValid() {
        let config = assertValid(Self.ssh(target: #"principals: ["deploy", "web.admin", "ops@corp"], extensions: ["permit-pty"], force_command: "/usr/bin/uptime", source_address: ["10.0.0.0/8", "::1"]"#))
        XCTAssertEqual(config?.strategies.first?.type, .sshCert)
    }

    func testSSHCertNeedsCAKeyKRLAndPrincipals() {
        let text = Self.ssh(strategy: "", target: "")
        assertProblem(text, "needs settings.ca_key")
        assertProblem(text, "needs settings.krl")
        assertProblem(text, "needs settings.principals")
    }

    func testSSHCertPathsMustBeAbsolute() {
        assertProblem(Self.ssh(strategy: #"ca_key: "ca", krl: "/k""#), "'ca' must be an absolute path", path: "strategies[0].settings.ca_key")
    }

    func testPrincipalsWithSpacesCommasQuotesNewlinesOrLeadingDashesAreRefusedNamingTheValue() {
        for bad in ["a b", "a,b", "a\\\"b", "a'b", "a\\nb", "-oProxyCommand=x", ".hidden", ""] {
            assertProblem(Self.ssh(target: #"principals: ["ok", "\#(bad)"]"#), "principal '", path: "strategies[0].targets[0].settings.principals[1]")
        }
    }

    func testEmptyPrincipalListIsRefused() {
        assertProblem(Self.ssh(target: "principals: []"), "must not be empty")
    }

    func testUnknownCertificateExtensionIsRefused() {
        assertProblem(Self.ssh(target: #"principals: ["p"], extensions: ["permit-everything"]"#), "extension 'permit-everything' is not allowed")
    }

    func testForceCommandWithALineBreakIsRefused() {
        assertProblem(Self.ssh(target: #"principals: ["p"], force_command: "a\nb""#), "force_command must be one line")
    }

    func testSourceAddressMustBeAnAddressOrCIDR() {
        assertProblem(Self.ssh(target: #"principals: ["p"], source_address: ["10.0.0.0/8,0.0.0.0/0"]"#), "source address '10.0.0.0/8,0.0.0.0/0'")
    }

    func testKeyIDFormatWithAnUnknownPlaceholderIsRefused() {
        assertProblem(Self.ssh(strategy: #"ca_key: "/c", krl: "/k", key_id_format: "{request}-{password}""#), "unknown placeholder {password}")
    }

    func testAnSSHCertFlowMustScheduleDeescalation() {
        let text = Self.ssh().replacingOccurrences(of: #"approvers: { users: ["alice"] } }"#,
                                                   with: #"approvers: { users: ["alice"] }, schedule_deescalation: false }"#)
        assertProblem(text, "which must expire: schedule_deescalation must be true", path: "flows[0].schedule_deescalation")
    }

    func testPostgresRoleWithConninfoAndRoleIsValid() {
        let config = assertValid(Self.pg(strategy: #"conninfo: "postgresql://symtui@db.example/app?sslmode=verify-full", user_map: { alice: "alice_db" }"#,
                                         target: #"role: "orders_rw", end_sessions: "report""#))
        XCTAssertEqual(config?.strategies.first?.type, .postgresRole)
    }

    func testPostgresRoleNeedsConninfoAndRole() {
        let text = Self.pg(strategy: "", target: "")
        assertProblem(text, "needs settings.conninfo")
        assertProblem(text, "needs settings.role")
    }

    func testConninfoWithAPasswordIsRefused() {
        for conninfo in ["postgresql://symtui:secret@db/app", "host=db password=secret", "postgres://db/app?sslmode=require&password=x"] {
            assertProblem(Self.pg(strategy: #"conninfo: "\#(conninfo)""#), "conninfo contains a password")
        }
    }

    func testRoleNamesThatAreNotPlainAreRefusedNamingTheValue() {
        for bad in ["orders rw", "a,b", "a\\\"b", "a'b", "a\\nb", "-x", "1role", "public", String(repeating: "r", count: 64)] {
            assertProblem(Self.pg(target: #"role: "\#(bad)""#), "is not a plain database role name", path: "strategies[0].targets[0].settings.role")
        }
    }

    func testUserMapToARoleThatIsNotPlainIsRefused() {
        assertProblem(Self.pg(strategy: #"conninfo: "service=x", user_map: { alice: "alice; DROP TABLE x" }"#), "'alice; DROP TABLE x' is not a plain database role name",
                      path: "strategies[0].settings.user_map.alice")
    }

    func testEndSessionsIsTerminateOrReport() {
        assertProblem(Self.pg(target: #"role: "r", end_sessions: "kill""#), "expected terminate or report")
    }

    func testEndSessionsOnUnixGroupAndSudoersIsTerminateOrReport() {
        let group = { (v: String) in ConfigText.strategy(#"{ name: "s", type: "unix_group", settings: { end_sessions: "\#(v)" }, targets: [ { name: "t", settings: { group: "ops" } } ] }"#) }
        let sudo = { (v: String) in ConfigText.strategy(#"{ name: "s", type: "sudoers", targets: [ { name: "t", settings: { rule: "ALL=(root) /bin/ls", end_sessions: "\#(v)" } } ] }"#) }
        XCTAssertNotNil(assertValid(group("report")))
        XCTAssertNotNil(assertValid(sudo("terminate")))
        assertProblem(group("kill"), "end_sessions is 'kill'; expected terminate or report", path: "strategies[0].settings.end_sessions")
        assertProblem(sudo("hup"), "expected terminate or report")
    }

    func testPlainNames() {
        XCTAssertTrue(TargetNames.isPrincipal("deploy"))
        XCTAssertTrue(TargetNames.isPrincipal("root@web-1.example"))
        XCTAssertFalse(TargetNames.isPrincipal("@root"))
        XCTAssertTrue(TargetNames.isDatabaseRole("orders_rw"))
        XCTAssertTrue(TargetNames.isDatabaseRole("st_ab12_r1"))
        XCTAssertFalse(TargetNames.isDatabaseRole("PUBLIC"))
        XCTAssertFalse(TargetNames.isDatabaseRole("a\u{0}b"))
    }
}
