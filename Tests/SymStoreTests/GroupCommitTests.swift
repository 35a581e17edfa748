import Foundation
import XCTest
import Synchronization
import SymModel
@testable import SymStore

// MARK: - group commit: commands that arrive together share one transaction, each still all-or-nothing

final class GroupCommitTests: XCTestCase {
    struct Refused: Error, Equatable { let n: Int }

    /// `threads` threads, `each` writes apiece; every write inserts a request and appends an event; `fails(t, i)` makes
    /// that write throw after its changes. Returns the writer and, per write, whether it returned normally.
    func hammer(threads: Int, each: Int, fails: @escaping @Sendable (Int, Int) -> Bool = { _, _ in false })
        throws -> (writer: StoreWriter, errors: Int) {
        let writer = StoreWriter(try SF.store(self))
        let errors = Atomic<Int>(0)
        let wrong = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<each {
                do {
                    try writer.write { tx in
                        let r = try tx.insert(SF.request(requester: "u\(t)-\(i)"))
                        try tx.append(SF.draft(r, n: i), at: SF.at(Double(i)))
                        if fails(t, i) { throw Refused(n: t * 1000 + i) }
                    }
                    if fails(t, i) { wrong.add(1, ordering: .relaxed) }
                } catch let e as Refused {
                    errors.add(1, ordering: .relaxed)
                    if e != Refused(n: t * 1000 + i) || !fails(t, i) { wrong.add(1, ordering: .relaxed) }
                } catch {
                    wrong.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(wrong.load(ordering: .relaxed), 0, "a write got another command's outcome")
        return (writer, errors.load(ordering: .relaxed))
    }

    func testConcurrentCommandsShareCommitsAndAllOfThemStay() throws {
        let (writer, _) = try hammer(threads: 16, each: 40)
        let counts = writer.commitCounts
        XCTAssertEqual(counts.commands, 16 * 40)
        XCTAssertLessThan(counts.batches, counts.commands, "no two commands ever shared a commit")
        let store = try Store.openReadOnly(path: writer.location)
        XCTAssertEqual(try store.count(RequestQuery(limit: 10_000)), 16 * 40)
        let chain = try AuditVerifier(store: store).verify()
        XCTAssertNil(chain.problem)
        XCTAssertEqual(chain.checked, Int64(16 * 40))
    }

    func testAFailingCommandInABatchRollsBackAloneWithItsOwnError() throws {
        let fails: @Sendable (Int, Int) -> Bool = { t, i in (t + i) % 3 == 0 }
        let (writer, errors) = try hammer(threads: 12, each: 30, fails: fails)
        let expectedFailures = (0..<12).reduce(0) { n, t in n + (0..<30).filter { fails(t, $0) }.count }
        XCTAssertEqual(errors, expectedFailures)
        let store = try Store.openReadOnly(path: writer.location)
        let kept = Set(try store.requests(RequestQuery(limit: 10_000)).map(\.requester))
        for t in 0..<12 {
            for i in 0..<30 {
                XCTAssertEqual(kept.contains("u\(t)-\(i)"), !fails(t, i), "u\(t)-\(i)")
            }
        }
        // The chain has no hole where a rolled-back command's event was.
        let chain = try AuditVerifier(store: store).verify()
        XCTAssertNil(chain.problem)
        XCTAssertEqual(chain.checked, Int64(12 * 30 - expectedFailures))
        XCTAssertLessThan(writer.commitCounts.batches, writer.commitCounts.commands)
    }

    func testAWriteReturnsOnlyAfterItsChangeIsCommitted() throws {
        let writer = StoreWriter(try SF.store(self))
        let unseen = Atomic<Int>(0)
        let location = writer.location
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            guard let reader = try? Store.openReadOnly(path: location) else { unseen.add(1000, ordering: .relaxed); return }
            for i in 0..<30 {
                // Another connection sees only committed data: the row must be there as soon as write returns.
                let id = try? writer.write { try $0.insert(SF.request(requester: "v\(t)-\(i)")).id }
                if let id, (try? reader.request(id: id)) ?? nil != nil { continue }
                unseen.add(1, ordering: .relaxed)
            }
        }
        XCTAssertEqual(unseen.load(ordering: .relaxed), 0)
    }

    func testALoneCallerCommitsEveryCommandByItself() throws {
        let writer = StoreWriter(try SF.store(self))
        for i in 0..<20 {
            try writer.write { tx in
                let r = try tx.insert(SF.request(requester: "solo\(i)"))
                try tx.append(SF.draft(r), at: SF.at(0))
            }
        }
        XCTAssertEqual(writer.commitCounts.batches, 20)
        XCTAssertEqual(writer.commitCounts.commands, 20)
    }

    func testABatchIsNeverLargerThanItsLimit() throws {
        let writer = StoreWriter(try SF.store(self), maxBatch: 4)
        DispatchQueue.concurrentPerform(iterations: 16) { t in
            for i in 0..<20 { _ = try? writer.write { try $0.insert(SF.request(requester: "w\(t)-\(i)")) } }
        }
        let counts = writer.commitCounts
        XCTAssertEqual(counts.commands, 16 * 20)
        XCTAssertGreaterThanOrEqual(counts.batches * 4, counts.commands)
    }

    func testACheckpointCommitsAnOpenBatchFirst() throws {
        let writer = StoreWriter(try SF.store(self))
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for i in 0..<20 {
                _ = try? writer.write { try $0.insert(SF.request(requester: "c\(t)-\(i)")) }
                if i % 5 == 0 { do { try writer.checkpoint() } catch { XCTFail("checkpoint: \(error)") } }
            }
        }
        let store = try Store.openReadOnly(path: writer.location)
        XCTAssertEqual(try store.count(RequestQuery(limit: 1_000)), 160)
    }

