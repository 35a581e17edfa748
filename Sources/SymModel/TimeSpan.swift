import Foundation

/// A length of time as users write it: `90s`, `15m`, `1h30m`, `2d`.
public struct TimeSpan: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    /// Parses one or more `<number><unit>` parts with units d, h, m, s in that order, each at most once.
    public init?(parsing text: String) {
        let units: [(Character, Int)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
        var total = 0
        var digits = ""
        var nextUnit = 0
        var sawPart = false
        for ch in text {
            if ch.isASCII, ch.isNumber { digits.append(ch); continue }
            guard !digits.isEmpty, digits.count <= 9, let n = Int(digits),
                  let idx = units[nextUnit...].firstIndex(where: { $0.0 == ch }) else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(n * units[idx].1)
            guard !overflow else { return nil }
            total = sum
            nextUnit = idx + 1
            digits = ""
            sawPart = true
        }
        guard digits.isEmpty, sawPart, total > 0, total <= 3_650 * 86_400 else { return nil }
        seconds = total
    }

    /// The shortest form that parses back to the same span (`5400` → `1h30m`).
    public var description: String {
        var rest = seconds
        var out = ""
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out.isEmpty ? "0s" : out
    }

    /// A coarse, human countdown: `1d03h`, `1h05m`, `42m`, `4m12s`, `9s`. Seconds are shown only under 10 minutes,
    /// so that a console showing longer countdowns has a visible change once a minute, not once a second.
    public static func countdown(_ seconds: Int) -> String {
        if seconds <= 0 { return "0s" }
        // Plain interpolation, not String(format:) (a tenth of a console's idle CPU went there).
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if seconds >= 86_400 { return "\(seconds / 86_400)d\(two((seconds % 86_400) / 3_600))h" }
        if seconds >= 3_600 { return "\(seconds / 3_600)h\(two((seconds % 3_600) / 60))m" }
        if seconds >= 600 { return "\(seconds / 60)m" }
        if seconds >= 60 { return "\(seconds / 60)m\(two(seconds % 60))s" }
        return "\(seconds)s"
    }

    /// The width in seconds of the step `countdown(seconds)` is in: `countdown` gives the same text for every value
    /// from `seconds / step * step` to that plus `step - 1`, and a different one just outside (1 under 10 minutes,
    /// 60 under a day, 3,600 from a day). What the console uses to know when a shown countdown next changes.
    public static func countdownStep(_ seconds: Int) -> Int {
        seconds >= 86_400 ? 3_600 : seconds >= 600 ? 60 : 1
    }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.seconds < b.seconds }
}

/// When a scheduled access window starts (`request --start`): an RFC 3339 time, or `+DURATION` from now.
public enum WindowStart {
    /// How far ahead a window may start.
    public static let maxAhead: TimeInterval = 366 * 86_400

    /// Why a start was refused, in words for the requester.
    public struct Problem: Error, Equatable { public var message: String }

    /// `now`, `+DURATION` or `in DURATION` from now, or an RFC 3339 time. `subject` starts each message
    /// (the CLI's flag; the console's field shows the message without it).
    public static func parse(_ text: String, now: Date, subject: String = "--start ") -> Result<Date, Problem> {
        let s = text.trimmingCharacters(in: .whitespaces)
        let notATime = Problem(message: "\(subject)'\(SafeText.display(s))' is not a time: use now, +DURATION (+2h), in DURATION (in 2h) or RFC 3339 (2026-12-01T09:00:00Z)")
        let start: Date
        let relative = s.hasPrefix("+") ? String(s.dropFirst()) : s.lowercased().hasPrefix("in ") ? String(s.dropFirst(3)) : nil
        if s.lowercased() == "now" {
            start = now
        } else if let relative {
            guard let span = TimeSpan(parsing: relative.trimmingCharacters(in: .whitespaces)) else { return .failure(notATime) }
            start = now.addingTimeInterval(TimeInterval(span.seconds))
        } else {
            guard let d = Timestamp.parse(s) else { return .failure(notATime) }
            start = d
        }
        // A second of slack for a time typed as "now".
        if start < now.addingTimeInterval(-1) { return .failure(Problem(message: "\(subject)\(Timestamp.format(start)) is in the past")) }
        if start > now.addingTimeInterval(maxAhead) { return .failure(Problem(message: "\(subject)\(Timestamp.format(start)) is more than 366 days ahead")) }
        return .success(start)
    }
}

