import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

/// What one user may ask of the engine: pending requests at a time, the size of what a request carries, and
/// extensions that stay within their flow's rules.
final class EngineLimitTests: XCTestCase {
    private func limit(_ h: EngineHarness, _ change: (inout Limits) -> Void) {
        var config = h.engine.config
        change(&config.limits)
        h.engine.reload(config)
    }

    private func reconfigure(_ h: EngineHarness, flow name: String, _ change: (inout Flow) -> Void) {
        var config = h.engine.config
        let i = config.flows.firstIndex { $0.name == name }!
        change(&config.flows[i])
        h.engine.reload(config)
    }

    private func request(_ h: EngineHarness, by who: Identity, reason: String? = nil,
                         fields: [String: JSONValue] = [:]) -> Result<AccessRequest, CommandError> {
        h.engine.execute(.request(flow: "access", target: "db", fields: fields, duration: "1h", reason: reason), by: who)
    }

    // MARK: pending requests per user

    func testAUserCannotHaveMoreThanPendingPerUserRequestsPending() throws {
        let h = try EngineHarness(self)
        limit(h) { $0.pendingPerUser = 3 }
        for _ in 0..<3 { try h.request() }
        let seq = try h.store.lastSeq()
        let refused = h.refusal(.request(flow: "access", target: "db", fields: [:], duration: "1h", reason: nil), by: h.rita)
        XCTAssertEqual(refused?.code, ExitCode.dataErr)
        XCTAssertTrue(refused?.message.contains("limits.pending_per_user is 3") ?? false, refused?.message ?? "")
        XCTAssertEqual(try h.store.lastSeq(), seq, "nothing is written")
        XCTAssertNoThrow(try h.request(by: h.mallory), "the limit is per user")
    }

    func testCancellingAPendingRequestMakesRoomForANewOne() throws {
        let h = try EngineHarness(self)
        limit(h) { $0.pendingPerUser = 1 }
        let first = try h.request()
        XCTAssertNotNil(h.refusal(.request(flow: "access", target: "db", fields: [:], duration: "1h", reason: nil), by: h.rita))
        try h.execute(.cancel(id: first.id), by: h.rita)
        XCTAssertNoThrow(try h.request())
    }

    func testParallelRequestsCannotPassThePendingLimitTogether() throws {
        let h = try EngineHarness(self)
        limit(h) { $0.pendingPerUser = 3 }
        let results = ResultList()
        let engine = h.engine, rita = h.rita
        DispatchQueue.concurrentPerform(iterations: 12) { _ in
            results.add(engine.execute(.request(flow: "access", target: "db", fields: [:], duration: "1h", reason: nil), by: rita))
        }
        XCTAssertEqual(results.successes, 3)
        XCTAssertEqual(try h.store.count(RequestQuery(states: [.pending], requester: "rita")), 3)
    }

    func testTheDefaultPendingLimitIsInForce() throws {
        let h = try EngineHarness(self)
        XCTAssertEqual(h.engine.config.limits.pendingPerUser, Limits.defaultPendingPerUser)
        for _ in 0..<Limits.defaultPendingPerUser { try h.request() }
        XCTAssertEqual(h.refusal(.request(flow: "access", target: "db", fields: [:], duration: "1h", reason: nil), by: h.rita)?.code,
                       ExitCode.dataErr)
    }

    // MARK: sizes

    func testAFieldValueLargerThanFieldBytesIsRefusedAndNothingIsWritten() throws {
        let h = try EngineHarness(self)
        limit(h) { $0.fieldBytes = 1024 }
        let seq = try h.store.lastSeq()
        guard case let .failure(e) = request(h, by: h.rita, fields: ["reason": .string(String(repeating: "é", count: 600))]) else {
            return XCTFail("a 1200-byte field was accepted")
        }
        XCTAssertEqual(e.code, ExitCode.dataErr)
        XCTAssertTrue(e.message.contains("field 'reason': is 1200 bytes long; the limit is 1024 bytes"), e.message)
        XCTAssertEqual(try h.store.lastSeq(), seq)
        XCTAssertEqual(try h.store.count(RequestQuery()), 0)
    }

    func testAReasonLargerThanFieldBytesIsRefused() throws {
        let h = try EngineHarness(self)
        limit(h) { $0.fieldBytes = 100 }
        guard case let .failure(e) = request(h, by: h.rita, reason: String(repeating: "x", count: 101)) else {
            return XCTFail("a 101-byte reason was accepted")
        }
        XCTAssertEqual(e.code, ExitCode.dataErr)
        XCTAssertEqual(try h.store.count(RequestQuery()), 0)
    }

    func testAnUnknownFieldWithAHugeValueIsRefusedForItsSizeBeforeAnythingElse() throws {
        let h = try EngineHarness(self)
        let huge = String(repeating: "A", count: 200_000)
        guard case let .failure(e) = request(h, by: h.rita, fields: [huge: .string(huge)]) else { return XCTFail("accepted") }
        XCTAssertEqual(e.code, ExitCode.dataErr)
        XCTAssertLessThan(e.message.utf8.count, 1000, "the error does not echo the value")
    }

