import Foundation
import SymModel
import SymProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The change subscription: after every commit that changed requests or events, each subscribed connection gets one
/// line, `{"v":1,"changed":true,"version":V,"ids":[…]}`, naming the requests changed since the last line it was sent
/// (`ids` is left out when that is not known: a configuration reload, too many changes, or a gap too old to remember;
/// the subscriber must then assume anything changed). A subscription made with `"review": true` also gets the
/// caller's review total and the ids at the head of their queue (`review`, `review_head`), so a console can tell
/// without asking whether what it shows changed.
///
/// Commits that come faster than a subscriber reads are coalesced: a subscriber whose socket buffer is full is sent
/// nothing until it is writable again, and then one line covering every commit it missed. A slow or stopped console
/// therefore never holds up the writer or the other subscribers. Idle subscribers cost nothing: one thread polls them
/// all, and wakes only for commits, hang-ups and buffers that drained.
final class ChangeFeed: @unchecked Sendable {
    /// Counts commits; the daemon's read caches are keyed by it.
    let version = Atomic<Int64>(0)
    private let lock = NSLock()
    private struct Subscriber {
        let uid: uid_t
        let review: Bool
        /// The version the last line sent to it covered.
        var sent: Int64
        /// The review head the last line sent to it carried (review subscriptions; nil: none sent yet, or the last
        /// line could not say): a line leaves `review_head` out when it is this one.
        var head: [Int64]? = nil
    }
    private var subscribers: [Int32: Subscriber] = [:]
    /// The requests each recent commit changed (nil: anything may have), consecutive versions, oldest first.
    private var recent: [(version: Int64, ids: Set<Int64>?)] = []
    private var wake: (read: Int32, write: Int32) = (-1, -1)
    static let maxPerUser = 16
    static let maxTotal = 1_024
    /// How many commits the feed remembers the changed ids of.
    static let remembered = 4_096
    /// A line names at most this many requests; more, and it names none (anything may have changed).
    static let maxIDsPerLine = 256
    /// How many ids of the head of a review subscriber's queue each line carries.
    static let reviewHeadCount = 64

    /// For `"review": true` subscriptions: the caller's review total and the first `count` ids of their queue
    /// (nil when they cannot be computed; the line then carries neither).
    var reviewHead: (@Sendable (_ uid: uid_t, _ count: Int) -> (total: Int, head: [Int64])?)?

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

    /// Called by the store after each commit with the requests it changed (nil: anything may have changed, e.g.
    /// the configuration was reloaded): wakes the sender, never blocks.
    /// With no subscriber the sender is not woken: one that subscribes later starts at the version of then.
    func committed(_ ids: Set<Int64>? = nil) {
        let anyone = lock.withLock {
            let v = version.load(ordering: .sequentiallyConsistent) + 1
            recent.append((v, ids))
            if recent.count > 2 * ChangeFeed.remembered { recent.removeFirst(recent.count - ChangeFeed.remembered) }
            version.store(v, ordering: .sequentiallyConsistent)
            return !subscribers.isEmpty
        }
        guard anyone else { return }
        var b: UInt8 = 1
        _ = write(wake.write, &b, 1)
    }

    /// The requests changed by the commits after version `since` up to `through`; nil when that is not known (a
    /// reload among them, forgotten, or more than `limit`).
    func changes(since: Int64, through: Int64, limit: Int = ChangeFeed.maxIDsPerLine) -> Set<Int64>? {
        lock.withLock {
            guard since < through else { return [] }
            guard let first = recent.first?.version, since + 1 >= first else { return nil }
            var out = Set<Int64>()
            for i in Int(since + 1 - first)..<recent.count where recent[i].version <= through {
                guard let ids = recent[i].ids else { return nil }
                out.formUnion(ids)
                if out.count > limit { return nil }
            }
            return out
        }
    }

    /// Whether `uid` may subscribe once more (asked before the subscription is confirmed to the client).
    func hasRoom(for uid: uid_t) -> Bool {
        lock.withLock {
            subscribers.count < ChangeFeed.maxTotal && (uid == 0 || subscribers.values.filter { $0.uid == uid }.count < ChangeFeed.maxPerUser)
        }
    }

