import Foundation

/// What `symtui report` and the console's Stats view show: per flow, how requests fared in a window and how long
/// approval took; per UTC day, how many requests came and how many grants were active at most at once.
/// Computed by the daemon from the store (`{"read":"report"}`); the JSON shape is documented in docs/cli.md.
public struct ActivityReport: Sendable, Equatable {
    /// Figures of one flow (or of all flows, `flow` nil) over the window.
    public struct Figures: Sendable, Equatable {
        public var flow: String?
        /// Requests created in the window.
        public var requests: Int64 = 0
        /// Of those, approved (decided without a denial), whatever happened after.
        public var approved: Int64 = 0
        public var denied: Int64 = 0
        /// Pending requests that nobody decided before their TTL.
        public var expired: Int64 = 0
        public var cancelled: Int64 = 0
        public var failed: Int64 = 0
        /// Still waiting for a decision.
        public var pending: Int64 = 0
        /// Requests approved by their own requester (self-approval: break-glass).
        public var breakGlass: Int64 = 0
        /// Seconds from request to approval, nearest-rank median and 90th percentile; nil without approvals.
        public var approvalMedian: Double?
        public var approvalP90: Double?

        public init(flow: String?) { self.flow = flow }
    }

    /// One UTC day of the window (the first and the last may be partial).
    public struct Day: Sendable, Equatable {
        /// YYYY-MM-DD, UTC.
        public var date: String
        public var requests: Int64
        /// The most grants active at the same moment during the day (or the part of it in the window).
        public var grantsMax: Int64
        public init(date: String, requests: Int64, grantsMax: Int64) { self.date = date; self.requests = requests; self.grantsMax = grantsMax }
    }

    public var since: Date
    public var until: Date
    /// One entry per flow with a request in the window, by name.
    public var flows: [Figures]
    public var total: Figures
    public var days: [Day]

    public init(since: Date, until: Date, flows: [Figures], total: Figures, days: [Day]) {
        self.since = since; self.until = until; self.flows = flows; self.total = total; self.days = days
    }

    /// The longest window a report covers, in days: one day per entry of `days`, within a read's row limit.
    public static let maxDays = 1_000
    public static let defaultSpan = TimeSpan(seconds: 30 * 86_400)

    /// The nearest-rank percentile `p` (0 < p ≤ 1) of `sorted` (ascending): the smallest value with at least p of
    /// the values at or below it. The rank the store's query asks for (`rank(p, count)` is 1-based).
    public static func rank(_ p: Double, count: Int64) -> Int64 { max(1, Int64((p * Double(count)).rounded(.up))) }

    /// `--since`: a date (YYYY-MM-DD, midnight UTC) or a span back from `now` (`30d`, `12h`, `1d12h`: units d, h, m, s).
    public static func parseSince(_ text: String, now: Date) -> Result<Date, Problem> {
        let t = text.trimmingCharacters(in: .whitespaces)
        let start: Date
        if let d = utcDate(t) {
            start = d
        } else if let span = TimeSpan(parsing: t), span.seconds > 0 {
            start = now.addingTimeInterval(-TimeInterval(span.seconds))
        } else {
            return .failure(Problem(message: "'\(SafeText.display(text))' is neither a date (YYYY-MM-DD) nor a span back from now (e.g. 30d, 12h)"))
        }
        if start > now { return .failure(Problem(message: "'\(SafeText.display(text))' is in the future")) }
        if now.timeIntervalSince(start) > Double(maxDays - 1) * 86_400 {
            return .failure(Problem(message: "'\(SafeText.display(text))' is more than \(maxDays - 1) days back (the longest window a report covers)"))
        }
        return .success(start)
    }

    public struct Problem: Error, Equatable { public var message: String }

    /// Midnight UTC of a YYYY-MM-DD date that exists, else nil.
    public static func utcDate(_ s: String) -> Date? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), (1...31).contains(d) else { return nil }
        var t = tm()
        t.tm_year = Int32(y - 1900); t.tm_mon = Int32(m - 1); t.tm_mday = Int32(d)
        let secs = timegm(&t)
        // timegm normalises 2026-02-30 to March: such a date does not exist.
        var back = tm()
        var s2 = secs
        gmtime_r(&s2, &back)
        guard back.tm_mday == Int32(d), back.tm_mon == Int32(m - 1) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(secs))
    }

    /// The UTC day `date` falls in, as YYYY-MM-DD.
    public static func dayName(_ date: Date) -> String { String(Timestamp.format(date).prefix(10)) }

    /// Midnight UTC at or before `date`, in milliseconds.
    public static func dayStartMillis(_ millis: Int64) -> Int64 {
        let day: Int64 = 86_400_000
        return millis >= 0 ? millis / day * day : -((-millis + day - 1) / day * day)
    }
}

extension ActivityReport {
    public var json: JSONValue {
        func seconds(_ d: Double?) -> JSONValue { d.map { .double(($0 * 1000).rounded() / 1000) } ?? .null }
        func figures(_ f: Figures) -> JSONValue {
            var pairs: [(String, JSONValue?)] = []
            if let flow = f.flow { pairs.append(("flow", .string(flow))) }
            pairs += [("requests", .int(f.requests)), ("approved", .int(f.approved)), ("denied", .int(f.denied)),
                      ("expired", .int(f.expired)), ("cancelled", .int(f.cancelled)), ("failed", .int(f.failed)),
                      ("pending", .int(f.pending)), ("break_glass", .int(f.breakGlass)),
                      ("approval_seconds", .obj([("median", seconds(f.approvalMedian)), ("p90", seconds(f.approvalP90))]))]
            return .obj(pairs)
        }
        return .obj([("since", .string(Timestamp.format(since))), ("until", .string(Timestamp.format(until))),
                     ("flows", .array(flows.map(figures))), ("total", figures(total)),
                     ("days", .array(days.map { .obj([("date", .string($0.date)), ("requests", .int($0.requests)), ("grants_max", .int($0.grantsMax))]) }))])
    }

    public init?(json: JSONValue) {
        guard let since = json["since"]?.stringValue.flatMap(Timestamp.parse), let until = json["until"]?.stringValue.flatMap(Timestamp.parse),
              let flows = json["flows"]?.arrayValue, let total = json["total"], let days = json["days"]?.arrayValue else { return nil }
        func double(_ v: JSONValue?) -> Double? {
            switch v {
            case let .double(d)?: return d
            case let .int(i)?: return Double(i)
            default: return nil
            }
        }
        func figures(_ j: JSONValue) -> Figures {
            var f = Figures(flow: j["flow"]?.stringValue)
            f.requests = j["requests"]?.intValue ?? 0; f.approved = j["approved"]?.intValue ?? 0
            f.denied = j["denied"]?.intValue ?? 0; f.expired = j["expired"]?.intValue ?? 0
            f.cancelled = j["cancelled"]?.intValue ?? 0; f.failed = j["failed"]?.intValue ?? 0
            f.pending = j["pending"]?.intValue ?? 0; f.breakGlass = j["break_glass"]?.intValue ?? 0
            f.approvalMedian = double(j["approval_seconds"]?["median"]); f.approvalP90 = double(j["approval_seconds"]?["p90"])
            return f
        }
        self.init(since: since, until: until, flows: flows.map(figures), total: figures(total),
                  days: days.compactMap { d in
                      d["date"]?.stringValue.map { Day(date: $0, requests: d["requests"]?.intValue ?? 0, grantsMax: d["grants_max"]?.intValue ?? 0) }
                  })
    }
}
