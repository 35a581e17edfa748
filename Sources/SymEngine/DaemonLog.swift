import Foundation
import SymModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How important a log line is; `symtui daemon --log-level` keeps this level and the more severe ones.
/// The raw value is the syslog priority that sd-daemon(3) prefixes a line with (`<7>` … `<3>`).
public enum LogLevel: Int, Sendable, CaseIterable, Comparable {
    case debug = 7, info = 6, warning = 4, error = 3

    public var name: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
    }

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    /// Less severe first: debug < info < warning < error.
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue > b.rawValue }
}

/// The daemon's log: one line per line of a message, every line neutralised (messages quote config text and user
/// input). On the journal (systemd set JOURNAL_STREAM to stderr's device and inode) each line starts with its
/// sd-daemon(3) priority, `<6>configuration reloaded`; elsewhere it reads `symtui daemon: configuration reloaded`.
public struct DaemonLog: Sendable {
    public var minimum: LogLevel
    /// True when lines carry `<N>` priority prefixes for journald instead of the `symtui daemon: ` prefix.
    public var journal: Bool
    private let sink: @Sendable (String) -> Void

    public init(minimum: LogLevel = .info, journal: Bool = DaemonLog.stderrIsJournal(),
                sink: @escaping @Sendable (String) -> Void = DaemonLog.standardError) {
        self.minimum = minimum; self.journal = journal; self.sink = sink
    }

    /// The log every part of the daemon writes to; `symtui daemon` sets its level from `--log-level`.
    public static var shared: DaemonLog {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    private static let current = Mutex(DaemonLog())

    /// The lines `message` becomes at `level`, each ending in a newline; none below the minimum level.
    public func lines(_ level: LogLevel, _ message: String) -> [String] {
        guard level >= minimum else { return [] }
        let prefix = journal ? "<\(level.rawValue)>" : "symtui daemon: "
        return message.split(separator: "\n").map { prefix + SafeText.display(String($0)) + "\n" }
    }

    /// Writes `message` at `level`; below the minimum level the message is not even built.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard level >= minimum else { return }
        for line in lines(level, message()) { sink(line) }
    }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    /// True when stderr is the stream systemd connected to the journal: JOURNAL_STREAM ("DEVICE:INODE", decimal)
    /// names the device and inode of file descriptor 2 (systemd.exec(5)). A stderr redirected elsewhere is not.
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment,
                                       descriptor: Int32 = 2) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// Writes one line to stderr in one write, so that lines from different threads never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }
}
