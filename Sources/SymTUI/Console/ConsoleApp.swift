import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SymModel

/// The console loop: owns the backend and the state, feeds events to `Console.reduce`, carries out effects.
public final class ConsoleApp {
    public let backend: any ConsoleBackend
    public private(set) var state: ConsoleState
    /// How the bell is rung (the terminal's, while running).
    var ring: () -> Void = {}
    private var lastHealthCheck = Date.distantPast

    /// Key wait when the backend has no change descriptor (then the store is polled between key reads).
    static let keyWaitMs = 250
    /// How long to wait for a commit to become visible once the store's descriptor woke the loop.
    static let changeWaitMs = 40

    public init(backend: any ConsoleBackend, now: Date = Date()) {
        self.backend = backend
        state = ConsoleState(identity: backend.identity, now: now)
    }

    /// Runs the console on the controlling terminal until `q` or a signal. Returns the exit status
    /// (0, 64 without a terminal, 69 when curses cannot start, 128+signal when stopped by one).
    public func run() -> Int32 {
        guard isatty(0) == 1, isatty(1) == 1 else {
            FileHandle.standardError.write(Data("symtui: the console needs a terminal; use `symtui list` or `symtui help`\n".utf8))
            return 64
        }
        let terminal: Terminal
        do { terminal = try Terminal.open() } catch {
            FileHandle.standardError.write(Data("symtui: \(error)\n".utf8))
            return 69
        }
        defer { terminal.close() }
        ring = { terminal.bell() }
        return loop(terminal)
    }

    private func loop(_ terminal: Terminal) -> Int32 {
        let size = terminal.size
        handle(.resized(rows: size.rows, cols: size.cols))
        start()
        var second = Int(Date().timeIntervalSince1970)
        while !state.quitting {
            if Terminal.stopSignal != 0 { return 128 + Terminal.stopSignal }
            terminal.draw(render(state: state, size: (state.rows, state.cols)))
            let (input, storeWoke) = nextInput(terminal)
            switch input {
            case let .key(k)?: handle(.key(k))
            case let .resized(rows, cols)?: handle(.resized(rows: rows, cols: cols))
            case nil: break
            }
            if state.quitting { break }
            // While keys arrive (typing, pasting) only peek for changes, so input is never slowed down.
            let changeWait = storeWoke ? ConsoleApp.changeWaitMs : (input == nil && backend.changeDescriptor == nil ? ConsoleApp.changeWaitMs : 0)
            if backend.waitForChange(timeoutMs: changeWait) { perform([.refresh]) }
            let now = Date()
            if Int(now.timeIntervalSince1970) != second {
                second = Int(now.timeIntervalSince1970)
                handle(.tick(now))
                if now.timeIntervalSince(lastHealthCheck) >= 5 { refreshStatus() }
            }
        }
        return Terminal.stopSignal != 0 ? 128 + Terminal.stopSignal : 0
    }

    /// The next key (or resize), waiting on the keyboard and the store's change descriptor together, so an
    /// idle console sees another process's commit at once instead of after its key timeout.
    private func nextInput(_ terminal: Terminal) -> (TerminalInput?, storeWoke: Bool) {
        if let buffered = terminal.read(timeoutMs: 0) { return (buffered, false) }
        guard let fd = backend.changeDescriptor else { return (terminal.read(timeoutMs: ConsoleApp.keyWaitMs), false) }
        var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        // Keys and commits wake the poll themselves; otherwise wake only for the next countdown tick.
        let msToNextSecond = 1000 - Int((Date().timeIntervalSince1970 * 1000).truncatingRemainder(dividingBy: 1000))
        let n = poll(&fds, 2, Int32(max(10, min(1000, msToNextSecond + 2))))
        // EINTR (a resize or a stop signal) or a key: curses reads it now without waiting.
        let input = (n < 0 || fds[0].revents != 0) ? terminal.read(timeoutMs: 0) : nil
        return (input, n > 0 && fds[1].revents != 0)
    }

    /// First load: flows, status, the review queue; opens on Review when something waits.
    /// Public so that the console can be driven without a terminal (tests, the bench).
    public func start() {
        perform([.loadFlows, .refresh])
        if (state.reviewCount ?? 0) > 0, state.view == .request { handle(.key(.char("2"))) }
    }

    /// Applies one event and carries out its effects.
    public func handle(_ event: ConsoleEvent) {
        let (next, effects) = Console.reduce(state, event)
        state = next
        perform(effects)
    }

    func perform(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case let .send(action):
                handle(.actionFinished(action, backend.send(action)))
            case let .load(view):
                load(view)
            case .loadFlows:
                do { handle(.flowsLoaded(try backend.flows())) } catch { handle(.flowsFailed("\(error)")) }
            case .refresh:
                for text in backend.announcements() { handle(.announcement(text)) }
                refreshStatus()
                let limit = max(20, state.layout.listHeight())
                if let head = try? backend.page(.review, filter: "", offset: 0, limit: limit) { handle(.reviewHead(head)) }
                if state.view.isPaged { load(state.view) }
            case .bell:
                ring()
            case .quit:
                break
            }
        }
    }

    private func refreshStatus() {
        lastHealthCheck = Date()
        handle(.status(reviewCount: try? backend.reviewCount(), daemonHealthy: backend.daemonHealthy()))
        handle(.reporting(backend.reportingNote()))
    }

    /// Fetches only the visible window of a list.
    private func load(_ view: ConsoleView) {
        guard view.isPaged else { return }
        let l = state.list(view)
        let limit = state.listHeight(view, layout: state.layout)
        do {
            handle(.pageLoaded(view, try backend.page(view, filter: l.filter, offset: l.top, limit: limit)))
        } catch {
            handle(.pageFailed(view, "\(error)"))
        }
    }
}
