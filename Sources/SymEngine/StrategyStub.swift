// Temporary: replaced by the strategies branch at merge.
import Foundation
import SymModel

public struct GrantContext: Sendable {
    public var request: AccessRequest
    public var strategy: Strategy
    public var target: Target
    public var stepOutput: String?
    public var otherActiveHolders: Set<String>
}
public struct StrategyOutcome: Sendable {
    public var succeeded: Bool
    public var error: String?
    public var output: String?
    public var data: JSONValue
}
public struct AccessCheck: Sendable { public var users: Set<String> }
public struct StrategyFailure: Error, Sendable { public var message: String }
public protocol AccessStrategy: Sendable {
    func escalate(_ ctx: GrantContext) -> StrategyOutcome
    func deescalate(_ ctx: GrantContext) -> StrategyOutcome
    func check(target: Target) -> Result<AccessCheck, StrategyFailure>?
}
struct StubStrategy: AccessStrategy {
    func escalate(_ ctx: GrantContext) -> StrategyOutcome { StrategyOutcome(succeeded: true, error: nil, output: nil, data: .object([])) }
    func deescalate(_ ctx: GrantContext) -> StrategyOutcome { StrategyOutcome(succeeded: true, error: nil, output: nil, data: .object([])) }
    func check(target: Target) -> Result<AccessCheck, StrategyFailure>? { nil }
}
public enum Strategies { public static func make(_ strategy: Strategy) -> any AccessStrategy { StubStrategy() } }
