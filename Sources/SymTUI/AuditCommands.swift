import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SymModel
import SymProtocol
import SymStore

/// `symtui audit …`: verify the chain, export it, follow it, and see how far each destination got.
enum AuditCommands {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["audit", "verify"], summary: "check the audit chain (seq, hashes, links); exit 65 at the first bad event",
                    options: [.value("since", "SEQ", "check only the events from SEQ on, linked to the stored hash of SEQ-1; the checkpoint is neither used nor moved"),
                              .flag("full", "check every event from seq 1, ignoring the stored checkpoint (then record a new one)"),
                              .value("against", "FILE", "also compare with an earlier JSONL export or a jsonl destination's file"),
                              .value("key", "FILE", "also check each event's hmac with the daemon's key (reporting.hmac_key_file)")],
                    details: """
                    Reports the first bad seq: 'edited' (content does not match its hash), 'missing' (a gap), 'reordered'
                    (a row moved), 'broken link' (prev_hash does not match the event before), 'differs' (not as in FILE).
                    A consistently rewritten or truncated store is only caught with --against (or a remote destination), or
                    with --key when the daemon signs: 'bad signature' (an hmac that does not match), 'unsigned' (an event
                    without an hmac after signed ones, or none signed at all). --against and --key work together: an
                    event's hmac is a signature of its hash, not part of what is hashed. A store that does not exist is an
                    error (exit 66), never "ok".

                    Checkpoints: when the store file can be read (root, store_group), a clean verify asks the running daemon
                    to record the verified prefix (seq, its hash, the time; signed with reporting.hmac_key_file when the daemon
                    has one), and the next verify starts after it: it checks the checkpoint's signature (with --key) and
                    that the row at its seq still has that hash, then only the new events, and says which range it checked.
                    'bad checkpoint' (exit 65): the stored checkpoint is damaged, unsigned though --key was given, or not
                    signed with that key. A daemon that signs records a checkpoint only after a verify with --key; without
                    --key a signed checkpoint cannot be checked and is not used. An edit before the checkpoint is only found
                    by --full, which verifies from seq 1 and then records a new checkpoint.
                    """,
                    run: verify),
        SubcommandSpec(words: ["audit", "export"], summary: "write audit events to stdout as JSON Lines or CSV",
                    options: [.value("format", "jsonl|csv", "output format (default jsonl)"),
                              .value("since", "T", "only events at or after T (RFC 3339, e.g. 2026-11-27T10:00:00Z)"),
                              .value("until", "T", "only events before T (RFC 3339)"),
                              .value("request", "ID", "only the events of one request")],
                    run: export),
        SubcommandSpec(words: ["audit", "tail"], summary: "the last events; -f keeps following new ones",
                    arguments: [ArgumentSpec(name: "-f", optional: true, help: "same as --follow")],
                    options: [.flag("follow", "keep printing new events until Ctrl-C"),
                              .value("lines", "N", "how many of the last events to show first (default 10)")],
                    run: tail),
        SubcommandSpec(words: ["audit", "status"], summary: "reporting destinations: cursor, backlog, lag, last error",
                    run: status),
    ] }

    // MARK: verify

    static func verify(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        // The file itself when this user may read it (root, store_group, a backup copy); else the daemon's copy of
        // every event, checked here all the same (a user who may not open the store can still check its chain).
        let store: any AuditChainSource
        // A PostgreSQL store is read through the daemon only: consoles and the CLI hold no database credentials.
        do { store = try c.store() } catch let e as CommandError where e.code == ExitCode.noPerm || (try? c.storeIsPostgres()) == true {
            guard let reader = try c.reader() as? DaemonReader else { throw e }
            store = DaemonChainSource(reader: reader)
        }
        let key: HMACSHA256?
        do { key = try a.value("key").map { try AuditKey.load(path: c.absolute($0), private: false) } } catch let e as AuditKeyError {
            throw CommandError(e.exitCode, e.message)
        }
        var since: Int64?
        if let text = a.value("since") {
            guard let n = Int64(text), n >= 1 else { throw UsageError(message: "--since: '\(SafeText.display(text))' is not a seq (1 or more)") }
            since = n
        }
        let full = a.flag("full")
        if full && since != nil { throw UsageError(message: "--full and --since: give one or the other (--full is --since 1 without the checkpoint)") }
        // Where to start: --since as given; else after the stored checkpoint of the verified prefix, once it checks out.
        var from = since ?? 1
        var used: AuditCheckpoint?
        var notes: [String] = []
        if since == nil, !full, let file = store as? Store {
            switch try AuditVerifier.checkpointStart(store: file, key: key) {
            case let .full(note): notes += note.map { [$0] } ?? []
            case let .after(checkpoint): used = checkpoint; from = checkpoint.seq + 1
            case let .problem(p):
                return try report(p, checked: 0, headSeq: 0, headHash: AuditEvent.genesisHash, from: 1, c)
            }
        }
        let verifier = AuditVerifier(store: store, key: key)
        var result = try verifier.verify(since: from)
        var against: (file: String, checked: Int64)?
        if result.ok, let file = a.value("against") {
            let path = c.absolute(file)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CommandError(ExitCode.noInput, "cannot open \(file): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            do {
                let compared = try verifier.verify(against: FileLines(fd: fd), source: file)
                if compared.ok { against = (file, compared.checked) } else { result.problem = compared.problem }
            } catch let e as StoreError { throw CommandError(ExitCode.dataErr, e.message) }
        }
        if let p = result.problem { return try report(p, checked: result.checked, headSeq: result.headSeq, headHash: result.headHash, from: from, c) }
        // The whole prefix is now verified (from seq 1, or from a checkpoint that checked out): the daemon records it.
        var recorded: AuditCheckpoint?
        if store is Store, from == 1 || used != nil, result.headSeq > (used?.seq ?? 0) {
            let outcome = recordCheckpoint(seq: result.headSeq, hash: result.headHash, hmacsChecked: key != nil, c)
            recorded = outcome.checkpoint
            if let why = outcome.note { notes.append(why) }
        }
        for note in notes where !c.json { FileHandle.standardError.write(Data("symtui: \(SafeText.display(note))\n".utf8)) }
        if c.json {
            var pairs: [(String, JSONValue?)] = [("ok", .bool(true)), ("checked", .int(result.checked)), ("from_seq", .int(from)),
                                                 ("head_seq", .int(result.headSeq)), ("head_hash", .string(result.headHash)),
                                                 ("checkpoint", used.map(checkpointJSON) ?? .null),
                                                 ("checkpoint_recorded", recorded.map(checkpointJSON) ?? .null),
                                                 ("notes", .array(notes.map(JSONValue.string)))]
            if let against { pairs += [("against", .string(against.file)), ("against_checked", .int(against.checked))] }
            if key != nil { pairs.append(("signed_from", result.signedFrom.map(JSONValue.int) ?? .null)) }
            Output.json(.obj(pairs))
            return ExitCode.ok
        }
        let range = result.checked == 0 ? "nothing after seq \(from - 1)" : "seq \(from)…\(result.headSeq)"
        let before = used.map { "; seq 1…\($0.seq) verified before (checkpoint recorded \(Timestamp.format($0.time)))" } ?? ""
        let compared = against.map { "; the \($0.checked) events of \(SafeText.display($0.file)) match" } ?? ""
        let signed = result.signedFrom.map { $0 == from ? "; every event signed" : "; signed from seq \($0) on" } ?? ""
        let saved = recorded.map { "; checkpoint recorded at seq \($0.seq)" + ($0.hmac == nil ? " (unsigned: the daemon has no key)" : " (signed)") } ?? ""
        Output.print("ok: \(result.checked) events (\(range))\(before), head seq \(result.headSeq) hash \(result.headHash)\(compared)\(signed)\(saved)")
        return ExitCode.ok
    }

    /// A verification that found a problem: `--json` prints it and exits 65, else the error is thrown (65).
    private static func report(_ p: AuditProblem, checked: Int64, headSeq: Int64, headHash: String, from: Int64, _ c: CLIContext) throws -> Int32 {
        if c.json {
            Output.json(.obj([("ok", .bool(false)), ("checked", .int(checked)), ("from_seq", .int(from)),
                              ("head_seq", .int(headSeq)), ("head_hash", .string(headHash)),
                              ("seq", .int(p.seq)), ("problem", .string(p.kind.rawValue)), ("detail", .string(p.detail))]))
            return ExitCode.dataErr
        }
        throw CommandError(ExitCode.dataErr, p.description)
    }

    private static func checkpointJSON(_ c: AuditCheckpoint) -> JSONValue {
        .obj([("seq", .int(c.seq)), ("hash", .string(c.hash)), ("time", .string(Timestamp.format(c.time))), ("signed", .bool(c.hmac != nil))])
    }

    /// How long a verify waits for the daemon to record its checkpoint.
    static let checkpointAnswerSeconds = 2

    /// Asks the running daemon to record the verified prefix; why not, when it is not recorded (no daemon, a refusal).
    private static func recordCheckpoint(seq: Int64, hash: String, hmacsChecked: Bool, _ c: CLIContext) -> (checkpoint: AuditCheckpoint?, note: String?) {
        // Optional: a stopped or overloaded daemon must not hold up a verify that read the file itself.
        guard let socket = try? c.socketPath(),
              let client = DaemonClient.connectIfRunning(socketPath: socket, timeout: checkpointAnswerSeconds) else {
            return (nil, "no checkpoint recorded: the daemon is not running (the next verify checks from seq 1 again)")
        }
        do {
            let reply: JSONValue
            do { reply = try client.send(.auditCheckpoint(seq: seq, hash: hash, hmacsChecked: hmacsChecked)) } catch let e as CommandError where e.message.contains("no answer within") {
                return (nil, "no checkpoint recorded: the daemon did not answer within \(checkpointAnswerSeconds) s (the next verify checks from seq 1 again)")
            }
            if let refusal = Wire.refusal(in: reply) { return (nil, refusal.message) }
            guard let text = reply["checkpoint"]?.compact, let checkpoint = AuditCheckpoint.parse(text) else {
                return (nil, "no checkpoint recorded: the daemon's answer has none")
            }
            return (checkpoint, nil)
        } catch {
            return (nil, "no checkpoint recorded: \(error)")
        }
    }

    // MARK: export

    static func time(_ a: ParsedArguments, _ name: String) throws -> Date? {
        guard let text = a.value(name) else { return nil }
        guard let d = Timestamp.parse(text) else {
            throw UsageError(message: "--\(name): '\(SafeText.display(text))' is not an RFC 3339 time (e.g. 2026-11-27T10:00:00Z)")
        }
        return d
    }

    static func export(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let formatName = a.value("format") ?? "jsonl"
        guard let format = AuditExport.Format(rawValue: formatName) else {
            throw UsageError(message: "--format: '\(SafeText.display(formatName))' is not one of jsonl, csv")
        }
        var filter = AuditFilter(since: try time(a, "since"), until: try time(a, "until"))
        if let r = a.value("request") {
            guard let id = Int64(r), id > 0 else { throw UsageError(message: "--request: '\(SafeText.display(r))' is not a request id") }
            filter.requestId = id
        }
        let out = StdoutWriter()
        // A user who may read the store file (root, store_group, a copy) gets it streamed from the file; the others
        // through the daemon. Same bytes either way.
        if let store = try? c.store() {
            try store.exportEvents(filter, format: format) { out.write(bytes: $0) }
            out.flush()
            return ExitCode.ok
        }
        let reader = try c.reader()
        if format == .csv { out.write(AuditExport.csvHeader) }
        var after: Int64 = 0
        while true {
            let page = try reader.events(afterSeq: after, limit: ReadCall.maxRows, filter: filter)
            for e in page { out.write(format == .csv ? AuditExport.csvRecord(e) : AuditExport.jsonlLine(e) + "\n") }
            guard page.count == ReadCall.maxRows, let last = page.last else { break }
            after = last.seq
        }
        out.flush()
        return ExitCode.ok
    }

    // MARK: tail

    /// One event as one line for people; user text neutralised.
    static func line(_ e: AuditEvent) -> String {
        var parts = [String(e.seq), Timestamp.format(e.time), e.type.rawValue]
        if let r = e.requestId { parts.append("#\(r)") }
        if let f = e.flow { parts.append(f + (e.target.map { "/" + $0 } ?? "")) }
        if let u = e.requester { parts.append("requester=" + u) }
        parts.append("actor=" + e.actor)
        if let reason = e.reason { parts.append("reason=\"" + reason + "\"") }
        return SafeText.display(parts.joined(separator: "  "))
    }

    static func tail(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        if let p = a.positional(0), p != "-f" { throw UsageError(message: "unexpected argument '\(SafeText.display(p))'") }
        let follow = a.flag("follow") || a.positional(0) == "-f"
        var count = 10
        if let n = a.value("lines") {
            guard let v = Int(n), v >= 0 else { throw UsageError(message: "--lines: '\(SafeText.display(n))' is not a number") }
            count = v
        }
        let reader = try c.reader()
        let out = StdoutWriter()
        func show(_ e: AuditEvent) { out.write((c.json ? AuditExport.jsonlLine(e) : line(e)) + "\n") }
        if follow { _ = reader.changeDescriptor }   // subscribed before the first read: no commit falls between
        let recent = try reader.lastEvents(count)
        recent.forEach(show)
        out.flush()
        guard follow else { return ExitCode.ok }
        // Ctrl-C ends a follow normally; nothing is buffered, so there is nothing to lose.
        signal(SIGINT) { _ in _exit(0) }
        var cursor = try recent.last?.seq ?? reader.lastEvents(1).last?.seq ?? 0
        while true {
            _ = reader.waitForChange(timeoutMs: 1_000)
            while true {
                let page = try reader.events(afterSeq: cursor, limit: 500, filter: AuditFilter())
                page.forEach(show)
                out.flush()
                guard let last = page.last else { break }
                cursor = last.seq
            }
        }
    }

    // MARK: status

    static func status(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let config = try c.config()
        let reader = try c.reader()
        let (head, rows) = try reader.delivery()
        let channelNames = config.notifications.channels.map(\.name)
        let channels = channelNames.isEmpty ? [] : try reader.channels(channelNames)
        if c.json {
            Output.json(.obj([("head_seq", .int(head)), ("destinations", .array(rows.map(\.json))),
                              ("channels", .array(channels.map(\.json)))]))
            return ExitCode.ok
        }
        if !channels.isEmpty {
            let table = channels.map { s -> [String] in
                let oldest = s.oldestSeconds.map { TimeSpan.countdown(Int($0.rounded(.up))) } ?? "-"
                return [s.channel, String(s.backlog), oldest, String(s.delivered), s.lastError.map { SafeText.display($0) } ?? ""]
            }
            Output.print(Output.table(["CHANNEL", "BACKLOG", "OLDEST", "DELIVERED", "LAST ERROR"], table))
        }
        if rows.isEmpty {
            Output.print("no reporting destinations configured (reporting.destinations); head seq \(head)")
            return ExitCode.ok
        }
        // On a store shared by a fleet, HOST says whose cursor a row is: this bastion's, or the fleet's one.
        let fleet = rows.contains { $0.scope != nil }
        let table = rows.map { s -> [String] in
            let lag = s.lagSeconds.map { TimeSpan.countdown(Int($0.rounded(.up))) } ?? "-"
            let error = s.configProblem ?? s.lastError.map { "\($0) (\(s.attempts) attempts)" } ?? ""
            let host = fleet ? [s.scope?.label ?? "-"] : []
            return [s.key] + host + [String(s.cursor), String(s.backlog), lag, error]
        }
        Output.print(Output.table(["DESTINATION"] + (fleet ? ["HOST"] : []) + ["CURSOR", "BACKLOG", "LAG", "LAST ERROR"], table))
        return ExitCode.ok
    }
}

