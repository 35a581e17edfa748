import Foundation
import XCTest
@testable import SymModel

/// The chain hash computed from stored columns is the documented one: SHA-256 over prev_hash, "\n" and the
/// canonical JSON of the event without its hash.
final class AuditHashTests: XCTestCase {
    func event(reason: String?, data: JSONValue, requestId: Int64? = 7) -> AuditEvent {
        let draft = EventDraft(type: .approve, requestId: requestId, flow: "prod-access", target: requestId == nil ? nil : "prod-ssh",
                               requester: "alice", actor: "bob", reason: reason, data: data)
        return AuditEvent(seq: 42, id: "0f5c2a9e-8d4b-4a3e-9c1d-2b7e6f0a1c3d", time: Date(timeIntervalSince1970: 1_800_000_000.123),
                          draft: draft, prevHash: String(repeating: "ab", count: 32))
    }

    func definition(_ e: AuditEvent) -> String { SHA256.hex(Array((e.prevHash + "\n" + e.unhashedJSON.canonical).utf8)) }

    func testColumnHashEqualsTheDefinitionForOrdinaryEvents() {
        let e = event(reason: "ok", data: .obj([("self", .bool(false)), ("approvals", .int(1)), ("step", nil)]))
        XCTAssertEqual(e.computedHash, definition(e))
    }

    func testColumnHashEqualsTheDefinitionWithNullsUnicodeAndControls() {
        let data = JSONValue.obj([("z", .array([.string("日本語"), .double(1.5), .null])), ("a", .obj([("q\"\\", .string("\u{1b}[2J\n\t"))]))])
        let e = event(reason: "émoji 👩‍💻 \u{202e} \u{7f}", data: data, requestId: nil)
        XCTAssertEqual(e.computedHash, definition(e))
    }

    func testColumnHashChangesWithEveryColumn() {
        let base = event(reason: "ok", data: .obj([("k", .int(1))]))
        var variants = [base]
        var e = base; e.reason = "ok!"; variants.append(e)
        e = base; e.actor = "carol"; variants.append(e)
        e = base; e.data = .obj([("k", .int(2))]); variants.append(e)
        e = base; e.seq = 43; variants.append(e)
        e = base; e.prevHash = String(repeating: "cd", count: 32); variants.append(e)
        XCTAssertEqual(Set(variants.map(\.computedHash)).count, variants.count)
    }
}
