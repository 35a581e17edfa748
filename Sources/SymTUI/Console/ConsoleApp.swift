import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SymModel

/// The console loop: owns the state, feeds events to `Console.reduce`, hands effects to a background worker.
///
/// Backend calls (pages, flows, status, commands to the daemon) never run on the input loop: the worker runs
/// them one at a time and their results come back as events through its inbox, which the loop polls together
/// with the keyboard. A stopped daemon therefore leaves the console answering keys and redrawing countdowns.
public final class ConsoleApp {
    public let backend: any ConsoleBackend
    public private(set) var state: ConsoleState
    /// How the bell is rung (the terminal's, while running).
    var ring: () -> Void = {}
    private let worker: BackendWorker
    private var lastHealthCheck = Date.distantPast
    private var lastChangePoll = Date.distantPast
    /// Set by `start`: the first review count decides whether the console opens on Review.
    private var opensReviewOnFirstCount = false
    /// An event was applied since the last frame (a wake-up that brought nothing draws nothing).
    private var needsDraw = true

    /// How often the store is polled for changes when the backend has no change descriptor.
    static let keyWaitMs = 250
    /// How long to wait for a commit to become visible once the store's descriptor woke the loop.
    static let changeWaitMs = 40
    /// How long the first frame waits for the first answers (flows, status, the queue), so that it shows them
    /// rather than "loading…"; a daemon that does not answer delays it no longer than this.
    static let firstFrameWait: TimeInterval = 0.5
    /// At most this many waiting keys are applied before the next frame.
    static let keyBatch = 256
    /// How often the daemon's health (and the audit and notification backlog) is checked.
    static let healthInterval: TimeInterval = 5

    /// The poll(2) timeout that wakes the loop just after `due`: 3 ms late (so that the text computed then has
    /// changed), at least 10 ms (no spinning on a due time that has just passed), at most the health interval.
    static func waitMs(until due: Date, now: Date) -> Int {
        let ms = (due.timeIntervalSince(now) * 1000).rounded(.up) + 3
        return Int(min(healthInterval * 1000, max(10, ms)))
    }

    /// Whether to ask the terminal for mouse clicks and the wheel (`--no-mouse`: no).
    let mouse: Bool

    /// `readOnly`: a wallboard that never sends a change; `keys`: `console.keys` from the config (validated).
    public init(backend: any ConsoleBackend, now: Date = Date(), mouse: Bool = true, readOnly: Bool = false,
                keys: [String: Character] = [:]) {
        self.backend = backend
        self.mouse = mouse
        state = ConsoleState(identity: backend.identity, now: now)
        state.readOnly = readOnly
        state.keymap = Keymap.rebound(keys)
        if readOnly { state.keymap = Keymap.readOnly(state.keymap) }
        worker = BackendWorker(backend: backend)
    }

    deinit { worker.stop() }

    /// Runs the console on the controlling terminal until `q` or a signal. Returns the exit status
    /// (0, 64 without a terminal, 69 when curses cannot start, 128+signal when stopped by one).
    public func run() -> Int32 {
        guard isatty(0) == 1, isatty(1) == 1 else {
            FileHandle.standardError.write(Data("symtui: the console needs a terminal; use `symtui list` or `symtui help`\n".utf8))
            return 64
        }
        let terminal: Terminal
        do { terminal = try Terminal.open(mouse: mouse) } catch {
            FileHandle.standardError.write(Data("symtui: \(error)\n".utf8))
            return 69
        }
        defer { terminal.close() }
        ring = { terminal.bell() }
        return loop(terminal)
    }

