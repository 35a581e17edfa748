// libFuzzer target: prompt-field values. Byte 0 picks a field of the flow below (one of every type) and
// whether the rest is typed text (CLI --field, console) or a JSON value (events API). Checks:
// FieldValues.parse and resolve never trap; a parsed value re-reads unchanged from its stored JSON form, and
// from its text form where that is unambiguous; strings hold no NUL and keep within the length limit; ints
// keep within intRange; a resolved request only holds allowed values and durations within max_duration.
import Foundation
import SymModel
import FuzzReplay

let configText = """
{ strategies: [ { name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true" },
                  targets: [ { name: "t" } ] } ],
  flows: [ { name: "f", strategy: "s", approvers: { users: ["root"] }, max_duration: "8h",
    prompt_fields: [
      { name: "reason", type: "string", required: true },
      { name: "count", type: "int", required: false },
      { name: "flag", type: "bool", required: false },
      { name: "duration", type: "duration", allowed_values: ["15m", "1h", "4h"], default: "1h" },
      { name: "tags", type: "str_list", required: false },
      { name: "ports", type: "int_list", required: false },
      { name: "buddy", type: "user", required: false },
      { name: "team", type: "user_list", required: false },
      { name: "env", type: "string", allowed_values: ["staging", "prod"], required: false },
      { name: "free", type: "duration", required: false, visible: false },
    ] } ] }
"""

let flow: Flow = {
    switch ConfigLoader.parse(text: configText, path: "fuzz.json5", baseDirectory: "/") {
    case let .success(c): return c.flows[0]
    case let .failure(e): fatalError("the fuzz flow does not load: \(e)")
    }
}()

func userExists(_ name: String) -> Bool { name == "root" || name == "alice" }

func check(_ bytes: [UInt8]) {
    guard let selector = bytes.first else { return }
    let fields = flow.promptFields
    let field = fields[Int(selector) % fields.count]
    let rest = Array(bytes.dropFirst())
    let text = String(decoding: rest, as: UTF8.self)
    let input: FieldInput
    if selector & 0x80 != 0 {
        guard let v = try? JSONValue.parse(text) else { return }
        input = .json(v)
    } else {
        input = .text(text)
    }
    if case let .success(value) = FieldValues.parse(input, as: field) {
        switch value {
        case let .string(s):
            if s.unicodeScalars.contains("\u{0}") { fatalError("a string value holds NUL") }
            if s.count > FieldValues.maxStringLength { fatalError("a string value is \(s.count) characters") }
        case let .int(i):
            if !FieldValues.intRange.contains(i) { fatalError("int \(i) out of range") }
        case let .intList(l):
            if let i = l.first(where: { !FieldValues.intRange.contains($0) }) { fatalError("int \(i) out of range in a list") }
        default: break
        }
        guard case let .success(again) = FieldValues.parse(.json(value.json), as: field), again == value else {
            fatalError("\(field.name): \(value) does not re-read from its JSON form \(value.json.compact)")
        }
        switch value {
        case .int, .bool, .duration, .user, .intList, .userList:
            guard case let .success(back) = FieldValues.parse(.text(value.description), as: field), back == value else {
                fatalError("\(field.name): \(value) does not re-read from its text form \(value.description.debugDescription)")
            }
        default: break
        }
    }
    var inputs: [String: FieldInput] = ["reason": .text("fuzz")]
    inputs[field.name] = input
    if case let .success(values) = FieldValues.resolve(flow: flow, inputs: inputs, userExists: userExists) {
        for f in fields {
            guard let v = values[f.name] else {
                if f.required && f.visible { fatalError("resolve accepted without required field \(f.name)") }
                continue
            }
            if let allowed = f.allowedValues, !allowed.contains(v) { fatalError("resolve accepted \(v) for \(f.name), not allowed") }
            if case let .duration(d) = v, let max = flow.maxDuration, d > max { fatalError("resolve accepted \(d) > max_duration") }
            if case let .user(u) = v, !userExists(u) { fatalError("resolve accepted unknown user \(u)") }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@main struct Main {
    static func main() { FuzzReplay.main { data, size in fuzz(data!, size) } }
}
