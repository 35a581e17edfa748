import CSQLite3
import Foundation

/// A SQLite failure with its extended result code, the SQL and SQLite's message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var sql: String?
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
    public var isReadOnly: Bool { code & 0xff == SQLITE_READONLY || code & 0xff == SQLITE_PERM || code & 0xff == SQLITE_CANTOPEN }
    public var description: String { "SQLite error \(code): \(message)" + (sql.map { " (in: \($0.prefix(120)))" } ?? "") }
}

/// A value bound to or read from a statement.
public enum SQLValue: Sendable, Equatable {
    case null, int(Int64), double(Double), text(String), blob([UInt8])
}

/// One connection. Not shared between threads: each thread or actor opens its own.
public final class Database {
    let handle: OpaquePointer
    public let path: String
    private var cache: [String: Statement] = [:]

    /// How large a command's statement journal (the undo pages of its SAVEPOINT in the writer's batch) grows in
    /// memory before it spills to a temporary file: 1 MiB, some 250 pages, far more than a command changes. SQLite's
    /// own default is 64 KiB, and a journal kept in memory by `temp_store=MEMORY` instead grows in 1 KiB pieces,
    /// four allocations per page a command changes.
    static let statementJournalSpill: Int32 = 1 << 20

    /// Library-wide settings, applied once, before the first connection opens (SQLite takes them only before it
    /// initialises). False if the library was initialised before (then its defaults stay: slower, not wrong).
    public static let libraryConfigured: Bool = csqlite_statement_journal_spill(statementJournalSpill) == SQLITE_OK

