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
    /// Wakes the worker out of its poll when a job is queued (while it watches the change descriptor).
    private let jobRead: Int32
    private let jobWrite: Int32
    /// Set by `watchChanges`: the look the worker runs itself whenever the change descriptor becomes readable.
    private var watch: Job?

    init(backend: any ConsoleBackend) {
        self.backend = backend
        // Read once here, before the thread exists; refreshed by the worker after every job.
        published = backend.changeDescriptor
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC); _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        } else { fds = [-1, -1] }
        inboxRead = fds[0]; inboxWrite = fds[1]
        var jobs: [Int32] = [-1, -1]
        if pipe(&jobs) == 0 {
            for fd in jobs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC); _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        } else { jobs = [-1, -1] }
        jobRead = jobs[0]; jobWrite = jobs[1]
    }

    deinit {
        if inboxRead >= 0 { Glibc.close(inboxRead) }
        if inboxWrite >= 0 { Glibc.close(inboxWrite) }
        if jobRead >= 0 { Glibc.close(jobRead) }
        if jobWrite >= 0 { Glibc.close(jobWrite) }
    }

    /// From now on the worker itself waits on the backend's change descriptor whenever it has no job, runs `look`
    /// when it becomes readable, and wakes the loop only when the look produced events: a commit that touches
    /// nothing on screen wakes one thread, once. The loop then leaves the descriptor out of its own poll
    /// (`watchesChanges`); without a descriptor (no feed) it keeps asking for `.changes` itself.
    func watchChanges(_ look: @escaping Job) {
        lock.lock()
        defer { lock.unlock() }
        guard jobRead >= 0, !stopping else { return }
        watch = look
        startThread()
        wakeWorker()
    }

    /// Called with `lock` held: the thread starts with the first job or watch.
    private func startThread() {
        guard !started else { return }
        started = true
        let t = Thread { [self] in work() }
        t.name = "symtui-console-backend"
        t.start()
    }

    /// Whether the worker watches the change descriptor itself (`watchChanges`).
    var watchesChanges: Bool { lock.lock(); defer { lock.unlock() }; return watch != nil }

    /// Called with `lock` held.
    private func wakeWorker() {
        lock.broadcast()
        var byte: UInt8 = 1
        if jobWrite >= 0 { _ = Glibc.write(jobWrite, &byte, 1) }
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
        startThread()
        if let i = queue.firstIndex(where: { $0.kind == kind }) { queue[i].job = job } else { queue.append((kind, job)) }
        wakeWorker()  // the worker, not only a `waitUntilIdle` caller, must wake
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
        wakeWorker()
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
            while queue.isEmpty && !stopping {
                guard let look = watch else { lock.wait(); continue }
                lock.unlock()
                idleWatch(look)
                lock.lock()
            }
            if stopping { lock.unlock(); return }
            let (kind, job) = queue.removeFirst()
            running = kind
            lock.unlock()
            let events = job(backend)
            // An empty answer wakes the loop only when it must put the change descriptor back in its poll.
            finish(events, wake: { _ in kind == .changes })
        }
    }

    /// Hands a job's (or a look's) events to the loop, publishes the change descriptor the backend now has, and wakes
    /// the loop when there are events or when `wake` says it must (given that descriptor).
    private func finish(_ events: [ConsoleEvent], wake: (_ descriptor: Int32?) -> Bool) {
        let descriptor = backend.changeDescriptor
        lock.lock()
        results += events
        running = nil
        published = descriptor
        lock.broadcast()
        lock.unlock()
        var byte: UInt8 = 1
        if inboxWrite >= 0, !events.isEmpty || wake(descriptor) { _ = Glibc.write(inboxWrite, &byte, 1) }
    }

    /// No job waits: sleep until one is queued or the change descriptor is readable; in the second case run the
    /// look and hand the loop what it found (nothing, for a commit that touched nothing shown).
    private func idleWatch(_ look: Job) {
        let descriptor = backend.changeDescriptor
        var fds = [pollfd(fd: jobRead, events: Int16(POLLIN), revents: 0)]
        if let descriptor { fds.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)) }
        let n = poll(&fds, nfds_t(fds.count), -1)
        if fds[0].revents != 0 {
            var buf = [UInt8](repeating: 0, count: 64)
            while Glibc.read(jobRead, &buf, buf.count) > 0 {}
        }
        guard n > 0, fds.count > 1, fds[1].revents != 0 else { return }
        lock.lock()
        if stopping { lock.unlock(); return }
        running = .changes
        lock.unlock()
        let events = look(backend)
        finish(events, wake: { next in next != descriptor })
    }
}
