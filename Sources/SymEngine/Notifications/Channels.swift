import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SymModel
import SymStore
#if canImport(Glibc)
import Glibc
#endif

/// What became of one delivery that did not fail: done, or skipped for a reason worth a log line.
enum DeliveryResult: Equatable {
    case delivered
    /// Nothing to send (a recipient with no address or terminal, a kind the channel does not carry).
    case skipped(String)
}

/// Delivers one queued notification on one channel. Throws `DeliveryError` to be retried.
protocol NotificationSender {
    func deliver(_ item: OutboxItem, notification: JSONValue) throws -> DeliveryResult
}

enum NotificationSenders {
    static func make(_ c: Channel, settings: Notifications) -> any NotificationSender {
        switch c.type {
        case .command: CommandSender(channel: c)
        case .http: HTTPSender(channel: c)
        case .tty: TTYSender()
        case .email: EmailSender(channel: c, settings: settings)
        }
    }

    /// Text from the store made safe for a terminal, a header or a chat line: one line, no controls, clipped.
    static func line(_ text: String, max: Int = 400) -> String {
        let flat = SafeText.display(text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " "))
        return flat.count > max ? String(flat.prefix(max - 1)) + "…" : flat
    }

    static var hostName: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        // Used in headers, addresses and payloads: only what a host name may hold.
        let h = String(cString: buf).filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }
        return h.isEmpty ? "localhost" : h
    }
}

// MARK: command

/// Runs the channel's program with the notification JSON on stdin; exit 0 = delivered.
struct CommandSender: NotificationSender {
    let channel: Channel
    func deliver(_ item: OutboxItem, notification: JSONValue) throws -> DeliveryResult {
        guard let path = channel.command else { throw DeliveryError("command: no program configured") }
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: path, environment: ["PATH": "/usr/bin:/bin", "SYMTUI_NOTIFICATION_KIND": item.kind],
                                           stdin: Data((notification.compact + "\n").utf8), timeout: TimeInterval(channel.timeout),
                                           maxOutput: 64 << 10)
        } catch { throw DeliveryError("command: \(error)") }
        guard result.succeeded else { throw DeliveryError("command \(path): \(result.summary)") }
        return .delivered
    }
}

// MARK: http

/// POSTs the notification in the channel's format.
struct HTTPSender: NotificationSender {
    let channel: Channel

    func deliver(_ item: OutboxItem, notification: JSONValue) throws -> DeliveryResult {
        guard let text = channel.url, let url = URL(string: text) else { throw DeliveryError("http: no url configured") }
        var key: String?
        if channel.format == .pagerduty {
            guard let file = channel.routingKeyFile else { throw DeliveryError("pagerduty: no routing_key_file") }
            key = try Self.readKey(file)
        }
        if channel.format == .pagerduty, item.kind == "test" {
            // A test opens an incident and resolves it at once: both halves of the integration are checked.
            let dedup = "symtui-test-\(UUID().uuidString.lowercased())"
            try post(.obj([("routing_key", .str(key)), ("event_action", .string("trigger")), ("dedup_key", .string(dedup)),
                           ("payload", .obj([("summary", .string(NotificationSenders.line(notification["text"]?.stringValue ?? "symtui test"))),
                                             ("source", .string(NotificationSenders.hostName)), ("severity", .string("info"))]))]), to: url)
            try post(.obj([("routing_key", .str(key)), ("event_action", .string("resolve")), ("dedup_key", .string(dedup))]), to: url)
            return .delivered
        }
        guard let body = Self.body(channel.format, notification: notification, routingKey: key) else {
            return .skipped("format \(channel.format.rawValue) carries no \(item.kind) notifications")
        }
        try post(body, to: url)
        return .delivered
    }

    /// The routing key, first line of the file; the error never shows its content.
    static func readKey(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw DeliveryError("pagerduty: cannot read routing_key_file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { throw DeliveryError("pagerduty: routing_key_file \(path) is empty") }
        let key = String(decoding: buf[0..<n], as: UTF8.self).split(whereSeparator: \.isNewline).first
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw DeliveryError("pagerduty: routing_key_file \(path) does not hold a routing key (letters and digits on its first line)")
        }
        return key
    }

