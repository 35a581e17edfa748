import Foundation
import SymModel
import SymStore

/// What follows an approved extension in the target system: a strategy whose access carries its own end (an SSH
/// certificate) is asked for access covering the grant's new window. Run in the background after the commit that
/// moved the expiry, retried a few times; recorded as an `escalate` (or `escalate_failed`) event of the grant
/// with `data.extension_request`. If it never succeeds, the access still ends at its old end, never later.
extension Engine {
    static let extensionAttempts = 3

    func extendInTarget(after extensionRequest: AccessRequest) {
        guard extensionRequest.state == .approved, extensionRequest.error == nil, let grantID = extensionRequest.extends,
              let flow = config.flow(named: extensionRequest.flow), let sname = flow.strategy,
              let strategyConfig = config.strategy(named: sname), let tname = extensionRequest.target,
              let target = strategyConfig.target(named: tname) else { return }
        let strategy = strategies[sname] ?? Strategies.make(strategyConfig)
        hookQueue.async { [self] in
            for attempt in 1...Self.extensionAttempts {
                guard let grant = try? store.read({ try $0.request(id: grantID) }), grant.state == .active else { return }
                let ctx = GrantContext(request: grant, strategy: strategyConfig, target: target, stepOutput: grant.stepOutput,
                                       extensionRequestID: extensionRequest.id)
                guard let outcome = strategy.extend(ctx) else { return }
                var data = outcome.data.objectValue ?? []
                if !data.contains(where: { $0.0 == "extension_request" }) { data.append(("extension_request", .int(extensionRequest.id))) }
                let final = outcome.succeeded || attempt == Self.extensionAttempts
                if !outcome.succeeded { data += [("attempt", .int(Int64(attempt))), ("final", .bool(final))] }
                let draft = EventDraft(outcome.succeeded ? .escalate : .escalateFailed, for: grant, actor: "system",
                                       reason: outcome.error, data: .object(data))
                do {
                    _ = try store.write { tx in try tx.append(draft, at: now()) }
                    onChange?(.none)
                } catch {
                    DaemonLog.shared.error("request \(grantID): cannot record the extension's escalation: \(error)")
                }
                if final { return }
                Thread.sleep(forTimeInterval: 2 * Double(attempt))
            }
        }
    }
}
