import Foundation
import CLibPQ

/// A PostgreSQL server said no, or could not be reached.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The SQLSTATE code when the server sent one (e.g. 42704 undefined object).
    public var sqlState: String?
    public var message: String
    public var description: String { message }
}

/// A small libpq connection: connect, run parameterised statements, read text rows, close. Values travel as
/// parameters and identifiers are quoted by the server (`format('%I')`), never pasted into SQL.
/// Not thread-safe: one connection per thread of work.
public final class PostgresConnection {
    private var conn: OpaquePointer?

    /// Connects with a libpq URI or `key=value` string (`service=NAME`, `passfile=PATH` work as in psql).
    /// `connect_timeout` defaults to 10 s and the session's statement timeout to 30 s.
    public init(conninfo: String, applicationName: String = "symtui") throws {
        let keys = ["connect_timeout", "application_name", "dbname"]
        let values = ["10", applicationName, conninfo]
        // expand_dbname: the dbname value is read as a whole connection string; its own keys override the defaults before it.
        conn = withCStrings(keys) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { Self.text(PQerrorMessage($0)) } ?? "out of memory"
            if let conn { PQfinish(conn) }
            self.conn = nil
            throw PostgresError(sqlState: nil, message: "cannot connect to PostgreSQL: " + message)
        }
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
    public func execute(_ sql: String, _ parameters: [String] = []) throws -> [[String?]] {
        guard let conn else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
        let result: OpaquePointer? = withCStrings(parameters) { params in
            PQexecParams(conn, sql, Int32(parameters.count), nil, params, nil, nil, 0)
        }
        guard let result else { throw PostgresError(sqlState: nil, message: Self.text(PQerrorMessage(conn))) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw PostgresError(sqlState: state, message: Self.text(PQresultErrorMessage(result)))
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

    private static func text(_ p: UnsafePointer<CChar>?) -> String {
        guard let p else { return "unknown error" }
        return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Calls `body` with a C array of C strings that live for the call.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
