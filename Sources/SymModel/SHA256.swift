import CSHA

/// SHA-256 (FIPS 180-4), small and dependency-free; checked against the NIST vectors in the tests.
/// Whole 64-byte blocks are compressed straight from the caller's bytes; only a partial block is buffered.
/// On a CPU with the x86 SHA extensions (cpuid, asked once) blocks are compressed by the CSHA target's SHA-NI code,
/// several times faster; elsewhere by the portable Swift code below. Both give the same digests (tested).
public struct SHA256: Sendable {
    /// Whether this CPU's SHA extensions are used.
    public static let accelerated = csha256_accelerated() != 0
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    /// A partial block (fewer than 64 bytes) waiting for more input.
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0
    /// Compress with the SHA extensions (false: the portable code, also when `SHA256.accelerated` is false).
    private let native: Bool

    /// `portable: true` always uses the portable code (the tests compare both).
    public init(portable: Bool = false) {
        native = SHA256.accelerated && !portable
        buffer.reserveCapacity(64)
    }

    public mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { p in update(UnsafeRawBufferPointer(p)) }
        if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }

    private mutating func update(_ input: UnsafeRawBufferPointer) {
        var p = input[...]
        length &+= UInt64(p.count)
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, p.count)
            buffer.append(contentsOf: p.prefix(take))
            p = p.dropFirst(take)
            guard buffer.count == 64 else { return }
            let block = buffer
            buffer.removeAll(keepingCapacity: true)
            length &-= 64
            block.withUnsafeBytes { update($0) }
        }
        if let base = input.baseAddress, p.count >= 64 {
            let blocks = p.count / 64
            if native {
                withUnsafeMutablePointer(to: &h) { state in
                    state.withMemoryRebound(to: UInt32.self, capacity: 8) {
                        csha256_blocks($0, (base + p.startIndex).assumingMemoryBound(to: UInt8.self), blocks)
                    }
                }
            } else {
                for i in 0..<blocks { compress(base + p.startIndex + 64 * i) }
            }
            p = p.dropFirst(64 * blocks)
        }
        if !p.isEmpty { buffer.append(contentsOf: p) }
    }

    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var pad: [UInt8] = [0x80]
        while (buffer.count + pad.count) % 64 != 56 { pad.append(0) }
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        let saved = length
        pad.withUnsafeBytes { update($0) }
        length = saved
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for w in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            out += [UInt8(w >> 24), UInt8(truncatingIfNeeded: w >> 16), UInt8(truncatingIfNeeded: w >> 8), UInt8(truncatingIfNeeded: w)]
        }
        return out
    }

    /// Compresses the 64 bytes at `block` into the state.
    private mutating func compress(_ block: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            SHA256.k.withUnsafeBufferPointer { k in
                for i in 0..<16 {
                    w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                }
                for i in 16..<64 {
                    let a = w[i - 15], b = w[i - 2]
                    let s0 = a.rotr(7) ^ a.rotr(18) ^ (a >> 3)
                    let s1 = b.rotr(17) ^ b.rotr(19) ^ (b >> 10)
                    w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
                }
                var (a, b, c, d, e, f, g, hh) = h
                for i in 0..<64 {
                    let s1 = e.rotr(6) ^ e.rotr(11) ^ e.rotr(25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                    let s0 = a.rotr(2) ^ a.rotr(13) ^ a.rotr(22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                }
                h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
            }
        }
    }

    public static func digest<S: Sequence>(_ bytes: S) -> [UInt8] where S.Element == UInt8 {
        if accelerated, let d = bytes.withContiguousStorageIfAvailable({ oneShot($0) }) { return d }
        var s = SHA256(); s.update(bytes); return s.finalize()
    }

    /// The digest of contiguous bytes in one call into the SHA-NI code (padding included), with no state kept.
    private static func oneShot(_ p: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, n in
            csha256_digest(p.baseAddress ?? UnsafePointer(out.baseAddress!), p.count, out.baseAddress!)
            n = 32
        }
    }

    /// The digest of `bytes` in lowercase hex.
    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 { hexEncoded(digest(bytes)) }

    /// 32 bytes (a digest or a MAC) in lowercase hex.
    public static func hexEncoded(_ d: [UInt8]) -> String {
        let hexDigits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 2 * d.count) { out in
            hexDigits.withUTF8Buffer { hx in
                for (i, b) in d.enumerated() { out[2 * i] = hx[Int(b >> 4)]; out[2 * i + 1] = hx[Int(b & 15)] }
            }
            return 2 * d.count
        }
    }
}

/// HMAC-SHA-256 (RFC 2104) with one key; checked against the RFC 4231 vectors in the tests.
public struct HMACSHA256: Sendable {
    private let inner: [UInt8]
    private let outer: [UInt8]

    public init(key: [UInt8]) {
        var k = key.count > 64 ? SHA256.digest(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        inner = k.map { $0 ^ 0x36 }
        outer = k.map { $0 ^ 0x5c }
    }

    public func mac<S: Sequence>(_ message: S) -> [UInt8] where S.Element == UInt8 {
        var i = SHA256()
        i.update(inner)
        i.update(message)
        var o = SHA256()
        o.update(outer)
        o.update(i.finalize())
        return o.finalize()
    }

    /// The MAC of a text's UTF-8 bytes, in lowercase hex.
    public func hex(_ text: String) -> String { SHA256.hexEncoded(mac(Array(text.utf8))) }
}

extension UInt32 {
    @inline(__always) fileprivate func rotr(_ n: UInt32) -> UInt32 { (self >> n) | (self << (32 - n)) }
}
