import Foundation
import CLibPQ

/// A PostgreSQL server said no, or could not be reached.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The SQLSTATE code when the server sent one (e.g. 42704 undefined object).
    public var sqlState: String?
    public var message: String
    public var description: String { message }
    public init(sqlState: String?, message: String) { self.sqlState = sqlState; self.message = message }
    /// The server or the network failed (class 08, a shutdown, a lost connection), not the statement.
    public var isConnectionFailure: Bool {
        guard let s = sqlState else { return true }
        return s.hasPrefix("08") || s.hasPrefix("57P")
    }
}

/// A small libpq connection: connect, run parameterised statements, read text rows, close. Values travel as
/// parameters and identifiers are quoted by the server (`format('%I')`), never pasted into SQL.
/// Not thread-safe: one connection per thread of work.
public final class PostgresConnection {
    private var conn: OpaquePointer?
    /// Whether statements are prepared once on this connection and then only bound and run (`preparing`).
    public let preparing: Bool
    /// The statements prepared on this connection: SQL → name. They last as long as the connection (a rolled-back
    /// transaction keeps them); at most `preparedLimit` (a daemon's fixed statements are fewer; the rest are lists of
    /// varying length), and statements past that run unprepared.
    private var prepared: [String: String] = [:]
    private var preparedCount = 0
    static let preparedLimit = 128

