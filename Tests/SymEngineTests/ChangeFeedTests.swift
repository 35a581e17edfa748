import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import Synchronization
@testable import SymEngine

/// The change feed's lines name what changed, no change is lost to a full buffer, and the review queues the daemon
/// keeps up to date from those changes equal queues computed afresh.
final class ChangeFeedTests: XCTestCase {
    /// A running feed and socket pairs subscribed to it (the test reads the far ends).
    final class Running {
        final class Flags: Sendable {
            let stop = Atomic<Bool>(false)
            let done = Atomic<Bool>(false)
        }
        let feed = ChangeFeed()
        private let flags = Flags()
        var far: [Int32] = []

        init() {
            let (feed, flags) = (feed, flags)
            Thread {
                feed.run(until: { flags.stop.load(ordering: .sequentiallyConsistent) })
                flags.done.store(true, ordering: .sequentiallyConsistent)
            }.start()
        }

        func subscriber(uid: uid_t = 1000, review: Bool = false, sendBuffer: Int32? = nil) -> Int32 {
            var fds: [Int32] = [0, 0]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
            if var size = sendBuffer {
                setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            XCTAssertTrue(feed.subscribe(fd: fds[0], uid: uid, review: review))
            far.append(fds[1])
            return fds[1]
        }

        /// Every line that arrives on `fd` until none has come for `quietMs`.
        func lines(_ fd: Int32, quietMs: Int32 = 300) -> [JSONValue] {
            var bytes: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65_536)
            while true {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, quietMs) > 0 else { break }
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                bytes += buf[0..<n]
            }
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
        }

