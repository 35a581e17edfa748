import Foundation
import XCTest
import SymModel
@testable import SymStore

/// Small builders for store tests: a fresh store in a temporary directory and requests to put in it.
enum SF {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    /// A new directory (mode 0755) removed when the test ends.
    static func directory(_ test: XCTestCase) throws -> String {
        let path = NSTemporaryDirectory() + "symtui-store-test-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        _ = chmod(path, 0o755)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    static func store(_ test: XCTestCase) throws -> Store {
        try Store.openForWriting(path: try directory(test) + "/symtui.db")
    }

    static func request(flow: String = "prod", target: String? = "prod-ssh", requester: String = "rita",
                        state: RequestState = .pending, created: Double = 0, extends: Int64? = nil) -> AccessRequest {
        AccessRequest(flow: flow, target: target, targetLabel: target.map { "Label of \($0)" }, requester: requester, state: state,
                      durationSeconds: target == nil ? nil : 3600, createdAt: at(created), requestExpiresAt: at(created + 3600),
                      requiredApprovals: 1, extends: extends)
    }

    @discardableResult
    static func insert(_ store: Store, _ request: AccessRequest) throws -> AccessRequest {
        try store.write { try $0.insert(request) }
    }

    static func draft(_ r: AccessRequest, _ type: EventType = .request, actor: String = "rita", n: Int = 0) -> EventDraft {
        EventDraft(type, for: r, actor: actor, reason: "n\(n)", data: .object([("n", .int(Int64(n)))]))
    }

    /// Every event, oldest first.
    static func allEvents(_ store: Store) throws -> [AuditEvent] {
        try store.events(afterSeq: 0, limit: 1_000_000)
    }

    /// Runs a program and returns its exit status and combined output.
    static func run(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