    /// Slack and Mattermost read `&`, `<` and `>` as markup (`<!channel>` pings everyone): escaped as their docs ask.
    static func chatEscaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The body to POST, or nil when this format has nothing to say about the kind.
    static func body(_ format: Channel.Format, notification n: JSONValue, routingKey: String?) -> JSONValue? {
        let text = NotificationSenders.line(n["text"]?.stringValue ?? "", max: 1000)
        let action = n["action"]?.stringValue.map { NotificationSenders.line($0) }
        let kind = n["kind"]?.stringValue ?? ""
        let id = n["request"]?["id"]?.intValue ?? 0
        switch format {
        case .json:
            return n
        case .slack:
            let line = chatEscaped(text) + (action.map { "\n`\(chatEscaped($0))`" } ?? "")
            return .obj([("text", .string(line))])
        case .mattermost:
            let line = chatEscaped(text) + (action.map { "\n`\(chatEscaped($0))`" } ?? "")
            return .obj([("text", .string(line)), ("username", .string("symtui"))])
        case .teams:
            var card: [(String, JSONValue?)] = [
                ("@type", .string("MessageCard")), ("@context", .string("https://schema.org/extensions")),
                ("summary", .string(String(text.prefix(120)))), ("title", .string("SymTUI: \(kind)")), ("text", .string(text)),
            ]
            if let action { card.append(("sections", .array([.obj([("text", .string(action))])]))) }
            return .obj(card)
        case .pagerduty:
            let dedup = "symtui-request-\(id)"
            switch kind {
            case "request", "reminder", "forward", "break_glass":
                return .obj([
                    ("routing_key", .str(routingKey)), ("event_action", .string("trigger")), ("dedup_key", .string(dedup)),
                    ("payload", .obj([
                        ("summary", .string(String(text.prefix(1024)))), ("source", .string(NotificationSenders.hostName)),
                        ("severity", .string(kind == "break_glass" ? "critical" : "warning")),
                        ("component", .str(n["request"]?["flow"]?.stringValue)), ("class", .string(kind)),
                        ("custom_details", .obj([("request", n["request"] ?? .null), ("action", .str(action))])),
                    ])),
                ])
            case "decision":
                return .obj([("routing_key", .str(routingKey)), ("event_action", .string("resolve")), ("dedup_key", .string(dedup))])
            default:
                return nil
            }
        }
    }

    private func post(_ body: JSONValue, to url: URL) throws {
        let shown = HTTPStrategy.redacted(url)
        let timeout = TimeInterval(channel.timeout)
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("symtui", forHTTPHeaderField: "User-Agent")
        request.httpBody = Data(body.compact.utf8)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: config)
        defer { session.finishTasksAndInvalidate() }
        let box = PostAnswer()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { _, response, error in
            box.set((response as? HTTPURLResponse)?.statusCode, error.map { HTTPStrategy.describe($0) })
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 2) == .timedOut {
            task.cancel()
            throw DeliveryError("http: \(shown): no answer within \(Int(timeout)) s")
        }
        let (status, error) = box.get()
        if let error { throw DeliveryError("http: \(shown): \(error)") }
        guard let status else { throw DeliveryError("http: \(shown): the answer is not HTTP") }
        guard (200...299).contains(status) else { throw DeliveryError("http: \(shown): HTTP \(status)") }
    }
}

private final class PostAnswer: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Int?, String?) = (nil, nil)
    func set(_ status: Int?, _ error: String?) { lock.withLock { value = (status, error) } }
    func get() -> (Int?, String?) { lock.withLock { value } }
}

// MARK: tty

/// A write(1)-style line on every terminal where the recipient is logged in (from utmp), and on no other.
struct TTYSender: NotificationSender {
    var utmpPath = "/run/utmp"

    func deliver(_ item: OutboxItem, notification: JSONValue) throws -> DeliveryResult {
        let user = item.recipient
        guard let pw = getpwnam(user) else { return .skipped("\(user): no such user") }
        let uid = pw.pointee.pw_uid
        let text = NotificationSenders.line(notification["text"]?.stringValue ?? "")
        let action = notification["action"]?.stringValue.map { " — " + NotificationSenders.line($0, max: 80) } ?? ""
        let message = Array("\r\n\u{07}[symtui] \(text)\(action)\r\n".utf8)
        let lines = Terminals.lines(of: user, utmpPath: utmpPath)
        guard !lines.isEmpty else { return .skipped("\(user) is not logged in on any terminal") }
        var wrote = 0, refused: [String] = []
        for line in lines {
            switch Terminals.write(message, toLine: line, owner: uid) {
            case .written: wrote += 1
            case let .refused(why): refused.append("\(line): \(why)")
            }
        }
        return wrote > 0 ? .delivered : .skipped("\(user): no terminal took the line (" + refused.joined(separator: "; ") + ")")
    }
}

/// Reading utmp and writing to a terminal without ever blocking or following a link.
enum Terminals {
    enum Outcome: Equatable { case written, refused(String) }

