import Foundation
import XCTest
import Synchronization
import SymModel
@testable import SymStore

// MARK: - group commit: commands that arrive together share one transaction, each still all-or-nothing

/// 8 threads × 30 commands through `insert` (thread, index → the new request's id); how many of the ids another
/// connection, which sees only committed data, could not read as soon as `insert` returned.
func commitsNotYetSeen(_ writer: StoreWriter, insert: @escaping @Sendable (Int, Int) -> Int64?) -> Int {
    let unseen = Atomic<Int>(0)
    let location = writer.location
    DispatchQueue.concurrentPerform(iterations: 8) { t in
        guard let reader = try? Store.openReadOnly(path: location) else { unseen.add(1000, ordering: .relaxed); return }
        for i in 0..<30 {
            if let id = insert(t, i), (try? reader.request(id: id)) ?? nil != nil { continue }
            unseen.add(1, ordering: .relaxed)
        }
    }
    return unseen.load(ordering: .relaxed)
}

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
        // The row must be there as soon as write returns.
        XCTAssertEqual(commitsNotYetSeen(writer) { t, i in try? writer.write { try $0.insert(SF.request(requester: "v\(t)-\(i)")).id } }, 0)
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

    /// Runs `first` on a thread of its own and, while it holds the connection (after its changes), queues each of
    /// `queued` on a thread of its own; then `first` ends with `thenFirst`, and the first caller runs the queued
    /// bodies after itself, in one batch. Returns whether each returned normally.
    func queueBehind(_ writer: StoreWriter, first: @escaping @Sendable (any StoreWriting) throws -> Void,
                     thenFirst: @escaping @Sendable () throws -> Void = {},
                     queued: [@Sendable (any StoreWriting) throws -> Void]) -> (first: Bool, queued: [Bool]) {
        let changed = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let outcomes = Mutex<[Int: Bool]>([:])
        let done = DispatchGroup()
        done.enter()
        Thread {
            let ok = (try? writer.write { tx -> Void in
                try first(tx)
                changed.signal()
                release.wait()
                try thenFirst()
            }) != nil
            outcomes.withLock { $0[-1] = ok }
            done.leave()
        }.start()
        changed.wait()
        for (i, body) in queued.enumerated() {
            done.enter()
            Thread {
                let ok = (try? writer.write { try body($0) }) != nil
                outcomes.withLock { $0[i] = ok }
                done.leave()
            }.start()
        }
        Thread.sleep(forTimeInterval: 0.3)   // the queued callers reach the writer's queue
        release.signal()
        done.wait()
        return outcomes.withLock { o in (o[-1]!, queued.indices.map { o[$0]! }) }
    }

    /// The command that opens a batch has no savepoint of its own: when it throws, the writer rolls the whole batch
    /// back, which must undo its changes and nothing else. The callers queued behind it then share a fresh batch, and
    /// the chain carries on from where it was, with no hole.
    func testTheFirstCommandOfABatchFailingUndoesOnlyItselfAndTheCommandsQueuedBehindItCommit() throws {
        let writer = StoreWriter(try SF.store(self))
        struct Boom: Error {}
        // The first command throws once the others have queued behind it.
        let outcome = queueBehind(writer, first: { tx in
            let r = try tx.insert(SF.request(requester: "first"))
            try tx.append(SF.draft(r), at: SF.at(0))
        }, thenFirst: { throw Boom() }, queued: ["second", "third"].map { name in { tx in
            let r = try tx.insert(SF.request(requester: name))
            try tx.append(SF.draft(r), at: SF.at(1))
        } })
        XCTAssertFalse(outcome.first)
        XCTAssertEqual(outcome.queued, [true, true])
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

    /// A command that joins a batch keeps its SAVEPOINT's undo pages in memory however many pages it changes (well
    /// beyond SQLite's default 64 KiB): no temporary file is created for it.
    func testAJoinedCommandThatChangesManyPagesKeepsItsStatementJournalInMemory() throws {
        XCTAssertTrue(Database.libraryConfigured, "SQLite was initialised before the store configured it")
        let writer = StoreWriter(try SF.store(self))
        // Only pages that existed before a savepoint are journaled: ~100 pages of requests with 1 KiB requesters
        // (in the table and two of its indexes) committed first, then changed by the joined command.
        let stored = try writer.write { tx in
            try (0..<120).map { i in try tx.insert(SF.request(requester: "r\(i)-" + String(repeating: "x", count: 1024))) }
        }
        let tempFiles = Mutex<[String]>([])
        let outcome = queueBehind(writer, first: { tx in _ = try tx.insert(SF.request(requester: "first")) }, queued: [{ tx in
            for var r in stored {
                r.state = .denied
                _ = try tx.update(r)
            }
            tempFiles.withLock { $0 = GroupCommitTests.openTemporaryFiles() }
        }])
        XCTAssertEqual(outcome.first, true)
        XCTAssertEqual(outcome.queued, [true])
        XCTAssertEqual(writer.commitCounts.batches, 2, "the second command did not join the first one's batch")
        XCTAssertEqual(tempFiles.withLock { $0 }, [])
        let store = try Store.openReadOnly(path: writer.location)
        var denied = RequestQuery(limit: 1_000)
        denied.states = [.denied]
        XCTAssertEqual(try store.count(denied), 120)
    }

    /// The files this process holds open that SQLite created as temporary files (deleted `etilqs_*`).
    static func openTemporaryFiles() -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { fd in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd) else { return nil }
            return target.contains("etilqs_") ? target : nil
        }
    }
}

// MARK: - submitted commands: the caller does not wait for the commit, its completion is called after it

