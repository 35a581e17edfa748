import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The SDK directory could not be written.
public struct SDKInstallError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "cannot install the handler SDK at \(path): \(message)" }
}

extension EmbeddedSDK {
    /// Writes the SDK packages (`symtui_sdk/`, and `sym/` for Sym's module names) into `dir` (directories created
    /// 0755 if absent; files 0644, each replaced atomically so a running handler never sees half a file) and returns
    /// the directory to put on the handler's sys.path. Refuses a `dir` (or a package directory in it) that is a link,
    /// is not ours, or that someone else can write, and a `dir` whose parent directories others can write.
    @discardableResult
    public static func install(into dir: String) throws -> String {
        let root = URL(fileURLWithPath: dir).standardizedFileURL.path
        // Every directory that holds an SDK file, parents first ("sym" < "sym/sdk" < "sym/sdk/integrations").
        let directories = Set(files.keys.map { ($0 as NSString).deletingLastPathComponent }).sorted()
        // Handlers run the SDK with the daemon's privileges: nobody else may be able to change it or what holds it.
        if let problem = TrustedPath.parentProblem(of: root) { throw SDKInstallError(path: root, message: problem) }
        do {
            try FileManager.default.createDirectory(atPath: (root as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw SDKInstallError(path: root, message: error.localizedDescription)
        }
        for d in [root] + directories.map({ root + "/" + $0 }) { try makePrivateDirectory(d) }
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let path = root + "/" + name
            if FileManager.default.contents(atPath: path) == Data(text.utf8) {
                _ = chmod(path, 0o644)
                continue
            }
            try writeAtomically(Data(text.utf8), to: path)
        }
        // A module left over from another version must not be importable.
        for directory in directories {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + directory)) ?? []
            where name.hasSuffix(".py") && files[directory + "/" + name] == nil {
                try? FileManager.default.removeItem(atPath: root + "/" + directory + "/" + name)
            }
        }
        return root
    }

    /// Creates `path` 0755, or accepts it when it already is a real directory (not a link) of ours that only we write.
    static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw SDKInstallError(path: path, message: String(cString: strerror(errno)))
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SDKInstallError(path: path, message: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw SDKInstallError(path: path, message: "it is not a directory (a symbolic link or a file is refused)")
        }
        guard info.st_uid == geteuid() else {
            throw SDKInstallError(path: path, message: "it is owned by uid \(info.st_uid), not by this process (uid \(geteuid())); remove it")
        }
        if info.st_mode & (S_IWGRP | S_IWOTH) != 0 {
            throw SDKInstallError(path: path, message: "it is writable by group or others (chmod go-w \(path))")
        }
    }

    private static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw SDKInstallError(path: temporary, message: String(cString: strerror(errno))) }
        var ok = fchmod(fd, 0o644) == 0
        data.withUnsafeBytes { bytes in
            var offset = 0
            while ok && offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { ok = false }
            }
        }
        let savedErrno = errno
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let message = String(cString: strerror(ok ? errno : savedErrno))
            unlink(temporary)
            throw SDKInstallError(path: path, message: message)
        }
    }
}
