import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymEngine

/// `{"event":"backup"}` and `{"read":"metrics"}` on the wire, and where the daemon agrees to write a backup.
final class StoreBackupTests: XCTestCase {
    func parse(_ text: String) throws -> DaemonCall { try DaemonCall.parse(try JSONValue.parse(text)) }

    func testBackupAndMetricsCallsRoundTripThroughTheirJSON() throws {
        for call: DaemonCall in [.backup(path: "/var/backups/symtui/s.db"), .read(.metrics)] {
            XCTAssertEqual(try parse(call.json.compact), call)
        }
    }

    func testABackupCallNeedsAnAbsolutePathAndNoOtherKey() {
        for line in [#"{"event":"backup"}"#, #"{"event":"backup","path":"rel/s.db"}"#, #"{"event":"backup","path":5}"#,
                     #"{"event":"backup","path":"/x","owner":"root"}"#, #"{"read":"metrics","x":1}"#] {
            XCTAssertThrowsError(try parse(line), line) { XCTAssertEqual(($0 as? CommandError)?.code, ExitCode.dataErr, line) }
        }
    }

    func directory(mode: mode_t) throws -> String {
        let path = NSTemporaryDirectory() + "symtui-backup-test-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, mode)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    var me: Identity { Identity(uid: geteuid(), name: "me", groups: []) }

    func testTheTargetDirectoryMustBeWritableByNoOneElse() throws {
        let open = try directory(mode: 0o777)
        XCTAssertThrowsError(try StoreBackup.checkPlace(open + "/s.db", caller: me)) { XCTAssertEqual(($0 as? CommandError)?.code, ExitCode.noPerm) }
        let group = try directory(mode: 0o770)
        XCTAssertThrowsError(try StoreBackup.checkPlace(group + "/s.db", caller: me))
        let mine = try directory(mode: 0o700)
        XCTAssertEqual(try StoreBackup.checkPlace(mine + "/s.db", caller: me).1, "s.db")
    }

    func testAPathThroughASymlinkOrDotDotIsRefused() throws {
        let real = try directory(mode: 0o700)
        let link = real + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        addTeardownBlock { unlink(link) }
        XCTAssertThrowsError(try StoreBackup.checkPlace(link + "/s.db", caller: me))
        XCTAssertThrowsError(try StoreBackup.checkPlace(real + "/../" + (real as NSString).lastPathComponent + "/s.db", caller: me))
        XCTAssertThrowsError(try StoreBackup.checkPlace("relative/s.db", caller: me))
        XCTAssertThrowsError(try StoreBackup.checkPlace(real + "/", caller: me))
    }

    func testAnExistingTargetMustBeARegularFileOfTheCaller() throws {
        let dir = try directory(mode: 0o700)
        try FileManager.default.createSymbolicLink(atPath: dir + "/s.db", withDestinationPath: "/etc/passwd")
        XCTAssertThrowsError(try StoreBackup.checkPlace(dir + "/s.db", caller: me))
        try FileManager.default.createDirectory(atPath: dir + "/d.db", withIntermediateDirectories: false)
        XCTAssertThrowsError(try StoreBackup.checkPlace(dir + "/d.db", caller: me))
        FileManager.default.createFile(atPath: dir + "/old.db", contents: Data())
        XCTAssertNoThrow(try StoreBackup.checkPlace(dir + "/old.db", caller: me), "an older backup is replaced")
    }

    func testOnlyRootTheDaemonsUserAndStoreGroupMayBackUp() throws {
        var config = try ConfigLoader.parse(text: #"{ flows: [ { name: "n", approvers: { users: ["ann"] } } ] }"#, path: "t.json5", baseDirectory: nil).get()
        let other = Identity(uid: 4242, name: "other", groups: ["admins"])
        XCTAssertEqual(StoreBackup.mayBackUp(other, config: config), geteuid() == 4242)
        config.storeGroup = "admins"
        XCTAssertTrue(StoreBackup.mayBackUp(other, config: config))
        XCTAssertTrue(StoreBackup.mayBackUp(Identity(uid: 0, name: "root", groups: []), config: config))
    }
}
