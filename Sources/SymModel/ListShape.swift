import Foundation

/// How a request list or the audit log is ordered and narrowed beyond plain text search: the console's `s`/`S`
/// sort and its `/` regular expression. The daemon applies it before paging, so a page is a window of the
/// sorted, filtered whole (within `scanLimit` rows), not a sorted window.
public struct ListShape: Sendable, Equatable {
    /// What a request list can be sorted by.
    public enum Column: String, CaseIterable, Sendable {
        case id, age, requester, flow, target, state, expires
    }

    /// nil: the list's own order (newest first).
    public var sort: Column?
    /// Reverses the column's natural order (ids, names A→Z, youngest and soonest-to-expire first); without a
    /// column, the list's own order (oldest first).
    public var descending = false
    /// A case-insensitive regular expression a row must match (over the fields plain search looks at).
    public var regex: String?
    /// Keeps the rows the regex does not match instead.
    public var invert = false

    /// At most this many rows of a list (the newest) are read to be sorted or matched: the bound on one read's cost.
    public static let scanLimit = 10_000
    /// The longest regular expression accepted.
    public static let maxPatternLength = 200
    /// The most time one read may spend matching its regex over all its rows: a pattern that backtracks
    /// catastrophically (`(a+)+$` over a long field) is stopped here instead of holding a daemon thread.
    public static let matchBudget: TimeInterval = 1.0

    public init(sort: Column? = nil, descending: Bool = false, regex: String? = nil, invert: Bool = false) {
        self.sort = sort; self.descending = descending; self.regex = regex; self.invert = invert
    }

    /// Nothing beyond the list's own order and search.
    public var isDefault: Bool { sort == nil && !descending && (regex ?? "").isEmpty }

    /// The compiled case-insensitive expression, or a message saying what is wrong with it.
    public static func compile(_ pattern: String) -> Result<NSRegularExpression, ListShapeError> {
        guard pattern.count <= maxPatternLength else {
            return .failure(ListShapeError("regular expression longer than \(maxPatternLength) characters"))
        }
        // `^` and `$` match at each searched field's bounds: the fields are matched as one text, one per line.
        do { return .success(try NSRegularExpression(pattern: pattern, options: [.caseInsensitive, .anchorsMatchLines])) } catch {
            return .failure(ListShapeError("invalid regular expression: \(SafeText.display(pattern))"))
        }
    }

    /// The compiled regex of this shape (nil when there is none).
    public func compiledRegex() throws -> NSRegularExpression? {
        guard let r = regex, !r.isEmpty else { return nil }
        switch ListShape.compile(r) {
        case let .success(x): return x
        case let .failure(e): throw e
        }
    }

    /// The texts of a request a regex is matched against: what plain search looks at, plus the target's label.
    public static func searchedTexts(_ r: AccessRequest) -> [String] {
        [String(r.id), r.flow, r.target ?? "", r.targetLabel ?? "", r.requester, r.state.rawValue]
            + r.fields.keys.sorted().map { r.fields[$0]!.description }
    }

    /// The texts of an audit event a regex is matched against.
    public static func searchedTexts(_ e: AuditEvent) -> [String] {
        [e.type.rawValue, e.actor, e.requester ?? "", e.flow ?? "", e.target ?? "", e.reason ?? "", e.requestId.map { String($0) } ?? ""]
    }

    /// Whether `regex` matches one of `texts` (one regex run over them joined by newlines: far cheaper than one each).
    /// Throws once `deadline` has passed, also in the middle of one long match (ICU reports its progress).
    static func matches(_ regex: NSRegularExpression, _ texts: [String], deadline: Date) throws -> Bool {
        let joined = texts.joined(separator: "\n")
        var found = false, late = false
        regex.enumerateMatches(in: joined, options: [.reportProgress], range: NSRange(location: 0, length: joined.utf16.count)) { m, _, stop in
            if m != nil { found = true; stop.pointee = true } else if Date() > deadline { late = true; stop.pointee = true }
        }
        if late || (!found && Date() > deadline) {
            throw ListShapeError("the regular expression took longer than \(Int(matchBudget)) s to match: make it simpler")
        }
        return found
    }

    /// `rows` narrowed to those `regex` matches (or does not, with `invert`) within the match budget.
    static func narrowed<T>(_ rows: [T], _ regex: NSRegularExpression, invert: Bool, texts: (T) -> [String]) throws -> [T] {
        let deadline = Date().addingTimeInterval(matchBudget)
        return try rows.filter { try matches(regex, texts($0), deadline: deadline) != invert }
    }

    /// `rows` (newest first, as read) narrowed and ordered by this shape, then the page `offset..<offset+limit`,
    /// with the total of the narrowed list.
    /// `texts` gives what a row's regex is matched against (a store passes its field values as read).
    public func page(_ rows: [AccessRequest], offset: Int, limit: Int,
                     texts: (AccessRequest) -> [String] = ListShape.searchedTexts) throws -> (rows: [AccessRequest], total: Int) {
        var kept = rows
        if let re = try compiledRegex() { kept = try ListShape.narrowed(kept, re, invert: invert, texts: texts) }
        if let sort { kept = ListShape.sorted(kept, by: sort, descending: descending) } else if descending { kept.reverse() }
        return (Array(kept.dropFirst(offset).prefix(limit)), kept.count)
    }

    /// Audit events (newest first, as read) narrowed by this shape's regex, then one page, with the total.
    public func page(_ events: [AuditEvent], offset: Int, limit: Int) throws -> (rows: [AuditEvent], total: Int) {
        var kept = events
        if let re = try compiledRegex() { kept = try ListShape.narrowed(kept, re, invert: invert, texts: ListShape.searchedTexts) }
        if descending { kept.reverse() }
        return (Array(kept.dropFirst(offset).prefix(limit)), kept.count)
    }

    /// Requests ordered by `column` (ties: newest first); a missing value (no target, no expiry) sorts last.
    public static func sorted(_ rows: [AccessRequest], by column: Column, descending: Bool) -> [AccessRequest] {
        func text(_ a: String?, _ b: String?) -> Bool? {
            let x = a?.lowercased(), y = b?.lowercased()
            if x == y { return nil }
            guard let x else { return false }
            guard let y else { return true }
            return descending ? x > y : x < y
        }
        func time(_ a: Date?, _ b: Date?, youngestFirst: Bool) -> Bool? {
            if a == b { return nil }
            guard let a else { return false }
            guard let b else { return true }
            return (youngestFirst ? a > b : a < b) != descending
        }
        return rows.sorted { a, b in
            let order: Bool?
            switch column {
            case .id: order = a.id == b.id ? nil : (a.id < b.id) != descending
            case .age: order = time(a.createdAt, b.createdAt, youngestFirst: true)
            case .requester: order = text(a.requester, b.requester)
            case .flow: order = text(a.flow, b.flow)
            case .target: order = text(a.targetLabel ?? a.target, b.targetLabel ?? b.target)
            case .state: order = text(a.state.rawValue, b.state.rawValue)
            case .expires: order = time(ListShape.expiry(a), ListShape.expiry(b), youngestFirst: false)
            }
            return order ?? (a.id > b.id)
        }
    }

    /// When a request stops being what it is now: its grant's end when granted, else its request window's end.
    public static func expiry(_ r: AccessRequest) -> Date? {
        switch r.state {
        case .pending: return r.requestExpiresAt
        default: return r.accessExpiresAt
        }
    }
}

/// What is wrong with a list shape (an invalid regular expression).
public struct ListShapeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
