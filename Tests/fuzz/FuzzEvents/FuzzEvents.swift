// libFuzzer target: one Events API line, as `symtui events` reads it: JSONValue.parse, then ChangeCall.parse.
// Neither may trap; a parsed value must survive its own compact and canonical serialisations unchanged.
import Foundation
import SymModel
import SymProtocol
import FuzzReplay

func check(_ bytes: [UInt8]) {
    let line = String(decoding: bytes, as: UTF8.self)
    guard let value = try? JSONValue.parse(line) else { return }
    for (name, text) in [("compact", value.compact), ("canonical", value.canonical)] {
        guard let again = try? JSONValue.parse(text) else {
            fatalError("the \(name) form of a parsed value does not parse again: \(text.debugDescription)")
        }
        if again != value { fatalError("the \(name) form changes the value: \(line.debugDescription) -> \(text.debugDescription)") }
    }
    do {
        _ = try ChangeCall.parse(value)
    } catch {
        let message = "\(error)"
        if message.contains(where: { $0 == "\n" || $0 == "\r" }) {
            fatalError("an events error spans several lines: \(message.debugDescription)")
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
