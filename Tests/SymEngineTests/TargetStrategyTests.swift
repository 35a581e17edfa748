import Foundation
import XCTest
import SymModel
@testable import SymEngine

/// `ssh_cert` and `postgres_role` parts that need no server: argv, serials, validity, KRL specs, key checks, names.
final class SSHCertStrategyTests: XCTestCase {
    static let keygen = SSHCertStrategy.sshKeygen

    func settings(_ extra: [String: JSONValue] = [:]) -> SSHCertStrategy.Settings {
        var s: [String: JSONValue] = ["ca_key": .string("/etc/symtui/ca"), "krl": .string("/etc/ssh/revoked.krl"), "principals": .array([.string("deploy"), .string("web")])]
        s.merge(extra) { _, b in b }
        return try! SSHCertStrategy.settings(s).get()
    }

    /// A fresh ed25519 key pair made by the real ssh-keygen; returns the directory and the public key's text.
    func keyPair(_ name: String = "id_ed25519") throws -> (String, String) {
        let dir = try Fixture.tempDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try Fixture.tool(Self.keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "someone@host", "-f", dir + "/" + name])
        return (dir, try String(contentsOfFile: dir + "/" + name + ".pub", encoding: .utf8))
    }

    func testSerialPutsTheGrantInTheHighBitsAndTheExtensionInTheLow() {
        XCTAssertEqual(SSHCertStrategy.serial(grant: 42), 42 << 32)
        XCTAssertEqual(SSHCertStrategy.serial(grant: 42, extensionRequest: 57), 42 << 32 | 57)
        XCTAssertEqual(SSHCertStrategy.grant(ofSerial: 42 << 32 | 57), 42)
    }

    func testValidityIsTheGrantInUTCWholeSecondsMarkedZ() {
        let from = Date(timeIntervalSince1970: 1_796_000_000.9), to = Date(timeIntervalSince1970: 1_796_003_600.7)
        XCTAssertEqual(SSHCertStrategy.validity(from: from, to: to), "20261130005320Z:20261130015320Z")
    }

    func testSignArgumentsAreOneArgvWithPrincipalsJoinedAndTheKeyPathLast() {
        let args = SSHCertStrategy.signArguments(settings(), keyID: "symtui-7-alice-web", serial: 7 << 32,
                                                 validity: "20261201000000Z:20261201010000Z", publicKeyPath: "/var/lib/x/key.pub")
        XCTAssertEqual(args, ["-q", "-s", "/etc/symtui/ca", "-I", "symtui-7-alice-web", "-n", "deploy,web",
                              "-V", "20261201000000Z:20261201010000Z", "-z", "30064771072", "/var/lib/x/key.pub"])
    }

    func testExtensionsClearTheDefaultsAndOptionsAreSingleArguments() {
        let s = settings(["extensions": .array([.string("permit-pty")]), "force_command": .string("/usr/bin/uptime -p"),
                          "source_address": .array([.string("10.0.0.0/8"), .string("192.168.1.1")])])
        let args = SSHCertStrategy.signArguments(s, keyID: "k", serial: 1, validity: "v", publicKeyPath: "/k.pub")
        XCTAssertEqual(Array(args[11...]), ["-O", "clear", "-O", "permit-pty", "-O", "force-command=/usr/bin/uptime -p",
                                            "-O", "source-address=10.0.0.0/8,192.168.1.1", "/k.pub"])
    }

    func testKRLSpecRevokesTheWholeSerialRangeOfEachGrant() {
        XCTAssertEqual(SSHCertStrategy.krlSpec(grants: [10, 9]), "serial: 38654705664-42949672959\nserial: 42949672960-47244640255\n")
    }

    func testKeyIDFillsPlaceholdersAndReplacesWhatIsNotPrintable() {
        XCTAssertEqual(SSHCertStrategy.keyID(format: "{strategy}/{target}:{request}:{user}:{serial}", request: 12, user: "bob",
                                             target: "web servers\u{1b}[2J", strategy: "ssh", serial: 5),
                       "ssh/web_servers_[2J:12:bob:5")
    }

    func testPublicKeyIsReducedToTypeAndBase64() throws {
        let (_, text) = try keyPair()
        let parts = text.split(separator: " ")
        XCTAssertEqual(try SSHCertStrategy.parsePublicKey(text).get(), parts[0] + " " + parts[1])
    }

    func testWhatIsNotAPublicKeyIsRefusedWithAReason() throws {
        let (dir, text) = try keyPair()
        let parts = text.split(separator: " ").map(String.init)
        let privateKey = try String(contentsOfFile: dir + "/id_ed25519", encoding: .utf8)
        let cases: [(String, String)] = [
            ("", "empty"), (privateKey, "private key"), ("ssh-ed25519-cert-v01@openssh.com AAAA x", "certificate"),
            ("ssh-dss " + parts[1], "is not one of"), ("ssh-ed25519 -oProxyCommand=evil", "base64"),
            ("ecdsa-sha2-nistp256 " + parts[1], "does not match its type"), (parts[0] + " " + parts[1] + "\nssh-ed25519 AAAA", "one line"),
            ("ssh-ed25519", "expected"),
        ]
        for (key, fragment) in cases {
            guard case let .failure(f) = SSHCertStrategy.parsePublicKey(key) else { XCTFail("accepted \(key)"); continue }
            XCTAssertTrue(f.message.contains(fragment), "\(key): \(f.message)")
        }
    }

    func testSettingsRefuseAPrincipalThatIsNotPlain() {
        guard case let .failure(f) = SSHCertStrategy.settings(["ca_key": .string("/c"), "krl": .string("/k"), "principals": .array([.string("ok"), .string("-oX")])]) else {
            return XCTFail("accepted")
        }
        XCTAssertTrue(f.message.contains("\"-oX\" is not a plain principal name"), f.message)
    }

    func testPreflightRefusesACAKeyOthersCanRead() throws {
        let (dir, _) = try keyPair("ca")
        let strategy = Strategy(name: "ssh", type: .sshCert, settings: ["ca_key": .string(dir + "/ca"), "krl": .string("/k")],
                                targets: [Target(name: "t", settings: ["principals": .array([.string("p")])])])
        chmod(dir + "/ca", 0o600)
        XCTAssertNil(SSHCertStrategy(strategy: strategy).preflight())
        chmod(dir + "/ca", 0o640)
        XCTAssertTrue(SSHCertStrategy(strategy: strategy).preflight()?.message.contains("mode 640 lets others read it") ?? false)
    }

    func testASignedCertificateIsRevokedByTheUpdatedKRLAndOthersAreNot() throws {
        let (dir, text) = try keyPair("ca")
        let (_, userKey) = try keyPair()
        chmod(dir + "/ca", 0o600)
        let issued = dir + "/issued"
        let ledger = try IssuedCertificates.open(issued).get()
        let s = settings(["ca_key": .string(dir + "/ca"), "krl": .string(dir + "/revoked.krl")])
        XCTAssertFalse(text.isEmpty)
        var serials: [UInt64] = []
        for grant: Int64 in [3, 4] {
            let serial = SSHCertStrategy.serial(grant: grant)
            let cert = try ledger.sign(try SSHCertStrategy.parsePublicKey(userKey).get()) {
                SSHCertStrategy.signArguments(s, keyID: "k\(grant)", serial: serial,
                                              validity: SSHCertStrategy.validity(from: Date(), to: Date().addingTimeInterval(600)), publicKeyPath: $0)
            }.get()
            XCTAssertTrue(cert.hasPrefix("ssh-ed25519-cert-v01@openssh.com "))
            let record = IssuedCertificates.Record(serial: serial, grant: grant, user: "u", strategy: "ssh", target: "t", keyID: "k",
                                                   validAfter: 0, validBefore: Date().timeIntervalSince1970 + 600,
                                                   certificatePath: "/nowhere", ended: nil)
            XCTAssertNil(ledger.save(record, certificate: cert))
            serials.append(serial)
        }
        XCTAssertEqual(try ledger.isRevoked(serials[0], krl: s.krl).get(), false, "no KRL yet revokes nothing")
        XCTAssertNil(ledger.revoke(grants: [3], verifying: [serials[0]], krl: s.krl, caKey: s.caKey))
        XCTAssertEqual(try ledger.isRevoked(serials[0], krl: s.krl).get(), true)
        XCTAssertEqual(try ledger.isRevoked(serials[1], krl: s.krl).get(), false)
        XCTAssertNil(ledger.revoke(grants: [4], verifying: [serials[1]], krl: s.krl, caKey: s.caKey), "a second update keeps the first grant")
        XCTAssertEqual(try ledger.isRevoked(serials[0], krl: s.krl).get(), true)
        XCTAssertEqual(try ledger.isRevoked(serials[1], krl: s.krl).get(), true)
        XCTAssertEqual(ledger.records().map(\.serial), serials)

        // A certificate an extension issues while its grant is being revoked falls in the revoked range.
        let late = SSHCertStrategy.serial(grant: 3, extensionRequest: 99)
        let cert = try ledger.sign(try SSHCertStrategy.parsePublicKey(userKey).get()) {
            SSHCertStrategy.signArguments(s, keyID: "late", serial: late,
                                          validity: SSHCertStrategy.validity(from: Date(), to: Date().addingTimeInterval(600)), publicKeyPath: $0)
        }.get()
        XCTAssertNil(ledger.save(IssuedCertificates.Record(serial: late, grant: 3, user: "u", strategy: "ssh", target: "t", keyID: "late",
                                                            validAfter: 0, validBefore: Date().timeIntervalSince1970 + 600,
                                                            certificatePath: "/nowhere", ended: nil), certificate: cert))
        XCTAssertEqual(try ledger.isRevoked(late, krl: s.krl).get(), true)
    }

    func testACorruptKRLFailsTheRevocationInsteadOfReplacingIt() throws {
        let (dir, _) = try keyPair("ca")
        chmod(dir + "/ca", 0o600)
        let krl = dir + "/revoked.krl"
        try "not a KRL".write(toFile: krl, atomically: true, encoding: .utf8)
        let ledger = try IssuedCertificates.open(dir + "/issued").get()
        XCTAssertNotNil(ledger.revoke(grants: [1], verifying: [1 << 32], krl: krl, caKey: dir + "/ca"))
        XCTAssertEqual(try String(contentsOfFile: krl, encoding: .utf8), "not a KRL", "the KRL is left as it was")
    }
}

