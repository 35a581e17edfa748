import Foundation
import SymModel
#if canImport(Glibc)
import Glibc
#endif

/// A requester's `~/.ssh`, opened once without following symlinks and required to be theirs: where their public
/// key is read from and their certificate is written to, by root, on their behalf.
struct UserHome {
    let user: String
    let uid: uid_t
    let gid: gid_t
    let sshPath: String
    private let sshFD: Int32

    /// The key to sign, and where it came from.
    struct PublicKey {
        var line: String
        var source: String
        /// The key file's name in `~/.ssh`, nil for a key given in the request's `public_key` field.
        var keyFile: String?
    }

    static func open(user: String) -> Result<UserHome, StrategyFailure> {
        guard let pw = Passwd.lookup(user) else { return .failure(StrategyFailure("no such user \(user)")) }
        let homeFD = Glibc.open(pw.home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard homeFD >= 0 else { return .failure(StrategyFailure("cannot open the home directory \(pw.home) of \(user): \(errnoText())")) }
        defer { Glibc.close(homeFD) }
        let fd = openat(homeFD, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        let sshPath = pw.home + "/.ssh"
        guard fd >= 0 else {
            switch errno {
            case ENOENT: return .failure(StrategyFailure("\(user) has no \(sshPath) directory (make a key with ssh-keygen -t ed25519)"))
            case ELOOP, ENOTDIR: return .failure(StrategyFailure("\(sshPath) of \(user) is a symlink or not a directory: refused"))
            default: return .failure(StrategyFailure("cannot open \(sshPath): \(errnoText())"))
            }
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_uid == pw.uid else {
            Glibc.close(fd)
            return .failure(StrategyFailure("\(sshPath) is owned by uid \(st.st_uid), not by \(user) (uid \(pw.uid)): refused"))
        }
        return .success(UserHome(user: user, uid: pw.uid, gid: pw.gid, sshPath: sshPath, sshFD: fd))
    }

    func close() { Glibc.close(sshFD) }

    /// `~/.ssh/id_ed25519.pub`, else `~/.ssh/id_ecdsa.pub`, else the `public_key` field; the first that exists
    /// decides (a bad key file is an error, not a reason to try the next).
    func publicKey(field: String?) -> Result<PublicKey, StrategyFailure> {
        for name in SSHCertStrategy.keyFiles {
            let path = sshPath + "/" + name
            let fd = openat(sshFD, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT { continue }
                if errno == ELOOP { return .failure(StrategyFailure("\(path) is a symlink: refused")) }
                return .failure(StrategyFailure("cannot read \(path): \(errnoText())"))
            }
            defer { Glibc.close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return .failure(StrategyFailure("\(path) is not a regular file: refused")) }
            guard st.st_uid == uid else {
                return .failure(StrategyFailure("\(path) belongs to uid \(st.st_uid), not to \(user): refused (a key of another user)"))
            }
            guard st.st_size <= SSHCertStrategy.maxKeyBytes else { return .failure(StrategyFailure("\(path) is larger than a public key")) }
            var bytes = [UInt8](repeating: 0, count: SSHCertStrategy.maxKeyBytes + 1)
            let n = read(fd, &bytes, bytes.count)
            guard n >= 0 else { return .failure(StrategyFailure("cannot read \(path): \(errnoText())")) }
            switch SSHCertStrategy.parsePublicKey(String(decoding: bytes[0..<n], as: UTF8.self)) {
            case let .failure(f): return .failure(StrategyFailure("\(path): \(f.message)"))
            case let .success(line): return .success(PublicKey(line: line, source: path, keyFile: name))
            }
        }
        guard let field, !field.isEmpty else {
            return .failure(StrategyFailure("\(user) has neither \(sshPath)/id_ed25519.pub nor \(sshPath)/id_ecdsa.pub, and the request has no public_key field"))
        }
        return SSHCertStrategy.parsePublicKey(field).map { PublicKey(line: $0, source: "field public_key", keyFile: nil) }
            .mapError { StrategyFailure("field public_key: \($0.message)") }
    }

    /// `id_ed25519.pub` → `id_ed25519-cert.pub`, where ssh looks for the key's certificate by itself.
    static func certificateName(for key: PublicKey) -> String {
        key.keyFile.map { String($0.dropLast(4)) + "-cert.pub" } ?? SSHCertStrategy.fieldCertificateName
    }

    func certificatePath(for key: PublicKey) -> String { sshPath + "/" + Self.certificateName(for: key) }

    /// Writes the certificate beside a temporary name in `~/.ssh`, owned by the user, and renames it into place.
    func install(certificate: String, for key: PublicKey) -> StrategyFailure? {
        let name = Self.certificateName(for: key)
        var st = stat()
        if fstatat(sshFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT != S_IFREG {
            return StrategyFailure("\(sshPath)/\(name) is a symlink or not a regular file: refused")
        }
        let temp = ".\(name).symtui-\(UInt32.random(in: 0...UInt32.max))"
        let fd = openat(sshFD, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return StrategyFailure("cannot write in \(sshPath): \(errnoText())") }
        let bytes = Array(certificate.utf8)
        let ok = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress!, $0.count) } == bytes.count
            && fchown(fd, uid, gid) == 0 && fchmod(fd, 0o644) == 0 && fsync(fd) == 0
        let problem = errnoText()
        Glibc.close(fd)
        guard ok, renameat(sshFD, temp, sshFD, name) == 0 else {
            let why = ok ? errnoText() : problem
            unlinkat(sshFD, temp, 0)
            return StrategyFailure("cannot install \(sshPath)/\(name): \(why)")
        }
        return nil
    }

    /// Removes the certificate file at `path` if it still holds `expected` (a newer grant's certificate is kept).
    /// True when it is gone (removed now, or already).
    static func removeCertificate(user: String, path: String, ifContains expected: String?) -> Bool {
        guard case let .success(home) = open(user: user) else { return false }
        defer { home.close() }
        let name = (path as NSString).lastPathComponent
        guard path == home.sshPath + "/" + name else { return false }
        let fd = openat(home.sshFD, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return errno == ENOENT }
        var bytes = [UInt8](repeating: 0, count: 65_536)
        let n = read(fd, &bytes, bytes.count)
        Glibc.close(fd)
        guard let expected, n >= 0, String(decoding: bytes[0..<n], as: UTF8.self) == expected else { return false }
        return unlinkat(home.sshFD, name, 0) == 0
    }
}

/// The certificates one `issued_dir` knows: `SERIAL.json` (who, which grant, valid when) and `SERIAL-cert.pub`
/// (a copy, to ask the KRL about). Root only; entries are kept until their certificate has expired.
struct IssuedCertificates {
    let dir: String

    struct Record: Codable, Equatable {
        var serial: UInt64
        var grant: Int64
        var user: String
        var strategy: String
        var target: String
        var keyID: String
        var validAfter: Double
        var validBefore: Double
        var certificatePath: String
        /// `revoked` or `expired` once the grant has ended.
        var ended: String?
    }

    static func open(_ dir: String, create: Bool = true) -> Result<IssuedCertificates, StrategyFailure> {
        if create {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                return .failure(StrategyFailure("cannot create issued_dir \(dir): \(error.localizedDescription)"))
            }
        }
        var st = stat()
        guard lstat(dir, &st) == 0 else {
            if errno == ENOENT && !create { return .success(IssuedCertificates(dir: dir)) }
            return .failure(StrategyFailure("issued_dir \(dir): \(errnoText())"))
        }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
            return .failure(StrategyFailure("issued_dir \(dir) must be a directory owned by uid \(geteuid()) that nobody else may write"))
        }
        return .success(IssuedCertificates(dir: dir))
    }