    /// The tty lines (`pts/3`) of `user`'s login sessions; none when utmp is missing.
    static func lines(of user: String, utmpPath: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: utmpPath) else { return [] }
        let size = MemoryLayout<utmp>.size
        var out: [String] = []
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset + size <= raw.count {
                var entry = utmp()
                withUnsafeMutableBytes(of: &entry) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size])) }
                offset += size
                guard entry.ut_type == USER_PROCESS, entry.ut_pid > 0, kill(entry.ut_pid, 0) == 0 || errno == EPERM else { continue }
                let name = withUnsafeBytes(of: entry.ut_user) { fixed($0) }
                let line = withUnsafeBytes(of: entry.ut_line) { fixed($0) }
                if name == user, !line.isEmpty, !line.contains(".."), !out.contains(line) { out.append(line) }
            }
        }
        return out
    }

    private static func fixed(_ bytes: UnsafeRawBufferPointer) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// Writes to /dev/LINE only when it is a terminal owned by `owner` that accepts messages (group-writable, as `mesg y`
    /// leaves it); opened non-blocking, so a stalled terminal loses the line instead of holding the channel.
    static func write(_ bytes: [UInt8], toLine line: String, owner: uid_t) -> Outcome {
        let path = "/dev/" + line
        var st = stat()
        guard lstat(path, &st) == 0 else { return .refused("cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFCHR else { return .refused("not a character device") }
        guard st.st_uid == owner else { return .refused("owned by someone else") }
        guard st.st_mode & S_IWGRP != 0 else { return .refused("messages are off (mesg n)") }
        let fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return .refused("cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var again = stat()
        guard fstat(fd, &again) == 0, again.st_rdev == st.st_rdev, again.st_uid == owner, isatty(fd) == 1 else {
            return .refused("changed while it was opened")
        }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 { return .refused(errno == EAGAIN ? "terminal is not reading (line dropped)" : String(cString: strerror(errno))) }
        return .written
    }
}

// MARK: email

/// Hands an RFC 5322 message to /usr/sbin/sendmail -t (argv, no shell).
struct EmailSender: NotificationSender {
    let channel: Channel
    let settings: Notifications
    var sendmail = "/usr/sbin/sendmail"

    func deliver(_ item: OutboxItem, notification: JSONValue) throws -> DeliveryResult {
        guard let to = settings.email(of: item.recipient) else {
            return .skipped("\(item.recipient) has no mail address (set notifications.email_domain or users.\(item.recipient).email)")
        }
        let from = channel.from ?? "symtui@\(NotificationSenders.hostName)"
        let message = Self.message(notification, to: to, from: from, id: item.id, now: Date())
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: sendmail, arguments: ["-t", "-i", "-f", from], environment: ["PATH": "/usr/sbin:/usr/bin:/bin"],
                                           stdin: Data(message.utf8), timeout: TimeInterval(channel.timeout), maxOutput: 64 << 10)
        } catch { throw DeliveryError("email: \(error)") }
        guard result.succeeded else { throw DeliveryError("email: \(sendmail): \(result.summary)") }
        return .delivered
    }

    /// The message: every header value is one neutralised line; the subject is RFC 2047 encoded.
    static func message(_ n: JSONValue, to: String, from: String, id: Int64, now: Date) -> String {
        let text = NotificationSenders.line(n["text"]?.stringValue ?? "", max: 900)
        let kind = n["kind"]?.stringValue ?? "notification"
        let subject = "[symtui] " + NotificationSenders.line(n["text"]?.stringValue ?? kind, max: 150)
        let encoded = "=?UTF-8?B?" + Data(subject.utf8).base64EncodedString() + "?="
        var body = text + "\n"
        if let action = n["action"]?.stringValue { body += "\nTo act: \(NotificationSenders.line(action))\n" }
        if let r = n["request"], let id = r["id"]?.intValue { body += "\nRequest \(id), flow \(NotificationSenders.line(r["flow"]?.stringValue ?? ""))\n" }
        let host = NotificationSenders.hostName
        let headers = [
            "From: \(from)", "To: \(to)", "Subject: \(encoded)", "Date: \(rfc5322Date(now))",
            "Message-ID: <symtui.\(id).\(UUID().uuidString.lowercased())@\(host)>",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
            "Auto-Submitted: auto-generated", "X-SymTUI-Kind: \(kind.filter { $0.isLetter || $0 == "_" })",
        ]
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + body.replacingOccurrences(of: "\n", with: "\r\n")
    }

    static func rfc5322Date(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}
