import Foundation
import SymModel

/// A list field with allowed values (`str_list`, `int_list`): any number of them, picked one by one.
/// `← →` move between the values, `Space` ticks or unticks the one under the cursor; sent in the allowed order.
extension Console {
    static func toggleMultiple(_ s: inout ConsoleState) {
        guard let ff = s.form?.focused, case let .multiple(picked, cursor, allowed) = ff.input, !allowed.isEmpty else { return }
        var now = picked
        if now.contains(cursor) { now.remove(cursor) } else { now.insert(cursor) }
        s.form?.focused?.input = .multiple(now, cursor: cursor, allowed: allowed)
        s.form?.focused?.error = nil
    }

    static func moveMultiple(_ s: inout ConsoleState, _ d: Int) {
        guard let ff = s.form?.focused, case let .multiple(picked, cursor, allowed) = ff.input, !allowed.isEmpty else { return }
        let n = allowed.count
        s.form?.focused?.input = .multiple(picked, cursor: ((cursor + d) % n + n) % n, allowed: allowed)
    }

    /// The picked values as the list input the CLI's `--field` JSON would give; nothing picked is an empty field.
    static func multipleInput(_ picked: Set<Int>, _ allowed: [FieldValue]) -> FieldInput {
        let values = allowed.indices.filter(picked.contains).map { allowed[$0].json }
        return values.isEmpty ? .text("") : .json(.array(values))
    }
}
