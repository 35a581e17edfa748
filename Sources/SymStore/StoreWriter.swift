import Foundation
import SymModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's SQLite writer: owns the write connection and offers only `read {}` and `write {}`, one at a time
/// (like GRDB's DatabaseQueue), so serialisation holds by construction rather than by a lock callers must take.
///
/// A `write` starts its transaction at its first change, or where its body says it will write (a command's
/// `willAppendEvents`, so that its reads run inside it): a body that finds nothing to do (most of the grant loop's
/// wake-ups) takes no write lock and commits nothing. Its reads before that change are still consistent with it,
/// because every change to requests and events goes through this one writer (the daemon's lock file keeps a second
/// daemon out).
///
/// Group commit: bodies still run one at a time (the caller that finds the connection free runs every body queued
/// meanwhile on its own thread, see `exclusively`), and commands that arrive together share one BEGIN IMMEDIATE …
/// COMMIT, and so one fsync. Each command that joins an open batch is a SAVEPOINT inside it: a body that throws rolls
/// back its own changes only and gets its own error, the others are unaffected. The command that opens the batch has
/// no savepoint (it is alone in the batch until it returns, so a failure rolls back the batch, which holds only its
/// changes): a lone caller pays no statement journal. A body that ran while a batch was open
/// returns only after that batch committed (what it read or wrote is then durable); when the COMMIT itself fails,
/// every command of the batch gets that error and none of their changes stay. The batch commits when no other caller
/// is waiting for the connection (or after `maxBatch` commands), so a lone caller pays what it paid before: one
/// transaction per command. See docs/store.md, "Group commit".
public final class StoreWriter: RequestStore, @unchecked Sendable {
    private let store: Store
    /// The most commands one batch holds before it commits even though callers are waiting.
    public let maxBatch: Int

    /// Guards `busy` and `queue` only: a job's outcome has its own lock, so the callers a commit wakes do not all
    /// queue for this one.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// A caller leads (it runs the queued bodies, one at a time, and commits), or was handed the connection to.
    private var busy = false
    /// Bodies waiting for a leader, oldest first.
    private var queue: [Job] = []
    /// The open batch transaction; only the leader touches it.
    private var batch: Batch?
    /// The thread inside `read`/`write` (0: none), to refuse re-entry, which would deadlock.
    private let owner = Atomic<UInt>(0)
    /// Submitted jobs whose batch ended, waiting for their completions to be run once the connection is let go;
    /// only the leader touches it.
    private var settled: [Job] = []
    /// Leads when the next queued job is a submitted one: its submitter has gone back to its own work.
    private let pump = WriterHelper(name: "symtui store writer")
    /// Runs submitted commands' completions, a batch's at a time, while the connection goes on to the next batch.
    private let completions = WriterHelper(name: "symtui store completions")
    /// Batches and commands committed (for the bench and tests: commands ÷ batches is the grouping achieved).
    private let batchesCommitted = Atomic<Int>(0)
    private let commandsCommitted = Atomic<Int>(0)

    /// One caller's body, and what its caller sleeps for (`signal`, under the job's own lock): `.final` once the
    /// caller may return, that is once its body ran and the batch it ran in, if any, committed or failed; `.lead` when
    /// the last leader handed the connection to it.
    private final class Job {
        enum Signal { case none, lead, final }
        /// Dropped once run: the body must not outlive its caller's `withoutActuallyEscaping`.
        var run: (() -> Void)?
        /// Set by the leader before `.final`; read by the caller after it.
        var batch: Batch?
        /// A submitted command's completion (`submit`): called with its batch's error, if any, once its body ran and
        /// that batch ended, in place of waking a caller (none waits). Dropped once called.
        var complete: (((any Error)?) -> Void)?
        private var signal = Signal.none
        private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        init(_ run: @escaping () -> Void) { self.run = run; pthread_mutex_init(lock, nil); pthread_cond_init(wake, nil) }
        deinit { pthread_cond_destroy(wake); wake.deallocate(); pthread_mutex_destroy(lock); lock.deallocate() }

        func post(_ s: Signal) {
            pthread_mutex_lock(lock)
            signal = s
            pthread_cond_signal(wake)
            pthread_mutex_unlock(lock)
        }

