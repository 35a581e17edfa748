import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import SymModel
import SymProtocol
import SymStore

/// A destination that could not take a batch; the batch is retried, never dropped.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Somewhere audit events are shipped to. `deliver` returns only when the whole batch was accepted.
protocol ReportingDestination: AnyObject {
    var key: String { get }
    var batchSize: Int { get }
    func deliver(_ events: [AuditEvent]) throws
    func close()
}

/// Builds destinations from `reporting.destinations` and names them for the `delivery` table.
public enum ReportingDestinations {
    public static let types = ["jsonl", "syslog", "http", "command"]

    /// The cursor key: `TYPE:PATH-OR-URL` (an http URL without credentials or query, which may hold secrets).
    public static func key(for d: Destination) -> String {
        switch d.type {
        case "jsonl", "command": return "\(d.type):\(d.settings["path"]?.stringValue ?? "")"
        case "syslog": return "syslog:\(d.settings["socket"]?.stringValue ?? SyslogDestination.defaultSocket)"
        case "http":
            let url = d.settings["url"]?.stringValue ?? ""
            return "http:" + (URL(string: url).map(HTTPStrategy.redacted) ?? url)
        default: return "\(d.type):?"
        }
    }

    /// What is wrong with a destination's settings, if anything.
    public static func problem(with d: Destination) -> String? {
        if case .failure(let e) = make(d) { return e.message }
        return nil
    }

    static func make(_ d: Destination) -> Result<any ReportingDestination, DeliveryError> {
        let key = key(for: d)
        let s = d.settings
        let batch = Int(s["batch_size"]?.intValue ?? 100)
        guard batch >= 1 else { return .failure(DeliveryError("\(key): batch_size must be at least 1")) }
        switch d.type {
        case "jsonl":
            guard let path = s["path"]?.stringValue, path.hasPrefix("/") else {
                return .failure(DeliveryError("jsonl destination needs an absolute `path`"))
            }
            return .success(JSONLDestination(key: key, path: path, batchSize: batch))
        case "syslog":
            let socket = s["socket"]?.stringValue ?? SyslogDestination.defaultSocket
            guard socket.hasPrefix("/") else { return .failure(DeliveryError("syslog `socket` must be an absolute path")) }
            let app = s["app_name"]?.stringValue ?? "symtui"
            return Result { try SyslogDestination(key: key, socketPath: socket, appName: app, batchSize: batch) }
                .mapError { ($0 as? DeliveryError) ?? DeliveryError("\($0)") }
        case "http":
            guard let text = s["url"]?.stringValue, let url = URL(string: text),
                  let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
                return .failure(DeliveryError("http destination needs an http(s) `url`"))
            }
            var headers: [String: String] = [:]
            for (name, value) in s["headers"]?.objectValue ?? [] { if let v = value.stringValue { headers[name] = v } }
            return .success(HTTPDestination(key: key, url: url, headers: headers, batchSize: batch,
                                            timeout: StrategyText.seconds(s, "timeout", default: 10)))
        case "command":
            guard let path = s["path"]?.stringValue, path.hasPrefix("/") else {
                return .failure(DeliveryError("command destination needs an absolute `path`"))
            }
            let args = s["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return .success(CommandDestination(key: key, path: path, arguments: args, batchSize: batch,
                                               timeout: StrategyText.seconds(s, "timeout", default: 30)))
        default:
            return .failure(DeliveryError("unknown destination type '\(d.type)' (one of \(types.joined(separator: ", ")))"))
        }
    }
}

private func errnoText() -> String { String(cString: strerror(errno)) }

// MARK: jsonl

/// Appends one JSON line per event and fsyncs; follows rotation (a renamed or deleted file is replaced by a new one).
final class JSONLDestination: ReportingDestination {
    let key: String
    let path: String
    let batchSize: Int
    private var fd: Int32 = -1
    private var identity: (dev_t, ino_t) = (0, 0)

