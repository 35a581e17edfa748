// libFuzzer target: SafeText.display never lets a terminal control through, and is idempotent.
// Fuzz build: swift build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DSYMTUI_FUZZ
// A plain build gives a replayer: `FuzzSafeText FILE|DIR...` runs the check on each file (the corpus as a test).
import Foundation
import SymModel
import FuzzReplay

/// Scalars that must never reach a terminal from user text (U+200D is checked separately).
func forbidden(_ v: UInt32) -> Bool {
    switch v {
    case 0x00...0x1F, 0x7F, 0x80...0x9F: return true                    // C0, DEL, C1 (ESC is C0)
    case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true   // bidi controls
    case 0x200B, 0x200C, 0x2060, 0xFEFF: return true                    // zero-width
    default: return false
    }
}

func isEmoji(_ u: Unicode.Scalar) -> Bool {
    u.value >= 0x2000 && (u.properties.isEmojiPresentation || u.properties.isEmoji)
}

func check(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    let once = SafeText.display(text)
    let scalars = Array(once.unicodeScalars)
    for (i, u) in scalars.enumerated() {
        if forbidden(u.value) {
            fatalError("SafeText.display let U+\(String(u.value, radix: 16, uppercase: true)) through at \(i) for input \(bytes)")
        }
        if u.value == 0x200D {
            let ok = i > 0 && i + 1 < scalars.count && isEmoji(scalars[i - 1]) && isEmoji(scalars[i + 1])
            if !ok { fatalError("SafeText.display let U+200D through outside an emoji sequence for input \(bytes)") }
        }
    }
    let twice = SafeText.display(once)
    if twice != once {
        fatalError("SafeText.display is not idempotent for input \(bytes): \(Array(once.unicodeScalars).map(\.value)) -> \(Array(twice.unicodeScalars).map(\.value))")
    }
    if !SafeText.isClean(once) { fatalError("isClean(display(x)) is false for input \(bytes)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@main struct Main {
    static func main() { FuzzReplay.main { data, size in fuzz(data!, size) } }
}