        deinit {
            flags.stop.store(true, ordering: .sequentiallyConsistent)
            for _ in 0..<100 where !flags.done.load(ordering: .sequentiallyConsistent) { usleep(10_000) }
            far.forEach { close($0) }
        }
    }

    func ids(_ line: JSONValue) -> [Int64]? { line["ids"]?.arrayValue?.compactMap(\.intValue) }

    func testEachLineNamesTheRequestsChangedSinceTheLastLineSent() {
        let r = Running()
        let fd = r.subscriber()
        usleep(50_000)
        r.feed.committed([7])
        let first = r.lines(fd)
        XCTAssertEqual(first.count, 1, "\(first)")
        XCTAssertEqual(first.first.flatMap(ids), [7])
        XCTAssertEqual(first.first?["changed"]?.boolValue, true, "old clients still see a change line")
        XCTAssertEqual(first.first?["version"]?.intValue, 1)
        for id: Int64 in [3, 9, 3] { r.feed.committed([id]) }
        let next = r.lines(fd)
        XCTAssertEqual(Set(next.flatMap { ids($0) ?? [] }), [3, 9], "\(next)")
        XCTAssertEqual(next.last?["version"]?.intValue, 4)
    }

    /// Commits made while nobody subscribed wake no sender; one who subscribes afterwards is told of the commits after
    /// it, from the version it subscribed at.
    func testCommitsWithNoSubscriberCountButASubscriberIsToldOnlyOfThoseAfterIt() {
        let r = Running()
        for id: Int64 in [1, 2] { r.feed.committed([id]) }
        XCTAssertEqual(r.feed.version.load(ordering: .sequentiallyConsistent), 2, "the read caches are keyed by every commit")
        let fd = r.subscriber()
        usleep(50_000)
        XCTAssertEqual(r.lines(fd, quietMs: 100).count, 0, "nothing new since it subscribed")
        r.feed.committed([3])
        let lines = r.lines(fd)
        XCTAssertEqual(lines.count, 1, "\(lines)")
        XCTAssertEqual(lines.first.flatMap(ids), [3])
        XCTAssertEqual(lines.first?["version"]?.intValue, 3)
    }

    func testAConfigurationReloadIsSentAsAnythingMayHaveChanged() {
        let r = Running()
        let fd = r.subscriber()
        usleep(50_000)
        r.feed.committed(nil)
        let lines = r.lines(fd)
        XCTAssertEqual(lines.count, 1)
        XCTAssertEqual(lines.first?["changed"]?.boolValue, true)
        XCTAssertNil(lines.first?["ids"], "a line that cannot name the changes names none")
    }

    func testASubscriberWhoseBufferFilledIsToldOfEveryChangeOnceItReads() {
        let r = Running()
        let fd = r.subscriber(sendBuffer: 4_096)
        usleep(50_000)
        let count: Int64 = 3_000
        for id in 1...count {
            r.feed.committed([id])
            if id % 100 == 0 { usleep(2_000) }   // let the sender run: it fills the buffer, then waits for room
        }
        usleep(300_000)
        let lines = r.lines(fd, quietMs: 500)
        XCTAssertFalse(lines.isEmpty)
        XCTAssertEqual(lines.last?["version"]?.intValue, count, "the last line covers the last commit")
        let named = Set(lines.flatMap { ids($0) ?? [] })
        let sawAnything = lines.contains { ids($0) == nil }
        XCTAssertTrue(sawAnything || named == Set(1...count), "a change was lost: \(count - Int64(named.count)) ids never named")
    }

    func testAReviewSubscriptionCarriesTheCallersReviewTotalAndHead() {
        let r = Running()
        r.feed.reviewHead = { uid, count in uid == 1000 ? (total: 3, head: Array([Int64(9), 8, 7].prefix(count))) : nil }
        let review = r.subscriber(review: true)
        let plain = r.subscriber()
        usleep(50_000)
        r.feed.committed([9])
        let line = r.lines(review).last
        XCTAssertEqual(line?["review"]?.intValue, 3)
        XCTAssertEqual(line?["review_head"]?.arrayValue?.compactMap(\.intValue), [9, 8, 7])
        XCTAssertEqual(line.flatMap(ids), [9])
        let other = r.lines(plain).last
        XCTAssertNil(other?["review"], "a plain subscription is not sent the review queue")
        XCTAssertEqual(other.flatMap(ids), [9])
    }

    /// A line leaves the review head out when it is the one the subscriber was last sent; the total always comes.
    func testAReviewLineCarriesTheHeadOnlyWhenItIsNotTheOneLastSent() {
        let r = Running()
        let head = Mutex<[Int64]>([9, 8, 7])
        r.feed.reviewHead = { _, count in let h = head.withLock { $0 }; return (total: h.count, head: Array(h.prefix(count))) }
        let first = r.subscriber(review: true)
        usleep(50_000)
        r.feed.committed([1])
        XCTAssertEqual(r.lines(first).last?["review_head"]?.arrayValue?.compactMap(\.intValue), [9, 8, 7], "the first line has it")
        r.feed.committed([2])
        let same = r.lines(first).last
        XCTAssertEqual(same?["review"]?.intValue, 3, "the total always comes")
        XCTAssertNil(same?["review_head"], "the same head again is left out")
        let second = r.subscriber(review: true)
        usleep(50_000)
        head.withLock { $0 = [10, 9, 8, 7] }
        r.feed.committed([10])
        XCTAssertEqual(r.lines(first).last?["review_head"]?.arrayValue?.compactMap(\.intValue), [10, 9, 8, 7], "a new head is sent")
        r.feed.committed([3])
        XCTAssertNil(r.lines(first).last?["review_head"])
        XCTAssertEqual(r.lines(second).map { $0["review_head"]?.arrayValue?.count }, [4, nil],
                       "a subscriber that came later was sent the head once, then left it out")
    }

    func testTheStoreNamesTheRequestsEachCommitChanged() throws {
        let h = try EngineHarness(self)
        let seen = Mutex<[Set<Int64>]>([])
        h.opened.afterCommit = { ids in seen.withLock { $0.append(ids) } }
        let a = try h.request(by: h.rita)
        let b = try h.request("job", by: h.rita)
        try h.execute(.approve(id: b.id, reason: nil), by: h.alice)
        try h.execute(.cancel(id: a.id), by: h.rita)
        let commits = seen.withLock { $0 }
        XCTAssertEqual(commits.count, 4, "\(commits)")
        XCTAssertEqual(commits, [[a.id], [b.id], [b.id], [a.id]])
    }

    func testAReviewQueueKeptUpToDateFromTheChangesEqualsOneComputedAfresh() throws {
        let h = try EngineHarness(self)
        let feed = ChangeFeed()
        h.opened.afterCommit = { feed.committed($0) }
        let config: @Sendable () -> Config = { [engine = h.engine] in engine.config }
        let kept = ReadService(storePath: h.store.path, feed: feed, config: config)
        func queue(_ service: ReadService, _ who: Identity) throws -> [Int64] {
            let pairs = try service.answer(.review(search: nil, offset: 0, limit: 1_000), caller: who)
            return JSONValue.obj(pairs)["requests"]?.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
        }
        let people = [h.alice, h.bob, h.sam, h.olga, h.rita]
        func check(_ step: String) throws {
            let fresh = ReadService(storePath: h.store.path, feed: ChangeFeed(), config: config)
            for who in people {
                XCTAssertEqual(try queue(kept, who), try queue(fresh, who), "\(who.name) after \(step)")
            }
        }
        var made: [AccessRequest] = []
        for flow in ["access", "two", "steps", "job", "access", "two", "steps"] { made.append(try h.request(flow, by: h.rita)) }
        try check("the first requests")
        let version = feed.version.load(ordering: .sequentiallyConsistent)
        try h.execute(.approve(id: made[0].id, reason: nil), by: h.alice)
        XCTAssertNotNil(feed.changes(since: version, through: feed.version.load(ordering: .sequentiallyConsistent)),
                        "the queue is updated from the change, not recomputed")
        try check("alice approved an access request")
        try h.execute(.approve(id: made[1].id, reason: nil), by: h.bob)
        try check("bob gave a two-approval request its first approval")
        try h.execute(.approve(id: made[2].id, reason: nil), by: h.sam)
        try check("sam approved the first step")
        try h.execute(.cancel(id: made[4].id), by: h.rita)
        try check("rita cancelled one")
        try h.execute(.deny(id: made[3].id, reason: "no"), by: h.bob)
        try check("bob denied one")
        made.append(try h.request("access", by: h.alice))
        try check("alice asked herself")
        for _ in 0..<3 { feed.committed([]) }
        try check("commits that changed no request")
        feed.committed(nil)
        made.append(try h.request("two", by: h.bob))
        try check("a reload, then bob's request")
    }
}