final class PostgresRoleStrategyTests: XCTestCase {
    let settings: [String: JSONValue] = ["conninfo": .string("service=orders"), "role": .string("orders_rw"),
                                         "user_map": .object([("alice", .string("alice_db")), ("mallory", .string("x\"; DROP ROLE y; --"))])]

    func testTheDatabaseUserIsTheUnixNameOrItsUserMapEntry() throws {
        XCTAssertEqual(try PostgresRoleStrategy.names(settings: settings, user: "bob").get().member, "bob")
        XCTAssertEqual(try PostgresRoleStrategy.names(settings: settings, user: "alice").get().member, "alice_db")
        XCTAssertEqual(try PostgresRoleStrategy.names(settings: settings, user: "alice").get().endSessions, .terminate)
    }

    func testAMappedNameThatIsNotPlainIsRefusedBeforeAnySQL() {
        guard case let .failure(f) = PostgresRoleStrategy.names(settings: settings, user: "mallory") else { return XCTFail("accepted") }
        XCTAssertTrue(f.message.contains("is not a plain database role name"), f.message)
    }

    func testARoleThatIsNotPlainIsRefused() {
        var s = settings
        s["role"] = .string("orders rw")
        guard case let .failure(f) = PostgresRoleStrategy.names(settings: s, user: "bob") else { return XCTFail("accepted") }
        XCTAssertTrue(f.message.contains("\"orders rw\" is not a plain database role name"), f.message)
    }

