import Foundation
import SymModel

/// The size limits the daemon holds every request to (`limits.field_bytes`, `limits.request_bytes`), checked by
/// the form before it sends, with the model's `FieldValues.checkSize`: the daemon's own check and words.
extension Console {
    /// Marks each field over `limits.field_bytes` with the daemon's message; returns how many problems there are
    /// and, for the request as a whole, the message (over `limits.request_bytes`).
    static func checkSizes(_ f: inout FormState, limits: Limits) -> (count: Int, whole: String?) {
        var inputs: [String: FieldInput] = [:]
        for ff in f.fields { inputs[ff.field.name] = input(of: ff) }
        let problems = FieldValues.checkSize(inputs: inputs, reason: nil, limits: limits)
        var first: Int?
        for i in f.fields.indices {
            let mine = problems.filter { $0.field == f.fields[i].field.name }
            guard !mine.isEmpty else { continue }
            f.fields[i].error = mine.map(\.message).joined(separator: "; ")
            first = first ?? i
        }
        if let first { f.focus = first }
        return (problems.count, problems.first { $0.field.isEmpty }?.message)
    }
}
