import Foundation
import SymProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The change subscription: after every commit that changed requests or events, each subscribed connection gets one
/// `{"v":1,"changed":true}` line. Commits that come faster than a subscriber reads are coalesced (a subscriber with
/// unread lines already knows), so a slow or stopped console never holds up the writer or the other subscribers.
/// Idle subscribers cost nothing: one thread polls them all.
final class ChangeFeed: @unchecked Sendable {
    /// Counts commits; the daemon's read caches are keyed by it.
    let version = Atomic<Int64>(0)
    private let lock = NSLock()
    private var subscribers: [Int32: uid_t] = [:]
    private var wake: (read: Int32, write: Int32) = (-1, -1)
    static let maxPerUser = 16
    static let maxTotal = 1_024

    init() {
        var fds: [Int32] = [0, 0]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
            wake = (fds[0], fds[1])
        }
    }

    /// Called by the store after each commit: wakes the sender, never blocks.
    func committed() {
        version.wrappingAdd(1, ordering: .sequentiallyConsistent)
        var b: UInt8 = 1
        _ = write(wake.write, &b, 1)
    }

    /// Whether `uid` may subscribe once more (asked before the subscription is confirmed to the client).
    func hasRoom(for uid: uid_t) -> Bool {
        lock.withLock {
            subscribers.count < ChangeFeed.maxTotal && (uid == 0 || subscribers.values.filter { $0 == uid }.count < ChangeFeed.maxPerUser)
        }
    }

    /// Takes over a connection's descriptor (the caller must not close it); false when `uid` has too many.
    func subscribe(fd: Int32, uid: uid_t) -> Bool {
        lock.withLock {
            guard subscribers.count < ChangeFeed.maxTotal,
                  uid == 0 || subscribers.values.filter({ $0 == uid }).count < ChangeFeed.maxPerUser else { return false }
            subscribers[fd] = uid
            var b: UInt8 = 0
            _ = write(wake.write, &b, 1)   // let the sender poll the new descriptor too
            return true
        }
    }

    var count: Int { lock.withLock { subscribers.count } }

    /// The sender: waits for commits and for subscribers hanging up; runs until `stop`.
    func run(until stop: @escaping () -> Bool) {
        var seen = version.load(ordering: .sequentiallyConsistent)
        while !stop() {
            let fds = lock.withLock { Array(subscribers.keys) }
            var polls = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
                + fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&polls, nfds_t(polls.count), 500)
            if n < 0 && errno != EINTR { usleep(10_000); continue }
            if polls[0].revents != 0 {
                var buf = [UInt8](repeating: 0, count: 256)
                while read(wake.read, &buf, buf.count) > 0 {}
            }
            // A subscriber sends nothing after subscribing: readable means it hung up (or misbehaves).
            for p in polls.dropFirst() where p.revents != 0 { drop(p.fd) }
            let now = version.load(ordering: .sequentiallyConsistent)
            if now != seen {
                seen = now
                broadcast()
            }
        }
        lock.withLock {
            for fd in subscribers.keys { close(fd) }
            subscribers.removeAll()
        }
    }

    private func broadcast() {
        let line = Array((Wire.changedLine + "\n").utf8)
        let fds = lock.withLock { Array(subscribers.keys) }
        for fd in fds {
            let n = line.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            // EAGAIN: its buffer is full of unread lines, so it will look anyway.
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { drop(fd) }
        }
    }

    private func drop(_ fd: Int32) {
        lock.withLock {
            if subscribers.removeValue(forKey: fd) != nil { close(fd) }
        }
    }
}
