import Foundation
import XCTest
import SymTestSupport
@testable import SymModel

/// `store` may name a PostgreSQL database (docs/store.md); its password never goes in the config.
final class StoreURIConfigTests: XCTestCase {
    func testAPostgreSQLStoreURIIsKeptAsWritten() {
        let uri = "postgresql://symtui@db.example/symtui?sslmode=verify-full&passfile=/etc/symtui/pgpass"
        XCTAssertEqual(assertValid(ConfigText.with(extra: #"store: "\#(uri)""#))?.store, uri)
    }

    func testAPostgreSQLStoreURIWithAPasswordIsRefused() {
        assertProblem(ConfigText.with(extra: #"store: "postgresql://symtui:s3cret@db.example/symtui""#), "contains a password")
    }
}