    /// `vfs`: a registered VFS by name (the writer's `GatheringVFS`), nil for the system's.
    public init(path: String, readOnly: Bool, create: Bool = false, vfs: String? = nil) throws {
        _ = Database.libraryConfigured
        var db: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        flags |= readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        let rc = sqlite3_open_v2(path, &db, flags, vfs)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: msg, sql: nil)
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 10_000)
    }

    /// True while a transaction is open on this connection (SQLite may end one by itself after some errors).
    public var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, _ sql: String?) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: msg, sql: sql)
        }
    }

    /// A prepared statement, cached and owned by this connection.
    public func statement(_ sql: String) throws -> Statement {
        if let s = cache[sql] { s.reset(); return s }
        let s = try Statement(db: self, sql: sql)
        cache[sql] = s
        return s
    }

    public func run(_ sql: String, _ values: [SQLValue] = []) throws {
        let s = try statement(sql)
        try s.bind(values)
        while try s.step() {}
    }

    public func query(_ sql: String, _ values: [SQLValue] = [], _ row: (Statement) throws -> Void) throws {
        let s = try statement(sql)
        try s.bind(values)
        while try s.step() { try row(s) }
    }

    /// Like `query`, with the positions of `layout`'s columns resolved by name once for the statement.
    public func query<L: RowLayout>(_ sql: String, _ values: [SQLValue] = [], layout: L.Type,
                                    _ row: (Statement, L) throws -> Void) throws {
        let s = try statement(sql)
        try s.bind(values)
        let columns = try s.layout(L.self)
        while try s.step() { try row(s, columns) }
    }

    public func scalarInt(_ sql: String, _ values: [SQLValue] = []) throws -> Int64? {
        var out: Int64?
        try query(sql, values) { out = $0.isNull(0) ? nil : $0.int(0) }
        return out
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    public enum TransactionKind: String { case deferred = "DEFERRED", immediate = "IMMEDIATE" }

    /// Runs `body` in a transaction; writes always use IMMEDIATE so that no write ever meets SQLITE_BUSY_SNAPSHOT.
    public func transaction<T>(_ kind: TransactionKind, _ body: () throws -> T) throws -> T {
        try execute("BEGIN \(kind.rawValue)")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Incremented when another connection commits (PRAGMA data_version).
    public func dataVersion() throws -> Int64 { try scalarInt("PRAGMA data_version") ?? 0 }

    public func persistWAL() { _ = csqlite_persist_wal(handle, 1) }

    /// The name of the VFS the main database was opened with.
    var vfsName: String? {
        var vfs: UnsafeMutablePointer<sqlite3_vfs>?
        guard sqlite3_file_control(handle, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) == SQLITE_OK, let vfs else { return nil }
        return String(cString: vfs.pointee.zName)
    }
}

/// A prepared statement, finalised by its owner.
public final class Statement {
    let handle: OpaquePointer
    unowned let db: Database
    let sql: String

    init(db: Database, sql: String) throws {
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v2(db.handle, sql, -1, &s, nil)
        guard rc == SQLITE_OK, let s else { throw db.error(rc, sql) }
        handle = s
        self.db = db
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    func reset() { sqlite3_reset(handle); sqlite3_clear_bindings(handle) }

    public func bind(_ values: [SQLValue]) throws {
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(handle, idx)
            case let .int(x): rc = sqlite3_bind_int64(handle, idx, x)
            case let .double(x): rc = sqlite3_bind_double(handle, idx, x)
            // The length in bytes, not -1: a NUL inside the text is stored, not the end of it.
            case let .text(x): rc = sqlite3_bind_text(handle, idx, x, Int32(x.utf8.count), csqlite_transient())
            case let .blob(x): rc = sqlite3_bind_blob(handle, idx, x, Int32(x.count), csqlite_transient())
            }
            guard rc == SQLITE_OK else { throw db.error(rc, sql) }
        }
    }

    /// Advances; true while a row is available.
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let e = db.error(rc, sql)
        sqlite3_reset(handle)
        throw e
    }

    /// This statement's result columns by name (`AS` aliases included), read once and kept with the statement.
    public var columns: ColumnMap {
        if let columnMap { return columnMap }
        var indexes: [String: Int32] = [:]
        for i in 0..<sqlite3_column_count(handle) {
            if let name = sqlite3_column_name(handle, i) { indexes[String(cString: name)] = indexes[String(cString: name)] ?? i }
        }
        let map = ColumnMap(indexes: indexes, sql: sql)
        columnMap = map
        return map
    }
    private var columnMap: ColumnMap?
    private var layouts: [ObjectIdentifier: Any] = [:]

    /// The positions a decoder needs, resolved from `columns` once per prepared statement (not once per row).
    public func layout<L: RowLayout>(_ type: L.Type) throws -> L {
        if let l = layouts[ObjectIdentifier(type)] as? L { return l }
        let l = try L(columns)
        layouts[ObjectIdentifier(type)] = l
        return l
    }

    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(handle, i) == SQLITE_NULL }
    /// The column as it is stored (its storage class decides the case).
    public func value(_ i: Int32) -> SQLValue {
        switch sqlite3_column_type(handle, i) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .int(int(i))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(handle, i))
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(handle, i))
            guard n > 0, let p = sqlite3_column_blob(handle, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: return .text(text(i))
        }
    }
    public func int(_ i: Int32) -> Int64 { sqlite3_column_int64(handle, i) }
    public func optInt(_ i: Int32) -> Int64? { isNull(i) ? nil : int(i) }
    /// The column's text, whole (by its length: a NUL inside it is part of the text); "" for NULL.
    public func text(_ i: Int32) -> String { bytes(i).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    public func optText(_ i: Int32) -> String? { isNull(i) ? nil : text(i) }
    /// The column's text bytes, valid until the next step (nil for NULL), without making a `String`.
    public func bytes(_ i: Int32) -> UnsafeBufferPointer<UInt8>? {
        guard let p = sqlite3_column_text(handle, i) else { return nil }
        return UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(handle, i)))
    }
}

/// A statement's result columns by name, so rows are decoded by name and a reordered SELECT still decodes.
public struct ColumnMap: Sendable {
    let indexes: [String: Int32]
    let sql: String

    /// The position of column `name`; an error naming the column and the statement when the SELECT lacks it.
    public func callAsFunction(_ name: String) throws -> Int32 {
        guard let i = indexes[name] else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "the query has no column \(name)", sql: sql)
        }
        return i
    }

    public func has(_ name: String) -> Bool { indexes[name] != nil }
}

/// Column positions for one kind of row, resolved by name from a statement's `ColumnMap` (see `Statement.layout`).
public protocol RowLayout {
    init(_ columns: ColumnMap) throws
}
