import Foundation
import SymModel

/// The requests a user may decide now, newest first, as ids: shared by `symtui list --review` and the console.
public enum ReviewQueue {
    /// Ids of the pending requests `actor` may decide now, newest first.
    public static func ids(store: Store, config: Config, actor: Actor) throws -> [Int64] {
        guard actor.isPerson else { return [] }
        let eligible = config.flows.filter { $0.approvalSteps.isEmpty && Policy.isEligible(actor, routing: $0.routing) }.map(\.name)
        let candidates = try store.reviewCandidates(user: actor.name, groups: actor.groups.sorted(), flows: config.flows.map(\.name),
                                                    selfFlows: config.flows.filter(\.allowSelfApproval).map(\.name),
                                                    eligibleFlows: eligible,
                                                    stepFlows: config.flows.filter { !$0.approvalSteps.isEmpty }.map(\.name))
        // Approval steps need the whole policy (is a step still open for me?): decode those, a page at a time.
        var rejected = Set<Int64>()
        let unsure = candidates.filter { !$0.exact }.map(\.id)
        for start in stride(from: 0, to: unsure.count, by: 500) {
            for r in try store.requests(ids: Array(unsure[start..<min(unsure.count, start + 500)])) {
                guard let flow = config.flow(named: r.flow),
                      Policy.mayDecideNow(actor, request: r, flow: flow, routing: r.routing ?? flow.routing) else {
                    rejected.insert(r.id)
                    continue
                }
            }
        }
        return candidates.map(\.id).filter { !rejected.contains($0) }
    }

    /// The requests of `ids[offset..<offset+limit]`, in that order.
    public static func page(_ ids: [Int64], store: Store, offset: Int, limit: Int) throws -> [AccessRequest] {
        let window = Array(ids.dropFirst(offset).prefix(limit))
        let byID = Dictionary(try store.requests(ids: window).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return window.compactMap { byID[$0] }
    }

    /// The ids among `ids` whose request mentions `search` (order kept), read a page at a time.
    public static func filter(_ ids: [Int64], store: Store, search: String) throws -> [Int64] {
        var matching = Set<Int64>()
        for start in stride(from: 0, to: ids.count, by: 500) {
            var q = RequestQuery(limit: 500)
            q.ids = Array(ids[start..<min(ids.count, start + 500)])
            q.search = search
            for r in try store.requests(q) { matching.insert(r.id) }
        }
        return ids.filter { matching.contains($0) }
    }
}
