import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A new event's id: a time-ordered (version 7, RFC 9562) UUID in lower case: 48 bits of Unix time in milliseconds,
/// then 74 random bits from the system's generator (one `getrandom` call).
///
/// Time first, so that ids made one after the other sort one after the other: the unique index on `events.id` then
/// grows at its end, as the table does. With random (version 4) ids every event landed on a page anywhere in that
/// index: a batch of commands changed one index page per event, each a WAL frame to write, sync and checkpoint,
/// and in a big store a page to read first. The 74 random bits keep ids unique and unguessable; the time they carry
/// is the event's own `time`, already public to whoever reads the event.
public enum EventID {
    public static func make() -> String { make(millis: UInt64(max(0, Timestamp.nowNanos() / 1_000_000))) }

    /// An id for an event made at `millis` ms since 1970 (tests give their own times).
    public static func make(millis: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        arc4random_buf(&bytes, bytes.count)   // glibc: one getrandom(2) for all 16 bytes
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> UInt64(8 * (5 - i))) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70   // version 7
        bytes[8] = (bytes[8] & 0x3F) | 0x80   // RFC 9562 variant
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
