import Foundation
import SymModel
#if canImport(Glibc)
import Glibc
#endif

/// `ssh_cert`: signs the requester's SSH public key with the user CA of setting `ca_key` (`ssh-keygen -s`, argv,
/// no shell) for the target's `principals`, valid exactly for the grant, and installs the certificate next to
/// their key (`~/.ssh/id_ed25519-cert.pub`), owned by them. Deescalation adds the serials of the grant's
/// certificates that are still valid to the KRL of setting `krl` (`ssh-keygen -k -u`, replaced atomically) and
/// removes the file. Every certificate issued is recorded in `issued_dir` (root only) until it has expired:
/// deescalation and `check` read it there.
public struct SSHCertStrategy: AccessStrategy {
    public static let sshKeygen = "/usr/bin/ssh-keygen"
    public static let defaultIssuedDir = "/var/lib/symtui/ssh_cert"
    public static let defaultKeyIDFormat = "symtui-{request}-{user}-{target}"
    /// The public keys looked for in the requester's `~/.ssh`, in this order; then the `public_key` field.
    public static let keyFiles = ["id_ed25519.pub", "id_ecdsa.pub"]
    public static let publicKeyField = "public_key"
    /// Where a certificate for a key from the `public_key` field goes (the client is pointed at it with CertificateFile).
    public static let fieldCertificateName = "symtui-cert.pub"
    static let keyTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
                           "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
    static let timeout: TimeInterval = 30
    static let maxKeyBytes = 16_384
    /// One KRL is rewritten by one deescalation at a time in this process (plus a file lock across processes).
    static let krlLocks = KeyedLocks()

    public var strategy: Strategy
    public init(strategy: Strategy) { self.strategy = strategy }

    /// Each grant has its own certificates: ending one never touches another's.
    public var accessIsSharedAcrossGrants: Bool { false }

    // MARK: - Settings

    /// The checked settings of one target.
    public struct Settings: Sendable, Equatable {
        public var caKey: String
        public var krl: String
        public var issuedDir: String
        public var keyIDFormat: String
        public var principals: [String]
        public var extensions: [String]?
        public var forceCommand: String?
        public var sourceAddresses: [String]?
    }

    public static func settings(_ s: [String: JSONValue]) -> Result<Settings, StrategyFailure> {
        func path(_ key: String, default fallback: String? = nil) -> Result<String, StrategyFailure> {
            guard let p = s[key]?.stringValue ?? fallback else { return .failure(StrategyFailure("ssh_cert: setting `\(key)` is missing")) }
            guard p.hasPrefix("/"), SafeText.isClean(p) else { return .failure(StrategyFailure("ssh_cert: setting `\(key)` must be an absolute path")) }
            return .success(p)
        }
        func list(_ key: String) -> Result<[String]?, StrategyFailure> {
            guard let v = s[key] else { return .success(nil) }
            let names = v.arrayValue?.compactMap(\.stringValue)
            guard let names, names.count == v.arrayValue?.count else {
                return .failure(StrategyFailure("ssh_cert: setting `\(key)` must be a list of strings"))
            }
            return .success(names)
        }
        do {
            let caKey = try path("ca_key").get(), krl = try path("krl").get()
            let issued = try path("issued_dir", default: defaultIssuedDir).get()
            let format = s["key_id_format"]?.stringValue ?? defaultKeyIDFormat
            if let problem = TargetNames.keyIDFormatProblem(format) { throw StrategyFailure("ssh_cert: key_id_format \(problem)") }
            guard let principals = try list("principals").get(), !principals.isEmpty else {
                throw StrategyFailure("ssh_cert: setting `principals` must list at least one principal")
            }
            for p in principals where !TargetNames.isPrincipal(p) {
                throw StrategyFailure("ssh_cert: principal \"\(SafeText.display(p))\" is not a plain principal name")
            }
            let extensions = try list("extensions").get()
            for e in extensions ?? [] where !TargetNames.sshExtensions.contains(e) {
                throw StrategyFailure("ssh_cert: \"\(SafeText.display(e))\" is not an OpenSSH certificate extension")
            }
            let force = s["force_command"]?.stringValue
            if let force, force.isAll(in: .whitespaces) || !SafeText.isClean(force) {
                throw StrategyFailure("ssh_cert: force_command must be one non-empty line")
            }
            let sources = try list("source_address").get()
            for a in sources ?? [] where !TargetNames.isSourceAddress(a) {
                throw StrategyFailure("ssh_cert: source address \"\(SafeText.display(a))\" is not an IP address or CIDR block")
            }
            return .success(Settings(caKey: caKey, krl: krl, issuedDir: issued, keyIDFormat: format, principals: principals,
                                     extensions: extensions, forceCommand: force, sourceAddresses: sources))
        } catch let f as StrategyFailure {
            return .failure(f)
        } catch {
            return .failure(StrategyFailure("ssh_cert: \(error)"))
        }
    }

