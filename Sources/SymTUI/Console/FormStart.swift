import Foundation
import SymModel

/// The request form's Start field: when a scheduled window begins (contract §12). It sits beside the Submit
/// button, after it in the Tab order, so the prompt fields and Submit keep their places in every form.
extension FormState {
    /// The focus index of the Start field (Submit is `fields.count`).
    public var startFocus: Int { fields.count + 1 }
    public var onStart: Bool { start != nil && focus == startFocus }
    /// How many places Tab cycles through: the fields, Submit, and Start when the flow has one.
    var focusCount: Int { fields.count + 1 + (start == nil ? 0 : 1) }

    /// The focused field or Start input; nil on Submit.
    var focused: FormField? {
        get { focus < fields.count ? fields[focus] : onStart ? start : nil }
        set {
            guard let newValue else { return }
            if focus < fields.count { fields[focus] = newValue } else if onStart { start = newValue }
        }
    }

    /// A flow takes a start when its grants have a duration: an access flow that schedules deescalation.
    static func takesStart(_ flow: FlowSummary) -> Bool {
        !flow.isApprovalOnly && flow.promptFields.contains { $0.name == "duration" && $0.type == .duration }
    }

    /// An empty Start input: the form shows "now" in it, and sends no start.
    static func startInput() -> FormField {
        FormField(field: PromptField(name: "start", type: .string, label: "Start", required: false), input: .text(""))
    }
}

extension Console {
    /// The Start input's value for the request command: nil for now (empty or `now`), else the text as typed
    /// once the model's `WindowStart.parse` (the CLI's `--start` parser) accepts it; the daemon parses it again.
    public static func validateStart(_ ff: FormField, now: Date) -> Result<String?, WindowStart.Problem> {
        guard case let .text(raw) = ff.input else { return .success(nil) }
        let text = raw.trimmingCharacters(in: .whitespaces)
        if text.isEmpty || text.lowercased() == "now" { return .success(nil) }
        return WindowStart.parse(text, now: now, subject: "").map { _ in text }
    }
}
