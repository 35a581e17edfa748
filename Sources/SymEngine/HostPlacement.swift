import Foundation
import SymModel

extension Engine {
    /// Stamps a new request with this bastion (`host`) and the host whose daemon will run its strategy steps
    /// (`runs_on`, from its target's setting now: later config changes do not move a request made before). Set here,
    /// by the admitting daemon, and never taken from what the caller sent.
    func placeOnThisHost(_ request: inout AccessRequest, flow: Flow) {
        let config = self.config
        request.host = config.hostName
        guard let sname = flow.strategy, let strategy = config.strategy(named: sname),
              let target = request.target.flatMap(strategy.target(named:)) else {
            request.runsOn = nil   // approval-only: there are no strategy steps to place
            return
        }
        request.runsOn = strategy.runsOn(target).pinnedHost(requestHost: config.hostName)
    }
}
