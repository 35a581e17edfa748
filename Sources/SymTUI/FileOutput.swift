import Foundation

/// Files the CLI writes for its user (`init`, `import … --out`, the demo's scene): written whole to a temporary file
/// beside the destination and renamed over it, so a reader never sees half a file. The rename replaces whatever
/// the name points to, so an existing destination that is not a regular file (`/dev/null`, a FIFO, a directory, a
/// symbolic link) is refused instead of being replaced by a file.
enum FileOutput {
    struct NotARegularFile: Error, LocalizedError {
        let path: String
        var errorDescription: String? { "\(path) exists and is not a regular file" }
    }

    static func write(_ data: Data, to path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG { throw NotARegularFile(path: path) }
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
