import Foundation
import XCTest
@testable import SymProtocol

/// The daemon resolves the caller for every line; `IdentityCache` keeps an answer only while the files NSS read it
/// from are unchanged. These tests give it files of their own (NSS itself still reads the real ones: `resolve` here
/// counts the lookups instead).
final class IdentityCacheTests: XCTestCase {
    var dir = ""
    var nsswitch: String { dir + "/nsswitch.conf" }
    var passwd: String { dir + "/passwd" }
    var group: String { dir + "/group" }
    var userdb: String { dir + "/userdb" }

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "idcache-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try write(nsswitch, "passwd: files systemd\ngroup: files systemd\n")
        try write(passwd, "alice:x:60001:60001::/home/alice:/bin/sh\n")
        try write(group, "oncall:x:60010:alice\n")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Replaces the file as useradd and gpasswd do: a new file renamed over the old one.
    func write(_ path: String, _ text: String) throws {
        try text.write(toFile: path + ".new", atomically: false, encoding: .utf8)
        guard rename(path + ".new", path) == 0 else { throw NSError(domain: "rename", code: Int(errno)) }
    }

    func cache(settle: Int64 = 0) -> IdentityCache {
        IdentityCache(files: [nsswitch, passwd, group], userdb: [userdb], settle: settle)
    }

    /// Resolves uid 60001 through `cache` `times` times; returns how many of them asked NSS.
    func lookups(_ cache: IdentityCache, times: Int = 3) -> Int {
        var asked = 0
        for _ in 0..<times {
            let id = cache.identity(uid: 60_001) { uid in
                asked += 1
                return Identity(uid: uid, name: "alice", groups: ["oncall"])
            }
            XCTAssertEqual(id?.name, "alice")
        }
        return asked
    }

    func testAnAnswerIsReusedWhileTheFilesAreUnchanged() {
        let c = cache()
        XCTAssertEqual(lookups(c), 1)
        XCTAssertEqual(c.hits, 2)
    }

    func testAGroupFileReplacedAsGpasswdDoesIsReadAgain() throws {
        let c = cache()
        XCTAssertEqual(lookups(c, times: 3), 1)   // the second lookup set the watch, the third trusted it
        try write(group, "oncall:x:60010:\n")
        XCTAssertEqual(lookups(c, times: 1), 1, "the new group file was not read")
        XCTAssertEqual(lookups(c, times: 3), 0, "the new file is watched in turn")
    }