    /// Takes over a connection's descriptor (the caller must not close it); false when `uid` has too many.
    /// `review`: its lines also carry the caller's review total and queue head.
    func subscribe(fd: Int32, uid: uid_t, review: Bool = false) -> Bool {
        lock.withLock {
            guard subscribers.count < ChangeFeed.maxTotal,
                  uid == 0 || subscribers.values.filter({ $0.uid == uid }).count < ChangeFeed.maxPerUser else { return false }
            subscribers[fd] = Subscriber(uid: uid, review: review, sent: version.load(ordering: .sequentiallyConsistent))
            var b: UInt8 = 0
            _ = write(wake.write, &b, 1)   // let the sender poll the new descriptor too
            return true
        }
    }

    var count: Int { lock.withLock { subscribers.count } }

    /// The sender: waits for commits, for subscribers hanging up, and for full buffers to drain; runs until `stop`.
    func run(until stop: @escaping () -> Bool) {
        while !stop() {
            let now = version.load(ordering: .sequentiallyConsistent)
            let subs = lock.withLock { subscribers }
            var polls = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            // A subscriber behind the head is waited for to become writable (its buffer was full); others only
            // for hanging up.
            for (fd, s) in subs {
                polls.append(pollfd(fd: fd, events: Int16(POLLIN) | (s.sent < now ? Int16(POLLOUT) : 0), revents: 0))
            }
            let n = poll(&polls, nfds_t(polls.count), 500)
            if n < 0 && errno != EINTR { usleep(10_000); continue }
            if polls[0].revents != 0 {
                var buf = [UInt8](repeating: 0, count: 256)
                while read(wake.read, &buf, buf.count) > 0 {}
            }
            // A subscriber sends nothing after subscribing: readable means it hung up (or misbehaves).
            let gone = Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)
            for p in polls.dropFirst() where p.revents & gone != 0 { drop(p.fd) }
            broadcast()
        }
        lock.withLock {
            for fd in subscribers.keys { close(fd) }
            subscribers.removeAll()
        }
    }

    /// Sends every subscriber behind the head one line covering what it has not been told.
    private func broadcast() {
        let now = version.load(ordering: .sequentiallyConsistent)
        let behind = lock.withLock { subscribers.filter { $0.value.sent < now } }
        guard !behind.isEmpty else { return }
        var heads: [uid_t: (total: Int, head: [Int64])?] = [:]
        // Subscribers of one user told up to the same version get the same line: encoded once.
        var encoded: [String: [UInt8]] = [:]
        for (fd, s) in behind {
            var head: [Int64]?
            if s.review, let compute = reviewHead {
                if heads[s.uid] == nil { heads[s.uid] = .some(compute(s.uid, ChangeFeed.reviewHeadCount)) }
                head = (heads[s.uid] ?? nil)?.head
            }
            // The head is sent only when it is not the one this subscriber was last sent: most commits leave a
            // queue's head as it was, and 64 ids were most of a line's bytes to write and to read.
            let sameHead = head != nil && head == s.head
            let key = "\(s.review ? s.uid : uid_t.max) \(s.sent) \(sameHead)"
            if let line = encoded[key] {
                deliver(line, to: fd, now: now, head: head)
                continue
            }
            var pairs: [(String, JSONValue?)] = [("v", .int(protocolVersion)), ("changed", .bool(true)), ("version", .int(now))]
            if let ids = changes(since: s.sent, through: now) { pairs.append(("ids", .array(ids.sorted().map(JSONValue.int)))) }
            if s.review, let h = heads[s.uid] ?? nil {
                pairs.append(("review", .num(h.total)))
                if !sameHead { pairs.append(("review_head", .array(h.head.map(JSONValue.int)))) }
            }
            let line = Array((JSONValue.obj(pairs).compact + "\n").utf8)
            encoded[key] = line
            deliver(line, to: fd, now: now, head: head)
        }
    }

    /// Sends one line (carrying, or standing for, review head `head`); a subscriber whose buffer is full is left
    /// behind (and sent one line when it drains).
    private func deliver(_ line: [UInt8], to fd: Int32, now: Int64, head: [Int64]?) {
        let n = line.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        if n == line.count {
            lock.withLock { if subscribers[fd] != nil { subscribers[fd]?.sent = now; subscribers[fd]?.head = head } }
        } else if !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            drop(fd)   // gone, or half a line written: it must resubscribe (and then reads everything again)
        }
    }

    private func drop(_ fd: Int32) {
        lock.withLock {
            if subscribers.removeValue(forKey: fd) != nil { close(fd) }
        }
    }
}