    private func path(_ serial: UInt64, _ suffix: String) -> String { dir + "/\(serial)" + suffix }

    /// Signs `keyLine` in a private scratch directory with the argv `arguments(publicKeyPath)`; the certificate's text.
    func sign(_ keyLine: String, arguments: (String) -> [String]) -> Result<String, StrategyFailure> {
        guard let work = makeTempDirectory(in: dir) else { return .failure(StrategyFailure("cannot make a directory in \(dir): \(errnoText())")) }
        defer { try? FileManager.default.removeItem(atPath: work) }
        let keyPath = work + "/key.pub"
        guard FileManager.default.createFile(atPath: keyPath, contents: Data((keyLine + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            return .failure(StrategyFailure("cannot write \(keyPath)"))
        }
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: SSHCertStrategy.sshKeygen, arguments: arguments(keyPath),
                                           environment: StrategyEnvironment.base, timeout: SSHCertStrategy.timeout)
        } catch {
            return .failure(StrategyFailure("\(error)"))
        }
        guard result.succeeded else { return .failure(StrategyFailure("ssh-keygen -s \(result.summary)")) }
        guard let cert = try? String(contentsOfFile: work + "/key-cert.pub", encoding: .utf8), !cert.isEmpty else {
            return .failure(StrategyFailure("ssh-keygen -s succeeded but wrote no certificate"))
        }
        return .success(cert)
    }

