// libFuzzer target: the HCL parser and the Sym Terraform translation on arbitrary text. Parsing must return a
// body or an HCLError (never trap) whose line is inside the text and whose message shows on one line; whatever
// translates must be valid JSON5 — no input may break out of a comment or a string of the written config.
// Build and run: Tests/reliability/fuzz.sh.
import Foundation
import SymModel
import FuzzReplay

func check(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
    do {
        _ = try HCLParser.parse(text, file: "/fuzz/main.tf")
    } catch {
        if error.line < 1 || error.line > lines { fatalError("error line \(error.line) outside 1...\(lines): \(error)") }
        if SafeText.display(error.message).unicodeScalars.contains(where: { $0 == "\n" || $0 == "\u{1B}" }) {
            fatalError("an HCL error spans several lines: \(error.message.debugDescription)")
        }
        return
    }
    let result: SymTerraform.Result
    do {
        result = try SymTerraform.translate(files: [("/fuzz/main.tf", text)], moduleDirectory: "/nonexistent-fuzz")
    } catch {
        return
    }
    if case let .failure(e) = ConfigLoader.parse(text: result.config, path: "/fuzz/imported.json5", baseDirectory: "/nonexistent-fuzz"),
       let bad = e.problems.first(where: { $0.message.hasPrefix("not valid JSON5") }) {
        fatalError("the imported config is not JSON5 (\(bad.message)):\n\(result.config)")
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
