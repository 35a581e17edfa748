import Foundation
import XCTest
@testable import SymModel
// Re-exported: every file of this target sees the shared config builders (`ConfigText`, `parseConfig`) as before.
@_exported import SymTestSupport

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
