import Foundation
import SymModel
import Synchronization

// `audit verify` of a store file on every core: the chain is cut into seq ranges; each thread checks its ranges
// (gapless seq, every hash rebuilt from the column bytes by ChainHashBuilder, every prev_hash link inside the range,
// and with a key every hmac) on a read-only connection of its own; then the ranges' ends are linked up in order. Every
// row stores its prev_hash, so no range needs the one before it to start. The first range that is not clean (or does
// not link to the one before) is checked again by the page-by-page verifier from its first seq, which then reports
// exactly what it always reports; a clean parallel pass implies a clean page-by-page pass (same bytes hashed, same
// comparisons made byte for byte).

/// What one range's check found.
struct RangeCheck: Sendable {
    var lo: Int64, hi: Int64
    var clean = true
    var firstPrev = ""
    var lastHash = ""
    /// With a key: the first signed and the first unsigned seq of the range.
    var firstSigned: Int64?
    var firstUnsigned: Int64?
}

private struct StopRange: Error {}

/// The ranges' results, filled by the worker threads (each slot by one thread).
private final class RangeResults: @unchecked Sendable {
    var slots: [RangeCheck?]
    private let lock = NSLock()
    private(set) var failure: (any Error)?
    init(_ n: Int) { slots = Array(repeating: nil, count: n) }
    func fail(_ e: any Error) { lock.withLock { failure = failure ?? e } }
}

extension AuditVerifier {
    /// The parallel verification of a store file, or nil when the chain is too short for it to pay.
    func verifyInRanges(_ file: Store, from start: ChainState) throws -> AuditVerification? {
        let last = try file.lastSeq()
        let first = start.expected
        guard last - first + 1 >= parallelFrom else { return nil }
        // More ranges than threads, so that a thread slowed by the machine's other work holds no one up for long.
        let total = last - first + 1
        let count = Int(min(total, Int64(workers * 8)))
        let span = (total + Int64(count) - 1) / Int64(count)
        let ranges = (0..<count).map { i in (lo: first + Int64(i) * span, hi: min(last, first + Int64(i + 1) * span - 1)) }
            .filter { $0.lo <= $0.hi }
        let results = RangeResults(ranges.count)
        let next = Atomic<Int>(0)
        let path = file.path
        let key = self.key
        DispatchQueue.concurrentPerform(iterations: min(workers, ranges.count)) { _ in
            do {
                let reader = try Store.openReadOnly(path: path)
                reader.mapForScans()
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < ranges.count else { return }
                    results.slots[i] = try AuditVerifier.check(range: ranges[i].lo...ranges[i].hi, in: reader, key: key)
                }
            } catch {
                results.fail(error)
            }
        }
        if let error = results.failure { throw error }
        var state = start
        for case let r? in results.slots {
            let crossUnsigned = key != nil && state.signedFrom != nil && r.firstUnsigned != nil
            if !r.clean || r.firstPrev != state.prevHash || crossUnsigned {
                return try verifySequentially(from: state)
            }
            state = ChainState(expected: r.hi + 1, prevHash: r.lastHash, checked: state.checked + (r.hi - r.lo + 1),
                               signedFrom: state.signedFrom ?? r.firstSigned)
        }
        // Events appended meanwhile, and the end-of-chain checks, as the page-by-page verifier does them.
        return try verifySequentially(from: state)
    }

    /// Checks the events `range` in `reader`; stops at the first thing that is not clean.
    static func check(range: ClosedRange<Int64>, in reader: Store, key: HMACSHA256?) throws -> RangeCheck {
        var result = RangeCheck(lo: range.lowerBound, hi: range.upperBound)
        let builder = ChainHashBuilder()
        var expected = range.lowerBound
        var lastHash: [UInt8] = []
        lastHash.reserveCapacity(64)
        do {
            try reader.db.query("SELECT \(Store.eventColumns) FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq",
                                [.int(range.lowerBound), .int(range.upperBound)], layout: EventColumns.self) { s, c in
                let seq = s.int(c.seq)
                guard seq == expected else { throw StopRange() }
                let prev = s.bytes(c.prevHash), hash = s.bytes(c.hash)
                if seq == range.lowerBound {
                    result.firstPrev = s.text(c.prevHash)
                } else {
                    guard let prev, prev.count == lastHash.count,
                          lastHash.withUnsafeBufferPointer({ memcmp($0.baseAddress!, prev.baseAddress!, prev.count) == 0 }) else { throw StopRange() }
                }
                builder.build(seq: seq, id: s.bytes(c.id), timeMs: s.int(c.time), type: s.bytes(c.type), requestId: s.optInt(c.requestId),
                              flow: s.bytes(c.flow), target: s.bytes(c.target), requester: s.bytes(c.requester), actor: s.bytes(c.actor),
                              reason: s.bytes(c.reason), data: s.bytes(c.data), prevHash: prev)
                guard let hash, builder.matches(hash) else { throw StopRange() }
                lastHash.removeAll(keepingCapacity: true)
                lastHash.append(contentsOf: hash)
                if let key {
                    if let hmac = s.optText(c.hmac) {
                        guard hmac == key.hex(String(decoding: hash, as: UTF8.self)) else { throw StopRange() }
                        result.firstSigned = result.firstSigned ?? seq
                    } else {
                        if result.firstSigned != nil { throw StopRange() }
                        result.firstUnsigned = result.firstUnsigned ?? seq
                    }
                }
                expected += 1
            }
        } catch is StopRange {
            result.clean = false
            return result
        }
        result.clean = expected == range.upperBound + 1
        result.lastHash = String(decoding: lastHash, as: UTF8.self)
        return result
    }
}
