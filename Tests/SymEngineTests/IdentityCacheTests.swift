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
        XCTAssertEqual(lookups(c, times: 2), 1)
        try write(group, "oncall:x:60010:\n")
        XCTAssertEqual(lookups(c, times: 2), 1, "the new group file was not read")
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

    func testTheRealDatabasesAnswerAsWithoutTheCache() {
        XCTAssertEqual(Identity.of(uid: 0), Identity.lookUp(uid: 0))
        XCTAssertEqual(Identity.of(uid: 0), Identity.lookUp(uid: 0))
        XCTAssertNil(Identity.of(uid: 4_000_000_000))
    }
}
