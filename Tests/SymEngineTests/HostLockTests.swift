import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// One daemon per `host_name` on a shared PostgreSQL store, kept across a server restart.
final class HostLockTests: XCTestCase {
    func conninfo() throws -> String { try PostgresCluster.shared().freshSchema().conninfo }

    func testASecondDaemonWithTheSameHostNameIsRefusedWith69AndAnotherNameIsNot() throws {
        let info = try conninfo()
        let name = "lock-\(UInt32.random(in: 0...UInt32.max))"
        let first = try HostLock.acquire(conninfo: info, hostName: name)
        defer { first.release() }
        XCTAssertThrowsError(try HostLock.acquire(conninfo: info, hostName: name)) { error in
            XCTAssertEqual((error as? CommandError)?.code, ExitCode.unavailable)
            XCTAssertTrue("\(error)".contains("another daemon with host_name \(name)"), "\(error)")
        }
        let other = try HostLock.acquire(conninfo: info, hostName: name + "-b")
        other.release()
        first.release()
        let next = try HostLock.acquire(conninfo: info, hostName: name)
        next.release()
    }

    func testTheLockIsTakenAgainAfterTheServerRestartsAndALaterDaemonIsStillRefused() throws {
        let cluster = try PostgresCluster.shared()
        let info = try conninfo()
        let name = "restart-\(UInt32.random(in: 0...UInt32.max))"
        let held = try HostLock.acquire(conninfo: info, hostName: name)
        defer { held.release() }
        try cluster.stopImmediately()
        try cluster.start()
        XCTAssertTrue(held.refresh(), "the lock was not taken again on a new connection")
        XCTAssertThrowsError(try HostLock.acquire(conninfo: info, hostName: name))
    }

    func testADaemonThatLostItsLockToAnotherDuringAnOutageSaysSo() throws {
        let cluster = try PostgresCluster.shared()
        let info = try conninfo()
        let name = "lost-\(UInt32.random(in: 0...UInt32.max))"
        let held = try HostLock.acquire(conninfo: info, hostName: name)
        defer { held.release() }
        try cluster.stopImmediately()
        try cluster.start()
        let other = try HostLock.acquire(conninfo: info, hostName: name)   // its connection is new; the old lock went with the server
        defer { other.release() }
        var said: [String] = []
        XCTAssertFalse(held.refresh { said.append($1) })
        XCTAssertFalse(held.refresh { said.append($1) })
        XCTAssertEqual(said.count, 1, "said once: \(said)")
        XCTAssertTrue(said.first?.contains("two daemons now serve as \(name)") ?? false, "\(said)")
    }
}
