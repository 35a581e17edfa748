import Foundation
import XCTest
import Synchronization
import SymModel
@testable import SymEngine

/// Collects what a `DaemonLog` writes.
private final class Captured: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func log(minimum: LogLevel = .info, journal: Bool) -> DaemonLog {
        DaemonLog(minimum: minimum, journal: journal, sink: { [self] line in lines.withLock { $0.append(line) } })
    }
}

final class DaemonLogTests: XCTestCase {
    func testLinesBelowTheMinimumLevelAreNotWritten() {
        let out = Captured()
        let log = out.log(minimum: .warning, journal: false)
        log.debug("d"); log.info("i"); log.warning("w"); log.error("e")
        XCTAssertEqual(out.all, ["symtui daemon: w\n", "symtui daemon: e\n"])
    }

    func testDebugShowsEverything() {
        let out = Captured()
        let log = out.log(minimum: .debug, journal: false)
        log.debug("d"); log.info("i"); log.warning("w"); log.error("e")
        XCTAssertEqual(out.all.count, 4)
    }

    func testAMessageBelowTheMinimumIsNotEvenBuilt() {
        let out = Captured()
        let built = Atomic<Int>(0)
        func expensive() -> String { built.add(1, ordering: .relaxed); return "x" }
        out.log(minimum: .info, journal: false).debug(expensive())
        XCTAssertEqual(built.load(ordering: .relaxed), 0)
    }

    func testJournalLinesStartWithTheirSdDaemonPriority() {
        let out = Captured()
        let log = out.log(minimum: .debug, journal: true)
        log.debug("d"); log.info("i"); log.warning("w"); log.error("e")
        XCTAssertEqual(out.all, ["<7>d\n", "<6>i\n", "<4>w\n", "<3>e\n"])
    }

    func testPlainLinesKeepTheSymtuiDaemonPrefix() {
        let out = Captured()
        out.log(journal: false).info("serving /var/lib/symtui/symtui.db")
        XCTAssertEqual(out.all, ["symtui daemon: serving /var/lib/symtui/symtui.db\n"])
    }

    func testEachLineOfAMessageIsItsOwnPrefixedLine() {
        let out = Captured()
        out.log(journal: true).error("first\nsecond")
        XCTAssertEqual(out.all, ["<3>first\n", "<3>second\n"])
    }

    func testEveryLineIsNeutralised() {
        let out = Captured()
        let hostile = "user \u{1B}]0;owned\u{07} says \u{202E}txt.exe\u{202C} and \u{1B}[2J"
        out.log(journal: false).warning(hostile + "\n<0>fake emergency\r")
        for line in out.all {
            XCTAssertFalse(line.dropLast().unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || (0x202A...0x202E).contains($0.value) },
                           "\(line.debugDescription)")
        }
        XCTAssertEqual(out.all.first, "symtui daemon: " + SafeText.display(hostile) + "\n")
        XCTAssertEqual(out.all.count, 2)
    }

    func testAJournalLineCannotForgeAnotherPriority() {
        let out = Captured()
        out.log(journal: true).info("ok\n<0>forged")
        XCTAssertEqual(out.all, ["<6>ok\n", "<6><0>forged\n"], "the real priority comes first; journald reads only that one")
    }

    func testLevelNamesAreTheOptionsValues() {
        XCTAssertEqual(LogLevel.allCases.map(\.name), ["debug", "info", "warning", "error"])
        for level in LogLevel.allCases { XCTAssertEqual(LogLevel(name: level.name), level) }
        XCTAssertNil(LogLevel(name: "verbose"))
        XCTAssertNil(LogLevel(name: "INFO"))
    }

    func testStderrIsTheJournalOnlyWhenJournalStreamNamesItsDeviceAndInode() throws {
        let path = NSTemporaryDirectory() + "symtui-log-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd); unlink(path) }
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        let mine = "\(st.st_dev):\(st.st_ino)"
        XCTAssertTrue(DaemonLog.stderrIsJournal(environment: ["JOURNAL_STREAM": mine], descriptor: fd))
        XCTAssertFalse(DaemonLog.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"], descriptor: fd),
                       "a stderr redirected elsewhere is not the journal, whatever the variable says")
        XCTAssertFalse(DaemonLog.stderrIsJournal(environment: [:], descriptor: fd))
        XCTAssertFalse(DaemonLog.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"], descriptor: fd))
    }
}
