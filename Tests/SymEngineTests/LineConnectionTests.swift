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

    func testWritingToAClosedPeerThrows() throws {
        signal(SIGPIPE, SIG_IGN)
        let (a, b) = pair()
        _ = b.release()
        close(b.fd)
        XCTAssertThrowsError(try a.writeLine("hello"))
    }
}
