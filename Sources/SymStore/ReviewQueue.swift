import Foundation
import SymModel

/// The requests a user may decide now, newest first, as ids: shared by `symtui list --review` and the console.
public enum ReviewQueue {
    /// Ids of the pending requests `actor` may decide now, newest first; `only`: among these requests alone.
    public static func ids(store: any StoreQueries, config: Config, actor: Actor, only: [Int64]? = nil) throws -> [Int64] {
        guard actor.isPerson else { return [] }
        let eligible = config.flows.filter { $0.approvalSteps.isEmpty && Policy.isEligible(actor, routing: $0.routing) }.map(\.name)
        let candidates = try store.reviewCandidates(user: actor.name, groups: actor.groups.sorted(), flows: config.flows.map(\.name),
                                                    selfFlows: config.flows.filter(\.allowSelfApproval).map(\.name),
                                                    eligibleFlows: eligible,
                                                    stepFlows: config.flows.filter { !$0.approvalSteps.isEmpty }.map(\.name),
                                                    only: only)
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

    /// Up to this many changed requests are applied to a cached queue (`update`); more, and it is computed again.
    public static let maxDelta = 500

    /// A queue computed earlier (`ids`, newest first) brought up to date after commits that changed the requests
    /// `changed` (and nothing else that decides the queue: the configuration and the caller are the same): each
    /// changed request is looked at again and put in or taken out. Costs the changed rows, not the queue.
    public static func update(_ ids: [Int64], changed: Set<Int64>, store: any StoreQueries, config: Config, actor: Actor) throws -> [Int64] {
        guard !changed.isEmpty else { return ids }
        let now = Set(try self.ids(store: store, config: config, actor: actor, only: changed.sorted()))
        var out = ids
        for id in changed {
            // `out` is descending: the first place whose id is not greater than `id`.
            var lo = 0, hi = out.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if out[mid] > id { lo = mid + 1 } else { hi = mid }
            }
            let present = lo < out.count && out[lo] == id
            if present && !now.contains(id) { out.remove(at: lo) } else if !present && now.contains(id) { out.insert(id, at: lo) }
        }
        return out
    }

    /// The requests of `ids[offset..<offset+limit]`, in that order.
    public static func page(_ ids: [Int64], store: any StoreReading, offset: Int, limit: Int) throws -> [AccessRequest] {
        let window = Array(ids.dropFirst(offset).prefix(limit))
        let byID = Dictionary(try store.requests(ids: window).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return window.compactMap { byID[$0] }
    }

    /// The ids among `ids` whose request mentions `search` (order kept), read a page at a time.
    public static func filter(_ ids: [Int64], store: any StoreReading, search: String) throws -> [Int64] {
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