    func testAPasswdFileChangedInPlaceIsReadAgain() throws {
        let c = cache()
        XCTAssertEqual(lookups(c, times: 2), 1)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: passwd))
        h.seekToEndOfFile()
        h.write("bob:x:60002:60002::/home/bob:/bin/sh\n".data(using: .utf8)!)
        try h.close()
        XCTAssertEqual(lookups(c, times: 2), 1)
    }

    func testAFileChangedWithinTheSettlingTimeIsReadEveryTime() {
        // Just written: its times are younger than a minute, so no answer from it is kept.
        XCTAssertEqual(lookups(cache(settle: 60_000_000_000)), 3)
    }

    func testAMissingFileTurnsCachingOff() throws {
        try FileManager.default.removeItem(atPath: group)
        XCTAssertEqual(lookups(cache()), 3)
    }

    func testASourceOtherThanFilesOrSystemdTurnsCachingOff() throws {
        for line in ["passwd: files ldap\ngroup: files\n", "passwd: files\ngroup: sss files\n", "passwd: compat\ngroup: compat\n",
                     "group: files\n"] {
            try write(nsswitch, line)
            XCTAssertEqual(lookups(cache()), 3, line)
        }
    }

    func testAUserdbDirectoryTurnsCachingOffWhenSystemdIsASource() throws {
        try FileManager.default.createDirectory(atPath: userdb, withIntermediateDirectories: true)
        XCTAssertEqual(lookups(cache()), 3)
        try write(nsswitch, "passwd: files\ngroup: files\n")
        XCTAssertEqual(lookups(cache()), 1, "userdb matters only to nss-systemd")
    }

    func testNsswitchSourcesLeaveOutActionItemsAndComments() {
        let text = """
        # passwd: ldap
        passwd:   files [NOTFOUND=return] systemd   # local only
        group:\tfiles [SUCCESS=merge  UNAVAIL=continue] systemd
        hosts: files dns
        """
        XCTAssertEqual(IdentityCache.sources("passwd", nsswitch: text), ["files", "systemd"])
        XCTAssertEqual(IdentityCache.sources("group", nsswitch: text), ["files", "systemd"])
        XCTAssertNil(IdentityCache.sources("shadow", nsswitch: text))
        XCTAssertTrue(IdentityCache.sourcesAllowCaching(nsswitch: text))
        XCTAssertTrue(IdentityCache.namesSystemd(nsswitch: text))
    }

    // MARK: the watch (inotify) that spares the stats

    func testUnchangedFilesAreLookedAtOnlyUntilTheWatchIsSet() {
        let c = cache()
        XCTAssertEqual(lookups(c, times: 10), 1)
        XCTAssertEqual(c.stampsTaken, 2, "the first lookup and the one that set the watch look; the quiet watch answers the rest")
        XCTAssertTrue(c.isWatching)
    }

    func testAProcessThatLooksUpOnceSetsNoWatch() {
        let c = cache()
        XCTAssertEqual(lookups(c, times: 1), 1)
        XCTAssertFalse(c.isWatching, "a CLI command resolves its caller once: no inotify instance for it")
    }

    func testReadingTheFilesIsNotTakenForAChange() throws {
        let c = cache()
        for _ in 0..<5 {
            _ = c.identity(uid: 60_001) { uid in
                _ = try? String(contentsOfFile: self.passwd, encoding: .utf8)   // as NSS does
                _ = try? String(contentsOfFile: self.group, encoding: .utf8)
                return Identity(uid: uid, name: "alice", groups: ["oncall"])
            }
        }
        XCTAssertEqual(c.stampsTaken, 2)
    }

    func testAFileWrittenInPlaceToTheSameSizeIsHeard() throws {
        let c = cache()
        XCTAssertEqual(lookups(c, times: 3), 1)
        let taken = c.stampsTaken
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: group))
        h.write("ONCALL".data(using: .utf8)!)
        try h.close()
        _ = lookups(c, times: 1)
        XCTAssertEqual(c.stampsTaken, taken + 1, "an in-place write must make the next lookup look at the files")
    }

    func testAFileReachedThroughASymbolicLinkReplacedInItsOwnDirectoryIsHeard() throws {
        let real = dir + "/real"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        try write(real + "/group", "oncall:x:60010:alice\n")
        try FileManager.default.removeItem(atPath: group)
        try FileManager.default.createSymbolicLink(atPath: group, withDestinationPath: real + "/group")
        let c = cache()
        XCTAssertEqual(lookups(c, times: 3), 1)
        try write(real + "/group", "oncall:x:60010:\n")
        XCTAssertEqual(lookups(c, times: 1), 1, "the link's target was replaced: the next lookup must read it")
    }

    func testAUserdbDirectoryMadeUnderAMissingParentTurnsCachingOffAtOnce() throws {
        let deep = dir + "/run/host/userdb"
        let c = IdentityCache(files: [nsswitch, passwd, group], userdb: [deep], settle: 0)
        XCTAssertEqual(lookups(c, times: 3), 1)
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        XCTAssertEqual(lookups(c, times: 2), 2, "nss-systemd may now answer from userdb: nothing is to be kept")
    }

    func testNoWatchIsTrustedLongerThanTheRestatInterval() {
        let c = IdentityCache(files: [nsswitch, passwd, group], userdb: [userdb], settle: 0, restat: 0)
        XCTAssertEqual(lookups(c, times: 5), 1)
        XCTAssertEqual(c.stampsTaken, 5, "with no interval, every lookup looks at the files again")
    }

    func testAFileStillSettlingIsLookedAtEveryTimeUnderTheWatch() {
        let c = cache(settle: 60_000_000_000)
        XCTAssertEqual(lookups(c, times: 4), 4)
        XCTAssertEqual(c.stampsTaken, 4)
        XCTAssertTrue(c.isWatching)
    }

    func testWithoutAWatchEveryLookupLooksAtTheFilesAndStillReusesTheAnswer() {
        XCTAssertNil(FileChangeWatch.set(on: [passwd, "relative/userdb"]), "a relative path cannot be watched")
        let c = IdentityCache(files: [nsswitch, passwd, group], userdb: ["relative/userdb"], settle: 0)
        XCTAssertEqual(lookups(c, times: 4), 1)
        XCTAssertEqual(c.stampsTaken, 4)
        XCTAssertFalse(c.isWatching)
    }

    func testNearestDirectoryAboveAPathIsTheFirstThatExists() {
        XCTAssertEqual(FileChangeWatch.nearestDirectory(above: dir + "/a/b/c"), dir)
        XCTAssertEqual(FileChangeWatch.nearestDirectory(above: passwd), dir)
        XCTAssertEqual(FileChangeWatch.nearestDirectory(above: "/no-such-top-level-dir/x"), "/")
        XCTAssertNil(FileChangeWatch.nearestDirectory(above: "relative/path"))
    }

    func testTheRealDatabasesAnswerAsWithoutTheCache() {
        XCTAssertEqual(Identity.of(uid: 0), Identity.lookUp(uid: 0))
        XCTAssertEqual(Identity.of(uid: 0), Identity.lookUp(uid: 0))
        XCTAssertNil(Identity.of(uid: 4_000_000_000))
    }
}