/// RFC 3339 UTC timestamps (`2026-11-27T10:00:00Z`, with milliseconds when present).
public enum Timestamp {
    /// Nanoseconds since 1970 by the system's real-time clock (one `clock_gettime`, no `Date`).
    public static func nowNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public static func format(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        return format(millis: ms)
    }

    public static func format(millis: Int64) -> String {
        var secs = time_t(millis / 1000)
        var rem = Int(millis % 1000)
        if rem < 0 { rem += 1000; secs -= 1 }
        var t = tm()
        gmtime_r(&secs, &t)
        let year = Int(t.tm_year) + 1900
        if (0...9999).contains(year) {
            // Digits by hand: String(format:) dominated the cost of hashing an audit event.
            var out = [UInt8]()
            out.reserveCapacity(24)
            func put(_ value: Int, _ width: Int) {
                var divisor = 1
                for _ in 1..<width { divisor *= 10 }
                var v = value
                while divisor > 0 { out.append(UInt8(48 + v / divisor)); v %= divisor; divisor /= 10 }
            }
            put(year, 4); out.append(45); put(Int(t.tm_mon) + 1, 2); out.append(45); put(Int(t.tm_mday), 2); out.append(84)
            put(Int(t.tm_hour), 2); out.append(58); put(Int(t.tm_min), 2); out.append(58); put(Int(t.tm_sec), 2)
            if rem != 0 { out.append(46); put(rem, 3) }
            out.append(90)
            return String(decoding: out, as: UTF8.self)
        }
        let base = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(t.tm_year) + 1900, Int(t.tm_mon) + 1,
                          Int(t.tm_mday), Int(t.tm_hour), Int(t.tm_min), Int(t.tm_sec))
        return rem == 0 ? base + "Z" : base + String(format: ".%03dZ", rem)
    }

    /// Accepts RFC 3339 with `Z` or an offset, with or without fractional seconds, or a bare date.
    public static func parse(_ text: String) -> Date? {
        let s = text.trimmingCharacters(in: .whitespaces)
        let re = #/^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})?)?$/#
        guard let m = s.wholeMatch(of: re) else { return nil }
        var t = tm()
        t.tm_year = Int32(m.1)! - 1900
        t.tm_mon = Int32(m.2)! - 1
        t.tm_mday = Int32(m.3)!
        t.tm_hour = m.4.map { Int32($0)! } ?? 0
        t.tm_min = m.5.map { Int32($0)! } ?? 0
        t.tm_sec = m.6.map { Int32($0)! } ?? 0
        guard (1...12).contains(t.tm_mon + 1), (1...31).contains(t.tm_mday), t.tm_hour < 24, t.tm_min < 60, t.tm_sec < 61 else { return nil }
        let (year, month, day) = (t.tm_year, t.tm_mon, t.tm_mday)
        var whole = timegm(&t)
        var back = tm()
        gmtime_r(&whole, &back)
        guard back.tm_year == year, back.tm_mon == month, back.tm_mday == day else { return nil }  // no 31 February
        var secs = Double(whole)
        if let frac = m.7 { secs += Double("0." + frac) ?? 0 }
        if let off = m.8, off != "Z", off != "z" {
            let sign: Double = off.hasPrefix("-") ? -1 : 1
            let parts = off.dropFirst().split(separator: ":")
            guard let h = Double(parts[0]), let m = Double(parts[1]), h < 24, m < 60 else { return nil }
            secs -= sign * (h * 3600 + m * 60)
        }
        return Date(timeIntervalSince1970: secs)
    }
}