/// The audit chain as the daemon's read API gives it, for `audit verify` by users who may not open the store.
private struct DaemonChainSource: AuditChainSource {
    let reader: DaemonReader
    func chainRows(afterSeq: Int64, limit: Int) throws -> [ChainRow] {
        var out: [ChainRow] = []
        var after = afterSeq
        while out.count < limit {
            let page = try reader.events(afterSeq: after, limit: limit - out.count, filter: AuditFilter())
            out += page.map(ChainRow.init)
            guard let last = page.last, page.count == min(limit - (out.count - page.count), ReadCall.maxRows) else { break }
            after = last.seq
        }
        return out
    }
    func event(seq: Int64) throws -> AuditEvent? {
        try reader.events(afterSeq: seq - 1, limit: 1, filter: AuditFilter()).first.flatMap { $0.seq == seq ? $0 : nil }
    }
}

/// The lines of a file, read in chunks: constant memory however long the file.
private struct FileLines: Sequence, IteratorProtocol {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false

    init(fd: Int32) { self.fd = fd }

    mutating func next() -> String? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                defer { start = nl + 1 }
                return String(decoding: buffer[start..<nl], as: UTF8.self)
            }
            if eof {
                guard start < buffer.count else { return nil }
                defer { start = buffer.count }
                return String(decoding: buffer[start...], as: UTF8.self)
            }
            if start > 0 { buffer.removeSubrange(0..<start); start = 0 }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { eof = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
    }
}

/// Buffered writes to stdout that stop quietly when the reader goes away (e.g. `| head`).
private final class StdoutWriter {
    private var buffer: [UInt8] = []

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 64 * 1024 { flush() }
    }

    /// Bytes already gathered into a big chunk: written at once, after what is buffered.
    func write(bytes: UnsafeBufferPointer<UInt8>) {
        flush()
        writeAll(bytes)
    }

    func flush() {
        buffer.withUnsafeBufferPointer { writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeBufferPointer<UInt8>) {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(1, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { exit(ExitCode.ok) }
                break
            }
            off += n
        }
    }
}
