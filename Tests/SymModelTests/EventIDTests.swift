import Foundation
import XCTest
import SymModel

/// An event's id is a random version-4 UUID in lower case, as Foundation's `UUID().uuidString.lowercased()` was.
final class EventIDTests: XCTestCase {
    func testAnEventIDIsALowerCaseVersion4UUIDThatFoundationReads() throws {
        for _ in 0..<1_000 {
            let id = EventID.random()
            XCTAssertNotNil(id.range(of: "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", options: .regularExpression), id)
            XCTAssertEqual(try XCTUnwrap(UUID(uuidString: id)).uuidString.lowercased(), id)
        }
    }

    func testEventIDsDoNotRepeat() {
        let ids = (0..<10_000).map { _ in EventID.random() }
        XCTAssertEqual(Set(ids).count, ids.count)
    }
}
