import Foundation
import XCTest
@testable import SymModel

/// An event's id is a time-ordered version-7 UUID in lower case, which Foundation reads as a UUID.
final class EventIDTests: XCTestCase {
    func testAnEventIDIsALowerCaseVersion7UUIDThatFoundationReads() throws {
        for _ in 0..<1_000 {
            let id = EventID.make()
            XCTAssertNotNil(id.range(of: "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", options: .regularExpression), id)
            XCTAssertEqual(try XCTUnwrap(UUID(uuidString: id)).uuidString.lowercased(), id)
        }
    }

    func testAnEventIDStartsWithItsTimeInMilliseconds() {
        // 2026-12-02T14:00:00.123Z
        let id = EventID.make(millis: 1_796_220_000_123)
        XCTAssertEqual(String(id.prefix(13)).replacingOccurrences(of: "-", with: ""), String(1_796_220_000_123, radix: 16, uppercase: false).leftPadded(to: 12))
    }

    func testEventIDsMadeLaterSortAfterEarlierOnes() {
        let times: [UInt64] = [0, 1, 255, 256, 65_535, 1_796_220_000_000, 1_796_220_000_001, 1_796_220_086_400_000, (1 << 48) - 1]
        let ids = times.map { EventID.make(millis: $0) }
        XCTAssertEqual(ids, ids.sorted())
        let now = UInt64(Timestamp.nowNanos() / 1_000_000)
        XCTAssertLessThan(EventID.make(millis: now), EventID.make(millis: now + 1))
    }

    func testEventIDsDoNotRepeatWithinOneMillisecond() {
        let ids = (0..<10_000).map { _ in EventID.make(millis: 1_796_220_000_000) }
        XCTAssertEqual(Set(ids).count, ids.count)
    }

    func testTheClockOfAnIDIsTheSystemsRealTime() {
        let before = UInt64(Date().timeIntervalSince1970 * 1_000)
        let id = EventID.make()
        let after = UInt64(Date().timeIntervalSince1970 * 1_000)
        let millis = UInt64(String(id.prefix(13)).replacingOccurrences(of: "-", with: ""), radix: 16) ?? 0
        XCTAssertTrue((before...after + 1).contains(millis), "\(before) \(millis) \(after)")
    }
}

private extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
