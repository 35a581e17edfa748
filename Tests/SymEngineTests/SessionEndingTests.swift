import Foundation
import XCTest
@testable import SymEngine
import SymModel
#if canImport(Glibc)
import Glibc
#endif

/// Ending the processes that still hold removed access: /proc parsing and the SIGHUP → SIGTERM → SIGKILL ladder,
/// on real child processes of this test.
final class SessionEndingTests: XCTestCase {
    /// Starts `/bin/sh -c SCRIPT` and waits until it runs `sleep`.
    func start(_ script: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        try p.run()
        let deadline = Date().addingTimeInterval(5)
        while ProcessTable.entry(p.processIdentifier)?.command != "sleep" && Date() < deadline { usleep(10_000) }
        return p
    }

    func testTheStartTimeIsReadAfterACommandNameWithSpacesAndParentheses() {
        let fields = (4...21).map(String.init).joined(separator: " ") + " 4242 23"
        XCTAssertEqual(ProcessTable.startTicks("17 (a) b (c) S " + fields), 4242)
        XCTAssertNil(ProcessTable.startTicks("17 (truncated"))
    }

    /// Whether a process is a grant's own is decided by its start time, to within a tick: not to within the second
    /// that /proc/stat's whole-second `btime` loses.
    func testAProcessJustStartedIsDatedToWithinAFractionOfASecond() throws {
        let before = Date()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["5"]
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        let e = try XCTUnwrap(ProcessTable.entry(p.processIdentifier))
        let started = ProcessTable.startDate(e, boot: try XCTUnwrap(ProcessTable.bootTime()))
        XCTAssertEqual(started.timeIntervalSince(before), 0, accuracy: 0.1, "started \(started), spawned after \(before)")
    }

    func testAnEntryHasTheIdsOfTheRunningProcess() throws {
        let me = try XCTUnwrap(ProcessTable.entry(getpid()))
        XCTAssertEqual(me.uids.first, getuid())
        XCTAssertEqual(me.gids.first, getgid())
        XCTAssertEqual(me.ppid, getppid())
        XCTAssertTrue(ProcessTable.snapshot().contains { $0.pid == getpid() })
    }

    func testDescendantsAreFoundThroughEveryGeneration() {
        func e(_ pid: Int32, _ ppid: Int32) -> ProcessEntry {
            ProcessEntry(pid: pid, ppid: ppid, command: "x", uids: [1, 1, 1, 1], gids: [1, 1, 1, 1], groups: [], startTicks: 1,
                         loginUID: nil, isZombie: false)
        }
        let table = [e(10, 1), e(11, 10), e(12, 11), e(20, 1), e(21, 20)]
        XCTAssertEqual(ProcessTable.withDescendants([10], in: table), [10, 11, 12])
    }

    func testAProcessIsEndedBySIGHUPAndNamedWithItsCommand() throws {
        let p = try start("exec sleep 600")
        let entry = try XCTUnwrap(ProcessTable.entry(p.processIdentifier))
        let sessions = SessionEnder.end([entry], mode: .terminate)
        p.waitUntilExit()
        XCTAssertEqual(sessions, [HeldSession(pid: entry.pid, command: "sleep", outcome: "terminated", signal: "SIGHUP", startTicks: entry.startTicks)])
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertEqual(p.terminationStatus, SIGHUP)
    }

    func testAProcessIgnoringHangupAndTerminateIsKilledAfterTheGracePeriods() throws {
        let p = try start("trap '' HUP TERM; exec sleep 600")
        let entry = try XCTUnwrap(ProcessTable.entry(p.processIdentifier))
        let began = Date()
        let sessions = SessionEnder.end([entry], mode: .terminate)
        p.waitUntilExit()
        XCTAssertEqual(sessions.map(\.signal), ["SIGKILL"])
        XCTAssertEqual(sessions.map(\.outcome), ["terminated"])
        let took = Date().timeIntervalSince(began)
        XCTAssertGreaterThanOrEqual(took, SessionEnder.hangupGrace + SessionEnder.terminateGrace - 0.1)
        XCTAssertLessThan(took, SessionEnder.hangupGrace + SessionEnder.terminateGrace + 1.5)
    }

    func testReportLeavesTheProcessRunning() throws {
        let p = try start("exec sleep 600")
        defer { p.terminate(); p.waitUntilExit() }
        let entry = try XCTUnwrap(ProcessTable.entry(p.processIdentifier))
        XCTAssertEqual(SessionEnder.end([entry], mode: .report).map(\.outcome), ["reported"])
        usleep(100_000)
        XCTAssertTrue(p.isRunning)
    }

    func testAReusedPidIsNeverSignalled() throws {
        let p = try start("exec sleep 600")
        defer { p.terminate(); p.waitUntilExit() }
        var stale = try XCTUnwrap(ProcessTable.entry(p.processIdentifier))
        stale.startTicks += 1   // the process found earlier was another one with the same pid
        XCTAssertEqual(SessionEnder.end([stale], mode: .terminate).map(\.outcome), ["gone"])
        usleep(100_000)
        XCTAssertTrue(p.isRunning)
    }

    func testEndSessionsDefaultsToTerminateAndRefusesOtherWords() {
        XCTAssertEqual(try EndSessions.mode([:], strategy: "unix_group").get(), .terminate)
        XCTAssertEqual(try EndSessions.mode(["end_sessions": .string("report")], strategy: "unix_group").get(), .report)
        guard case let .failure(f) = EndSessions.mode(["end_sessions": .string("kill")], strategy: "sudoers") else { return XCTFail() }
        XCTAssertTrue(f.message.contains("expected terminate or report"))
    }
}
