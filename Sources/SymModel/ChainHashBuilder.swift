import CSHA

/// Rebuilds the bytes an audit event's chain hash covers (see `AuditEvent.hash`) straight from a store's column bytes,
/// into one reused buffer: no Swift string per column, no JSON tree. Used by the verifier, where building these bytes
/// cost more than hashing them. A column that is not plain ASCII goes through the same JSON writer as `AuditEvent.hash`
/// (after the same UTF-8 repair a `String` makes), so both always hash the same bytes; the tests compare them.
public struct ChainHashBuilder {
    /// The bytes of the last `build`.
    public private(set) var bytes: [UInt8] = []
    private var second = Int64.min
    private var secondText: [UInt8] = []

    public init() { bytes.reserveCapacity(2048) }

    /// Column bytes as SQLite gives them (NUL-terminated, `count` without the NUL); nil for SQL NULL.
    public typealias Column = UnsafeBufferPointer<UInt8>?

    /// `p` needs nothing done: every byte 0x20…0x7E and, when `inString`, neither `"` nor `\`.
    @inline(__always) private static func plain(_ p: UnsafeBufferPointer<UInt8>, inString: Bool) -> Bool {
        for b in p {
            if b < 0x20 || b > 0x7E { return false }
            if inString && (b == 0x22 || b == 0x5C) { return false }
        }
        return true
    }

    /// The column as a `String` would read it (`Statement.text`: up to the first NUL, invalid UTF-8 repaired).
    private static func string(_ p: UnsafeBufferPointer<UInt8>?) -> String {
        guard let p, let base = p.baseAddress else { return "" }
        return String(cString: base)
    }

    private mutating func raw(_ p: Column) {
        guard let p else { return }
        if ChainHashBuilder.plain(p, inString: false) { bytes.append(contentsOf: p) } else { bytes += ChainHashBuilder.string(p).utf8 }
    }

    private mutating func string(_ p: Column, nullable: Bool) {
        guard let p else {
            if nullable { bytes += "null".utf8 } else { bytes += "\"\"".utf8 }
            return
        }
        if ChainHashBuilder.plain(p, inString: true) {
            bytes.append(0x22); bytes.append(contentsOf: p); bytes.append(0x22)
        } else {
            JSONValue.writeString(ChainHashBuilder.string(p), into: &bytes)
        }
    }

    private mutating func key(_ k: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(0x22)
        bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
        bytes.append(0x22); bytes.append(UInt8(ascii: ":"))
    }

    private mutating func integer(_ v: Int64) {
        if v >= 0 && v < 10 { bytes.append(UInt8(48 + v)); return }
        bytes += String(v).utf8
    }

    private mutating func time(_ millis: Int64) {
        var secs = millis / 1000
        var rem = millis % 1000
        if rem < 0 { rem += 1000; secs -= 1 }
        if secs != second {
            // "YYYY-MM-DDTHH:MM:SS" once per second (events come in bursts), the rest by hand.
            let full = Timestamp.format(millis: secs * 1000)
            guard full.utf8.count == 20 else { bytes.append(0x22); bytes += Timestamp.format(millis: millis).utf8; bytes.append(0x22); return }
            second = secs
            secondText = Array(full.utf8.dropLast())
        }
        bytes.append(0x22)
        bytes += secondText
        if rem != 0 {
            bytes.append(UInt8(ascii: "."))
            bytes.append(UInt8(48 + rem / 100)); bytes.append(UInt8(48 + rem / 10 % 10)); bytes.append(UInt8(48 + rem % 10))
        }
        bytes.append(UInt8(ascii: "Z"))
        bytes.append(0x22)
    }

    /// Builds the hashed bytes of one event from its columns (`data` is its stored canonical JSON text).
    public mutating func build(seq: Int64, id: Column, timeMs: Int64, type: Column, requestId: Int64?, flow: Column, target: Column,
                               requester: Column, actor: Column, reason: Column, data: Column, prevHash: Column) {
        bytes.removeAll(keepingCapacity: true)
        raw(prevHash)
        bytes.append(0x0A)
        bytes.append(UInt8(ascii: "{"))
        key("actor", first: true); string(actor, nullable: false)
        key("data"); raw(data)
        key("flow"); string(flow, nullable: true)
        key("id"); string(id, nullable: false)
        key("prev_hash"); string(prevHash, nullable: false)
        key("reason"); string(reason, nullable: true)
        key("request_id"); if let requestId { integer(requestId) } else { bytes += "null".utf8 }
        key("requester"); string(requester, nullable: true)
        key("seq"); integer(seq)
        key("target"); string(target, nullable: true)
        key("time"); time(timeMs)
        key("type"); string(type, nullable: false)
        bytes.append(UInt8(ascii: "}"))
    }

    /// True when the SHA-256 of the built bytes, in lowercase hex, is `hex` (a stored hash column).
    public func matches(_ hex: Column) -> Bool {
        guard let hex, hex.count == 64 else { return false }
        let digest = bytes.withUnsafeBufferPointer { p -> [UInt8] in
            if SHA256.accelerated {
                return [UInt8](unsafeUninitializedCapacity: 32) { out, n in
                    csha256_digest(p.baseAddress!, p.count, out.baseAddress!); n = 32
                }
            }
            return SHA256.digest(p)
        }
        let digits: StaticString = "0123456789abcdef"
        return digits.withUTF8Buffer { hx in
            for i in 0..<32 where hex[2 * i] != hx[Int(digest[i] >> 4)] || hex[2 * i + 1] != hx[Int(digest[i] & 15)] { return false }
            return true
        }
    }
}
