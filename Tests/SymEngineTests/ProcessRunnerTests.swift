import Foundation
import XCTest
@testable import SymEngine

final class ProcessRunnerTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws { dir = try Fixture.tempDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testArgumentsArePassedVerbatimWithoutAShell() throws {
        let marker = dir + "/pwned"
        let hostile = ["$(touch \(marker))", "; touch \(marker)", "`touch \(marker)`", "a\nb", "*", "", "it's \"quoted\"", "| touch \(marker)"]
        let result = try ProcessRunner.run(path: Fixture.python, arguments: ["-c", "import sys, json; print(json.dumps(sys.argv[1:]))"] + hostile,
                                           timeout: 10)
        XCTAssertTrue(result.succeeded, result.summary)
        let printed = try JSONSerialization.jsonObject(with: result.stdout) as? [String]
        XCTAssertEqual(printed, hostile)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    func testEnvironmentIsExactlyTheOneGiven() throws {
        let env = ["ONE": "1", "SPACED": "a b $HOME", "EMPTY": ""]
        let result = try ProcessRunner.run(path: "/usr/bin/env", environment: env, timeout: 10)
        XCTAssertTrue(result.succeeded, result.summary)
        let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(Set(lines), ["ONE=1", "SPACED=a b $HOME", "EMPTY="])
    }

    func testStdinIsDeliveredInFull() throws {
        let input = Data((0..<300_000).map { UInt8($0 % 251) })
        let result = try ProcessRunner.run(path: "/bin/cat", stdin: input, timeout: 10)
        XCTAssertTrue(result.succeeded, result.summary)
        XCTAssertEqual(result.stdout, input)
    }

    /// The handler test run was once killed by SIGPIPE: a program that exits before reading its stdin.
    func testAProgramThatIgnoresItsStdinDoesNotKillTheCaller() throws {
        let input = Data(count: 4 << 20)
        for _ in 0..<3 {
            let result = try ProcessRunner.run(path: "/bin/true", stdin: input, timeout: 10)
            XCTAssertTrue(result.succeeded, result.summary)
        }
    }

    func testTimeoutKillsTheWholeProcessGroup() throws {
        let pidFile = dir + "/child.pid"
        let script = try Fixture.script(in: dir, "#!/bin/sh\n/bin/sleep 100 &\necho $! > \(pidFile)\nwait\n")
        let result = try ProcessRunner.run(path: script, timeout: 1)
        XCTAssertTrue(result.timedOut)
        XCTAssertFalse(result.succeeded)
        XCTAssertNil(result.exitCode)
        let pid = try Fixture.readPID(pidFile)
        XCTAssertTrue(Fixture.waitUntilGone(pid), "background child \(pid) survived the timeout")
    }

    func testChildrenLeftBehindByTheLeaderAreKilled() throws {
        let pidFile = dir + "/child.pid"
        let script = try Fixture.script(in: dir, "#!/bin/sh\n/bin/sleep 100 >/dev/null 2>&1 &\necho $! > \(pidFile)\nexit 0\n")
        let result = try ProcessRunner.run(path: script, timeout: 10)
        XCTAssertTrue(result.succeeded, result.summary)
        XCTAssertTrue(Fixture.waitUntilGone(try Fixture.readPID(pidFile)))
    }

    func testStderrTailIsBounded() throws {
        let code = "import sys; sys.stderr.write('x' * 200000 + 'THE END'); sys.exit(3)"
        let result = try ProcessRunner.run(path: Fixture.python, arguments: ["-c", code], timeout: 10)
        XCTAssertEqual(result.exitCode, 3)
        XCTAssertLessThanOrEqual(result.stderrTail.utf8.count, ProcessRunner.tailBytes)
        XCTAssertTrue(result.stderrTail.hasSuffix("THE END"))
        XCTAssertTrue(result.summary.hasPrefix("exit 3"))
    }

    func testRelativePathIsRefused() {
        XCTAssertThrowsError(try ProcessRunner.run(path: "sh", arguments: ["-c", "true"], timeout: 5)) { error in
            XCTAssertTrue("\(error)".contains("not an absolute path"), "\(error)")
        }
    }

    func testTimeoutHoldsEvenAfterTheProgramClosesItsOutput() throws {
        let script = try Fixture.script(in: dir, "#!/bin/sh\nexec >/dev/null 2>&1\nexec /bin/sleep 30\n")
        let started = Date()
        let result = try ProcessRunner.run(path: script, timeout: 1)
        XCTAssertTrue(result.timedOut)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }
}
