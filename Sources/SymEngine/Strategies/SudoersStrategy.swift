import Foundation
import SymModel
import SymProtocol
#if canImport(Glibc)
import Glibc
#endif

/// `sudoers`: writes a drop-in `<sudoers_dir>/symtui-<request id>-<user>` holding `<user> <rule>`, checked
/// with `visudo -cf` before it is moved into place; deescalation deletes it.
public struct SudoersStrategy: AccessStrategy {
    public static let visudo = "/usr/sbin/visudo"
    public static let sudo = "/usr/bin/sudo"
    public static let defaultDirectory = "/etc/sudoers.d"
    public static let filePrefix = "symtui-"
    static let timeout: TimeInterval = 30

    public var strategy: Strategy
    public init(strategy: Strategy) { self.strategy = strategy }

    /// The drop-in of one grant. sudo skips names containing `.`, so a `.` in a user name is written as `_`.
    public static func fileName(requestID: Int64, user: String) -> String {
        filePrefix + "\(requestID)-" + user.replacingOccurrences(of: ".", with: "_")
    }

    public func escalate(_ ctx: GrantContext) -> StrategyOutcome {
        let user = ctx.user
        let settings = ctx.settings
        let dir = Self.directory(settings)
        guard let rule = settings["rule"]?.stringValue else { return .failure("sudoers: setting `rule` is missing") }
        if let problem = Self.problem(user: user, rule: rule) { return .failure("sudoers: \(problem)") }
        let path = dir + "/" + Self.fileName(requestID: ctx.request.id, user: user)
        var data: [(String, JSONValue)] = [("file", .string(path)), ("user", .string(user)), ("rule", .string(rule))]
        let expiry = ctx.request.accessExpiresAt.map(Timestamp.format) ?? "when revoked or released"
        let text = """
            # Written by symtui for request \(ctx.request.id) (target \(SafeText.display(ctx.target.name))); removed when the grant ends.
            # Expires: \(expiry)
            \(user) \(rule)

            """

        // Write beside the final name (a name with `.`, which sudo ignores), check it, then rename over.
        var template = Array((dir + "/.symtui-\(ctx.request.id)-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return .failure("sudoers: cannot create a file in \(dir): \(Self.errnoText())", data: data) }
        let temp = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var keep = false
        defer { if !keep { unlink(temp) } }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress!, $0.count) }
        let synced = fsync(fd) == 0 && fchmod(fd, 0o440) == 0
        close(fd)
        guard written == bytes.count, synced else { return .failure("sudoers: cannot write \(temp): \(Self.errnoText())", data: data) }

        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: Self.visudo, arguments: ["-c", "-f", temp],
                                           environment: StrategyEnvironment.base, timeout: Self.timeout)
        } catch {
            return .failure("sudoers: \(error)", data: data)
        }
        data.append(("visudo", result.auditData))
        guard result.succeeded else {
            let said = (String(decoding: result.stdout, as: UTF8.self) + "\n" + result.stderrTail)
                .replacingOccurrences(of: temp, with: path)
            return .failure("sudoers: visudo rejected the rule: \(said)", data: data)
        }
        guard rename(temp, path) == 0 else { return .failure("sudoers: cannot install \(path): \(Self.errnoText())", data: data) }
        keep = true
        Self.syncDirectory(dir)
        // A drop-in in a directory sudo does not read grants nothing: a grant must not be shown active then.
        switch Self.ruleIsEffective(user: user, rule: rule) {
        case true?:
            data.append(("effective", .bool(true)))
        case false?:
            unlink(path)
            Self.syncDirectory(dir)
            data.append(("effective", .bool(false)))
            return .failure("sudoers: `sudo -l -U \(user)` does not list the rule after \(path) was written: sudo does not read "
                            + "\(dir) (use /etc/sudoers.d, or add `@includedir \(dir)` to /etc/sudoers)", data: data)
        case nil:
            data.append(("effective", .null))   // sudo could not say (no such user, no sudo): the drop-in is what we know
        }
        return .success(data: data)
    }

    /// Each grant has its own drop-in: removing one never touches another's.
    public var accessIsSharedAcrossGrants: Bool { false }

    /// Deletes the drop-in, forgets the user's cached sudo authentication, then ends (or lists) what the user started
    /// through sudo during the grant. Re-running it after a crash finds the file gone and goes on to the processes.
    public func deescalate(_ ctx: GrantContext) -> StrategyOutcome {
        let mode: EndSessions
        switch EndSessions.mode(ctx.settings, strategy: "sudoers") {
        case let .failure(f): return .failure(f.message)
        case let .success(m): mode = m
        }
        var removed = removeDropIn(ctx)
        guard removed.succeeded else { return removed }
        var pairs = removed.data.objectValue ?? []
        pairs.append(("sudo_timestamp", .string(Self.clearTimestamp(user: ctx.user))))
        removed.data = .object(pairs)
        // No drop-in exists before the approval (nor before a scheduled window's start): nothing older came from it.
        let since = ctx.request.accessStartsAt ?? ctx.request.decidedAt ?? ctx.request.createdAt
        if ctx.userHoldsOtherGrantOfStrategy {
            // sudo does not record which rule let a command run: while another grant of this user is active, its
            // sessions may be that grant's, and they are left to its own deescalation.
            let listed = SessionHolders.startedThroughSudo(user: ctx.user, since: since).map {
                HeldSession(pid: $0.pid, command: $0.command, outcome: "kept", signal: nil, startTicks: $0.startTicks)
            }
            return .withSessions(removed, listed, who: ctx.user)
        }
        let holders = SessionHolders.startedThroughSudo(user: ctx.user, since: since)
        return .withSessions(removed, SessionEnder.end(holders, mode: mode), who: ctx.user)
    }

    /// Where sudo keeps its per-user authentication records (Debian's sudo: `timestampdir` /run/sudo/ts).
    public static let timestampDirectory = "/run/sudo/ts"

    /// Removes the user's record, so that a later grant cannot reuse a password typed during this one.
    /// Returns `removed`, `none` or the error.
    static func clearTimestamp(user: String) -> String {
        guard StrategyText.isPlainName(user) else { return "none" }
        let path = timestampDirectory + "/" + user
        var st = stat()
        // lstat: a symlink here is not sudo's record; the directory is root's own (0700).
        guard lstat(path, &st) == 0 else { return errno == ENOENT ? "none" : "error: " + errnoText() }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return "error: \(path) is not a regular file" }
        return unlink(path) == 0 ? "removed" : "error: " + errnoText()
    }

    private func removeDropIn(_ ctx: GrantContext) -> StrategyOutcome {
        let user = ctx.user
        let dir = Self.directory(ctx.settings)
        guard StrategyText.isPlainName(user) else { return .failure("sudoers: \"\(user)\" is not a plain user name") }
        let path = dir + "/" + Self.fileName(requestID: ctx.request.id, user: user)
        // Each grant has its own drop-in, so another active grant of the user keeps its own file.
        let data: [(String, JSONValue)] = [("file", .string(path)), ("user", .string(user))]
        if unlink(path) == 0 {
            Self.syncDirectory(dir)
            return .success(data: data)
        }
        if errno == ENOENT { return .success(data: data + [("already_absent", .bool(true))]) }
        return .failure("sudoers: cannot remove \(path): \(Self.errnoText())", data: data)
    }

    /// Users named in symtui drop-ins whose rule is this target's rule.
    public func check(target: Target) -> Result<AccessCheck, StrategyFailure>? {
        let settings = strategy.settings(for: target)
        let dir = Self.directory(settings)
        guard let rule = settings["rule"]?.stringValue else { return .failure(StrategyFailure("sudoers target \(target.name): setting `rule` is missing")) }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            return .failure(StrategyFailure("sudoers: cannot list \(dir): \(error.localizedDescription)"))
        }
        var users = Set<String>()
        for name in names where name.hasPrefix(Self.filePrefix) && !name.contains(".") && !name.hasSuffix("~") {
            guard let text = try? String(contentsOfFile: dir + "/" + name, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2, String(parts[1]) == rule { users.insert(String(parts[0])) }
            }
        }
        // A drop-in sudo does not act on is no access: such a grant shows as missing access in `symtui check`.
        return .success(AccessCheck(users: users.filter { Self.ruleIsEffective(user: $0, rule: rule) != false }))
    }

    /// Processes still running that were started through sudo during grants that have ended (each: the user and
    /// the window from its start to its end), found as deescalation finds them; `symtui check` reports them.
    /// A window whose user has another grant of the strategy now is the caller's to leave out: sudo does not
    /// record which rule let a command run.
    public static func survivors(of windows: [(user: String, from: Date, until: Date)]) -> [AccessHolder] {
        let table = ProcessTable.snapshot()
        // No process outlives a reboot: grants that ended before the boot left nothing running.
        let boot = ProcessTable.bootTime().map { Date(timeIntervalSince1970: $0) } ?? .distantPast
        var seen = Set<Int32>()
        var found: [AccessHolder] = []
        for w in windows where w.until >= boot {
            for e in SessionHolders.startedThroughSudo(user: w.user, since: w.from, until: w.until, table: table)
            where seen.insert(e.pid).inserted {
                found.append(AccessHolder(user: w.user, pid: e.pid, command: e.command))
            }
        }
        return found
    }

    /// Whether `sudo -l -U user` lists `rule` for the user: true, false, or nil when sudo cannot tell (no such
    /// user, sudo missing). Compared without the host part, the run-as part and whitespace, which sudo reformats.
    public static func ruleIsEffective(user: String, rule: String) -> Bool? {
        guard StrategyText.isPlainName(user), access(sudo, X_OK) == 0 else { return nil }
        guard let result = try? ProcessRunner.run(path: sudo, arguments: ["-n", "-l", "-U", user],
                                                  environment: StrategyEnvironment.base, timeout: timeout),
              result.succeeded else { return nil }
        let listing = String(decoding: result.stdout, as: UTF8.self)
        guard let start = listing.range(of: "may run the following commands") else {
            return listing.contains("is not allowed to run sudo") ? false : nil
        }
        let wanted = comparable(rule, hasHost: true)
        return listing[start.upperBound...].split(separator: "\n").dropFirst().contains { comparable(String($0), hasHost: false) == wanted }
    }

    /// `ALL=(root) NOPASSWD: /bin/x` and sudo's `    (root) NOPASSWD: /bin/x` both as `NOPASSWD:/bin/x`.
    static func comparable(_ text: String, hasHost: Bool) -> String {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if hasHost, let eq = rest.firstIndex(of: "=") { rest = rest[rest.index(after: eq)...] }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        if rest.hasPrefix("("), let close = rest.firstIndex(of: ")") { rest = rest[rest.index(after: close)...] }
        return String(rest.filter { !$0.isWhitespace })
    }

    static func directory(_ settings: [String: JSONValue]) -> String {
        let dir = settings["sudoers_dir"]?.stringValue ?? defaultDirectory
        return dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
    }

    /// Why a user name or rule cannot go into a sudoers line, or nil when it can.
    static func problem(user: String, rule: String) -> String? {
        guard StrategyText.isPlainName(user) else { return "\"\(SafeText.display(user))\" is not a plain user name" }
        // sudoers reads an all-capitals word as an alias (ALL, or a User_Alias that may name many users).
        if user.wholeMatch(of: /[A-Z][A-Z0-9_]*/) != nil { return "\"\(user)\" would be read as a sudoers alias" }
        let trimmed = rule.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return "the rule is empty" }
        if rule.unicodeScalars.contains(where: { $0.value < 0x20 || ($0.value >= 0x7F && $0.value < 0xA0) }) {
            return "the rule contains a line break or a control character"
        }
        // A trailing backslash would continue the line into whatever follows.
        if trimmed.hasSuffix("\\") { return "the rule ends in a backslash" }
        return nil
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    private static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
