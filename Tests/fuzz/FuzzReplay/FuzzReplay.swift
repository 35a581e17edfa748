// The entry point shared by the fuzz targets. SwiftPM links an executable's `main` to the module's own entry
// point, so each target keeps an `@main` that either hands over to libFuzzer (`-DSYMTUI_FUZZ` builds, linked
// with -sanitize=fuzzer) or replays files or directories of inputs (plain builds: the corpus as a test).
import Foundation

#if SYMTUI_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif

public enum FuzzReplay {
    /// libFuzzer's driver in a fuzz build; otherwise replays the inputs named on the command line.
    public static func main(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
        #if SYMTUI_FUZZ
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
        #else
        run(CommandLine.arguments.dropFirst()) { bytes in
            _ = bytes.withUnsafeBufferPointer { callback($0.baseAddress ?? UnsafePointer(bitPattern: 1), $0.count) }
        }
        exit(0)
        #endif
    }

    /// Runs `check` on every file named (directories: every file inside, sorted); prints a count.
    public static func run(_ arguments: ArraySlice<String>, _ check: ([UInt8]) -> Void) {
        var files: [String] = []
        for arg in arguments {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: arg, isDirectory: &isDir) else {
                FileHandle.standardError.write(Data("replay: no such file \(arg)\n".utf8))
                exit(66)
            }
            if isDir.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: arg)) ?? []
                files += names.sorted().map { arg + "/" + $0 }
            } else {
                files.append(arg)
            }
        }
        for f in files {
            guard let d = FileManager.default.contents(atPath: f) else { continue }
            check([UInt8](d))
        }
        print("replayed \(files.count) inputs")
    }
}
