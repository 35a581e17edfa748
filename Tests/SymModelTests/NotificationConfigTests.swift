import Foundation
import XCTest
@testable import SymModel

final class NotificationConfigTests: XCTestCase {
    static let channels = #"""
    notifications: { channels: [
        { name: "terminals", type: "tty" },
        { name: "mail", type: "email", from: "symtui@bastion.example" },
        { name: "chat", type: "http", url: "http://127.0.0.1:8065/hooks/x", format: "slack" },
        { name: "pager", type: "http", url: "http://127.0.0.1:9001/v2/enqueue", format: "pagerduty", routing_key_file: "/etc/symtui/pd.key" },
        { name: "script", type: "command", command: "/usr/local/libexec/symtui-notify", timeout: "5s" },
      ], default: ["terminals"], email_domain: "example.com", users: { alice: { email: "alice@corp.example" } } }
    """#

    func testTheDocumentedNotificationsSectionLoads() {
        let c = assertValid(ConfigText.with(extra: Self.channels))
        let n = c?.notifications
        XCTAssertEqual(n?.channels.map(\.name), ["terminals", "mail", "chat", "pager", "script"])
        XCTAssertEqual(n?.channels.map(\.type), [.tty, .email, .http, .http, .command])
        XCTAssertEqual(n?.channel(named: "chat")?.format, .slack)
        XCTAssertEqual(n?.channel(named: "pager")?.routingKeyFile, "/etc/symtui/pd.key")
        XCTAssertEqual(n?.channel(named: "script")?.timeout, 5)
        XCTAssertEqual(n?.defaultChannels, ["terminals"])
    }

    func testMailAddressComesFromUsersThenFromTheDomain() {
        let n = assertValid(ConfigText.with(extra: Self.channels))?.notifications
        XCTAssertEqual(n?.email(of: "alice"), "alice@corp.example")
        XCTAssertEqual(n?.email(of: "bob"), "bob@example.com")
        XCTAssertNil(Notifications().email(of: "bob"), "no domain, no address")
    }

    func testAFlowWithoutNotifyUsesTheDefaultChannels() {
        let c = assertValid(ConfigText.with(extra: Self.channels))!
        XCTAssertEqual(c.notifications.channels(for: c.flows[0]).map(\.name), ["terminals"])
    }

    func testAFlowsNotifyReplacesTheDefault() {
        let text = ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { users: ["alice"] }, notify: ["chat", "mail"] }"#],
                                   extra: Self.channels)
        let c = assertValid(text)!
        XCTAssertEqual(c.notifications.channels(for: c.flows[0]).map(\.name), ["chat", "mail"])
    }

    func testAnUnknownChannelInAFlowIsAnErrorWithItsPath() {
        let text = ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { users: ["alice"] }, notify: ["chats"] }"#],
                                   extra: Self.channels)
        assertProblem(text, "unknown notification channel 'chats' (did you mean 'chat'?)", path: "flows[0].notify[0]")
    }

    func testAFlowNamingChannelsWithoutANotificationsSectionIsAnError() {
        assertProblem(ConfigText.flow(#"notify: ["chat"]"#), "notifications.channels defines none", path: "flows[0].notify[0]")
    }

    func testAnUnknownDefaultChannelIsAnError() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "t", type: "tty" } ], default: ["x"] }"#),
                      "unknown notification channel 'x'", path: "notifications.default[0]")
    }

    func testAPagerdutyChannelWithoutAKeyFileIsAnError() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "p", type: "http", url: "http://x/", format: "pagerduty" } ] }"#),
                      "needs routing_key_file", path: "notifications.channels[0]")
    }

    func testARoutingKeyFileOnAnotherFormatIsAnError() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "p", type: "http", url: "http://x/", routing_key_file: "/k" } ] }"#),
                      "only for format pagerduty")
    }

    func testAnUnknownChannelTypeSuggestsTheClosest() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "p", type: "emai" } ] }"#), "did you mean 'email'?")
    }

    func testAnUnknownHttpFormatIsAnError() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "p", type: "http", url: "http://x/", format: "slak" } ] }"#),
                      "did you mean 'slack'?", path: "notifications.channels[0].format")
    }

    func testAKeyOfAnotherChannelTypeIsAnError() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "t", type: "tty", url: "http://x/" } ] }"#),
                      "unknown key 'url' in a tty channel")
    }

    func testACommandChannelNeedsAnAbsoluteProgram() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "c", type: "command", command: "notify.sh" } ] }"#),
                      "must be an absolute path")
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "c", type: "command" } ] }"#), "needs 'command'")
    }

    func testChannelNamesAreUnique() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "t", type: "tty" }, { name: "t", type: "tty" } ] }"#),
                      "channel")
    }

    func testAMailAddressThatCouldInjectAHeaderIsRefused() {
        assertProblem(ConfigText.with(extra: #"notifications: { channels: [ { name: "m", type: "email", from: "a@b.example\r\nBcc: x@y" } ] }"#),
                      "is not a mail address")
        assertProblem(ConfigText.with(extra: #"notifications: { users: { alice: { email: "Alice <a@b.example>" } } }"#),
                      "is not a mail address", path: "notifications.users.alice.email")
        assertProblem(ConfigText.with(extra: #"notifications: { email_domain: "exa mple.com" }"#), "is not a mail domain")
    }

    static let schedules = #"""
    oncall: [
      { name: "primary", type: "rotation", users: ["alice", "bob", "carol"], shift: "1w", start: "2026-12-07T09:00:00Z",
        overrides: [ { user: "dave", from: "2026-12-24T00:00:00Z", until: "2026-12-27T00:00:00Z" } ] },
      { name: "pd", type: "command", command: "/usr/local/libexec/who-is-on-call" },
    ]
    """#

    func testTheDocumentedSchedulesLoad() {
        let c = assertValid(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { oncall: ["primary"] }, escalation: [ { after: "15m", approvers: { oncall: ["pd"] } } ] }"#],
                                            extra: Self.schedules))
        XCTAssertEqual(c?.oncall.map(\.name), ["primary", "pd"])
        XCTAssertEqual(c?.schedule(named: "primary")?.shift.seconds, 604_800)
        XCTAssertEqual(c?.schedule(named: "primary")?.overrides.first?.user, "dave")
        XCTAssertEqual(c?.flows.first?.approvers.oncall, ["primary"])
        XCTAssertEqual(c?.flows.first?.escalation.first?.approvers.oncall, ["pd"])
    }

    func testAnUnknownScheduleInApproversIsAnErrorWithItsPath() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { oncall: ["primry"] } }"#], extra: Self.schedules),
                      "unknown on-call schedule 'primry' (did you mean 'primary'?)", path: "flows[0].approvers.oncall[0]")
        assertProblem(ConfigText.flow(#"escalation: [ { after: "15m", approvers: { oncall: ["x"] } } ]"#), "no oncall schedules are defined",
                      path: "flows[0].escalation[0].approvers.oncall[0]")
    }

    func testARotationNeedsUsersShiftAndAUTCStart() {
        assertProblem(ConfigText.with(extra: #"oncall: [ { name: "r", type: "rotation", shift: "1w", start: "2026-12-07T09:00:00Z" } ]"#), "needs 'users'")
        assertProblem(ConfigText.with(extra: #"oncall: [ { name: "r", type: "rotation", users: ["a"], start: "2026-12-07T09:00:00Z" } ]"#), "needs 'shift'")
        assertProblem(ConfigText.with(extra: #"oncall: [ { name: "r", type: "rotation", users: ["a"], shift: "1d", start: "2026-12-07T09:00:00+01:00" } ]"#),
                      "not an RFC 3339 UTC time", path: "oncall[0].start")
    }

    func testAnOverrideMustEndAfterItStarts() {
        assertProblem(ConfigText.with(extra: #"oncall: [ { name: "r", type: "rotation", users: ["a"], shift: "1d", start: "2026-12-07T09:00:00Z", overrides: [ { user: "b", from: "2026-12-08T00:00:00Z", until: "2026-12-08T00:00:00Z" } ] } ]"#),
                      "until must be after from")
    }

    func testACommandScheduleNeedsAnAbsoluteProgram() {
        assertProblem(ConfigText.with(extra: #"oncall: [ { name: "c", type: "command", command: "who" } ]"#), "must be an absolute path")
    }

    func testEscalationTiersLoadInOrder() {
        let text = ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { users: ["alice"] }, escalation: [ { after: "15m", approvers: { groups: ["sre"] }, notify: ["chat"] }, { after: "30m", approvers: { users: ["boss"] } } ] }"#],
                                   extra: Self.channels)
        let tiers = assertValid(text)?.flows.first?.escalation
        XCTAssertEqual(tiers?.map(\.after.seconds), [900, 1800])
        XCTAssertEqual(tiers?.first?.approvers.groups, ["sre"])
        XCTAssertEqual(tiers?.first?.notify, ["chat"])
    }

    func testATierNotShorterThanTheRequestTTLIsAnError() {
        assertProblem(ConfigText.flow(#"request_ttl: "1h", escalation: [ { after: "1h", approvers: { users: ["bob"] } } ]"#),
                      "not shorter than request_ttl", path: "flows[0].escalation[0].after")
    }

    func testTiersOutOfOrderAreAnError() {
        assertProblem(ConfigText.flow(#"escalation: [ { after: "30m", approvers: { users: ["bob"] } }, { after: "15m", approvers: { users: ["eve"] } } ]"#),
                      "not later than the tier before", path: "flows[0].escalation[1].after")
    }

    func testATierWithoutApproversIsAnError() {
        assertProblem(ConfigText.flow(#"escalation: [ { after: "15m" } ]"#), "needs approvers", path: "flows[0].escalation[0]")
    }

    func testATierNamingAnUnknownChannelIsAnError() {
        let text = ConfigText.with(flows: [#"{ name: "f", strategy: "s", approvers: { users: ["alice"] }, escalation: [ { after: "15m", approvers: { users: ["bob"] }, notify: ["nope"] } ] }"#],
                                   extra: Self.channels)
        assertProblem(text, "unknown notification channel 'nope'", path: "flows[0].escalation[0].notify[0]")
    }

    func testApprovalStepsCannotHaveTiers() {
        assertProblem(ConfigText.with(flows: [#"{ name: "f", strategy: "s", approval_steps: [ { name: "a", users: ["alice"] } ], escalation: [ { after: "15m", approvers: { users: ["bob"] } } ] }"#]),
                      "cannot have them")
    }

    func testReminderAndExpiryWarningLoad() {
        let f = assertValid(ConfigText.flow(#"reminder: "10m", expiry_warning: "2m""#))?.flows.first
        XCTAssertEqual(f?.reminder, TimeSpan(seconds: 600))
        XCTAssertEqual(f?.expiryWarning, TimeSpan(seconds: 120))
        XCTAssertEqual(assertValid(ConfigText.flow(""))?.flows.first?.expiryWarning, TimeSpan(seconds: 300), "5m by default")
        XCTAssertNil(assertValid(ConfigText.flow(""))?.flows.first?.reminder, "no reminders by default")
    }

    func testAReminderNotShorterThanTheRequestTTLIsAnError() {
        assertProblem(ConfigText.flow(#"request_ttl: "30m", reminder: "30m""#), "not shorter than request_ttl", path: "flows[0].reminder")
    }

    func testAReminderUnderAMinuteIsAnError() {
        assertProblem(ConfigText.flow(#"reminder: "30s""#), "at least 1m", path: "flows[0].reminder")
    }

    func testAnApprovalOnlyFlowCannotHaveAnExpiryWarning() {
        assertProblem(ConfigText.flow(#"expiry_warning: "5m""#, strategy: nil), "approval-only", path: "flows[0].expiry_warning")
    }
}