    init(key: String, path: String, batchSize: Int) { self.key = key; self.path = path; self.batchSize = batchSize }
    deinit { close() }

    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }

    /// Reopens when the file at `path` is no longer the one we hold (rotated away or missing).
    private func openIfNeeded() throws {
        if fd >= 0 {
            var st = stat()
            if stat(path, &st) != 0 || st.st_dev != identity.0 || st.st_ino != identity.1 { close() }
        }
        guard fd < 0 else { return }
        // The daemon writes this file as root: a link put in its place, or a directory someone else can change,
        // would let them aim those writes at any file.
        if let problem = TrustedPath.parentProblem(of: path) {
            throw DeliveryError("jsonl: refusing \(path): \(problem)")
        }
        let created = access(path, F_OK) != 0
        let f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0o640)
        guard f >= 0 else {
            let why = errno == ELOOP ? "it is a symbolic link" : errnoText()
            throw DeliveryError("jsonl: cannot open \(path): \(why)")
        }
        var st = stat()
        fstat(f, &st)
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == 0 || st.st_uid == geteuid() else {
            Glibc.close(f)
            throw DeliveryError("jsonl: refusing \(path): not a regular file owned by root or the daemon's user")
        }
        fd = f
        identity = (st.st_dev, st.st_ino)
        if created {
            // Make the new name durable too.
            let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_CLOEXEC)
            if dir >= 0 { fsync(dir); Glibc.close(dir) }
        }
    }

    func deliver(_ events: [AuditEvent]) throws {
        try openIfNeeded()
        var text = ""
        for e in events { text += AuditExport.jsonlLine(e); text += "\n" }
        var st = stat()
        fstat(fd, &st)
        let before = st.st_size
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                let message = errnoText()
                // Never leave half a batch (half a line) behind: the retry writes it whole.
                _ = ftruncate(fd, before)
                throw DeliveryError("jsonl: write \(path): \(message)")
            }
            off += n
        }
        guard fsync(fd) == 0 else { throw DeliveryError("jsonl: fsync \(path): \(errnoText())") }
    }
}

// MARK: syslog

/// RFC 5424 messages, one datagram per event, to a Unix datagram socket (`/dev/log`).
final class SyslogDestination: ReportingDestination {
    static let defaultSocket = "/dev/log"
    /// Facility authpriv (10): access decisions are security records.
    static let facility = 10
    let key: String
    let socketPath: String
    let appName: String
    let batchSize: Int
    let hostname: String
    private var fd: Int32 = -1

    init(key: String, socketPath: String, appName: String, batchSize: Int) throws {
        self.key = key; self.socketPath = socketPath; self.batchSize = batchSize
        let cleanApp = String(appName.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7F }.prefix(48).map(Character.init))
        self.appName = cleanApp.isEmpty ? "symtui" : cleanApp
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        let host = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7F }
        hostname = host.isEmpty ? "-" : String(String.UnicodeScalarView(host))
        guard socketPath.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw DeliveryError("syslog: socket path too long: \(socketPath)")
        }
    }

    deinit { close() }
    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }

    /// `<PRI>1 TIMESTAMP HOST APP - - [symtui@32473 seq="N" type="…" request="…" hash="…"] JSON`
    func message(_ e: AuditEvent) -> String {
        let severity = e.type == .escalateFailed || e.type == .deescalateFailed ? 4 : 6
        var sd = "[symtui@32473 seq=\"\(e.seq)\" type=\"\(Self.sdEscape(e.type.rawValue))\""
        if let r = e.requestId { sd += " request=\"\(r)\"" }
        sd += " hash=\"\(Self.sdEscape(e.hash))\"]"
        return "<\(Self.facility * 8 + severity)>1 \(Timestamp.format(e.time)) \(hostname) \(appName) - - \(sd) \(AuditExport.jsonlLine(e))"
    }

    static func sdEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "]", with: "\\]")
    }

    func deliver(_ events: [AuditEvent]) throws {
        if fd < 0 {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw DeliveryError("syslog: socket: \(errnoText())") }
            // A receiver that stops reading must not hang the worker: fail and retry instead.
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            p.copyBytes(from: pathBytes)
            p[pathBytes.count] = 0
        }
        for e in events {
            let bytes = Array(message(e).utf8)
            while true {
                let n = withUnsafePointer(to: &addr) { a in
                    a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        bytes.withUnsafeBufferPointer { sendto(fd, $0.baseAddress, $0.count, 0, sa, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                    }
                }
                if n >= 0 { break }
                if errno == EINTR { continue }
                throw DeliveryError("syslog: \(socketPath): \(errnoText())")
            }
        }
    }
}