        /// Sleeps until posted; takes a `.lead` (the next wait sleeps again), keeps a `.final`.
        func await() -> Signal {
            pthread_mutex_lock(lock)
            while signal == .none { pthread_cond_wait(wake, lock) }
            let s = signal
            if s == .lead { signal = .none }
            pthread_mutex_unlock(lock)
            return s
        }
    }

    /// One shared transaction: the commands that joined it, and how it ended (set by the leader before it posts them).
    private final class Batch {
        var members: [Job] = []
        var commands: Int { members.count }
        var error: (any Error)?
    }

    /// Takes over `store`'s connection; nothing else should use it afterwards.
    public init(_ store: Store, maxBatch: Int = 128) {
        precondition(!store.readOnly, "a StoreWriter needs a store opened for writing")
        precondition(maxBatch >= 1)
        self.store = store
        self.maxBatch = maxBatch
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pump.stop(); completions.stop()
        pthread_mutex_destroy(mutex); mutex.deallocate()
    }

    /// Opens (creating it if needed) the store at `path` for writing; see `Store.openForWriting`.
    public static func open(path: String, mode: Int = 0o600, group: gid_t? = nil, signer: HMACSHA256? = nil) throws -> StoreWriter {
        let store = try Store.openForWriting(path: path, mode: mode, group: group)
        store.signer = signer
        return StoreWriter(store)
    }

    public var location: String { store.path }

    /// (batches, commands) committed so far.
    public var commitCounts: (batches: Int, commands: Int) {
        (batchesCommitted.load(ordering: .relaxed), commandsCommitted.load(ordering: .relaxed))
    }

    /// Runs `body` alone on the connection (reads outside a transaction, as a reader would; inside the open batch,
    /// if there is one, and then it returns after that batch committed).
    public func read<T>(_ body: (any StoreReading) throws -> T) throws -> T {
        try exclusively { _ in (try body(store), false) }.0
    }

    /// Runs `body` alone on the connection as one all-or-nothing command: its changes and audit events commit together
    /// (in a batch shared with the commands that arrived with it) when it returns, and roll back when it throws.
    /// It returns after the commit. Reads through the transaction see its own changes.
    public func write<T>(_ body: (any StoreWriting) throws -> T) throws -> T {
        let ((value, changed), touched) = try exclusively { joinBatch in
            let (value, changed, touched) = try runCommand(body, joinBatch: joinBatch)
            return ((value, changed), touched)
        }
        // Told outside the writer and after the commit, once per command: a subscriber may read at once.
        if touched { store.afterCommit?(changed) }
        return value
    }

    /// Runs `body` as `write` does, in the batch of the commands around it, and calls `then` once that batch committed
    /// (or with the error that undid the command), without waiting for it here. When the connection is free, the
    /// caller runs the queued bodies itself and, if its command's batch committed meanwhile, `then` on its own thread
    /// before returning: a lone caller pays what `write` costs. Otherwise it only queues the body: a writer thread
    /// leads, and `then` runs on the completion thread, which takes a whole batch's completions at once, so a caller
    /// that submits sleeps for no commit (see docs/store.md, "Group commit").
    public func submit<T>(_ body: @escaping (any StoreWriting) throws -> T, then: @escaping (Result<T, any Error>) -> Void) {
        // Written by the thread that runs the body, read by the one that completes it (after the hand-over's lock).
        var outcome: Result<(T, Set<Int64>, Bool), any Error>?
        let job = Job { [self] in outcome = Result { try runCommand(body, joinBatch: { [self] in try joinBatch() }) } }
        job.complete = { [self] batchError in
            switch outcome! {
            case let .failure(error): then(.failure(error))
            case let .success((value, changed, touched)):
                if let batchError { return then(.failure(batchError)) }
                if touched { store.afterCommit?(changed) }
                then(.success(value))
            }
        }
        pthread_mutex_lock(mutex)
        queue.append(job)
        let leads = !busy
        busy = true
        pthread_mutex_unlock(mutex)
        guard leads else { return }
        deliver(lead(StoreWriter.currentThread), own: job)
    }

