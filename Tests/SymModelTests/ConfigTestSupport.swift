import Foundation
import XCTest
@testable import SymModel

/// Small builders for config texts: a valid config with one part swapped out.
enum ConfigText {
    static let strategy = #"{ name: "s", type: "command", settings: { escalate: "/bin/true", deescalate: "/bin/true" }, targets: [ { name: "t" } ] }"#
    static let flow = #"{ name: "f", strategy: "s", approvers: { users: ["alice"] } }"#

    static func with(flows: [String] = [flow], strategies: [String] = [strategy], extra: String = "") -> String {
        "{\n strategies: [\n\(strategies.joined(separator: ",\n"))\n],\n flows: [\n\(flows.joined(separator: ",\n"))\n],\n\(extra)\n}\n"
    }

    /// A valid config whose only flow has the given extra keys.
    static func flow(_ keys: String, strategy: String? = "s") -> String {
        let s = strategy.map { #"strategy: "\#($0)", "# } ?? ""
        return with(flows: [#"{ name: "f", \#(s)approvers: { users: ["alice"] }, \#(keys) }"#])
    }

    /// A valid config whose only flow has these prompt fields.
    static func fields(_ fields: String, flowKeys: String = "", strategy: String? = "s") -> String {
        flow("prompt_fields: [ \(fields) ], \(flowKeys)", strategy: strategy)
    }

    /// A valid config whose only strategy is this one (targets included).
    static func strategy(_ text: String) -> String { with(strategies: [text]) }
}

func parseConfig(_ text: String, base: String? = nil) -> Result<Config, ConfigError> {
    ConfigLoader.parse(text: text, path: "test.json5", baseDirectory: base ?? NSTemporaryDirectory())
}

func problems(_ text: String, base: String? = nil) -> [ConfigProblem] {
    if case let .failure(e) = parseConfig(text, base: base) { return e.problems }
    return []
}

@discardableResult
func assertValid(_ text: String, base: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> Config? {
    switch parseConfig(text, base: base) {
    case let .success(c): return c
    case let .failure(e):
        XCTFail("expected a valid config, got:\n\(e)", file: file, line: line)
        return nil
    }
}

func assertProblem(_ text: String, _ fragment: String, path: String? = nil, base: String? = nil,
                   file: StaticString = #filePath, line: UInt = #line) {
    let found = problems(text, base: base)
    let match = found.first { $0.message.contains(fragment) && (path == nil || $0.path == path) }
    XCTAssertNotNil(match, "no problem containing '\(fragment)'\(path.map { " at \($0)" } ?? ""); got:\n"
                    + found.map(\.description).joined(separator: "\n"), file: file, line: line)
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("symtui-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

/// Tests/Fixtures in the source tree.
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
