import CSHA

/// Rebuilds the bytes an audit event's chain hash covers (see `AuditEvent.hash`) straight from a store's column bytes,
/// into one reused buffer: no Swift string per column, no JSON tree. Used by the verifier, where building these bytes
/// cost more than hashing them. A column that is not plain ASCII goes through the same JSON writer as `AuditEvent.hash`
/// (after the same UTF-8 repair a `String` makes), so both always hash the same bytes; the tests compare them.
public final class ChainHashBuilder {
    /// The bytes built, in a buffer of our own (appending through raw pointers: `Array.append` was a quarter of
    /// verify's time).
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity = 4096
    private var count = 0
    private var second = Int64.min
    private var secondText: [UInt8] = []

    public init() { buffer = .allocate(capacity: capacity) }
    deinit { buffer.deallocate() }

    /// The bytes of the last `build`.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: buffer, count: count)) }

    @inline(__always) private func reserve(_ more: Int) {
        guard count + more > capacity else { return }
        var bigger = capacity * 2
        while bigger < count + more { bigger *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: bigger)
        fresh.update(from: buffer, count: count)
        buffer.deallocate()
        buffer = fresh
        capacity = bigger
    }

    @inline(__always) private func put(_ b: UInt8) {
        reserve(1)
        buffer[count] = b
        count += 1
    }

    @inline(__always) private func put(_ p: UnsafeBufferPointer<UInt8>) {
        guard let base = p.baseAddress, !p.isEmpty else { return }
        reserve(p.count)
        (buffer + count).update(from: base, count: p.count)
        count += p.count
    }

    private func put<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { put($0) }
        if done == nil { for b in bytes { put(b) } }
    }

    /// Column bytes as SQLite gives them (NUL-terminated, `count` without the NUL); nil for SQL NULL.
    public typealias Column = UnsafeBufferPointer<UInt8>?

    /// `p` needs nothing done: every byte 0x20…0x7E and, when `inString`, neither `"` nor `\`. Eight bytes at a time
    /// (exact tests for "some byte is below 0x20 / has the top bit / is 0x7F, 0x22 or 0x5C"), the tail byte by byte.
    @inline(__always) public static func plain(_ p: UnsafeBufferPointer<UInt8>, inString: Bool) -> Bool {
        guard let base = p.baseAddress else { return true }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
        var i = 0
        while i + 8 <= p.count {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            if w & highs != 0 || (w &- ones &* 0x20) & ~w & highs != 0 || hasZero(w ^ (ones &* 0x7F)) { return false }
            if inString && (hasZero(w ^ (ones &* 0x22)) || hasZero(w ^ (ones &* 0x5C))) { return false }
            i += 8
        }
        while i < p.count {
            let b = base[i]
            if b < 0x20 || b > 0x7E { return false }
            if inString && (b == 0x22 || b == 0x5C) { return false }
            i += 1
        }
        return true
    }

    /// The column as a `String` would read it (`Statement.text`: up to the first NUL, invalid UTF-8 repaired).
    private static func string(_ p: UnsafeBufferPointer<UInt8>?) -> String {
        guard let p, let base = p.baseAddress else { return "" }
        return String(cString: base)
    }

    private func raw(_ p: Column) {
        guard let p else { return }
        if ChainHashBuilder.plain(p, inString: false) { put(p) } else { put(Array(ChainHashBuilder.string(p).utf8)) }
    }

    private func string(_ p: Column, nullable: Bool) {
        guard let p else {
            if nullable { put("null") } else { put(0x22); put(0x22) }
            return
        }
        if ChainHashBuilder.plain(p, inString: true) {
            put(0x22); put(p); put(0x22)
        } else {
            var escaped: [UInt8] = []
            JSONValue.writeString(ChainHashBuilder.string(p), into: &escaped)
            put(escaped)
        }
    }

    /// Constant text, e.g. a key with its quotes, comma and colon (`,"data":`), in one copy.
    @inline(__always) private func put(_ k: StaticString) {
        put(UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
    }

    /// The decimal digits of `v`, written in place (no String).
    private func integer(_ v: Int64) {
        if v >= 0 && v < 10 { put(UInt8(48 + v)); return }
        reserve(20)
        var magnitude = v.magnitude
        var digits = 0
        var tmp = magnitude
        repeat { digits += 1; tmp /= 10 } while tmp > 0
        if v < 0 { buffer[count] = UInt8(ascii: "-"); count += 1 }
        var at = count + digits - 1
        repeat { buffer[at] = UInt8(48 + magnitude % 10); magnitude /= 10; at -= 1 } while magnitude > 0
        count += digits
    }

    private func time(_ millis: Int64) {
        var secs = millis / 1000
        var rem = millis % 1000
        if rem < 0 { rem += 1000; secs -= 1 }
        if secs != second {
            // "YYYY-MM-DDTHH:MM:SS" once per second (events come in bursts), the rest by hand.
            let full = Timestamp.format(millis: secs * 1000)
            guard full.utf8.count == 20 else { put(0x22); put(Array(Timestamp.format(millis: millis).utf8)); put(0x22); return }
            second = secs
            secondText = Array(full.utf8.dropLast())
        }
        put(0x22)
        secondText.withUnsafeBufferPointer { put($0) }
        if rem != 0 {
            put(UInt8(ascii: "."))
            put(UInt8(48 + rem / 100)); put(UInt8(48 + rem / 10 % 10)); put(UInt8(48 + rem % 10))
        }
        put(UInt8(ascii: "Z"))
        put(0x22)
    }

    /// Builds the hashed bytes of one event from its columns (`data` is its stored canonical JSON text).
    public func build(seq: Int64, id: Column, timeMs: Int64, type: Column, requestId: Int64?, flow: Column, target: Column,
                               requester: Column, actor: Column, reason: Column, data: Column, prevHash: Column) {
        count = 0
        raw(prevHash)
        put(0x0A)
        put("{\"actor\":"); string(actor, nullable: false)
        put(",\"data\":"); raw(data)
        put(",\"flow\":"); string(flow, nullable: true)
        put(",\"id\":"); string(id, nullable: false)
        put(",\"prev_hash\":"); string(prevHash, nullable: false)
        put(",\"reason\":"); string(reason, nullable: true)
        put(",\"request_id\":"); if let requestId { integer(requestId) } else { put("null") }
        put(",\"requester\":"); string(requester, nullable: true)
        put(",\"seq\":"); integer(seq)
        put(",\"target\":"); string(target, nullable: true)
        put(",\"time\":"); time(timeMs)
        put(",\"type\":"); string(type, nullable: false)
        put(UInt8(ascii: "}"))
    }

    /// True when the SHA-256 of the built bytes, in lowercase hex, is `hex` (a stored hash column).
    public func matches(_ hex: Column) -> Bool {
        guard let hex, hex.count == 64 else { return false }
        let p = UnsafeBufferPointer(start: UnsafePointer(buffer), count: count)
        // The digest on the stack: no array per event on the accelerated path.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { out in
            if SHA256.accelerated {
                csha256_digest(p.baseAddress!, p.count, out.baseAddress!)
            } else {
                let d = SHA256.digest(p)
                for i in 0..<32 { out[i] = d[i] }
            }
            let digits: StaticString = "0123456789abcdef"
            return digits.withUTF8Buffer { hx in
                for i in 0..<32 where hex[2 * i] != hx[Int(out[i] >> 4)] || hex[2 * i + 1] != hx[Int(out[i] & 15)] { return false }
                return true
            }
        }
    }
}
