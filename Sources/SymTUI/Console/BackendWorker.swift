import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs the console's backend calls one at a time on a background thread, so that a slow or stopped daemon
/// never blocks keys or redraws. Each call's outcome comes back as `ConsoleEvent`s through an inbox: a pipe
/// that the input loop polls together with the keyboard, and a list the loop takes the events from.
final class BackendWorker: @unchecked Sendable {
    /// What a job does, for coalescing: a job still waiting in the queue is replaced by a newer one of the same
    /// kind (a newer page window, a newer status check). Commands to the daemon never coalesce.
    enum Kind: Hashable, Sendable {
        case flows, page(ConsoleView), reviewHead, announcements, status, stats
        /// A look for changes after the change descriptor woke the loop (which leaves the descriptor out of its
        /// poll until the look is done, and is woken when it is).
        case changes
        case send(Int)
    }

    /// A backend call; runs on the worker thread and returns the events it produced.
    typealias Job = @Sendable (any ConsoleBackend) -> [ConsoleEvent]

    // Unchecked Sendable: `backend` is touched only on the worker thread; everything else only under `lock`.
    private let backend: any ConsoleBackend
    private let lock = NSCondition()
    private var queue: [(kind: Kind, job: Job)] = []
    private var running: Kind?
    private var results: [ConsoleEvent] = []
    private var published: Int32?
    private var sends = 0
    private var started = false
    private var stopping = false
    private let inboxRead: Int32
    private let inboxWrite: Int32

    init(backend: any ConsoleBackend) {
        self.backend = backend
        // Read once here, before the thread exists; refreshed by the worker after every job.
        published = backend.changeDescriptor
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC); _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        } else { fds = [-1, -1] }
        inboxRead = fds[0]; inboxWrite = fds[1]
    }

    deinit {
        if inboxRead >= 0 { Glibc.close(inboxRead) }
        if inboxWrite >= 0 { Glibc.close(inboxWrite) }
    }

    /// Becomes readable when events wait in the inbox (polled with the keyboard).
    var inboxDescriptor: Int32 { inboxRead }

    /// The backend's change descriptor as last seen by the worker (nil: the loop polls for changes).
    var changeDescriptor: Int32? { lock.lock(); defer { lock.unlock() }; return published }

    /// Queues a job; a waiting job of the same kind is replaced in place (it keeps its turn).
    func enqueue(_ kind: Kind, _ job: @escaping Job) {
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { return }
        if !started {
            started = true
            let t = Thread { [self] in work() }
            t.name = "symtui-console-backend"
            t.start()
        }
        if let i = queue.firstIndex(where: { $0.kind == kind }) { queue[i].job = job } else { queue.append((kind, job)) }
        lock.broadcast()  // the worker, not only a `waitUntilIdle` caller, must wake
    }

    /// Queues one command to the daemon.
    func send(_ job: @escaping Job) {
        lock.lock(); sends += 1; let n = sends; lock.unlock()
        enqueue(.send(n), job)
    }

    /// Whether a job of `kind` waits or runs.
    func isBusy(with kind: Kind) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return running == kind || queue.contains { $0.kind == kind }
    }

    /// Whether a command to the daemon is out (waiting or running).
    var isSending: Bool {
        lock.lock(); defer { lock.unlock() }
        if case .send? = running { return true }
        return queue.contains { if case .send = $0.kind { return true }; return false }
    }

    /// The events that arrived since the last call, oldest first; empties the inbox.
    func takeResults() -> [ConsoleEvent] {
        var byte: UInt8 = 0
        while inboxRead >= 0, Glibc.read(inboxRead, &byte, 1) == 1 {}
        lock.lock(); defer { lock.unlock() }
        let out = results
        results = []
        return out
    }

    /// Lets the thread end once the call it runs (if any) returns; queued calls are dropped.
    func stop() {
        lock.lock()
        stopping = true
        queue = []
        lock.broadcast()
        lock.unlock()
    }

    /// Blocks until no job waits or runs (results may still sit in the inbox), or until `deadline`; true when idle.
    @discardableResult
    func waitUntilIdle(before deadline: Date? = nil) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        while running != nil || !queue.isEmpty {
            // `wait(until: .distantFuture)` traps in Foundation on Linux: no deadline is a plain wait.
            guard let deadline else { lock.wait(); continue }
            if !lock.wait(until: deadline) { return running == nil && queue.isEmpty }
        }
        return true
    }

    private func work() {
        while true {
            lock.lock()
            while queue.isEmpty && !stopping { lock.wait() }
            if stopping { lock.unlock(); return }
            let (kind, job) = queue.removeFirst()
            running = kind
            lock.unlock()
            let events = job(backend)
            let descriptor = backend.changeDescriptor
            lock.lock()
            results += events
            running = nil
            published = descriptor
            lock.broadcast()
            lock.unlock()
            // An empty answer wakes the loop only when it must put the change descriptor back in its poll.
            var byte: UInt8 = 1
            if inboxWrite >= 0, !events.isEmpty || kind == .changes { _ = Glibc.write(inboxWrite, &byte, 1) }
        }
    }
}
