import Foundation
import XCTest
@testable import SymProtocol

/// One JSON object per line over a stream socket: what goes in with `writeLine` comes out of `readLine` whole.
final class LineConnectionTests: XCTestCase {
    func pair(buffer: Int32? = nil) -> (LineConnection, LineConnection) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        if var size = buffer {
            setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return (LineConnection(fd: fds[0]), LineConnection(fd: fds[1]))
    }

    func testLinesArriveWholeAndInOrder() throws {
        let (a, b) = pair()
        try a.writeLine(#"{"event":"ping"}"#)
        try a.writeLine("")
        try a.writeLine("süß ✓")
        XCTAssertEqual(try b.readLine(), #"{"event":"ping"}"#)
        XCTAssertEqual(try b.readLine(), "")
        XCTAssertEqual(try b.readLine(), "süß ✓")
    }

    func testALineLongerThanTheSocketBufferIsWrittenWholeAcrossShortWrites() throws {
        let (a, b) = pair(buffer: 4_096)
        let long = String(repeating: "0123456789abcdef", count: 40_000)   // 640 KB: many short writes
        final class Box: @unchecked Sendable { var line: String? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread { box.line = try? b.readLine(); done.signal() }.start()
        try a.writeLine(long)
        try a.writeLine("next")
        done.wait()
        let got = box.line
        XCTAssertEqual(got?.count, long.count)
        XCTAssertEqual(got, long)
        XCTAssertEqual(try b.readLine(), "next", "the newline of the long line was written once, after all of it")
    }

    /// Counts how often a read asks whether it may poll.
    final class Asked: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        var count: Int { lock.withLock { n } }
        func ask() { lock.withLock { n += 1 } }
    }

    /// `line` written to `conn` from another thread after `delay` seconds.
    func write(_ line: String, to conn: LineConnection, after delay: Double) {
        Thread { Thread.sleep(forTimeInterval: delay); try? conn.writeLine(line) }.start()
    }

    func testALineSentWhileTheReadPollsIsRead() throws {
        let (a, b) = pair()
        b.pollBeforeSleep = PollBeforeSleep(window: 2_000_000_000) { true }
        write("soon", to: a, after: 0.005)
        XCTAssertEqual(try b.readLine(), "soon")
    }

    func testALineSentAfterThePollWindowIsStillRead() throws {
        let (a, b) = pair()
        b.pollBeforeSleep = PollBeforeSleep(window: 1_000_000) { true }
        write("late", to: a, after: 0.1)
        XCTAssertEqual(try b.readLine(), "late", "the read sleeps once its window is over")
    }

    func testThePeerClosingWhileTheReadPollsEndsTheStream() throws {
        let (a, b) = pair()
        b.pollBeforeSleep = PollBeforeSleep(window: 2_000_000_000) { true }
        Thread { Thread.sleep(forTimeInterval: 0.005); shutdown(a.fd, Int32(SHUT_WR)) }.start()
        XCTAssertNil(try b.readLine())
    }

    func testAReadAsksWhetherToPollOnlyWhenItFindsNoLine() throws {
        let (a, b) = pair()
        let asked = Asked()
        b.pollBeforeSleep = PollBeforeSleep(window: 1_000_000) { asked.ask(); return false }
        try a.writeLine("one")
        try a.writeLine("two")
        XCTAssertEqual(try b.readLine(), "one")
        XCTAssertEqual(try b.readLine(), "two", "the second line came with the first read")
        XCTAssertEqual(asked.count, 1)
        write("three", to: a, after: 0.01)
        XCTAssertEqual(try b.readLine(), "three", "a read told not to poll waits as before")
        XCTAssertEqual(asked.count, 2)
    }

    func testWritingToAClosedPeerThrows() throws {
        signal(SIGPIPE, SIG_IGN)
        let (a, b) = pair()
        _ = b.release()
        close(b.fd)
        XCTAssertThrowsError(try a.writeLine("hello"))
    }
}