    /// One command's body on the connection, in a transaction of its own or as a savepoint of the open batch (see
    /// `StoreTransaction`): its value, the requests it changed and whether it changed anything. A body that throws
    /// has its changes undone.
    private func runCommand<T>(_ body: (any StoreWriting) throws -> T, joinBatch: @escaping () throws -> Bool) throws -> (T, Set<Int64>, Bool) {
        let tx = StoreTransaction(store: store, began: false, joinBatch: joinBatch)
        do {
            let value = try body(tx)
            if tx.began && !tx.openedBatch { try store.db.run(StoreTransaction.releaseSavepoint) }
            return (value, tx.changedRequests, tx.touched)
        } catch {
            if tx.began { rollBackCommand(openedBatch: tx.openedBatch) }
            throw error
        }
    }

    /// The writer thread's turn (handed the connection by `lead`): one pass, which hands it on again as any does.
    private func leadForSubmitters() {
        deliver(lead(StoreWriter.currentThread), own: nil)
    }

    /// Runs the completions of submitted jobs whose batch ended: the caller's own (`own`) on this thread, the others
    /// on the completion thread.
    private func deliver(_ done: [Job], own: Job?) {
        var others = done
        let mine = own.flatMap { own in others.firstIndex { $0 === own } }.map { others.remove(at: $0) }
        if !others.isEmpty { completions.add(others.map { job in { StoreWriter.complete(job) } }) }
        if let mine { StoreWriter.complete(mine) }
    }

    private static func complete(_ job: Job) {
        let complete = job.complete
        job.complete = nil
        complete?(job.batch?.error)
    }

