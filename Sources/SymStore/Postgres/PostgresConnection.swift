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

    /// Connects with a libpq URI or `key=value` string (`service=NAME`, `passfile=PATH` work as in psql).
    /// `connect_timeout` defaults to 10 s and the session's statement timeout to 30 s; `defaults` are more libpq
    /// keywords with values that `conninfo` may override (e.g. TCP keepalives).
    public init(conninfo: String, applicationName: String = "symtui", defaults: [(String, String)] = []) throws {
        let keys = ["connect_timeout", "application_name"] + defaults.map(\.0) + ["dbname"]
        let values = ["10", applicationName] + defaults.map(\.1) + [conninfo]
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

    /// Runs one statement with text parameters `$1…`; returns its rows as text (NULL as nil).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        guard let conn else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
        let result: OpaquePointer? = withCStrings(parameters) { params in
            PQexecParams(conn, sql, Int32(parameters.count), nil, params, nil, nil, 0)
        }
        guard let result else { throw PostgresError(sqlState: nil, message: Self.text(PQerrorMessage(conn))) }
        defer { PQclear(result) }
        return try Self.rows(result)
    }

    /// Runs a script of one or more statements without parameters (migrations); returns the last one's rows.
    @discardableResult
    public func executeScript(_ sql: String) throws -> [[String?]] {
        guard let conn else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
        guard let result = PQexec(conn, sql) else { throw PostgresError(sqlState: nil, message: Self.text(PQerrorMessage(conn))) }
        defer { PQclear(result) }
        return try Self.rows(result)
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
