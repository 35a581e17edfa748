import SymModel

extension KeyAction {
    /// The `console.keys` name of an action that may be rebound (see `ConsoleKeys.defaults`), else nil.
    var configName: String? {
        switch self {
        case .moveUp: return "move_up"
        case .moveDown: return "move_down"
        case .first: return "first"
        case .last: return "last"
        case .approve: return "approve"
        case .deny: return "deny"
        case .revoke: return "revoke"
        case .cancel: return "cancel"
        case .release: return "release"
        case .extend: return "extend"
        case .requestAgain: return "request_again"
        case .startFilter: return "filter"
        case .cycleSort: return "sort"
        case .reverseSort: return "sort_reverse"
        default: return nil
        }
    }
}

extension Keymap {
    /// The list keymap with `console.keys` applied (already validated at config load): a rebound action answers
    /// to its new character instead of its default one, and help and hints show the new key.
    public static func rebound(_ keys: [String: Character], bindings: [KeyBinding] = Keymap.bindings) -> [KeyBinding] {
        guard !keys.isEmpty else { return bindings }
        let defaults = Dictionary(ConsoleKeys.defaults.map { ($0.action, $0.key) }, uniquingKeysWith: { a, _ in a })
        return bindings.map { b in
            guard b.mode == .list, let name = b.action.configName, let new = keys[name], let old = defaults[name],
                  case let .keys(ks) = b.pattern else { return b }
            var out = b
            out.pattern = .keys(ks.map { $0 == .char(old) ? .char(new) : $0 })
            out.label = b.label.split(separator: " ", omittingEmptySubsequences: false)
                .map { $0 == String(old) ? String(new) : String($0) }.joined(separator: " ")
            return out
        }
    }
}

extension Keymap {
    /// The keymap of a wallboard: change keys stay (to be refused with "read-only console") but leave the hint
    /// line, and help says they are off.
    public static func readOnly(_ bindings: [KeyBinding]) -> [KeyBinding] {
        bindings.map { b in
            guard b.mode == .list, Console.readOnlyRefusal(b.action, view: b.views?.first ?? .review) != nil else { return b }
            var out = b
            out.hint = nil
            out.help += " (off: read-only)"
            return out
        }
    }
}