    private static var currentThread: UInt { UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) }

    /// Copies the WAL's commits into the database file (a clean stop leaves a whole `.db`), between writes.
    public func checkpoint() throws {
        _ = try exclusively { _ in
            if let open = batch { commit(open) }
            return (try store.checkpoint(), false)
        }
    }

    /// A read-only connection of its own (WAL: it never waits for this writer's transactions).
    public func openReader() throws -> any StoreReading { try Store.openReadOnly(path: store.path) }

    /// Undoes a failed command: the whole batch when the command opened it (it is alone in it: no other command joins
    /// before it returns), else its savepoint. Some errors (a full disk, an I/O error) make SQLite roll back the whole
    /// transaction itself: the batch is then lost, and its other commands are told so.
    private func rollBackCommand(openedBatch: Bool) {
        if openedBatch {
            precondition(batch?.members.isEmpty ?? true, "a batch's first command is alone in it until it returns")
            batch = nil
            if store.db.inTransaction { try? store.db.execute("ROLLBACK") }
            return
        }
        try? store.db.run(StoreTransaction.rollBackToSavepoint)
        try? store.db.run(StoreTransaction.releaseSavepoint)
        if let open = batch, !store.db.inTransaction {
            batch = nil
            finish(open, error: StoreError("the store rolled back a batch of \(open.commands + 1) commands after an error; nothing of it was saved"))
        }
    }

    /// Opens the batch transaction if none is open (called by a command's first change, holding the connection);
    /// true when it opened it.
    private func joinBatch() throws -> Bool {
        guard batch == nil else { return false }
        try store.db.run("BEGIN IMMEDIATE")
        batch = Batch()
        return true
    }

    /// Commits the open batch (holding the connection).
    private func commit(_ open: Batch) {
        batch = nil
        do {
            try store.db.run("COMMIT")
            batchesCommitted.add(1, ordering: .relaxed)
            commandsCommitted.add(open.commands, ordering: .relaxed)
            finish(open, error: nil)
        } catch {
            if store.db.inTransaction { try? store.db.execute("ROLLBACK") }
            finish(open, error: error)
        }
    }

    private func finish(_ open: Batch, error: (any Error)?) {
        open.error = error
        let members = open.members
        open.members = []
        for job in members { settle(job) }
    }

    /// A job whose body ran and whose batch, if any, ended: its caller is woken, or a submitted job's completion is
    /// kept until the leader lets the connection go.
    private func settle(_ job: Job) {
        if job.complete != nil { settled.append(job) } else { job.post(.final) }
    }

    /// Queues `body` and returns what it returned once it ran and its batch committed. The first caller to find no
    /// leader leads: it takes every queued body (its own among them) and runs them one after the other on its own
    /// thread, so that callers that arrive together cost one wake-up each, not a hand-over of the connection each
    /// (flat combining). `body` returns its value and whether it changed something.
    private func exclusively<T>(_ body: (_ joinBatch: @escaping () throws -> Bool) throws -> (T, Bool)) throws -> (T, Bool) {
        let me = StoreWriter.currentThread
        precondition(owner.load(ordering: .relaxed) != me,
                     "StoreWriter.read/write called inside read/write on the same thread: use the transaction's reads")
        return try withoutActuallyEscaping(body) { body in
            // Written by whichever thread runs the body, read here after the job was posted `.final`.
            var outcome: Result<(T, Bool), any Error>?
            let job = Job { [unowned self] in outcome = Result { try body { [unowned self] in try self.joinBatch() } } }
            pthread_mutex_lock(mutex)
            queue.append(job)
            var leads = !busy
            busy = true
            pthread_mutex_unlock(mutex)
            while true {
                if leads { deliver(lead(me), own: nil) }
                let signal = job.await()
                if signal == .final { break }
                leads = true
            }
            let failure = job.batch?.error
            let value = try outcome!.get()
            if let failure { throw failure }
            return value
        }
    }

    /// Runs the queued bodies in order (holding the connection), commits the batch when no other caller is waiting
    /// for the connection (or it is full), then hands the connection to the oldest queued job: to its caller, who
    /// waits, or for a submitted one (whose submitter does not) to the writer thread. Returns the submitted jobs whose
    /// batch ended: their completions are to run now that the connection is let go.
    private func lead(_ me: UInt) -> [Job] {
        pthread_mutex_lock(mutex)
        let jobs = queue
        queue.removeAll(keepingCapacity: true)
        pthread_mutex_unlock(mutex)
        owner.store(me, ordering: .relaxed)
        var alone: [Job] = []
        for job in jobs {
            job.run?()
            job.run = nil
            if let open = batch {
                job.batch = open
                open.members.append(job)
                if open.commands >= maxBatch { commit(open) }
            } else {
                alone.append(job)
            }
        }
        pthread_mutex_lock(mutex)
        let waiting = !queue.isEmpty
        pthread_mutex_unlock(mutex)
        if let open = batch, !waiting { commit(open) }
        owner.store(0, ordering: .relaxed)
        for job in alone { settle(job) }
        let done = settled
        settled.removeAll()
        pthread_mutex_lock(mutex)
        let next = queue.first
        if next == nil { busy = false }
        pthread_mutex_unlock(mutex)
        // `busy` stays true until `next` (or the writer thread) leads; it is still queued (only a leader takes from the
        // queue) and, if a caller's, waiting.
        if let next {
            if next.complete == nil { next.post(.lead) } else { pump.add([{ [weak self] in self?.leadForSubmitters() }]) }
        }
        return done
    }
}

/// A thread of the writer's that runs what it is handed, in order, one at a time: started by the first hand-over,
/// stopped with the writer.
final class WriterHelper: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var work: [() -> Void] = []
    private var started = false
    private var stopped = false
    private let name: String

    init(name: String) { self.name = name; pthread_mutex_init(mutex, nil); pthread_cond_init(wake, nil) }
    deinit { pthread_cond_destroy(wake); wake.deallocate(); pthread_mutex_destroy(mutex); mutex.deallocate() }

    func add(_ items: [() -> Void]) {
        pthread_mutex_lock(mutex)
        work.append(contentsOf: items)
        if !started {
            started = true
            let t = Thread { [self] in loop() }
            t.name = name
            t.start()
        } else {
            pthread_cond_signal(wake)
        }
        pthread_mutex_unlock(mutex)
    }

    /// The thread ends once it ran what it was handed.
    func stop() {
        pthread_mutex_lock(mutex)
        stopped = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    private func loop() {
        pthread_mutex_lock(mutex)
        while true {
            while work.isEmpty && !stopped { pthread_cond_wait(wake, mutex) }
            if work.isEmpty { break }
            let items = work
            work.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(mutex)
            for item in items { item() }
            pthread_mutex_lock(mutex)
        }
        pthread_mutex_unlock(mutex)
    }
}