    /// One caller runs the bodies queued behind it on its own thread: each caller must still get its own body's value,
    /// whether that body wrote or only read, and a read queued in a batch sees the writes run before it.
    func testBodiesRunByAnotherCallerEachReturnTheirOwnValue() throws {
        let writer = StoreWriter(try SF.store(self))
        let wrong = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 16) { t in
            for i in 0..<40 {
                do {
                    let name = "v\(t)-\(i)"
                    let id = try writer.write { try $0.insert(SF.request(requester: name)).id }
                    let (seen, tag) = try writer.read { r in (try r.request(id: id)?.requester, t * 1000 + i) }
                    if seen != name || tag != t * 1000 + i { wrong.add(1, ordering: .relaxed) }
                } catch {
                    wrong.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(wrong.load(ordering: .relaxed), 0, "a caller got another body's value")
        let store = try Store.openReadOnly(path: writer.location)
        XCTAssertEqual(try store.count(RequestQuery(limit: 10_000)), 16 * 40)
    }

    /// The command that opens a batch has no savepoint of its own: when it throws, the writer rolls the whole batch
    /// back, which must undo its changes and nothing else. The callers queued behind it then share a fresh batch, and
    /// the chain carries on from where it was, with no hole.
    func testTheFirstCommandOfABatchFailingUndoesOnlyItselfAndTheCommandsQueuedBehindItCommit() throws {
        let writer = StoreWriter(try SF.store(self))
        struct Boom: Error {}
        let changed = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let outcomes = Mutex<[String: Bool]>([:])
        let first = Thread {
            let ok = (try? writer.write { tx -> Void in
                let r = try tx.insert(SF.request(requester: "first"))
                try tx.append(SF.draft(r), at: SF.at(0))
                changed.signal()
                release.wait()
                throw Boom()
            }) != nil
            outcomes.withLock { $0["first"] = ok }
        }
        first.start()
        changed.wait()
        // Two callers queue while the first command holds the connection; the first caller runs them after it.
        let queued = DispatchGroup()
        for name in ["second", "third"] {
            queued.enter()
            Thread {
                let ok = (try? writer.write { tx -> Void in
                    let r = try tx.insert(SF.request(requester: name))
                    try tx.append(SF.draft(r), at: SF.at(1))
                }) != nil
                outcomes.withLock { $0[name] = ok }
                queued.leave()
            }.start()
        }
        Thread.sleep(forTimeInterval: 0.3)
        release.signal()
        queued.wait()
        while outcomes.withLock({ $0["first"] }) == nil { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(outcomes.withLock { $0 }, ["first": false, "second": true, "third": true])
        let store = try Store.openReadOnly(path: writer.location)
        XCTAssertEqual(Set(try store.requests(RequestQuery(limit: 10)).map(\.requester)), ["second", "third"])
        let chain = try AuditVerifier(store: store).verify()
        XCTAssertNil(chain.problem)
        XCTAssertEqual(chain.checked, 2)
        XCTAssertEqual(try store.lastSeq(), 2)
        // The two that queued behind it shared one batch (the second opened it, the third joined with a savepoint).
        XCTAssertEqual(writer.commitCounts.batches, 1)
        XCTAssertEqual(writer.commitCounts.commands, 2)
    }

    /// A lone caller alternates failing and succeeding commands: each failure (the opener of its batch, so no
    /// savepoint) leaves nothing, each success stays.
    func testALoneCallersFailingCommandsLeaveNothingBetweenTheOnesThatStay() throws {
        let writer = StoreWriter(try SF.store(self))
        struct Boom: Error {}
        for i in 0..<10 {
            let fail = i % 2 == 0
            let ok = (try? writer.write { tx -> Void in
                let r = try tx.insert(SF.request(requester: "solo\(i)"))
                try tx.append(SF.draft(r), at: SF.at(Double(i)))
                if fail { throw Boom() }
            }) != nil
            XCTAssertEqual(ok, !fail)
        }
        let store = try Store.openReadOnly(path: writer.location)
        XCTAssertEqual(Set(try store.requests(RequestQuery(limit: 100)).map(\.requester)), Set((0..<10).filter { $0 % 2 == 1 }.map { "solo\($0)" }))
        let chain = try AuditVerifier(store: store).verify()
        XCTAssertNil(chain.problem)
        XCTAssertEqual(chain.checked, 5)
        XCTAssertEqual(writer.commitCounts.batches, 5)
    }
}
