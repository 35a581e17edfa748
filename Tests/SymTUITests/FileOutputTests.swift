import Foundation
import XCTest
@testable import SymTUI

/// `init` and `import … --out` write whole files by renaming a temporary one over the destination.
final class FileOutputTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "fileoutput-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testADeviceLikeDestinationIsRefusedAndLeftInPlace() throws {
        let fifo = dir + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try FileOutput.write(Data("x".utf8), to: fifo)) {
            XCTAssertEqual($0.localizedDescription, "\(fifo) exists and is not a regular file")
        }
        var st = stat()
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO was replaced")
    }

    func testASymbolicLinkIsRefusedAndItsTargetUntouched() throws {
        let target = dir + "/target", link = dir + "/link"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
        XCTAssertEqual(symlink(target, link), 0)
        XCTAssertThrowsError(try FileOutput.write(Data("x".utf8), to: link))
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "keep")
    }

    func testARegularFileIsReplacedWhole() throws {
        let path = dir + "/config.json5"
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try FileOutput.write(Data("new".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new")
        try FileOutput.write(Data("fresh".utf8), to: dir + "/absent")
        XCTAssertEqual(try String(contentsOfFile: dir + "/absent", encoding: .utf8), "fresh")
    }
}
