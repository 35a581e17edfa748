import Foundation
import XCTest
import SymModel
@testable import SymStore

final class ChangeWatcherTests: XCTestCase {
    func milliseconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
    }

    func testNothingChangesUntilSomethingCommits() throws {
        let dir = try SF.directory(self)
        let writer = try Store.openForWriting(path: dir + "/s.db")
        let watcher = ChangeWatcher(store: try Store.openReadOnly(path: dir + "/s.db"))
        XCTAssertFalse(watcher.changed())
        try SF.insert(writer, SF.request())
        XCTAssertTrue(watcher.changed())
        XCTAssertFalse(watcher.changed())
    }

    func testWaitReturnsFalseOnTimeoutWithoutACommit() throws {
        let dir = try SF.directory(self)
        _ = try Store.openForWriting(path: dir + "/s.db")
        let watcher = ChangeWatcher(store: try Store.openReadOnly(path: dir + "/s.db"))
        let start = DispatchTime.now()
        XCTAssertFalse(watcher.wait(timeoutMs: 300))
        let ms = milliseconds(since: start)
        print("ChangeWatcher timeout: waited \(String(format: "%.1f", ms)) ms for 300 ms")
        XCTAssertGreaterThanOrEqual(ms, 290)
        XCTAssertLessThan(ms, 1500)
    }

    func testWaitReturnsPromptlyAfterAnotherConnectionCommits() throws {
        let dir = try SF.directory(self)
        let path = dir + "/s.db"
        _ = try Store.openForWriting(path: path)
        let watcher = ChangeWatcher(store: try Store.openReadOnly(path: path))
        XCTAssertTrue(watcher.usesInotify)
        var latencies: [Double] = []
        for round in 0..<5 {
            let committed = Committed()
            let thread = Thread {
                usleep(150_000)
                committed.start()
                // A separate writer connection, as the daemon is to a console.
                guard let writer = try? Store.openForWriting(path: path) else { return }
                _ = try? SF.insert(writer, SF.request())
                committed.mark()
            }
            thread.start()
            XCTAssertTrue(watcher.wait(timeoutMs: 3000), "round \(round)")
            let woke = DispatchTime.now()
            _ = try XCTUnwrap(committed.waitForMark())
            latencies.append(try XCTUnwrap(committed.milliseconds(until: woke)))
        }
        print("ChangeWatcher wake-up after another connection started its commit (ms, includes the write): \(latencies.map { String(format: "%.1f", $0) })")
        XCTAssertLessThan(latencies.max() ?? 0, 250, "wait() should wake within 250 ms of the commit")
    }

    func testWaitReturnsPromptlyAfterAnotherProcessCommits() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "needs sqlite3")
        let dir = try SF.directory(self)
        let path = dir + "/s.db"
        _ = try Store.openForWriting(path: path)
        let watcher = ChangeWatcher(store: try Store.openReadOnly(path: path))
        var latencies: [Double] = []
        for round in 0..<3 {
            let committed = Committed()
            let thread = Thread {
                usleep(150_000)
                committed.start()
                _ = try? SF.run("/usr/bin/sqlite3", [path, "insert into meta(key, value) values('k\(round)', 'v')"])
                committed.mark()
            }
            thread.start()
            XCTAssertTrue(watcher.wait(timeoutMs: 3000), "round \(round)")
            let woke = DispatchTime.now()
            _ = try XCTUnwrap(committed.waitForMark())
            latencies.append(try XCTUnwrap(committed.milliseconds(until: woke)))
        }
        print("ChangeWatcher wake-up after another process was started to commit (ms, includes starting sqlite3): \(latencies.map { String(format: "%.1f", $0) })")
        XCTAssertLessThan(latencies.max() ?? 0, 250)
    }
}

/// When a background commit started and finished.
final class Committed: @unchecked Sendable {
    private let cond = NSCondition()
    private var began: DispatchTime?
    private var at: DispatchTime?
    func start() { cond.lock(); began = DispatchTime.now(); cond.unlock() }
    /// Milliseconds from the start of the commit to `t`.
    func milliseconds(until t: DispatchTime) -> Double? {
        cond.lock(); defer { cond.unlock() }
        return began.map { Double(Int64(t.uptimeNanoseconds) - Int64($0.uptimeNanoseconds)) / 1_000_000 }
    }
    func mark() { cond.lock(); at = DispatchTime.now(); cond.broadcast(); cond.unlock() }
    func waitForMark(seconds: Double = 10) -> DispatchTime? {
        cond.lock(); defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(seconds)
        while at == nil && cond.wait(until: deadline) {}
        return at
    }
}
