/// The handlers a flow's implementation may define (contract §8), by their Sym names.
public enum HandlerName {
    public static let onRequest = "on_request"
    public static let afterRequest = "after_request"
    public static let onApprove = "on_approve"
    public static let afterApprove = "after_approve"
    public static let onDeny = "on_deny"
    public static let afterDeny = "after_deny"
    public static let onEscalate = "on_escalate"
    public static let afterEscalate = "after_escalate"
    public static let onDeescalate = "on_deescalate"
    public static let afterDeescalate = "after_deescalate"
    public static let onRequestExpire = "on_request_expire"
    public static let getApprovers = "get_approvers"
    public static let prefetchPrefix = "prefetch:"

    /// Every hook, in lifecycle order.
    public static let hooks: [String] = [
        onRequest, afterRequest, onApprove, afterApprove, onDeny, afterDeny,
        onEscalate, afterEscalate, onDeescalate, afterDeescalate, onRequestExpire,
    ]
    public static let reducers: [String] = [getApprovers]

    /// The hook run before `step` happens ("approve" → "on_approve").
    public static func on(_ step: String) -> String { "on_" + step }
    /// The hook run after `step` happened ("approve" → "after_approve").
    public static func after(_ step: String) -> String { "after_" + step }
    /// The handler that lists the options of a `prefetch` prompt field.
    public static func prefetch(_ field: String) -> String { prefetchPrefix + field }

    /// What kind of handler `name` is; nil for a name the protocol does not know.
    public static func kind(of name: String) -> HandlerKind? {
        if name.hasPrefix(prefetchPrefix) {
            let field = String(name.dropFirst(prefetchPrefix.count))
            return field.isEmpty ? nil : .prefetch(field: field)
        }
        if reducers.contains(name) { return .reducer }
        guard hooks.contains(name) else { return nil }
        return name.hasPrefix("on_") ? .before : .after
    }

    /// The step a handler runs at, as the event's `name`: on_request → request, get_approvers → request,
    /// prefetch:FIELD → prefetch.
    public static func step(of name: String) -> String? {
        switch kind(of: name) {
        case .before?: return String(name.dropFirst("on_".count))
        case .after?: return String(name.dropFirst("after_".count))
        case .reducer?: return "request"
        case .prefetch?: return "prefetch"
        case nil: return nil
        }
    }
}

/// The kinds of handler, which decide what a handler may answer.
public enum HandlerKind: Sendable, Equatable {
    /// `on_*`: may approve, deny, ignore (block the action) or continue.
    case before
    /// `after_*`: runs once the step happened; its answer is recorded but cannot undo anything.
    case after
    /// `get_*`: computes a value (get_approvers → users and groups).
    case reducer
    /// `prefetch:FIELD`: lists the options of a prompt field.
    case prefetch(field: String)
}