    func testAConninfoWithAPasswordIsRefusedBeforeConnecting() {
        var s = settings
        s["conninfo"] = .string("postgresql://admin:hunter2@db/app")
        guard case let .failure(f) = PostgresRoleStrategy.names(settings: s, user: "bob") else { return XCTFail("accepted") }
        XCTAssertTrue(f.message.contains("passfile"), f.message)
        XCTAssertFalse(f.message.contains("hunter2"), "the password is not repeated")
    }

    func testAnUnreachableServerFailsTheStepWithLibpqsMessage() {
        let port = 1   // tcpmux: nothing listens there
        let strategy = Strategy(name: "pg", type: .postgresRole,
                                settings: ["conninfo": .string("postgresql://nobody@127.0.0.1:\(port)/x?connect_timeout=2")],
                                targets: [Target(name: "t", settings: ["role": .string("r")])])
        let request = AccessRequest(id: 1, flow: "f", target: "t", targetLabel: "t", requester: "bob", createdAt: Date(), requestExpiresAt: Date())
        let outcome = PostgresRoleStrategy(strategy: strategy).escalate(GrantContext(request: request, strategy: strategy, target: strategy.targets[0]))
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.error?.contains("cannot connect to PostgreSQL") ?? false, outcome.error ?? "")
    }
}
