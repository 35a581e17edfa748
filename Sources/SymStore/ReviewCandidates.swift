import Foundation
import SymModel

// Review queues: which pending requests may be waiting for one approver, found in SQL without decoding them.

/// A pending request that may be in someone's review queue; `exact` when the SQL filter already decided it.
public struct ReviewCandidate: Sendable, Equatable {
    public var id: Int64
    /// False when approval steps (or a missing routing) need the full policy check on the decoded request.
    public var exact: Bool
}

/// Where a review candidate's columns are, found by name.
struct CandidateColumns: RowLayout {
    let id, needsPolicyCheck: Int32
    init(_ c: ColumnMap) throws { id = try c("id"); needsPolicyCheck = try c("needs_policy_check") }
}

extension Store {
    /// The `approver_keys` column: every user (`u:NAME`) and group (`g:NAME`) a routing names, at the top or in a
    /// step, and `!steps` when it has steps, each between unit separators (U+001F), so that the review queue finds
    /// a user's requests with `instr` instead of parsing each routing's JSON (a 100,000-request queue: ~45 ms, not
    /// ~130 ms). A name holding U+001F (no Unix user or group can) is left out. Migration 4 computes the same in SQL,
    /// in the same order.
    public static func approverKeys(_ routing: Routing) -> String {
        let stepped = routing.steps.map(\.approvers)
        var keys = routing.approvers.users.map { "u:" + $0 } + routing.approvers.groups.map { "g:" + $0 }
            + stepped.flatMap { $0.users.map { "u:" + $0 } } + stepped.flatMap { $0.groups.map { "g:" + $0 } }
        if !routing.steps.isEmpty { keys.append("!steps") }
        keys.removeAll { $0.utf8.contains(keySeparatorByte) }
        return keys.isEmpty ? "" : keySeparator + keys.joined(separator: keySeparator) + keySeparator
    }

    static let keySeparator = "\u{1F}"
    /// The separator as its one UTF-8 byte (no other character's UTF-8 contains it): what `approverKeys` looks for.
    static let keySeparatorByte = keySeparator.utf8.first!

    /// Pending requests of `flows` routed to `user` (by name or through `groups`, directly or in an approval step),
    /// not their own unless the flow is in `selfFlows`, and not yet approved by them; newest first. Only ids are
    /// read, so a queue of 100,000 costs 1 MB, not the decoded requests.
    /// A request stored without a routing is decided by its flow's configured approvers: exactly when the flow has
    /// no steps and they include the user (`eligibleFlows`), by the full check when the flow has steps (`stepFlows`).
    /// Requests with steps, and any routing without `approver_keys`, are candidates for the full check (`exact` false).
    public func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                                 eligibleFlows: [String] = [], stepFlows: [String] = []) throws -> [ReviewCandidate] {
        try reviewCandidates(user: user, groups: groups, flows: flows, selfFlows: selfFlows, eligibleFlows: eligibleFlows,
                             stepFlows: stepFlows, only: nil)
    }

    /// The same, among the requests `only` alone when given (a review queue brought up to date after a commit).
    public func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                                 eligibleFlows: [String], stepFlows: [String], only: [Int64]?) throws -> [ReviewCandidate] {
        guard !flows.isEmpty, only.map({ !$0.isEmpty }) ?? true else { return [] }
        // "x IN (NULL)" is never true, so an empty list still reads as "none of these".
        func list(_ n: Int) -> String { n == 0 ? "NULL" : Array(repeating: "?", count: n).joined(separator: ",") }
        func key(_ k: String) -> SQLValue { .text(Store.keySeparator + k + Store.keySeparator) }
        let mine = [key("u:" + user)] + groups.map { key("g:" + $0) }
        let sql = """
            SELECT id, CASE WHEN routing IS NULL THEN flow IN (\(list(stepFlows.count)))
                            ELSE approver_keys IS NULL OR instr(approver_keys, ?) > 0 END AS needs_policy_check
            FROM requests r
            WHERE state = 'pending'\(only.map { " AND id IN (\(list($0.count)))" } ?? "") AND flow IN (\(list(flows.count)))
              AND (requester != ? OR flow IN (\(list(selfFlows.count))))
              AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND a.user = ?)
              AND ((routing IS NULL AND (flow IN (\(list(eligibleFlows.count))) OR flow IN (\(list(stepFlows.count)))))
                   OR (routing IS NOT NULL AND approver_keys IS NULL)
                   OR \(Array(repeating: "instr(approver_keys, ?) > 0", count: mine.count).joined(separator: " OR ")))
            ORDER BY id DESC
            """
        let texts = { (names: [String]) in names.map { SQLValue.text($0) } }
        let values: [SQLValue] = texts(stepFlows) + [key("!steps")] + (only ?? []).map(SQLValue.int) + texts(flows) + [.text(user)] + texts(selfFlows) + [.text(user)]
            + texts(eligibleFlows) + texts(stepFlows) + mine
        var out: [ReviewCandidate] = []
        try db.query(sql, values, layout: CandidateColumns.self) { s, c in
            out.append(ReviewCandidate(id: s.int(c.id), exact: s.int(c.needsPolicyCheck) == 0))
        }
        return out
    }
}
