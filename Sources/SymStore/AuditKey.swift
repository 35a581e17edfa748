import Foundation
import SymModel
#if canImport(Glibc)
import Glibc
#endif

/// The key that signs the audit chain (`reporting.hmac_key_file`): 32 to 4,096 bytes of secret, e.g. made with
/// `head -c 32 /dev/urandom > /etc/symtui/audit.key && chmod 0400 /etc/symtui/audit.key`.
public enum AuditKey {
    /// Reads a key file. The daemon (`private: true`) accepts only a regular file it owns that no one else may read
    /// or write; a verifier only needs to be able to read it.
    public static func load(path: String, private mustBePrivate: Bool) throws -> HMACSHA256 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let code: Int32 = errno == ENOENT ? 66 : errno == EACCES ? 77 : 74
            throw AuditKeyError(code, "hmac key \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw AuditKeyError(65, "hmac key \(path): not a regular file")
        }
        if mustBePrivate {
            guard st.st_uid == geteuid() else {
                throw AuditKeyError(65, "hmac key \(path): must be owned by the daemon's user (uid \(geteuid())), not uid \(st.st_uid)")
            }
            guard st.st_mode & 0o077 == 0 else {
                throw AuditKeyError(65, "hmac key \(path): mode \(String(st.st_mode & 0o777, radix: 8)) lets others read or "
                                   + "change it; chmod 0400 it")
            }
        }
        var bytes = [UInt8](repeating: 0, count: 4097)
        let n = read(fd, &bytes, bytes.count)
        guard n >= 32, n <= 4096 else {
            throw AuditKeyError(65, "hmac key \(path): \(max(n, 0)) bytes; a key has 32 to 4096 bytes "
                               + "(head -c 32 /dev/urandom > \(path))")
        }
        return HMACSHA256(key: Array(bytes[0..<n]))
    }
}

/// Why a key file cannot be used, with the exit code (sysexits) the CLI gives for it.
public struct AuditKeyError: Error, Sendable, CustomStringConvertible {
    public var exitCode: Int32
    public var message: String
    public init(_ exitCode: Int32, _ message: String) { self.exitCode = exitCode; self.message = message }
    public var description: String { message }
}