/// What a submitted command's completion saw, shared with the thread that waits for it.
final class SubmitBox: @unchecked Sendable { var result: Any?; var returned = false; var inline = false }

final class SubmittedCommandTests: XCTestCase {
    struct Refused: Error, Equatable { let n: Int }

    /// Submits `body` and waits for its completion, as a daemon's client waits for its answer; the outcome and whether
    /// the completion ran before `submit` returned.
    static func submitAndWait<T: Sendable>(_ writer: StoreWriter, _ body: @escaping (any StoreWriting) throws -> T) -> (Result<T, any Error>, inline: Bool) {
        let box = SubmitBox()
        let done = DispatchSemaphore(value: 0)
        let lock = NSLock()
        writer.submit(body) { result in
            lock.withLock { box.result = result; box.inline = !box.returned }
            done.signal()
        }
        lock.withLock { box.returned = true }
        done.wait()
        return lock.withLock { (box.result as! Result<T, any Error>, box.inline) }
    }

    func testSubmittedCommandsFromManyThreadsShareCommitsAndEachGetsItsOwnOutcome() throws {
        let writer = StoreWriter(try SF.store(self))
        let fails: @Sendable (Int, Int) -> Bool = { t, i in (t * 7 + i) % 5 == 0 }
        let wrong = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 16) { t in
            for i in 0..<40 {
                let (result, _) = Self.submitAndWait(writer) { tx -> Int64 in
                    let r = try tx.insert(SF.request(requester: "s\(t)-\(i)"))
                    try tx.append(SF.draft(r, n: i), at: SF.at(Double(i)))
                    if fails(t, i) { throw Refused(n: t * 1000 + i) }
                    return r.id
                }
                switch result {
                case .success: if fails(t, i) { wrong.add(1, ordering: .relaxed) }
                case let .failure(e): if (e as? Refused) != Refused(n: t * 1000 + i) { wrong.add(1, ordering: .relaxed) }
                }
            }
        }
        XCTAssertEqual(wrong.load(ordering: .relaxed), 0, "a submitted command got another command's outcome")
        let store = try Store.openReadOnly(path: writer.location)
        let kept = Set(try store.requests(RequestQuery(limit: 10_000)).map(\.requester))
        let failures = (0..<16).reduce(0) { n, t in n + (0..<40).filter { fails(t, $0) }.count }
        XCTAssertEqual(kept.count, 16 * 40 - failures)
        for t in 0..<16 { for i in 0..<40 { XCTAssertEqual(kept.contains("s\(t)-\(i)"), !fails(t, i), "s\(t)-\(i)") } }
        let chain = try AuditVerifier(store: store).verify()
        XCTAssertNil(chain.problem)
        XCTAssertEqual(chain.checked, Int64(16 * 40 - failures), "the chain has no hole where a failed command's event was")
        XCTAssertLessThan(writer.commitCounts.batches, writer.commitCounts.commands, "no two submitted commands shared a commit")
    }

    func testACompletionRunsOnlyOnceItsCommandIsCommitted() throws {
        let writer = StoreWriter(try SF.store(self))
        // The row must be there once the completion ran.
        XCTAssertEqual(commitsNotYetSeen(writer) { t, i in
            try? Self.submitAndWait(writer) { try $0.insert(SF.request(requester: "c\(t)-\(i)")).id }.0.get()
        }, 0)
    }

    func testALoneSubmitterCommitsAndCompletesBeforeSubmitReturns() throws {
        let writer = StoreWriter(try SF.store(self))
        for i in 0..<10 {
            let (result, inline) = Self.submitAndWait(writer) { try $0.insert(SF.request(requester: "solo\(i)")).id }
            XCTAssertNotNil(try? result.get())
            XCTAssertTrue(inline, "a caller that found the writer free pays no hand-over to another thread")
        }
        XCTAssertEqual(writer.commitCounts.batches, 10)
    }

    func testSubmittedAndWaitingCommandsShareTheWriter() throws {
        let writer = StoreWriter(try SF.store(self))
        let failed = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 12) { t in
            for i in 0..<25 {
                if t % 2 == 0 {
                    if (try? Self.submitAndWait(writer) { try $0.insert(SF.request(requester: "m\(t)-\(i)")).id }.0.get()) == nil {
                        failed.add(1, ordering: .relaxed)
                    }
                } else {
                    do { _ = try writer.write { try $0.insert(SF.request(requester: "m\(t)-\(i)")) } } catch { failed.add(1, ordering: .relaxed) }
                    _ = try? writer.read { try $0.lastSeq() }
                }
            }
        }
        XCTAssertEqual(failed.load(ordering: .relaxed), 0)
        XCTAssertEqual(try Store.openReadOnly(path: writer.location).count(RequestQuery(limit: 10_000)), 12 * 25)
    }

    func testAStoreThatCannotDeferItsCommitCompletesInTheCall() throws {
        final class Synchronous: RequestStore, @unchecked Sendable {
            let writer: StoreWriter
            init(_ writer: StoreWriter) { self.writer = writer }
            var location: String { writer.location }
            func read<T>(_ body: (any StoreReading) throws -> T) throws -> T { try writer.read(body) }
            func write<T>(_ body: (any StoreWriting) throws -> T) throws -> T { try writer.write(body) }
            func openReader() throws -> any StoreReading { try writer.openReader() }
        }
        let store: any RequestStore = Synchronous(StoreWriter(try SF.store(self)))
        var got: Int64?
        store.submit({ try $0.insert(SF.request(requester: "sync")).id }) { got = try? $0.get() }
        XCTAssertNotNil(got, "the protocol's own submit writes, then completes, before it returns")
    }
}