    func testARequestLargerThanRequestBytesIsRefused() throws {
        let h = try EngineHarness(self)
        reconfigure(h, flow: "access") { flow in
            flow.promptFields += (1...4).map { PromptField(name: "note\($0)", type: .string, required: false) }
        }
        limit(h) { $0.fieldBytes = 1000; $0.requestBytes = 3000 }
        let fields = Dictionary(uniqueKeysWithValues: (1...4).map { ("note\($0)", JSONValue.string(String(repeating: "n", count: 900))) })
        guard case let .failure(e) = request(h, by: h.rita, fields: fields) else { return XCTFail("a 3.6 kB request was accepted") }
        XCTAssertEqual(e.code, ExitCode.dataErr)
        XCTAssertTrue(e.message.contains("limits.request_bytes"), e.message)
        XCTAssertEqual(try h.store.count(RequestQuery()), 0)
    }

    // MARK: extensions

    func testASecondPendingExtensionOfTheSameGrantIsRefused() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        try h.execute(.extend(id: grant.id, duration: "1h", reason: nil), by: h.rita)
        let refused = h.refusal(.extend(id: grant.id, duration: "1h", reason: nil), by: h.rita)
        XCTAssertEqual(refused?.code, ExitCode.dataErr)
        XCTAssertTrue(refused?.message.contains("already has a pending extension") ?? false, refused?.message ?? "")
    }

    /// Two extensions that were both pending (made before one-at-a-time was enforced, or written directly) each fit
    /// `max_duration` alone: approving the second must not take the grant past it.
    func testApprovingExtensionsThatTogetherExceedMaxDurationRefusesTheOneThatWouldPassIt() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()                  // 1h of max_duration 8h
        let expiry = try XCTUnwrap(grant.accessExpiresAt)
        var pending: [AccessRequest] = []
        for _ in 0..<2 {
            var ext = AccessRequest(flow: "access", target: "db", targetLabel: "Orders DB", requester: "rita",
                                    fields: ["duration": .duration(TimeSpan(seconds: 5 * 3600))], durationSeconds: 5 * 3600,
                                    createdAt: h.clock.now, requestExpiresAt: h.clock.now.addingTimeInterval(3600), extends: grant.id)
            ext = try h.store.write { try $0.insert(ext) }
            pending.append(ext)
        }
        XCTAssertEqual(try h.execute(.approve(id: pending[0].id, reason: nil), by: h.alice).state, .approved)
        let refused = h.refusal(.approve(id: pending[1].id, reason: nil), by: h.alice)
        XCTAssertEqual(refused?.code, ExitCode.dataErr)
        XCTAssertTrue(refused?.message.contains("max_duration is 8h") ?? false, refused?.message ?? "")
        XCTAssertEqual(try h.current(grant).accessExpiresAt, expiry.addingTimeInterval(5 * 3600))
        XCTAssertEqual(try h.current(pending[1]).state, .pending, "nothing of the refused approval is written")
    }

    func testAnExtensionMustUseOneOfTheDurationFieldsAllowedValues() throws {
        let h = try EngineHarness(self)
        reconfigure(h, flow: "access") { flow in
            let i = flow.promptFields.firstIndex { $0.name == "duration" }!
            flow.promptFields[i].allowedValues = [.duration(TimeSpan(seconds: 1800)), .duration(TimeSpan(seconds: 3600))]
        }
        let grant = try h.activeGrant()
        let refused = h.refusal(.extend(id: grant.id, duration: "45m", reason: nil), by: h.rita)
        XCTAssertEqual(refused?.code, ExitCode.dataErr)
        XCTAssertTrue(refused?.message.contains("not one of the allowed values") ?? false, refused?.message ?? "")
        XCTAssertNoThrow(try h.execute(.extend(id: grant.id, duration: "30m", reason: nil), by: h.rita))
    }

    func testAnExtensionPassesTheFlowsOnRequestHook() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        let impl = h.dir + "/impl.py"
        try """
            from symtui_sdk import hook, ignore
            @hook
            def on_request(event):
                if event.request.get("extends"):
                    return ignore("extensions are frozen this week")
            """.write(toFile: impl, atomically: true, encoding: .utf8)
        reconfigure(h, flow: "access") { $0.implementation = impl; $0.handlerTimeout = TimeSpan(seconds: 20) }
        h.engine.handlers = HandlerRunner(sdkDirectory: try EmbeddedSDK.install(into: h.dir + "/sdk"))
        let refused = h.refusal(.extend(id: grant.id, duration: "30m", reason: nil), by: h.rita)
        XCTAssertEqual(refused?.code, ExitCode.noPerm)
        XCTAssertTrue(refused?.message.contains("extensions are frozen this week") ?? false, refused?.message ?? "")
        XCTAssertEqual(try h.store.count(RequestQuery(states: [.pending])), 0)
    }

    func testAnExtensionCountsTowardsThePendingLimit() throws {
        let h = try EngineHarness(self)
        let grant = try h.activeGrant()
        limit(h) { $0.pendingPerUser = 1 }
        try h.request()
        XCTAssertEqual(h.refusal(.extend(id: grant.id, duration: "30m", reason: nil), by: h.rita)?.code, ExitCode.dataErr)
    }
}

/// Collects results from parallel calls.
private final class ResultList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Result<AccessRequest, CommandError>] = []
    func add(_ r: Result<AccessRequest, CommandError>) { lock.withLock { items.append(r) } }
    var successes: Int { lock.withLock { items.filter { if case .success = $0 { true } else { false } }.count } }
}