    func save(_ r: Record, certificate: String?) -> StrategyFailure? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? encoder.encode(r) else { return StrategyFailure("cannot encode the record of serial \(r.serial)") }
        if let certificate, let f = writeAtomically(path(r.serial, "-cert.pub"), Data(certificate.utf8), mode: 0o600) { return f }
        return writeAtomically(path(r.serial, ".json"), json, mode: 0o600)
    }

    func records() -> [Record] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.compactMap { name in
            FileManager.default.contents(atPath: dir + "/" + name).flatMap { try? JSONDecoder().decode(Record.self, from: $0) }
        }.sorted { $0.serial < $1.serial }
    }

    func certificate(_ serial: UInt64) -> String? { try? String(contentsOfFile: path(serial, "-cert.pub"), encoding: .utf8) }

    /// Forgets certificates that expired more than an hour ago: nothing can use them any more.
    func prune(now: Date = Date()) {
        for r in records() where r.validBefore < now.timeIntervalSince1970 - 3600 {
            unlink(path(r.serial, ".json"))
            unlink(path(r.serial, "-cert.pub"))
        }
    }

    /// Adds the grants' serial ranges to the KRL: the current KRL is updated in a scratch copy with
    /// `ssh-keygen -k -u`, then renamed over the old one; afterwards each of `serials` must test as revoked.
    func revoke(grants: [Int64], verifying serials: [UInt64], krl: String, caKey: String) -> StrategyFailure? {
        SSHCertStrategy.krlLocks.withLock(krl) {
            let lockFD = Glibc.open(dir + "/.krl.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard lockFD >= 0 else { return StrategyFailure("cannot open \(dir)/.krl.lock: \(errnoText())") }
            defer { Glibc.close(lockFD) }
            guard flock(lockFD, LOCK_EX) == 0 else { return StrategyFailure("cannot lock \(dir)/.krl.lock: \(errnoText())") }
            guard let work = makeTempDirectory(in: dir) else { return StrategyFailure("cannot make a directory in \(dir): \(errnoText())") }
            defer { try? FileManager.default.removeItem(atPath: work) }

            let caPub: ProcessResult
            do {
                caPub = try ProcessRunner.run(path: SSHCertStrategy.sshKeygen, arguments: ["-y", "-f", caKey],
                                              environment: StrategyEnvironment.base, timeout: SSHCertStrategy.timeout)
            } catch { return StrategyFailure("\(error)") }
            guard caPub.succeeded, !caPub.stdout.isEmpty else { return StrategyFailure("ssh-keygen -y (the CA's public key) \(caPub.summary)") }
            let fm = FileManager.default
            guard fm.createFile(atPath: work + "/ca.pub", contents: caPub.stdout),
                  fm.createFile(atPath: work + "/spec", contents: Data(SSHCertStrategy.krlSpec(grants: grants).utf8)) else {
                return StrategyFailure("cannot write in \(work)")
            }
            var args = ["-k", "-f", work + "/krl", "-s", work + "/ca.pub"]
            switch readNoFollow(krl) {
            case let .success(existing?):
                guard fm.createFile(atPath: work + "/krl", contents: existing) else { return StrategyFailure("cannot copy the KRL") }
                args.insert("-u", at: 1)
            case .success(nil): break
            case let .failure(f): return f
            }
            let made: ProcessResult
            do {
                made = try ProcessRunner.run(path: SSHCertStrategy.sshKeygen, arguments: args + [work + "/spec"],
                                             environment: StrategyEnvironment.base, timeout: SSHCertStrategy.timeout)
            } catch { return StrategyFailure("\(error)") }
            guard made.succeeded, let bytes = fm.contents(atPath: work + "/krl") else { return StrategyFailure("ssh-keygen -k \(made.summary)") }
            if let f = writeAtomically(krl, bytes, mode: 0o644) { return f }
            for serial in serials {
                switch isRevoked(serial, krl: krl) {
                case let .failure(f): return f
                case .success(false): return StrategyFailure("serial \(serial) is not revoked by \(krl) after the update")
                case .success(true): continue
                }
            }
            return nil
        }
    }

    /// Whether the KRL revokes the certificate of this serial (`ssh-keygen -Q`); a missing KRL revokes nothing.
    func isRevoked(_ serial: UInt64, krl: String) -> Result<Bool, StrategyFailure> {
        if access(krl, F_OK) != 0 && errno == ENOENT { return .success(false) }
        let cert = path(serial, "-cert.pub")
        guard access(cert, R_OK) == 0 else { return .failure(StrategyFailure("the copy of certificate \(serial) is missing from \(dir)")) }
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: SSHCertStrategy.sshKeygen, arguments: ["-Q", "-f", krl, cert],
                                           environment: StrategyEnvironment.base, timeout: SSHCertStrategy.timeout)
        } catch { return .failure(StrategyFailure("\(error)")) }
        let out = String(decoding: result.stdout, as: UTF8.self)
        if result.exitCode == 0 { return .success(false) }
        if result.exitCode == 1 && out.contains("REVOKED") { return .success(true) }
        return .failure(StrategyFailure("ssh-keygen -Q -f \(krl) \(result.summary)"))
    }
}

