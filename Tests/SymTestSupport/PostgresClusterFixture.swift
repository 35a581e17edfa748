import Foundation
import XCTest
@_exported import ThrowawayPostgres

/// The tests' one cluster per run (`PostgresCluster` itself lives in ThrowawayPostgres, which the bench uses too).
extension PostgresCluster {
    nonisolated(unsafe) private static var started: PostgresCluster?
    nonisolated(unsafe) private static var failure: String?
    private static let startLock = NSLock()

    /// The run's cluster, started on first use and removed when the test bundle finishes; throws XCTSkip where no
    /// cluster can be made (not root, no PostgreSQL).
    public static func shared() throws -> PostgresCluster {
        startLock.lock()
        defer { startLock.unlock() }
        if let started { return started }
        if let failure { throw XCTSkip(failure) }
        if let reason = unavailableReason { failure = reason; throw XCTSkip(reason) }
        let cluster: PostgresCluster
        do { cluster = try PostgresCluster() } catch {
            failure = "the test cluster did not start: \(error)"
            throw error
        }
        started = cluster
        XCTestObservationCenter.shared.addTestObserver(Teardown(cluster))
        return cluster
    }

    private final class Teardown: NSObject, XCTestObservation {
        let cluster: PostgresCluster
        init(_ c: PostgresCluster) { cluster = c }
        func testBundleDidFinish(_ testBundle: Bundle) { cluster.destroy() }
    }
}