    // MARK: - Pure parts: serials, validity, arguments, KRL spec

    /// Serials are unique across the store: the grant's request id in the high 32 bits, and 0 for the first
    /// certificate or the approved extension request's id for the ones that follow. A grant's certificates
    /// are therefore the serial range `grant << 32 … grant << 32 | 0xFFFF_FFFF`.
    public static func serial(grant: Int64, extensionRequest: Int64? = nil) -> UInt64 {
        (UInt64(UInt32(truncatingIfNeeded: grant)) << 32) | UInt64(UInt32(truncatingIfNeeded: extensionRequest ?? 0))
    }

    public static func grant(ofSerial serial: UInt64) -> Int64 { Int64(serial >> 32) }

    /// `ssh-keygen -V` for [from, to), in UTC, whole seconds (the end rounded down: never longer than the grant).
    public static func validity(from: Date, to: Date) -> String {
        stamp(from) + ":" + stamp(to)
    }

    static func stamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMddHHmmss"
        return f.string(from: Date(timeIntervalSince1970: floor(d.timeIntervalSince1970))) + "Z"
    }

    /// The certificate's key id: `key_id_format` with its placeholders filled, printable ASCII only.
    public static func keyID(format: String, request: Int64, user: String, target: String, strategy: String, serial: UInt64) -> String {
        var id = format
        for (k, v) in [("request", String(request)), ("user", user), ("target", target), ("strategy", strategy), ("serial", String(serial))] {
            id = id.replacingOccurrences(of: "{\(k)}", with: v)
        }
        return String(id.unicodeScalars.map { $0.value > 0x20 && $0.value < 0x7F ? Character($0) : "_" }.prefix(200))
    }

    /// The argv of `ssh-keygen` that signs `publicKeyPath` (an absolute path, so never read as an option).
    public static func signArguments(_ s: Settings, keyID: String, serial: UInt64, validity: String, publicKeyPath: String) -> [String] {
        var args = ["-q", "-s", s.caKey, "-I", keyID, "-n", s.principals.joined(separator: ","), "-V", validity, "-z", String(serial)]
        if let extensions = s.extensions {
            args += ["-O", "clear"]
            for e in extensions { args += ["-O", e] }
        }
        if let force = s.forceCommand { args += ["-O", "force-command=" + force] }
        if let sources = s.sourceAddresses { args += ["-O", "source-address=" + sources.joined(separator: ",")] }
        return args + [publicKeyPath]
    }

    /// The KRL specification (`ssh-keygen -k` input) revoking every certificate these grants have or will be
    /// issued: the whole serial range of each, so that a certificate an extension issues while the grant is being
    /// revoked is revoked too.
    public static func krlSpec(grants: [Int64]) -> String {
        grants.sorted().map { "serial: \(serial(grant: $0))-\(serial(grant: $0) | 0xFFFF_FFFF)\n" }.joined()
    }

    /// A public key line, checked and reduced to `type base64` (the comment is dropped): one line, a known key
    /// type, base64 whose first field names the same type. Certificates and private keys are refused.
    public static func parsePublicKey(_ text: String) -> Result<String, StrategyFailure> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return .failure(StrategyFailure("the public key is empty")) }
        if trimmed.contains("PRIVATE KEY") { return .failure(StrategyFailure("that is a private key: give the public key (.pub)")) }
        guard trimmed.utf8.count <= maxKeyBytes, !trimmed.contains(where: \.isNewline) else {
            return .failure(StrategyFailure("the public key must be one line of at most \(maxKeyBytes) bytes"))
        }
        let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count >= 2 else { return .failure(StrategyFailure("not an OpenSSH public key (expected \"TYPE BASE64 [comment]\")")) }
        let type = String(parts[0]), body = String(parts[1])
        if type.contains("-cert-") { return .failure(StrategyFailure("that is a certificate, not a public key")) }
        guard keyTypes.contains(type) else {
            return .failure(StrategyFailure("key type \"\(SafeText.display(String(type.prefix(40))))\" is not one of " + keyTypes.joined(separator: ", ")))
        }
        guard let blob = Data(base64Encoded: body), blob.count >= 4 else {
            return .failure(StrategyFailure("the public key's base64 does not decode"))
        }
        let bytes = [UInt8](blob)
        let n = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard n == type.utf8.count, bytes.count > 4 + n, Array(bytes[4..<(4 + n)]) == Array(type.utf8) else {
            return .failure(StrategyFailure("the public key's data does not match its type \(type)"))
        }
        return .success(type + " " + body)
    }

    // MARK: - Escalate, extend

    public func escalate(_ ctx: GrantContext) -> StrategyOutcome { issue(ctx, extensionRequest: nil) }

    public func extend(_ ctx: GrantContext) -> StrategyOutcome? { issue(ctx, extensionRequest: ctx.extensionRequestID) }

    public func preflight() -> StrategyFailure? {
        var seen = Set<String>()
        for target in strategy.targets {
            guard case let .success(s) = Self.settings(strategy.settings(for: target)), seen.insert(s.caKey).inserted else { continue }
            if let problem = Self.caKeyProblem(s.caKey) { return problem }
        }
        return nil
    }

    /// Why the CA key must not be used: not a regular file, not the daemon's, or readable by anyone else.
    static func caKeyProblem(_ path: String) -> StrategyFailure? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return StrategyFailure("ca_key \(path): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else { return StrategyFailure("ca_key \(path): not a regular file (symlinks are refused)") }
        guard st.st_uid == geteuid() else { return StrategyFailure("ca_key \(path): owned by uid \(st.st_uid), not by the daemon's user (uid \(geteuid()))") }
        guard st.st_mode & 0o077 == 0 else {
            return StrategyFailure("ca_key \(path): mode \(String(st.st_mode & 0o777, radix: 8)) lets others read it; chmod 0600 it")
        }
        return nil
    }

    /// The settings, the user name and the key that would be signed, checked when the request is made.
    public func validate(_ ctx: GrantContext) -> StrategyFailure? {
        if case let .failure(f) = Self.settings(ctx.settings) { return f }
        guard UnixName.isValid(ctx.user) else { return StrategyFailure("ssh_cert: \"\(SafeText.display(ctx.user))\" is not a plain user name") }
        guard ctx.request.durationSeconds != nil else {
            return StrategyFailure("ssh_cert: the grant needs a duration: a certificate must expire")
        }
        // A key given in the field is checked even when a key file wins: it is recorded with the request.
        if let field = ctx.request.fields[Self.publicKeyField]?.description, !field.isEmpty,
           case let .failure(f) = Self.parsePublicKey(field) {
            return StrategyFailure("ssh_cert: field public_key: \(f.message)")
        }
        switch UserHome.open(user: ctx.user) {
        case let .failure(f): return StrategyFailure("ssh_cert: \(f.message)")
        case let .success(home):
            defer { home.close() }
            if case let .failure(f) = home.publicKey(field: ctx.request.fields[Self.publicKeyField]?.description) {
                return StrategyFailure("ssh_cert: \(f.message)")
            }
        }
        return nil
    }

    private func issue(_ ctx: GrantContext, extensionRequest: Int64?) -> StrategyOutcome {
        let s: Settings
        switch Self.settings(ctx.settings) {
        case let .failure(f): return .failure(f.message)
        case let .success(v): s = v
        }
        let user = ctx.user
        guard UnixName.isValid(user) else { return .failure("ssh_cert: \"\(SafeText.display(user))\" is not a plain user name") }
        if let problem = Self.caKeyProblem(s.caKey) { return .failure("ssh_cert: \(problem.message)") }
        guard let end = ctx.request.accessExpiresAt else {
            return .failure("ssh_cert: the grant has no end (flow without schedule_deescalation); a certificate must expire")
        }
        let start = min(Date(), ctx.request.accessStartsAt ?? Date())
        guard end > start.addingTimeInterval(1) else { return .failure("ssh_cert: the grant ends before a certificate could start") }
        let serial = Self.serial(grant: ctx.request.id, extensionRequest: extensionRequest)
        var data: [(String, JSONValue)] = [("serial", .string(String(serial))), ("principals", .array(s.principals.map(JSONValue.string)))]
        if let extensionRequest { data.append(("extension_request", .int(extensionRequest))) }

        let home: UserHome
        switch UserHome.open(user: user) {
        case let .failure(f): return .failure("ssh_cert: \(f.message)", data: data)
        case let .success(h): home = h
        }
        defer { home.close() }
        let key: UserHome.PublicKey
        switch home.publicKey(field: ctx.request.fields[Self.publicKeyField]?.description) {
        case let .failure(f): return .failure("ssh_cert: \(f.message)", data: data)
        case let .success(k): key = k
        }
        data.append(("public_key", .string(key.source)))

        let ledger: IssuedCertificates
        switch IssuedCertificates.open(s.issuedDir) {
        case let .failure(f): return .failure("ssh_cert: \(f.message)", data: data)
        case let .success(l): ledger = l
        }
        let keyID = Self.keyID(format: s.keyIDFormat, request: ctx.request.id, user: user, target: ctx.target.name,
                               strategy: strategy.name, serial: serial)
        let validity = Self.validity(from: start, to: end)
        let certificate: String
        switch ledger.sign(key.line, arguments: { Self.signArguments(s, keyID: keyID, serial: serial, validity: validity, publicKeyPath: $0) }) {
        case let .failure(f): return .failure("ssh_cert: \(f.message)", data: data)
        case let .success(c): certificate = c
        }
        let record = IssuedCertificates.Record(serial: serial, grant: ctx.request.id, user: user, strategy: strategy.name,
                                               target: ctx.target.name, keyID: keyID,
                                               validAfter: floor(start.timeIntervalSince1970), validBefore: floor(end.timeIntervalSince1970),
                                               certificatePath: home.certificatePath(for: key), ended: nil)
        // Recorded before it is handed out: a certificate the ledger does not know could not be revoked.
        if let f = ledger.save(record, certificate: certificate) { return .failure("ssh_cert: \(f.message)", data: data) }
        if let f = home.install(certificate: certificate, for: key) { return .failure("ssh_cert: \(f.message)", data: data) }
        data += [("key_id", .string(keyID)), ("certificate", .string(record.certificatePath)),
                 ("valid_after", .string(Timestamp.format(Date(timeIntervalSince1970: record.validAfter)))),
                 ("valid_before", .string(Timestamp.format(Date(timeIntervalSince1970: record.validBefore))))]
        ledger.prune()
        return .success(output: JSONValue.object([("serial", .string(String(serial))), ("certificate", .string(record.certificatePath))]).compact,
                        data: data)
    }

    // MARK: - Deescalate

    public func deescalate(_ ctx: GrantContext) -> StrategyOutcome {
        let s: Settings
        switch Self.settings(ctx.settings) {
        case let .failure(f): return .failure(f.message)
        case let .success(v): s = v
        }
        let ledger: IssuedCertificates
        switch IssuedCertificates.open(s.issuedDir) {
        case let .failure(f): return .failure("ssh_cert: \(f.message)")
        case let .success(l): ledger = l
        }
        let records = ledger.records().filter { $0.grant == ctx.request.id && $0.strategy == strategy.name }
        var data: [(String, JSONValue)] = [("krl", .string(s.krl))]
        if records.isEmpty { return .success(data: data + [("certificates", .array([])), ("already_absent", .bool(true))]) }
        let now = Date().timeIntervalSince1970
        // Still valid: revoked. Expired (the usual case at expiry: a certificate never outlasts its grant): nothing to revoke.
        let live = records.filter { $0.validBefore > now }
        if !live.isEmpty {
            if let f = ledger.revoke(grants: [ctx.request.id], verifying: live.map(\.serial), krl: s.krl, caKey: s.caKey) {
                return .failure("ssh_cert: cannot update the KRL \(s.krl): \(f.message)", data: data)
            }
        }
        var certs: [JSONValue] = []
        for r in records {
            let revoked = live.contains { $0.serial == r.serial }
            let removed = UserHome.removeCertificate(user: r.user, path: r.certificatePath, ifContains: ledger.certificate(r.serial))
            var done = r
            done.ended = revoked ? "revoked" : "expired"
            _ = ledger.save(done, certificate: nil)
            certs.append(.object([("serial", .string(String(r.serial))), ("key_id", .string(r.keyID)),
                                  ("valid_before", .string(Timestamp.format(Date(timeIntervalSince1970: r.validBefore)))),
                                  ("outcome", .string(revoked ? "revoked" : "expired")), ("file_removed", .bool(removed))]))
        }
        data.append(("certificates", .array(certs)))
        ledger.prune()
        return .success(data: data)
    }

    // MARK: - Check

    /// Users holding a certificate issued by this strategy for the target that is valid now and not in the KRL.
    public func check(target: Target) -> Result<AccessCheck, StrategyFailure>? {
        let s: Settings
        switch Self.settings(strategy.settings(for: target)) {
        case let .failure(f): return .failure(f)
        case let .success(v): s = v
        }
        let ledger: IssuedCertificates
        switch IssuedCertificates.open(s.issuedDir, create: false) {
        case let .failure(f): return .failure(f)
        case let .success(l): ledger = l
        }
        let now = Date().timeIntervalSince1970
        var users = Set<String>()
        for r in ledger.records() where r.strategy == strategy.name && r.target == target.name && r.validAfter <= now && now < r.validBefore {
            switch ledger.isRevoked(r.serial, krl: s.krl) {
            case let .failure(f): return .failure(f)
            case .success(true): continue
            case .success(false): users.insert(r.user)
            }
        }
        return .success(AccessCheck(users: users))
    }
}
