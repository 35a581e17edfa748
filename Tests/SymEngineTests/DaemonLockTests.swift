import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymEngine

/// One daemon per store; and a new daemon waits for programs a crashed one started (they inherit its lock).
final class DaemonLockTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try Fixture.tempDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A process that holds the store's lock for `seconds`, as an orphaned strategy program would, with a dead
    /// daemon's pid in the lock file.
    func orphanHoldingLock(seconds: Double) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixture.python)
        p.arguments = ["-c", """
            import fcntl, os, sys, time
            f = open(sys.argv[1], "a+"); fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0); f.truncate(); f.write("999999\\n"); f.flush()
            print("held", flush=True); time.sleep(float(sys.argv[2]))
            """, dir + "/s.db.lock", String(seconds)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        _ = out.fileHandleForReading.availableData   // "held"
        return p
    }

    func daemon() -> Daemon { Daemon(config: Config(sourcePath: dir + "/c.json5"), storePath: dir + "/s.db", socketPath: dir + "/s.sock") }

    func testANewDaemonWaitsForProgramsOfAGoneDaemonToFinish() throws {
        let orphan = try orphanHoldingLock(seconds: 1)
        let started = Date()
        try daemon().acquireLock(orphanWait: 10)
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.5, "it waited for the orphan")
        orphan.waitUntilExit()
    }

    func testANewDaemonGivesUpWhenOrphansHoldTheLockTooLong() throws {
        let orphan = try orphanHoldingLock(seconds: 5)
        defer { orphan.terminate(); orphan.waitUntilExit() }
        XCTAssertThrowsError(try daemon().acquireLock(orphanWait: 0.3)) { error in
            XCTAssertEqual((error as? CommandError)?.code, ExitCode.unavailable)
            XCTAssertTrue("\(error)".contains("still hold"), "\(error)")
        }
    }

    func testASecondDaemonIsRefusedWhileTheFirstRuns() throws {
        let first = daemon()
        try first.acquireLock()
        XCTAssertThrowsError(try daemon().acquireLock(orphanWait: 10)) { error in
            XCTAssertTrue("\(error)".contains("another daemon (pid \(getpid()))"), "\(error)")
        }
    }
}
