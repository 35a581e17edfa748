import Foundation

/// The `console` section of the config: how the console looks to its users.
public struct ConsoleSettings: Sendable, Equatable {
    /// Rebound keys: an action name of `ConsoleKeys.defaults` → the one character that now triggers it.
    public var keys: [String: Character] = [:]
    public init(keys: [String: Character] = [:]) { self.keys = keys }
}

/// The console actions `console.keys` may rebind, with their default keys, and the keys nobody may take.
public enum ConsoleKeys {
    /// Action name → default key. The console's keymap names the same actions.
    public static let defaults: [(action: String, key: Character)] = [
        ("move_up", "k"), ("move_down", "j"), ("first", "g"), ("last", "G"),
        ("approve", "a"), ("deny", "d"), ("revoke", "r"), ("cancel", "c"), ("release", "x"), ("extend", "e"),
        ("request_again", "R"), ("filter", "/"), ("sort", "s"), ("sort_reverse", "S"),
    ]

    /// Keys that always mean what they mean: quit, the command line, help, and the view numbers.
    public static let reserved: Set<Character> = ["q", ":", "?", "1", "2", "3", "4", "5", "6", "7", "8", "9", " "]

    /// The key of every rebindable action once `overrides` are applied.
    public static func effective(_ overrides: [String: Character]) -> [String: Character] {
        var out: [String: Character] = [:]
        for d in defaults { out[d.action] = overrides[d.action] ?? d.key }
        return out
    }
}

extension ConfigValidation {
    static let consoleKeys = ["keys"]

    /// `console: { keys: { approve: "y", … } }`: every action known, every key one printable character, not
    /// reserved, and no key left meaning two actions.
    func console(_ v: JSONValue, at p: String) -> ConsoleSettings {
        var result = ConsoleSettings()
        guard let o = reader.object(v, at: p, keys: Self.consoleKeys, what: "console") else { return result }
        guard let keysValue = o["keys"] else { return result }
        let kp = o.path("keys")
        guard case let .object(pairs) = keysValue else {
            reader.report(kp, "expected an object of action → key, found \(JSONValue.kindName(keysValue))"); return result
        }
        let names = ConsoleKeys.defaults.map(\.action)
        for (action, value) in pairs {
            let ap = ConfigReader.child(kp, action)
            guard names.contains(action) else {
                let hint = Suggestion.closest(to: action, among: names).map { " (did you mean '\($0)'?)" } ?? ""
                reader.report(ap, "unknown console action '\(FieldValues.clip(action))'\(hint); one of \(names.joined(separator: ", "))")
                continue
            }
            guard let text = value.stringValue else { reader.report(ap, "expected a key (one character), found \(JSONValue.kindName(value))"); continue }
            guard text.count == 1, let c = text.first,
                  !c.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.properties.isWhitespace }) else {
                reader.report(ap, "'\(FieldValues.clip(SafeText.display(text)))' is not one printable character (keys are single characters such as \"y\")")
                continue
            }
            guard !ConsoleKeys.reserved.contains(c) else {
                reader.report(ap, "'\(c)' is reserved (q quits, : opens the command line, ? is help, digits pick views): choose another key")
                continue
            }
            result.keys[action] = c
        }
        let effective = ConsoleKeys.effective(result.keys)
        var byKey: [Character: [String]] = [:]
        for d in ConsoleKeys.defaults { byKey[effective[d.action]!, default: []].append(d.action) }
        for (key, actions) in byKey.sorted(by: { $0.key < $1.key }) where actions.count > 1 {
            let rebound = actions.first { result.keys[$0] != nil } ?? actions[0]
            reader.report(ConfigReader.child(kp, rebound), "key '\(key)' is bound twice (\(actions.joined(separator: " and "))): rebind one of them too")
        }
        return result
    }
}
