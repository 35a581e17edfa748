import Foundation
import XCTest
import SymModel
@testable import SymStore

final class ZZBenchTests: XCTestCase {
    func testBench() throws {
        let dir = try AuditFixture.tempDirectory()
        let store = try AuditFixture.store(in: dir, count: 20_000) { i in
            EventDraft(type: .approve, requestId: Int64(i), flow: "prod-access", target: "prod-ssh", requester: "alice",
                       actor: "bob", reason: "looks fine", data: .obj([("step", .string("oncall")), ("approvals", .int(1))]))
        }
        func t(_ name: String, _ body: () throws -> Void) rethrows {
            let s = DispatchTime.now().uptimeNanoseconds
            try body()
            print(name, Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
        }
        var events: [AuditEvent] = []
        try t("read") { events = try store.events(afterSeq: 0, limit: 20_000) }
        try t("rawquery") { var n = 0; try store.db.query("SELECT \(Store.eventColumns) FROM events") { s in n += s.text(10).count + s.text(1).count } }
        try t("parse") { for e in events { _ = try JSONValue.parse(e.data.compact) } }
        var texts: [String] = []
        t("canonical") { texts = events.map { $0.unhashedJSON.canonical } }
        t("sha") { for x in texts { _ = SHA256.hex(Array(x.utf8)) } }
        t("computed") { for e in events { _ = e.computedHash } }
    }
}
extension ZZBenchTests {
    func testBench2() throws {
        let d = Date()
        func t(_ name: String, _ body: () throws -> Void) rethrows {
            let s = DispatchTime.now().uptimeNanoseconds
            try body()
            print(name, Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
        }
        t("ts") { for i in 0..<20_000 { _ = Timestamp.format(d.addingTimeInterval(Double(i))) } }
        let e = AuditEvent(seq: 5, id: UUID().uuidString, time: d, draft: EventDraft(type: .approve, requestId: 5, flow: "prod-access", target: "prod-ssh", requester: "alice",
                       actor: "bob", reason: "looks fine", data: .obj([("step", .string("oncall")), ("approvals", .int(1))])), prevHash: AuditEvent.genesisHash)
        var j: JSONValue = .null
        t("unhashed") { for _ in 0..<20_000 { j = e.unhashedJSON } }
        t("canon") { for _ in 0..<20_000 { _ = j.canonical } }
        t("compact") { for _ in 0..<20_000 { _ = j.compact } }
    }
}
