// libFuzzer target: ConfigLoader.parse(text:path:baseDirectory:) on arbitrary text. It must return (never trap),
// a failure must carry at least one problem, and every problem must print on one line (the CLI prints one
// `symtui: ` line per problem). Build and run: Tests/reliability/fuzz.sh.
import Foundation
import SymModel
import FuzzReplay

func check(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    switch ConfigLoader.parse(text: text, path: "/fuzz/config.json5", baseDirectory: "/nonexistent-fuzz") {
    case .success:
        break
    case let .failure(error):
        if error.problems.isEmpty { fatalError("config rejected without a problem: \(bytes)") }
        for p in error.problems where p.description.contains(where: { $0 == "\n" || $0 == "\r" }) {
            fatalError("a config problem spans several lines: \(p.description.debugDescription)")
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