// MARK: - Small file helpers

private func errnoText() -> String { String(cString: strerror(errno)) }

/// A new directory `DIR/.symtui-XXXXXX` (0700), or nil.
func makeTempDirectory(in dir: String) -> String? {
    var template = Array((dir + "/.symtui-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { return nil }
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The file's bytes, nil when it does not exist; a symlink is refused.
func readNoFollow(_ path: String) -> Result<Data?, StrategyFailure> {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else {
        if errno == ENOENT { return .success(nil) }
        return .failure(StrategyFailure("cannot read \(path): \(errnoText())\(errno == ELOOP ? " (a symlink)" : "")"))
    }
    defer { close(fd) }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 { if errno == EINTR { continue }; return .failure(StrategyFailure("cannot read \(path): \(errnoText())")) }
        if n == 0 { break }
        data.append(contentsOf: buffer[0..<n])
    }
    return .success(data)
}

/// Writes beside the final name (mkstemp, so never through a planted file), fsyncs, renames over, fsyncs the directory.
func writeAtomically(_ path: String, _ data: Data, mode: mode_t) -> StrategyFailure? {
    let dir = (path as NSString).deletingLastPathComponent
    let base = (path as NSString).lastPathComponent
    var template = Array((dir + "/." + base + ".symtui-XXXXXX").utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { return StrategyFailure("cannot create a file in \(dir): \(errnoText())") }
    let temp = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let bytes = [UInt8](data)
    let ok = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) } == bytes.count && fchmod(fd, mode) == 0 && fsync(fd) == 0
    let why = errnoText()
    close(fd)
    guard ok, rename(temp, path) == 0 else {
        let reason = ok ? errnoText() : why
        unlink(temp)
        return StrategyFailure("cannot write \(path): \(reason)")
    }
    let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 { fsync(dfd); close(dfd) }
    return nil
}

/// A user's entry in the password database, read through NSS.
enum Passwd {
    struct Entry { var uid: uid_t; var gid: gid_t; var home: String }

    static func lookup(_ user: String) -> Entry? {
        var size = 16_384
        while size <= 1 << 20 {
            var pw = passwd()
            var found: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: size)
            let rc = getpwnam_r(user, &pw, &buffer, size, &found)
            if rc == ERANGE { size *= 4; continue }
            guard rc == 0, found != nil else { return nil }
            return Entry(uid: pw.pw_uid, gid: pw.pw_gid, home: String(cString: pw.pw_dir))
        }
        return nil
    }
}
