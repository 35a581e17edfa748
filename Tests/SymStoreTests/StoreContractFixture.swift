import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymStore

/// One store backend under test: how to make a fresh, empty store and run raw SQL on it (what only someone with
/// direct access to the database could do).
struct StoreBackend {
    var name: String
    var make: (XCTestCase) throws -> (store: any RequestStore, raw: (String) throws -> Void)

    static var sqlite: StoreBackend { StoreBackend(name: "sqlite") { test in
        let path = try SF.directory(test) + "/symtui.db"
        let side = try Store.openForWriting(path: path)
        return (StoreWriter(try Store.openForWriting(path: path)), { try side.db.execute($0) })
    } }

    static var postgres: StoreBackend { StoreBackend(name: "postgresql") { _ in
        let (_, conninfo) = try PostgresCluster.shared().freshSchema()
        let store = try PostgresStore(conninfo: conninfo, hostName: "bastion-a")
        return (store, { try store.execute($0) })
    } }

    static var all: [StoreBackend] { [sqlite, postgres] }
}

/// The store contract, run against every backend: each test body runs once per backend (a backend that cannot be
/// set up here, e.g. PostgreSQL without root, is reported and skipped for that backend only).
class StoreContractCase: XCTestCase {
    var raw: (String) throws -> Void = { _ in }
    /// The backend the body runs on, named in every failure.
    private var current: String?

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        super.recordFailure(withDescription: current.map { "[\($0)] " } .map { $0 + description } ?? description,
                            inFile: filePath, atLine: lineNumber, expected: expected)
    }

    func eachBackend(_ body: (any RequestStore, any StoreReading) throws -> Void) throws {
        var skipped: [String] = []
        for backend in StoreBackend.all {
            let made: (store: any RequestStore, raw: (String) throws -> Void)
            do { made = try backend.make(self) } catch let skip as XCTSkip { skipped.append("\(backend.name): \(skip)"); continue }
            raw = made.raw
            current = backend.name
            defer { current = nil }
            do { try body(made.store, try made.store.openReader()) } catch { XCTFail("\(error)") }
        }
        if skipped.count == StoreBackend.all.count { throw XCTSkip(skipped.joined(separator: "; ")) }
    }

    @discardableResult
    func insert(_ store: any RequestStore, _ r: AccessRequest) throws -> AccessRequest { try store.write { try $0.insert(r) } }

    func get(_ store: any RequestStore, _ id: Int64) throws -> AccessRequest? { try store.read { try $0.request(id: id) } }

    func allEvents(_ store: any RequestStore) throws -> [AuditEvent] { try store.read { try $0.events(afterSeq: 0, limit: 1_000_000) } }
}