    private func loop(_ terminal: Terminal) -> Int32 {
        let size = terminal.size
        state.stats.ascii = terminal.monochrome || !terminal.utf8
        post(.resized(rows: size.rows, cols: size.cols))
        opensReviewOnFirstCount = true
        dispatch([.loadFlows, .refresh])
        settle(before: Date().addingTimeInterval(ConsoleApp.firstFrameWait))
        // From here the worker waits for change lines itself: an untouched commit does not wake this loop.
        worker.watchChanges { b in b.waitForChange(timeoutMs: ConsoleApp.changeWaitMs) ? [.storeChanged] : [] }
        while !state.quitting {
            if Terminal.stopSignal != 0 { return 128 + Terminal.stopSignal }
            if needsDraw {
                // Whatever is drawn is drawn at the present time (the clock is not ticked between visible changes).
                post(.tick(Date()))
                terminal.draw(render(state: state, size: (state.rows, state.cols)))
                needsDraw = false
            }
            let (first, storeWoke) = nextInput(terminal, wakeAt: Console.nextTick(state))
            // Typed or pasted keys that are already waiting are applied together, then drawn once.
            var batch = 0
            var input = first
            while let next = input, !state.quitting {
                switch next {
                case let .key(k): post(.key(k))
                case let .resized(rows, cols): post(.resized(rows: rows, cols: cols))
                case let .click(row, col): post(.click(row: row, col: col))
                case let .wheel(direction): post(.wheel(direction))
                }
                batch += 1
                input = batch < ConsoleApp.keyBatch ? terminal.read(timeoutMs: 0) : nil
            }
            if state.quitting { break }
            takeResults()
            let now = Date()
            if storeWoke || (worker.changeDescriptor == nil && now.timeIntervalSince(lastChangePoll) * 1000 >= Double(ConsoleApp.keyWaitMs)) {
                lastChangePoll = now
                worker.enqueue(.changes) { b in b.waitForChange(timeoutMs: ConsoleApp.changeWaitMs) ? [.storeChanged] : [] }
            }
            // A countdown on screen changed, an answer became overdue, a delayed reload is due: tick (and draw).
            if let due = Console.nextTick(state), now >= due { post(.tick(now)) }
            if now.timeIntervalSince(lastHealthCheck) >= ConsoleApp.healthInterval {
                checkStatus()
                // Changes that touch nothing on screen are not read (StoreBackend): a break-glass approval of a
                // request that was not in this user's queue is announced by this look, within 5 s (the look reads
                // only when a change line came since the last one).
                worker.enqueue(.announcements) { b in b.announcements().map(ConsoleEvent.announcement) }
            }
        }
        return Terminal.stopSignal != 0 ? 128 + Terminal.stopSignal : 0
    }

