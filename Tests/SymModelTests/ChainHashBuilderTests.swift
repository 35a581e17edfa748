import Foundation
import XCTest
@testable import SymModel

/// `ChainHashBuilder` (what `audit verify` hashes, built from column bytes) makes exactly the bytes `AuditEvent.hash`
/// hashes, for plain ASCII (the eight-bytes-at-a-time scan) and for every kind of byte that needs escaping or repair.
final class ChainHashBuilderTests: XCTestCase {
    private func builderHash(seq: Int64, id: String, timeMs: Int64, type: String, requestId: Int64?, flow: String?, target: String?,
                             requester: String?, actor: String, reason: String?, data: String, prev: String) -> Bool {
        let expected = AuditEvent.hash(seq: seq, id: id, time: Timestamp.format(millis: timeMs), type: type, requestId: requestId, flow: flow,
                                       target: target, requester: requester, actor: actor, reason: reason, dataCanonical: data, prevHash: prev)
        let b = ChainHashBuilder()
        func col<T>(_ s: String?, _ body: (ChainHashBuilder.Column) -> T) -> T {
            guard let s else { return body(nil) }
            // As SQLite gives a text column: NUL-terminated, the count without the NUL.
            return (Array(s.utf8) + [0]).withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0.dropLast())) }
        }
        col(id) { i in col(type) { ty in col(flow) { f in col(target) { t in col(requester) { rq in col(actor) { a in
            col(reason) { r in col(data) { d in col(prev) { p in
                b.build(seq: seq, id: i, timeMs: timeMs, type: ty, requestId: requestId, flow: f, target: t, requester: rq, actor: a,
                        reason: r, data: d, prevHash: p)
            } } } } } } } } }
        return Array(expected.utf8).withUnsafeBufferPointer { b.matches($0) }
    }

    func testPlainAndTrickyTextHashAsAuditEventHashDoes() {
        // Each tricky byte at every offset of a 17-byte string, so that it falls in an 8-byte word and in the tail.
        let tricky = ["\"", "\\", "\u{1}", "\u{1f}", "\u{7f}", "\n", "\t", "é", "日", "🚀", " ", "~"]
        var texts: [String?] = [nil, "", "a", "plain ascii text, long enough for words", "=cmd|' /C calc'!A0"]
        for t in tricky {
            for at in 0..<17 {
                var chars = Array(repeating: "x", count: 17)
                chars[at] = t
                texts.append(chars.joined())
            }
        }
        let prev = String(repeating: "ab", count: 32)
        for (n, text) in texts.enumerated() {
            let seq = Int64(n + 1)
            XCTAssertTrue(builderHash(seq: seq, id: "id-\(n)", timeMs: 1_790_000_000_123 + Int64(n) * 999, type: "request",
                                      requestId: n % 4 == 0 ? nil : Int64(n) * (n % 3 == 0 ? -1 : 1), flow: text, target: text,
                                      requester: text, actor: text ?? "system", reason: text, data: "{\"a\":1}", prev: prev),
                          "text \(String(reflecting: text))")
        }
    }

    func testNumbersAndDataHashAsAuditEventHashDoes() {
        let prev = AuditEvent.genesisHash
        for (seq, rid) in [(1, Int64.min), (9, -1), (10, 0), (99, 9), (123_456_789, Int64.max), (Int64.max, 10)] as [(Int64, Int64)] {
            XCTAssertTrue(builderHash(seq: seq, id: "x", timeMs: 0, type: "approve", requestId: rid, flow: nil, target: nil, requester: nil,
                                      actor: "a", reason: nil, data: "{\"n\":-5,\"s\":\"\\u0001 \\\" é\"}", prev: prev), "seq \(seq), request \(rid)")
        }
        XCTAssertTrue(builderHash(seq: 5, id: "x", timeMs: -1_500, type: "t", requestId: nil, flow: nil, target: nil, requester: nil,
                                  actor: "a", reason: nil, data: "{}", prev: prev), "a time before 1970")
    }
}
