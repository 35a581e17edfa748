import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
import SymModel
@testable import SymTUI

/// A backend whose change descriptor is a real pipe: a byte written to it is a change line; `waitForChange`
/// reads it and says whether it touched what is shown (`touching`).
private final class PipeBackend: ConsoleBackend, @unchecked Sendable {
    let inner = standardBackend()
    let read: Int32, write: Int32
    var touching = false
    var looks = 0
    init() {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0)
        read = fds[0]; write = fds[1]
        _ = fcntl(read, F_SETFL, fcntl(read, F_GETFL) | O_NONBLOCK)
    }
    deinit { close(read); close(write) }
    var identity: ConsoleIdentity { inner.identity }
    func flows() throws -> [FlowSummary] { try inner.flows() }
    func page(_ view: ConsoleView, filter: String, offset: Int, limit: Int) throws -> ConsolePage {
        try inner.page(view, filter: filter, offset: offset, limit: limit)
    }
    func daemonHealthy() -> Bool { true }
    func send(_ action: ConsoleAction) -> ActionResult { inner.send(action) }
    var changeDescriptor: Int32? { read }
    func waitForChange(timeoutMs: Int) -> Bool {
        looks += 1
        var b = [UInt8](repeating: 0, count: 16)
        let n = Glibc.read(read, &b, b.count)
        return n > 0 && touching
    }
    func line() { var b: UInt8 = 1; _ = Glibc.write(write, &b, 1) }
}

final class WorkerWatchTests: XCTestCase {
    private func inboxReadable(_ worker: BackendWorker, withinMs ms: Int32) -> Bool {
        var fd = pollfd(fd: worker.inboxDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, ms) == 1
    }

    private func watched(_ backend: PipeBackend) -> BackendWorker {
        let worker = BackendWorker(backend: backend)
        worker.watchChanges { b in b.waitForChange(timeoutMs: 0) ? [.storeChanged] : [] }
        return worker
    }

    func testAChangeThatTouchesWhatIsShownReachesTheLoopThroughTheInbox() {
        let backend = PipeBackend()
        backend.touching = true
        let worker = watched(backend)
        defer { worker.stop(); backend.line() }
        backend.line()
        XCTAssertTrue(inboxReadable(worker, withinMs: 10_000), "the worker did not hand the change to the loop")
        let events = worker.takeResults()
        XCTAssertEqual(events.count, 1)
        if case .storeChanged? = events.first {} else { XCTFail("expected storeChanged, got \(events)") }
    }

    func testAChangeThatTouchesNothingShownDoesNotWakeTheLoop() {
        let backend = PipeBackend()
        let worker = watched(backend)
        defer { worker.stop(); backend.line() }
        backend.line()
        // The worker looked (and consumed the line) without writing to the inbox.
        let deadline = Date().addingTimeInterval(10)
        while worker.isBusy(with: .changes) || backend.looks == 0, Date() < deadline { usleep(1_000) }
        XCTAssertEqual(backend.looks, 1)
        XCTAssertFalse(inboxReadable(worker, withinMs: 200), "an untouched change woke the loop")
        XCTAssertTrue(worker.takeResults().isEmpty)
    }

    func testAJobQueuedWhileTheWorkerWatchesStillRuns() {
        let backend = PipeBackend()
        let worker = watched(backend)
        defer { worker.stop(); backend.line() }
        usleep(20_000)   // let the worker reach its poll on the descriptor
        worker.enqueue(.flows) { b in [.flowsLoaded(try! b.flows())] }
        XCTAssertTrue(inboxReadable(worker, withinMs: 10_000), "a queued job was not run while the worker watched")
        XCTAssertEqual(worker.takeResults().count, 1)
    }
}
