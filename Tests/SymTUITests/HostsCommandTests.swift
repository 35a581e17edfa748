import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// `symtui hosts`' text table, from the daemon's `hosts` answer.
final class HostsCommandTests: XCTestCase {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    func answer(_ hosts: String, anyHost: Int = 0) throws -> JSONValue {
        try JSONValue.parse(#"{"hosts":[\#(hosts)],"any_host_waiting":\#(anyHost),"heartbeat_seconds":5}"#)
    }

    func testEachHostShowsItsVersionWhenLastSeenWhetherAliveAndWhatWaits() throws {
        let seen = Int64(Self.now.timeIntervalSince1970 * 1000) - 3_000, old = seen - 117_000
        let text = HostsCommand.render(try answer("""
            {"host":"bastion-a","version":"0.1.0","last_seen_ms":\(seen),"alive":true,"waiting":0},
            {"host":"bastion-b","version":"0.1.0","last_seen_ms":\(old),"alive":false,"waiting":3},
            {"host":"ghost","version":null,"last_seen_ms":null,"alive":false,"waiting":1}
            """, anyHost: 2), now: Self.now)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first?.split(separator: " ", omittingEmptySubsequences: true).first, "HOST")
        XCTAssertTrue(lines[1].hasPrefix("bastion-a") && lines[1].contains("alive, 3s ago") && lines[1].hasSuffix("0"), lines[1])
        XCTAssertTrue(lines[2].contains("down, 2m00s ago") && lines[2].hasSuffix("3"), lines[2])
        XCTAssertTrue(lines[3].hasPrefix("ghost") && lines[3].contains("never (no heartbeat)") && lines[3].contains(" - "), lines[3])
        XCTAssertEqual(lines.last, "steps any host may run: 2")
    }

    func testAHostNameFromTheStoreIsNeutralisedBeforeTheTerminal() throws {
        let text = HostsCommand.render(try answer(#"{"host":"evil\u001b]0;pwned\u0007","version":"1\u202e","alive":false,"waiting":0}"#),
                                       now: Self.now)
        XCTAssertFalse(text.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 || $0.value == 0x202e }, text)
    }

    func testNoHeartbeatYetSaysSo() throws {
        XCTAssertTrue(HostsCommand.render(try answer(""), now: Self.now).contains("(no daemon has sent a heartbeat)"))
    }
}