    /// The next key (or resize), waiting on the keyboard, the worker's inbox and the store's change descriptor
    /// together: an idle console sees another process's commit, and a backend answer, at once.
    private func nextInput(_ terminal: Terminal, wakeAt tick: Date?) -> (TerminalInput?, storeWoke: Bool) {
        if let buffered = terminal.read(timeoutMs: 0) { return (buffered, false) }
        var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: worker.inboxDescriptor, events: Int16(POLLIN), revents: 0)]
        // The change descriptor stays readable until the worker has looked: leave it out while a look is queued.
        if !worker.watchesChanges, let fd = worker.changeDescriptor, !worker.isBusy(with: .changes) {
            fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        }
        // Keys, answers and commits wake the poll themselves; otherwise sleep until the next visible change of the
        // clock's text (`Console.nextTick`, a few ms after it so that the text has changed) or the health check.
        let now = Date()
        var due = lastHealthCheck.addingTimeInterval(ConsoleApp.healthInterval)
        if let tick, tick < due { due = tick }
        var wait = ConsoleApp.waitMs(until: due, now: now)
        if worker.changeDescriptor == nil { wait = min(wait, ConsoleApp.keyWaitMs) }
        let n = poll(&fds, nfds_t(fds.count), Int32(wait))
        // EINTR (a resize or a stop signal) or a key: curses reads it now without waiting.
        let input = (n < 0 || fds[0].revents != 0) ? terminal.read(timeoutMs: 0) : nil
        return (input, n > 0 && fds.count > 2 && fds[2].revents != 0)
    }

    /// First load: flows, status, the review queue; opens on Review when something waits. Waits for the
    /// answers: public so that the console can be driven without a terminal (tests, the bench).
    public func start() {
        opensReviewOnFirstCount = true
        perform([.loadFlows, .refresh])
    }

    /// Applies one event, carries out its effects and waits until the backend has answered them all
    /// (the headless way to drive the console; the terminal loop never waits).
    public func handle(_ event: ConsoleEvent) {
        post(event)
        settle()
    }

    /// Carries out effects and waits for their answers.
    func perform(_ effects: [Effect]) {
        dispatch(effects)
        settle()
    }

    /// Applies one event and hands its effects to the worker without waiting.
    func post(_ event: ConsoleEvent) {
        let (next, effects) = Console.reduce(state, event)
        // A health check that found everything as it was changes nothing on screen: no frame for it.
        let unchanged: Bool
        switch event {
        case .status, .reporting: unchanged = effects.isEmpty && next.daemonHealthy == state.daemonHealthy && next.reportingNote == state.reportingNote
        default: unchanged = false
        }
        state = next
        if !unchanged { needsDraw = true }
        dispatch(effects)
        if opensReviewOnFirstCount, case let .reviewHead(head) = event {
            opensReviewOnFirstCount = false
            if head.total > 0, state.view == .request, state.mode == .list { post(.key(.char("2"))) }
        }
    }

    /// Applies the events the worker has delivered so far; returns how many.
    @discardableResult
    func takeResults() -> Int {
        let events = worker.takeResults()
        for e in events { post(e) }
        return events.count
    }

    /// Waits until the worker is idle and every answer (and whatever it caused) has been applied, or until
    /// `deadline` (then applies what has arrived).
    func settle(before deadline: Date? = nil) {
        while true {
            let idle = worker.waitUntilIdle(before: deadline)
            if takeResults() == 0 || !idle { return }
        }
    }

    /// Waits at most `timeout` seconds for the next answer from the worker and applies what arrived.
    @discardableResult
    func awaitResults(timeout: TimeInterval) -> Int {
        var fd = pollfd(fd: worker.inboxDescriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, Int32(timeout * 1000))
        return takeResults()
    }

    /// Whether a command to the daemon is still out.
    var isSending: Bool { worker.isSending }

    private func dispatch(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case let .send(action):
                guard !state.readOnly else { continue }   // the reducer never asks; a wallboard never sends anyway
                worker.send { b in [.actionFinished(action, b.send(action))] }
            case let .load(view):
                load(view)
            case let .loadStats(since):
                worker.enqueue(.stats) { b in
                    do { return [.statsLoaded(try b.report(since: since))] } catch { return [.statsFailed("\(error)")] }
                }
            case .loadFlows:
                worker.enqueue(.flows) { b in
                    do { return [.flowsLoaded(try b.flows())] } catch { return [.flowsFailed("\(error)")] }
                }
            case .refresh:
                worker.enqueue(.announcements) { b in b.announcements().map(ConsoleEvent.announcement) }
                checkStatus()
                let limit = max(20, state.layout.listHeight())
                worker.enqueue(.reviewHead) { b in
                    (try? b.page(.review, filter: "", offset: 0, limit: limit)).map { [.reviewHead($0)] } ?? []
                }
                if state.view.isPaged { load(state.view) }
            case .bell:
                ring()
            case .quit:
                break
            }
        }
    }

    private func checkStatus() {
        lastHealthCheck = Date()
        worker.enqueue(.status) { b in
            let status: [ConsoleEvent] = [.status(daemonHealthy: b.daemonHealthy()),
                                          .reporting(b.reportingNote())]
            // A change the descriptor cannot show (the health check found the daemon back): look after each check.
            return status + (b.waitForChange(timeoutMs: 0) ? [.storeChanged] : [])
        }
    }

    /// Fetches only the visible window of a list.
    private func load(_ view: ConsoleView) {
        guard view.isPaged else { return }
        let l = state.list(view)
        let ((filter, shape), top) = (l.query, l.top)
        let limit = state.listHeight(view, layout: state.layout)
        worker.enqueue(.page(view)) { b in
            do { return [.pageLoaded(view, try b.page(view, filter: filter, shape: shape, offset: top, limit: limit))] } catch {
                return [.pageFailed(view, "\(error)")]
            }
        }
    }
}