// MARK: http

/// POSTs each batch as a JSON array; a 2xx answer acknowledges it.
final class HTTPDestination: ReportingDestination {
    let key: String
    let url: URL
    let headers: [String: String]
    let batchSize: Int
    let timeout: TimeInterval
    private let session: URLSession

    init(key: String, url: URL, headers: [String: String], batchSize: Int, timeout: TimeInterval) {
        self.key = key; self.url = url; self.headers = headers; self.batchSize = batchSize; self.timeout = timeout
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: config)
    }

    func close() { session.invalidateAndCancel() }

    static func body(_ events: [AuditEvent]) -> Data {
        Data(("[" + events.map(AuditExport.jsonlLine).joined(separator: ",") + "]").utf8)
    }

    func deliver(_ events: [AuditEvent]) throws {
        let shown = HTTPStrategy.redacted(url)
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("symtui", forHTTPHeaderField: "User-Agent")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = Self.body(events)
        let box = HTTPAnswer()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            box.set((response as? HTTPURLResponse)?.statusCode, data, error.map { HTTPStrategy.describe($0) })
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 5) == .timedOut {
            task.cancel()
            throw DeliveryError("http: \(shown): no answer within \(Int(timeout)) s")
        }
        let (status, data, error) = box.get()
        if let error { throw DeliveryError("http: \(shown): \(error)") }
        guard let status else { throw DeliveryError("http: \(shown): the answer is not HTTP") }
        guard (200...299).contains(status) else {
            let text = String(decoding: (data ?? Data()).prefix(200), as: UTF8.self)
            throw DeliveryError("http: HTTP \(status) from \(shown)" + (text.isEmpty ? "" : ": \(SafeText.display(text))"))
        }
    }
}

/// Carries a completion handler's values back to the waiting worker.
private final class HTTPAnswer: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Int?, Data?, String?) = (nil, nil, nil)
    func set(_ status: Int?, _ data: Data?, _ error: String?) { lock.withLock { value = (status, data, error) } }
    func get() -> (Int?, Data?, String?) { lock.withLock { value } }
}

// MARK: command

/// Runs a program with the batch as JSON Lines on stdin; exit 0 acknowledges it.
final class CommandDestination: ReportingDestination {
    let key: String
    let path: String
    let arguments: [String]
    let batchSize: Int
    let timeout: TimeInterval

    init(key: String, path: String, arguments: [String], batchSize: Int, timeout: TimeInterval) {
        self.key = key; self.path = path; self.arguments = arguments; self.batchSize = batchSize; self.timeout = timeout
    }

    func close() {}

    func deliver(_ events: [AuditEvent]) throws {
        let input = events.map { AuditExport.jsonlLine($0) + "\n" }.joined()
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: path, arguments: arguments, environment: StrategyEnvironment.base,
                                           stdin: Data(input.utf8), timeout: timeout, workingDirectory: "/")
        } catch {
            throw DeliveryError("command: \(error)")
        }
        guard result.succeeded else { throw DeliveryError("command: \(path): \(SafeText.display(result.summary))") }
    }
}
