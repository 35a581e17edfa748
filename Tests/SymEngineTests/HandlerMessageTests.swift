import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// A handler's messages (`slack.send_message`): read from its answer, bounded, and queued on notification channels
/// in the transaction of its `handler` event — with real python3 handler files and a real store.
final class HandlerMessageTests: XCTestCase {
    var dir: String!
    var store: Store!

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(prefix: "symtui-hm-")
        store = try Store.openForWriting(path: dir + "/s.db")
    }

    override func tearDownWithError() throws {
        store = nil
        try? FileManager.default.removeItem(atPath: dir)
    }

    let alice = Identity(uid: 5001, name: "alice", groups: ["dev"])

    /// An engine over one approval-only flow `f` whose Sym-style implementation is `handlers`, with a `script`
    /// channel (one copy) and a `terminals` channel (one per person) on the flow, and an `ops` webhook beside them.
    func engine(_ handlers: String) throws -> Engine {
        let path = dir + "/impl.py"
        try Data(("from sym.sdk.annotations import hook\nfrom sym.sdk.integrations import slack\n" + handlers).utf8)
            .write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        var flow = Flow(name: "f", approvers: Approvers(groups: ["oncall"]),
                        promptFields: [PromptField(name: "reason", type: .string, required: false)])
        flow.implementation = path
        flow.handlerTimeout = TimeSpan(seconds: 5)
        flow.notify = ["script", "terminals"]
        var config = Config(sourcePath: dir + "/c.json5", flows: [flow])
        config.notifications = Notifications(channels: [Channel(name: "script", type: .command, command: "/bin/true"),
                                                        Channel(name: "terminals", type: .tty),
                                                        Channel(name: "ops", type: .http, url: "http://127.0.0.1:9/ops")])
        let engine = Engine(config: config, store: store)
        engine.handlers = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: dir + "/sdk"))
        return engine
    }

    func request(_ e: Engine, reason: String = "r") -> Result<AccessRequest, CommandError> {
        e.execute(.request(flow: "f", target: nil, fields: ["reason": .string(reason)], duration: nil, reason: nil), by: alice)
    }

    func testAMessageToAChannelIsQueuedOnThatChannelWithItsNotifyEvent() throws {
        let e = try engine("@hook\ndef on_request(event):\n    slack.send_message(slack.channel('#ops'), 'new request: ' + event.payload.fields['reason'])\n")
        let r = try request(e, reason: "INC-9").get()
        let rows = try store.notifications(requestId: r.id).filter { $0.kind == "message" }
        XCTAssertEqual(rows.map { "\($0.channel):\($0.recipient)" }, ["ops:"])
        let payload = try JSONValue.parse(rows[0].payload)
        XCTAssertEqual(payload["text"]?.stringValue, "new request: INC-9")
        XCTAssertEqual(payload["request"]?["id"]?.intValue, r.id)
        let notify = try store.events(requestId: r.id).filter { $0.type == .notify && $0.data["kind"]?.stringValue == "message" }
        XCTAssertEqual(notify.map { $0.data["channels"] }, [.array([.string("ops")])])
        XCTAssertEqual(notify.first?.data["handler"]?.stringValue, "on_request")
    }

    func testAMessageToAUserGoesOnEachOfTheFlowsChannelsForThem() throws {
        // root exists on every machine: the user a message names must be a real one.
        let e = try engine("@hook\ndef on_request(event):\n    slack.send_message(slack.user('root'), 'heads up')\n")
        let r = try request(e).get()
        let rows = try store.notifications(requestId: r.id).filter { $0.kind == "message" }
        XCTAssertEqual(rows.map { "\($0.channel):\($0.recipient)" }.sorted(), ["script:", "terminals:root"])
        for row in rows { XCTAssertEqual(try JSONValue.parse(row.payload)["recipients"], .array([.string("root")])) }
    }

    func testAnUnknownChannelFailsTheHandlerStepAndQueuesNothing() throws {
        let e = try engine("@hook\ndef on_request(event):\n    slack.send_message(slack.channel('#nowhere'), 'lost')\n")
        guard case let .failure(error) = request(e) else { return XCTFail("a failed on_request let the request through") }
        XCTAssertTrue(error.message.contains("no notification channel \"nowhere\" (channels: script, terminals, ops)"), error.message)
        let handler = try store.events(afterSeq: 0, limit: 100).filter { $0.type == .handler }
        XCTAssertEqual(handler.map { $0.data["outcome"]?.stringValue }, ["failed"])
        XCTAssertEqual(handler.first?.data["messages"]?.arrayValue?.count, 1, "the audit keeps what it tried to send")
        XCTAssertEqual(try store.notifications(requestId: nil).filter { $0.kind == "message" }, [])
    }

    func testAMessageToAChannelThatDeliversToPeopleFailsTheStep() throws {
        let e = try engine("@hook\ndef on_request(event):\n    slack.send_message(slack.channel('terminals'), 'to whom?')\n")
        guard case let .failure(error) = request(e) else { return XCTFail("accepted") }
        XCTAssertTrue(error.message.contains("channel terminals (tty) delivers to people"), error.message)
    }

    func testAnAfterHookMessageIsQueuedWithItsHandlerEvent() throws {
        let e = try engine("@hook\ndef after_request(event):\n    slack.send_message('#ops', 'recorded')\n")
        let r = try request(e).get()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, try store.notifications(requestId: r.id).allSatisfy({ $0.kind != "message" }) { usleep(50_000) }
        XCTAssertEqual(try store.notifications(requestId: r.id).filter { $0.kind == "message" }.map(\.channel), ["ops"])
    }

    func testAHookRunTwiceSendsItsMessageEachTime() throws {
        let e = try engine("from sym.sdk.templates import ApprovalTemplate\n@hook\ndef on_approve(event):\n"
                           + "    slack.send_message('#ops', 'not yet')\n    return ApprovalTemplate.ignore(message='wait for the window')\n")
        let r = try request(e).get()
        let bob = Identity(uid: 5002, name: "bob", groups: ["oncall"])
        for _ in 0..<2 {
            guard case .failure = e.execute(.approve(id: r.id, reason: nil), by: bob) else { return XCTFail("on_approve's ignore let it through") }
        }
        XCTAssertEqual(try store.notifications(requestId: r.id).filter { $0.kind == "message" }.count, 2)
    }

    // MARK: reading the answer

    func testMessagesAreReadNeutralisedFromTheAnswer() throws {
        let answer = try JSONValue.parse(#"{"result":"none","messages":[{"channel":"ops","text":"a\u001b[31mb\nc"},{"user":"bob","text":"hi"}]}"#)
        let messages = try HandlerMessage.parse(answer: answer)
        XCTAssertEqual(messages.map(\.to), [.channel("ops"), .user("bob")])
        XCTAssertFalse(messages[0].text.contains("\u{1b}"))
        XCTAssertFalse(messages[0].text.contains("\n"))
    }

    func testAnAnswerWithTooManyOrTooLargeOrUnaddressedMessagesIsMalformed() throws {
        let many = JSONValue.obj([("result", .string("none")), ("messages", .array(Array(repeating: .obj([("channel", .string("ops")), ("text", .string("x"))]), count: 11)))])
        let large = JSONValue.obj([("result", .string("none")), ("messages", .array([.obj([("channel", .string("ops")), ("text", .string(String(repeating: "x", count: 4097)))])]))])
        let both = JSONValue.obj([("result", .string("none")), ("messages", .array([.obj([("channel", .string("ops")), ("user", .string("bob")), ("text", .string("x"))])]))])
        for (answer, words) in [(many, "at most 10"), (large, "at most 4096"), (both, "one \"channel\" or one \"user\"")] {
            do {
                _ = try HandlerMessage.parse(answer: answer)
                XCTFail("accepted: \(words)")
            } catch {
                XCTAssertTrue(error.description.contains(words), error.description)
            }
        }
    }
}
