// libFuzzer target: ConfigLoader.parse(text:path:baseDirectory:) on arbitrary text. It must return (never trap),
// a failure must carry at least one problem, and every problem must print on one line as the CLI shows it
// (SafeText.display, one `symtui: ` line per problem). SYMTUI_FUZZ_STRICT=1 also requires the raw message to be
// one line — it is not today (JSON5Parser echoes a key's control characters; the daemon logs a failed SIGHUP
// reload unsanitised): see docs/RELIABILITY.md. Build and run: Tests/reliability/fuzz.sh.
import Foundation
import SymModel
import FuzzReplay

let strict = ProcessInfo.processInfo.environment["SYMTUI_FUZZ_STRICT"] == "1"

func check(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    switch ConfigLoader.parse(text: text, path: "/fuzz/config.json5", baseDirectory: "/nonexistent-fuzz") {
    case .success:
        break
    case let .failure(error):
        if error.problems.isEmpty { fatalError("config rejected without a problem: \(bytes)") }
        for p in error.problems {
            let shown = strict ? p.description : SafeText.display(p.description)
            if shown.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\u{1B}" }) {
                fatalError("a config problem spans several lines or holds ESC: \(p.description.debugDescription)")
            }
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
