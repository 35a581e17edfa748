import Foundation

/// A real HTTP server on 127.0.0.1 for tests: a Python script that prints the port it bound (0 = any free port)
/// and serves until stopped. It can be stopped and started again on the same port (a receiver that is down
/// for a while).
final class LocalServer {
    let script: String
    let arguments: [String]
    private(set) var port = 0
    private var process: Process?

    /// `script` is run as `python3 SCRIPT PORT ARGUMENTS...`.
    init(script: String, arguments: [String] = []) {
        self.script = script
        self.arguments = arguments
    }

    deinit { stop() }

    func start(port wanted: Int = 0) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixture.python)
        p.arguments = [script, String(wanted)] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        process = p
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let bound = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "the test server did not print its port"])
        }
        port = bound
    }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