    /// Connects with a libpq URI or `key=value` string (`service=NAME`, `passfile=PATH` work as in psql).
    /// `connect_timeout` defaults to 10 s and the session's statement timeout to 30 s; `defaults` are more libpq
    /// keywords with values that `conninfo` may override. Every connection has TCP keepalives (an idle connection to
    /// a server that vanished is noticed within ~25 s) and `tcp_user_timeout` (data the server stops acknowledging,
    /// as when the network between them drops packets, fails the connection after 20 s).
    /// With `preparing`, every statement with parameters is parsed and planned by the server once per connection
    /// (`executePipeline`); the server may then keep a generic plan for it.
    public init(conninfo: String, applicationName: String = "symtui", defaults: [(String, String)] = [], preparing: Bool = false,
                replyTimeout: TimeInterval = PostgresConnection.replyTimeout) throws {
        self.preparing = preparing
        self.replyTimeout = replyTimeout
        let base = [("connect_timeout", "10"), ("application_name", applicationName), ("keepalives", "1"), ("keepalives_idle", "10"),
                    ("keepalives_interval", "5"), ("keepalives_count", "3"), ("tcp_user_timeout", "20000")]
        let keys = (base + defaults).map(\.0) + ["dbname"]
        let values = (base + defaults).map(\.1) + [conninfo]
        // expand_dbname: the dbname value is read as a whole connection string; its own keys override the defaults before it.
        conn = withCStrings(keys) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { Self.text(PQerrorMessage($0)) } ?? "out of memory"
            if let conn { PQfinish(conn) }
            self.conn = nil
            throw PostgresError(sqlState: nil, message: "cannot connect to PostgreSQL: " + message)
        }
        // The server's notices (NOTICE, WARNING) are not for the user's terminal: libpq would print them on stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        _ = try execute("SELECT set_config('statement_timeout', '30s', false)")
    }

    deinit { close() }

    public func close() {
        if let conn { PQfinish(conn) }
        conn = nil
    }

    /// The server's process id for this session (to leave it out of session lists).
    public var backendPID: Int32 { conn.map { PQbackendPID($0) } ?? 0 }

    /// How long a call waits for the server's answer: the session's statement timeout (30 s) and a little more, so
    /// that a slow statement ends with the server's own error first. A server that stopped answering (hung, or cut
    /// off by the network while TCP still believes in the connection) then fails the call, and the connection is
    /// closed, instead of holding the daemon's writer for as long as TCP retries (~15 minutes).
    public static let replyTimeout: TimeInterval = 35
    /// This connection's (tests make it short).
    public let replyTimeout: TimeInterval

    /// Runs one statement with text parameters `$1…`; returns its rows as text (NULL as nil).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        guard let conn else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
        let sent = withCStrings(parameters) { params in
            PQsendQueryParams(conn, sql, Int32(parameters.count), nil, params, nil, nil, 0)
        }
        guard sent == 1 else { throw lost(conn) }
        return try collect(conn)
    }

    /// The last result's rows of what was sent; the first failure throws.
    private func collect(_ conn: OpaquePointer) throws -> [[String?]] {
        let deadline = Date().addingTimeInterval(replyTimeout)
        var rows: [[String?]] = []
        var failure: PostgresError?
        while let result = try nextResult(conn, deadline: deadline) {
            defer { PQclear(result) }
            do { rows = try Self.rows(result) } catch let e as PostgresError { failure = failure ?? e }
        }
        if let failure { throw failure }
        return rows
    }

    /// `PQgetResult` once what it needs has arrived, waiting on the socket until `deadline`: past it, the connection
    /// is closed and the call fails as a lost connection.
    private func nextResult(_ conn: OpaquePointer, deadline: Date) throws -> OpaquePointer? {
        while PQisBusy(conn) == 1 {
            let left = deadline.timeIntervalSinceNow
            var p = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
            let n = left > 0 ? poll(&p, 1, Int32(min(left * 1000 + 1, 1e9))) : 0
            if n < 0 && errno == EINTR { continue }
            if n == 0 {
                close()
                throw PostgresError(sqlState: nil, message: "PostgreSQL did not answer within \(String(format: "%g", replyTimeout)) s")
            }
            // A broken connection: PQgetResult reports it.
            if n < 0 || PQconsumeInput(conn) == 0 { break }
        }
        return PQgetResult(conn)
    }

    /// The connection's last error, after which it is closed (a send that failed leaves it unusable).
    private func lost(_ conn: OpaquePointer) -> PostgresError {
        let e = PostgresError(sqlState: nil, message: Self.text(PQerrorMessage(conn)))
        close()
        return e
    }

    /// Sends every statement, then waits once for all their results (libpq's pipeline mode: one round trip for the
    /// lot); returns each statement's rows. Inside a transaction the statements run one after the other as if sent
    /// one at a time; the first that fails throws, and the server skips those after it. Each is a single statement.
    public func executePipeline(_ statements: [PostgresStatement]) throws -> [[[String?]]] {
        guard let conn else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
        if statements.count == 1 && !(preparing && !statements[0].parameters.isEmpty) {
            return [try execute(statements[0].sql, statements[0].parameters)]
        }
        guard PQenterPipelineMode(conn) == 1 else { throw PostgresError(sqlState: nil, message: Self.text(PQerrorMessage(conn))) }
        // A pipeline left half read would make the connection unusable: on any failure to send or to read to the end,
        // it is closed, and the session opens a new one.
        func broken() -> PostgresError { lost(conn) }
        let deadline = Date().addingTimeInterval(replyTimeout)
        // What was sent, in order: a new statement's Parse (its SQL, forgotten again unless the server took it), or a
        // statement to run.
        var sent: [String?] = []
        for s in statements {
            var ok: Int32
            if let (name, new) = preparedName(for: s) {
                if new {
                    guard PQsendPrepare(conn, name, s.sql, Int32(s.parameters.count), nil) == 1 else { throw broken() }
                    sent.append(s.sql)
                }
                ok = withCStrings(s.parameters) { params in
                    PQsendQueryPrepared(conn, name, Int32(s.parameters.count), params, nil, nil, 0)
                }
            } else {
                ok = withCStrings(s.parameters) { params in
                    PQsendQueryParams(conn, s.sql, Int32(s.parameters.count), nil, params, nil, nil, 0)
                }
            }
            guard ok == 1 else { throw broken() }
            sent.append(nil)
        }
        guard PQpipelineSync(conn) == 1 else { throw broken() }
        var out: [[[String?]]] = []
        var failure: PostgresError?
        for parse in sent {
            var rows: [[String?]] = []
            var taken = false
            while let result = try nextResult(conn, deadline: deadline) {
                defer { PQclear(result) }
                if PQresultStatus(result) == PGRES_PIPELINE_ABORTED { continue }
                do { rows = try Self.rows(result); taken = true } catch let e as PostgresError { failure = failure ?? e }
            }
            if let parse {
                if !taken { prepared[parse] = nil }
            } else {
                out.append(rows)
            }
        }
        var synced = false
        while !synced, let result = try nextResult(conn, deadline: deadline) {
            synced = PQresultStatus(result) == PGRES_PIPELINE_SYNC
            PQclear(result)
        }
        guard synced, PQexitPipelineMode(conn) == 1 else {
            let lost = broken()
            throw failure ?? lost
        }
        if let failure { throw failure }
        return out
    }

    /// The prepared statement to run `s` as, and whether it must be prepared first; nil: run it unprepared.
    private func preparedName(for s: PostgresStatement) -> (String, Bool)? {
        guard preparing else { return nil }
        if let name = prepared[s.sql] { return (name, false) }
        guard prepared.count < Self.preparedLimit else { return nil }
        preparedCount += 1
        let name = "symtui_\(preparedCount)"
        prepared[s.sql] = name
        return (name, true)
    }

    /// Runs a script of one or more statements without parameters (migrations); returns the last one's rows.
    @discardableResult
    public func executeScript(_ sql: String) throws -> [[String?]] {
        guard let conn else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
        guard PQsendQuery(conn, sql) == 1 else { throw lost(conn) }
        return try collect(conn)
    }

    private static func rows(_ result: OpaquePointer) throws -> [[String?]] {
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw PostgresError(sqlState: state, message: text(PQresultErrorMessage(result)))
        }
        var rows: [[String?]] = []
        for r in 0..<PQntuples(result) {
            rows.append((0..<PQnfields(result)).map { c in
                PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c))
            })
        }
        return rows
    }

    /// Builds a statement with the server's `format()` (`%I` quotes identifiers by its own rules), then runs it.
    public func executeFormatted(_ template: String, identifiers: [String]) throws {
        precondition(!identifiers.isEmpty, "a formatted statement names at least one identifier")
        let placeholders = (1...identifiers.count).map { "$\($0)::text" }
        let rows = try execute("SELECT format($\(identifiers.count + 1)::text, \(placeholders.joined(separator: ", ")))",
                               identifiers + [template])
        guard let statement = rows.first?.first ?? nil else {
            throw PostgresError(sqlState: nil, message: "format() returned nothing")
        }
        try execute(statement)
    }

    /// False once the server went away (a restart, a network failure): the connection must be opened again.
    public var isHealthy: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// The connection's socket, to wait on for notifications (-1 when closed).
    public var socket: Int32 { conn.map { PQsocket($0) } ?? -1 }

    /// Reads what the server sent and returns the channels of the notifications (LISTEN) that arrived, without
    /// waiting. Throws when the connection broke.
    public func notifications() throws -> [String] {
        try receivedNotifications().map(\.channel)
    }

    /// Reads what the server sent and returns the notifications that arrived (channel, payload, the sending
    /// server process), without waiting. Throws when the connection broke.
    public func receivedNotifications() throws -> [PostgresNotification] {
        guard let conn else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
        guard PQconsumeInput(conn) == 1 else { throw PostgresError(sqlState: nil, message: Self.text(PQerrorMessage(conn))) }
        return queuedNotifications()
    }

    /// The notifications libpq already read (a statement's result can arrive with some), without reading more.
    public func queuedNotifications() -> [PostgresNotification] {
        guard let conn else { return [] }
        var out: [PostgresNotification] = []
        while let n = PQnotifies(conn) {
            out.append(PostgresNotification(channel: String(cString: n.pointee.relname),
                                            payload: n.pointee.extra.map { String(cString: $0) } ?? "",
                                            senderPID: n.pointee.be_pid))
            PQfreemem(n)
        }
        return out
    }

    private static func text(_ p: UnsafePointer<CChar>?) -> String {
        guard let p else { return "unknown error" }
        return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// One statement with its text parameters `$1…` (nil is NULL), for `executePipeline`.
public struct PostgresStatement: Sendable {
    public var sql: String
    public var parameters: [String?]
    public init(_ sql: String, _ parameters: [String?] = []) { self.sql = sql; self.parameters = parameters }
}

/// One `NOTIFY` a listening connection received.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The server process of the session that sent it.
    public var senderPID: Int32
}

/// Calls `body` with a C array of C strings (NULL for nil) that live for the call.
private func withCStrings<T>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
