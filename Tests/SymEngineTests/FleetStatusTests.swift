import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import Synchronization
@testable import SymEngine

/// `{"read":"hosts"}` (`symtui hosts`): heartbeats, who is alive, and the strategy steps waiting for each host.
final class FleetStatusTests: XCTestCase {
    func step(_ runsOn: String?, state: RequestState = .escalating, retryAt: Date? = nil) -> AccessRequest {
        var r = AccessRequest(flow: "access", target: "db", targetLabel: nil, requester: "rita", state: state,
                              createdAt: EngineHarness.t0, requestExpiresAt: EngineHarness.t0.addingTimeInterval(60))
        r.host = "bastion-a"; r.runsOn = runsOn; r.nextAttemptAt = retryAt
        return r
    }

    func testHostsListsEveryHeartbeatAndEveryHostWithWorkWaiting() throws {
        let h = try EngineHarness(self)
        let now = h.clock.now
        try h.store.write { tx in
            try tx.recordHeartbeat(HostRecord(host: "bastion-b", version: "0.1.0", pid: 42, startedAt: now.addingTimeInterval(-600),
                                              seenAt: now.addingTimeInterval(-20)))
            try tx.recordHeartbeat(HostRecord(host: "bastion-a", version: "0.2.0", pid: 41, startedAt: now.addingTimeInterval(-60),
                                              seenAt: now.addingTimeInterval(-2)))
            for r in [step("bastion-a"), step("bastion-b", state: .deescalating), step("bastion-b", retryAt: now.addingTimeInterval(-1)),
                      step("bastion-b", retryAt: now.addingTimeInterval(30)), step("ghost"), step(nil), step(nil, state: .active)] {
                _ = try tx.insert(r)
            }
        }
        let service = ReadService(storePath: h.store.path, feed: ChangeFeed(), config: { [engine = h.engine] in engine.config },
                                  now: { [clock = h.clock] in clock.now })
        let call = try DaemonCall.parse(try JSONValue.parse(#"{"read":"hosts"}"#))
        guard case let .read(read) = call else { return XCTFail("\(call)") }
        let answer = JSONValue.obj(try service.answer(read, caller: h.mallory))
        let hosts = try XCTUnwrap(answer["hosts"]?.arrayValue)
        XCTAssertEqual(hosts.map { $0["host"]?.stringValue }, ["bastion-a", "bastion-b", "ghost"])
        XCTAssertEqual(hosts.map { $0["alive"]?.boolValue }, [true, false, false], "alive: seen within 3 heartbeats (15 s)")
        XCTAssertEqual(hosts.map { $0["waiting"]?.intValue }, [1, 2, 1], "due now only: b's later retry is not waiting yet")
        XCTAssertEqual(hosts.map { $0["version"]?.stringValue }, ["0.2.0", "0.1.0", nil])
        XCTAssertEqual(hosts[0]["pid"]?.intValue, 41)
        XCTAssertEqual(hosts[0]["last_seen"]?.stringValue, Timestamp.format(now.addingTimeInterval(-2)))
        XCTAssertEqual(hosts[2]["last_seen"], .null, "a host with work that never sent a heartbeat")
        XCTAssertEqual(answer["any_host_waiting"]?.intValue, 1)
    }

    func testHostsReadTakesNoKeys() {
        XCTAssertThrowsError(try DaemonCall.parse(try JSONValue.parse(#"{"read":"hosts","host":"x"}"#))) { error in
            XCTAssertEqual((error as? CommandError)?.code, ExitCode.dataErr)
        }
        XCTAssertEqual(try DaemonCall.parse(try JSONValue.parse(DaemonCall.read(.hosts).json.compact)), .read(.hosts))
    }

    func testADaemonHeartbeatRecordsItsHostVersionPidAndStart() throws {
        let h = try EngineHarness(self)
        let heartbeat = Heartbeat(store: h.store.writer, host: { "bastion-a" }, version: "9.9.9", now: { [clock = h.clock] in clock.now })
        try heartbeat.beat()
        h.clock.advance(5)
        try heartbeat.beat()
        let rows = try h.store.writer.read { try $0.fleetHosts() }
        XCTAssertEqual(rows, [HostRecord(host: "bastion-a", version: "9.9.9", pid: Int64(getpid()), startedAt: EngineHarness.t0,
                                         seenAt: EngineHarness.t0.addingTimeInterval(5))])
    }

    func testARunningHeartbeatKeepsMovingLastSeenUntilItStops() throws {
        let h = try EngineHarness(self)
        let heartbeat = Heartbeat(store: h.store.writer, host: { "bastion-a" }, version: "1", interval: 0.02)
        let stopped = Atomic(false)
        let done = DispatchSemaphore(value: 0)
        Thread { heartbeat.run(until: { stopped.load(ordering: .sequentiallyConsistent) }); done.signal() }.start()
        func seen() throws -> Date? { try h.store.writer.read { try $0.fleetHosts().first?.seenAt } }
        XCTAssertTrue(eventually { (try? seen()) != nil })
        let first = try XCTUnwrap(try seen())
        XCTAssertTrue(eventually { ((try? seen()) ?? first) > first }, "a later beat moves last_seen")
        stopped.store(true, ordering: .sequentiallyConsistent)
        heartbeat.wake()
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "the heartbeat stops when told")
    }
}
