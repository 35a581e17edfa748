import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

/// `{"event":"audit_checkpoint","seq":N,"hash":H}`: its shape on the wire, and who may have the daemon record one.
final class AuditCheckpointCallTests: XCTestCase {
    func parse(_ text: String) throws -> DaemonCall { try DaemonCall.parse(try JSONValue.parse(text)) }
    let hash = String(repeating: "ab", count: 32)

    func testAnAuditCheckpointCallRoundTripsThroughItsJSON() throws {
        let call = DaemonCall.auditCheckpoint(seq: 42, hash: hash, hmacsChecked: true)
        XCTAssertEqual(try parse(call.json.compact), call)
        XCTAssertEqual(try parse(#"{"event":"audit_checkpoint","seq":3,"hash":"\#(hash)"}"#),
                       .auditCheckpoint(seq: 3, hash: hash, hmacsChecked: false), "hmacs_checked defaults to false")
    }

    func testAnAuditCheckpointCallNeedsASeqAHashAndNoOtherKey() {
        for line in [#"{"event":"audit_checkpoint","hash":"\#(hash)"}"#, #"{"event":"audit_checkpoint","seq":0,"hash":"\#(hash)"}"#,
                     #"{"event":"audit_checkpoint","seq":1}"#, #"{"event":"audit_checkpoint","seq":1,"hash":"\#(hash.uppercased())"}"#,
                     #"{"event":"audit_checkpoint","seq":1,"hash":"abc"}"#, #"{"event":"audit_checkpoint","seq":1,"hash":"\#(hash)","by":"root"}"#,
                     #"{"event":"audit_checkpoint","seq":1,"hash":"\#(hash)","hmacs_checked":"yes"}"#] {
            XCTAssertThrowsError(try parse(line), line) { XCTAssertEqual(($0 as? CommandError)?.code, ExitCode.dataErr, line) }
        }
    }

    func testOnlyThoseWhoMayReadTheStoreFileMayRecordACheckpoint() throws {
        let h = try EngineHarness(self)
        let id = try h.store.write { tx in try tx.append(EventDraft(type: .request, requestId: nil, flow: nil, target: nil, requester: nil, actor: "rita", reason: nil, data: .obj([])), at: EngineHarness.t0) }
        XCTAssertThrowsError(try AuditCheckpointCall.record(seq: id.seq, hash: id.hash, hmacsChecked: false, caller: h.rita, engine: h.engine)) {
            XCTAssertEqual(($0 as? CommandError)?.code, ExitCode.noPerm)
        }
        guard case .none = try h.store.readOnly().auditCheckpoint() else { return XCTFail("a refused call recorded something") }
        let me = Identity(uid: geteuid(), name: "me", groups: [])
        let pairs = try AuditCheckpointCall.record(seq: id.seq, hash: id.hash, hmacsChecked: false, caller: me, engine: h.engine)
        XCTAssertEqual(pairs.first?.1?["seq"], .int(id.seq))
        guard case let .checkpoint(c) = try h.store.readOnly().auditCheckpoint() else { return XCTFail("not recorded") }
        XCTAssertEqual(c.hash, id.hash)
    }

    func testAWrongHashIsRefusedWithDataErr() throws {
        let h = try EngineHarness(self)
        let e = try h.store.write { tx in try tx.append(EventDraft(type: .request, requestId: nil, flow: nil, target: nil, requester: nil, actor: "rita", reason: nil, data: .obj([])), at: EngineHarness.t0) }
        let me = Identity(uid: geteuid(), name: "me", groups: [])
        XCTAssertThrowsError(try AuditCheckpointCall.record(seq: e.seq, hash: hash, hmacsChecked: false, caller: me, engine: h.engine)) {
            XCTAssertEqual(($0 as? CommandError)?.code, ExitCode.dataErr)
            XCTAssertTrue("\($0)".contains("seq \(e.seq) has hash"), "\($0)")
        }
    }
}
