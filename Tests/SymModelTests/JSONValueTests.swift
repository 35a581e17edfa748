import Foundation
import XCTest
@testable import SymModel

final class JSONValueCanonicalTests: XCTestCase {
    func testCanonicalSortsKeysByTheirUTF8Bytes() {
        // UTF-16 order would put the emoji before the fullwidth A; UTF-8 byte order puts it after.
        let v = JSONValue.object([("b", .int(1)), ("\u{1F600}", .int(2)), ("\u{FF21}", .int(3)), ("a", .int(4)), ("Z", .int(5)),
                                  ("aa", .int(6)), ("", .int(7)), ("é", .int(8))])
        XCTAssertEqual(v.canonical, #"{"":7,"Z":5,"a":4,"aa":6,"b":1,"é":8,"Ａ":3,"😀":2}"#)
    }

    func testCanonicalSortsNestedObjectsAndKeepsArrayOrder() {
        let v = JSONValue.object([("z", .array([.object([("y", .null), ("x", .bool(true))]), .int(2), .int(1)])), ("a", .double(1.5))])
        XCTAssertEqual(v.canonical, #"{"a":1.5,"z":[{"x":true,"y":null},2,1]}"#)
    }

    func testCompactKeepsInsertionOrder() {
        XCTAssertEqual(JSONValue.object([("b", .int(1)), ("a", .int(2))]).compact, #"{"b":1,"a":2}"#)
    }

    func testControlsAreEscaped() {
        let s = JSONValue.string("q\"b\\n\nr\rt\tnul\u{0}esc\u{1b}del\u{7f}c1\u{85}ls\u{2028}")
        XCTAssertEqual(s.canonical, #""q\"b\\n\nr\rt\tnul\u0000esc\u001bdel\u007fc1\u0085ls\u2028""#)
        XCTAssertFalse(s.canonical.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) })
    }

    func testCanonicalRoundTripsThroughParse() throws {
        let values: [JSONValue] = [
            .null, .bool(true), .bool(false), .int(0), .int(-42), .int(Int64.max), .int(Int64.min + 1), .double(1.5), .double(-0.001),
            .string(""), .string("日本語 🚀 \u{1}\u{1f}\u{7f}\u{9f} \"quoted\" back\\slash"), .array([]), .object([]),
            .object([("nested", .object([("list", .array([.int(1), .string("two"), .null, .object([("k", .bool(false))])]))])),
                     ("\u{1b}key", .string("v"))]),
        ]
        for v in values {
            XCTAssertEqual(try JSONValue.parse(v.canonical), v, v.canonical)
            XCTAssertEqual(try JSONValue.parse(v.canonical).canonical, v.canonical)
            XCTAssertEqual(try JSONValue.parse(v.pretty), v, v.pretty)
        }
    }

    func testRandomDocumentsRoundTrip() throws {
        var rng = SplitMix64(seed: 99)
        func randomString() -> String {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 8) {
                if let u = Unicode.Scalar(UInt32(rng.next() % (rng.next() % 2 == 0 ? 0x100 : 0x20000))) { s.append(u) }
            }
            return String(s)
        }
        func random(_ depth: Int) -> JSONValue {
            switch rng.next() % (depth > 3 ? 5 : 7) {
            case 0: return .null
            case 1: return .bool(rng.next() % 2 == 0)
            case 2: return .int(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 63))
            case 3: return .string(randomString())
            case 4: return .double(Double(Int64(rng.next() % 100_000)) / 64 + 0.5)
            case 5: return .array((0..<Int(rng.next() % 4)).map { _ in random(depth + 1) })
            default:
                var keys = Set<String>()
                for _ in 0..<Int(rng.next() % 4) { keys.insert(randomString()) }
                return .object(keys.map { ($0, random(depth + 1)) })
            }
        }
        for _ in 0..<500 {
            let v = random(0)
            XCTAssertEqual(try JSONValue.parse(v.canonical), v, v.canonical.debugDescription)
        }
    }
}

final class JSONValueAuditHashTests: XCTestCase {
    func event() -> AuditEvent {
        let draft = EventDraft(type: .approve, requestId: 7, flow: "prod", target: "prod-ssh", requester: "rita", actor: "alice",
                               reason: "ok", data: .object([("self", .bool(false))]))
        return AuditEvent(seq: 3, id: "c0ffee00-0000-4000-8000-000000000001", time: Date(timeIntervalSince1970: 1_795_773_600),
                          draft: draft, prevHash: String(repeating: "a", count: 64))
    }

    func testTheHashIsSHA256OfPrevHashAndTheCanonicalJSON() {
        let e = event()
        XCTAssertEqual(e.computedHash, SHA256.hex(Array((e.prevHash + "\n" + e.unhashedJSON.canonical).utf8)))
        XCTAssertEqual(e.computedHash.count, 64)
    }

    func testTheHashChangesWhenAnyFieldChanges() {
        let original = event().computedHash
        let changes: [(String, (inout AuditEvent) -> Void)] = [
            ("seq", { $0.seq += 1 }), ("id", { $0.id = "other" }), ("time", { $0.time.addTimeInterval(1) }),
            ("type", { $0.type = .deny }), ("request_id", { $0.requestId = 8 }), ("request_id nil", { $0.requestId = nil }),
            ("flow", { $0.flow = "dev" }), ("target", { $0.target = "other" }), ("target nil", { $0.target = nil }),
            ("requester", { $0.requester = "eve" }), ("actor", { $0.actor = "system" }), ("reason", { $0.reason = "ok." }),
            ("reason nil", { $0.reason = nil }), ("data", { $0.data = .object([("self", .bool(true))]) }),
            ("prev_hash", { $0.prevHash = String(repeating: "b", count: 64) }),
        ]
        for (name, change) in changes {
            var e = event()
            change(&e)
            XCTAssertNotEqual(e.computedHash, original, name)
        }
    }

    func testTheHashIgnoresKeyOrderInData() {
        var a = event(), b = event()
        a.data = .object([("x", .int(1)), ("y", .int(2))])
        b.data = .object([("y", .int(2)), ("x", .int(1))])
        XCTAssertEqual(a.computedHash, b.computedHash)
    }

    func testTheEventJSONHasTheSpecKeys() {
        var e = event()
        e.hash = e.computedHash
        XCTAssertEqual(e.json.objectValue?.map(\.0), ["seq", "id", "time", "type", "request_id", "flow", "target", "requester", "actor",
                                                     "reason", "data", "prev_hash", "hash"])
    }
}
