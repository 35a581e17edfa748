import XCTest
@testable import SymModel
import SymTestSupport

/// `host_name` and a target's `runs_on` (docs/contract.md, "The fleet").
final class FleetConfigTests: XCTestCase {
    static func target(_ type: String, runsOn: String? = nil) -> String {
        let settings: String
        switch type {
        case "command": settings = #"settings: { escalate: "/bin/true", deescalate: "/bin/true" }, "#
        case "http": settings = #"settings: { url: "https://iam.example/grant" }, "#
        case "unix_group": settings = ""
        case "postgres_role": settings = #"settings: { conninfo: "service=orders" }, "#
        default: settings = ""
        }
        let targetSettings: String
        switch type {
        case "unix_group": targetSettings = #"settings: { group: "admins" }, "#
        case "postgres_role": targetSettings = #"settings: { role: "orders_rw" }, "#
        default: targetSettings = ""
        }
        let runs = runsOn.map { #"runs_on: "\#($0)", "# } ?? ""
        return ConfigText.strategy(#"{ name: "s", type: "\#(type)", \#(settings)targets: [ { name: "t", \#(targetSettings)\#(runs) } ] }"#)
    }

    func testHostNameDefaultsToTheMachinesHostName() {
        XCTAssertEqual(assertValid(ConfigText.with())?.hostName, ProcessInfo.processInfo.hostName)
    }

    func testHostNameIsTakenAsGiven() {
        XCTAssertEqual(assertValid(ConfigText.with(extra: #"host_name: "bastion-eu-1.corp.example""#))?.hostName, "bastion-eu-1.corp.example")
    }

    func testAHostNameThatIsNotAHostNameIsRefusedNamingTheKey() {
        for bad in ["", "has space", "-leading", "trailing-", "a..b", "under_score", "tab\\there", "\\u001b[31m", "x;rm", String(repeating: "a", count: 64),
                    String(repeating: "a.", count: 127) + "a"] {
            assertProblem(ConfigText.with(extra: #"host_name: "\#(bad)""#), "is not a valid host name", path: "host_name")
        }
        assertProblem(ConfigText.with(extra: "host_name: 7"), "expected a string", path: "host_name")
    }

    func testAnyCannotNameABastionSinceRunsOnAnyMeansEveryHost() {
        assertProblem(ConfigText.with(extra: #"host_name: "any""#), "cannot name a bastion", path: "host_name")
    }

    func testAnInvalidHostNameIsADataErrorExit65() {
        guard case let .failure(e) = parseConfig(ConfigText.with(extra: #"host_name: "no way""#)) else { return XCTFail("accepted") }
        XCTAssertEqual(e.exitCode, 65)
    }

    func testRunsOnDefaultsPerStrategyType() {
        let expected: [String: RunsOn] = ["command": .requesterHost, "unix_group": .requesterHost, "http": .any, "postgres_role": .any]
        for (type, runsOn) in expected {
            let config = assertValid(Self.target(type))
            let strategy = config?.strategies.first
            XCTAssertNil(strategy?.targets.first?.runsOn, type)
            XCTAssertEqual(strategy.map { $0.runsOn($0.targets[0]) }, runsOn, type)
        }
        for kind in [Strategy.Kind.sudoers, .sshCert] { XCTAssertEqual(kind.defaultRunsOn, .requesterHost) }
    }

    func testRunsOnTakesRequesterHostAnyOrAHostName() {
        XCTAssertEqual(assertValid(Self.target("http", runsOn: "requester_host"))?.strategies.first?.targets.first?.runsOn, .requesterHost)
        XCTAssertEqual(assertValid(Self.target("command", runsOn: "any"))?.strategies.first?.targets.first?.runsOn, .any)
        XCTAssertEqual(assertValid(Self.target("command", runsOn: "bastion-b"))?.strategies.first?.targets.first?.runsOn, .host("bastion-b"))
    }

    func testARunsOnThatIsNoneOfThoseIsRefusedNamingTheTarget() {
        for bad in ["", "two words", "bastion_b", "-x"] {
            assertProblem(Self.target("command", runsOn: bad), "is neither requester_host, any, nor a valid host name",
                          path: "strategies[0].targets[0].runs_on")
        }
    }

    func testRunsOnPinsARequestToTheHostThatRunsItsSteps() {
        XCTAssertEqual(RunsOn.requesterHost.pinnedHost(requestHost: "bastion-a"), "bastion-a")
        XCTAssertNil(RunsOn.any.pinnedHost(requestHost: "bastion-a"))
        XCTAssertEqual(RunsOn.host("bastion-b").pinnedHost(requestHost: "bastion-a"), "bastion-b")
    }

    func testRunsOnSettingRoundTrips() {
        for s in ["requester_host", "any", "db-1.example"] { XCTAssertEqual(RunsOn(setting: s)?.setting, s) }
    }

    func testHostNamesFollowRFC1123() {
        for good in ["a", "vm", "bastion-1", "db1.eu.example.com", "0abc", String(repeating: "a", count: 63)] { XCTAssertTrue(HostName.isValid(good), good) }
        for bad in ["", ".", "a.", ".a", "a-", "-a", "é", "a b", "a_b", "a\u{0}b", String(repeating: "a", count: 64)] {
            XCTAssertFalse(HostName.isValid(bad), bad)
        }
    }
}
