import Foundation
import XCTest

/// Tests/Fixtures in the source tree (bad configs, field corpora, hostile strings).
public let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

/// A name that no other test run uses: `prefix` and eight random hex digits.
public func uniqueName(_ prefix: String) -> String {
    prefix + String(UInt32.random(in: 0...UInt32.max), radix: 16)
}

/// A fresh directory under the system's temporary directory (not yet scheduled for removal).
public func makeTemporaryDirectory(prefix: String = "symtui-test-") throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(uniqueName(prefix))
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A fresh temporary directory, removed when `test` ends.
public func temporaryDirectory(_ test: XCTestCase, prefix: String = "symtui-tests-") throws -> String {
    let dir = try makeTemporaryDirectory(prefix: prefix)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}
