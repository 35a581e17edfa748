import Foundation
import SymModel
import SymStore

/// `postgres_role`: `GRANT role TO user` and `REVOKE role FROM user` on the server of setting `conninfo`, with
/// the statements built by the server's `format('%I')`. The database user is the requester's Unix name, or
/// what `user_map` maps it to; it must already exist (symtui grants roles, it does not create logins).
/// With `end_sessions: terminate` (the default), deescalation ends the user's sessions that may still act as
/// the role (`SET ROLE` survives a `REVOKE`); with `report` it lists them. Either way they are in `data.sessions`.
public struct PostgresRoleStrategy: AccessStrategy {
    public var strategy: Strategy
    public init(strategy: Strategy) { self.strategy = strategy }

    /// What one operation needs, checked: the connection string, the database role to grant and the member.
    struct Names: Equatable {
        var conninfo: String
        var role: String
        var member: String
        var endSessions: EndSessions
    }

    enum EndSessions: String { case terminate, report }

    public func escalate(_ ctx: GrantContext) -> StrategyOutcome {
        let names: Names
        switch Self.names(settings: ctx.settings, user: ctx.user) {
        case let .failure(f): return .failure(f.message)
        case let .success(n): names = n
        }
        var data = Self.baseData(names)
        do {
            let db = try PostgresConnection(conninfo: names.conninfo)
            defer { db.close() }
            try Self.requireRoles(db, names)
            if try Self.isMember(db, names) { return .success(data: data + [("already_member", .bool(true))]) }
            try db.executeFormatted("GRANT %I TO %I", identifiers: [names.role, names.member])
            guard try Self.isMember(db, names) else {
                return .failure("postgres_role: GRANT \(names.role) TO \(names.member) ran but \(names.member) is not a member", data: data)
            }
            data.append(("granted", .bool(true)))
            return .success(data: data)
        } catch {
            return .failure("postgres_role: \(error)", data: data)
        }
    }

    public func deescalate(_ ctx: GrantContext) -> StrategyOutcome {
        let names: Names
        switch Self.names(settings: ctx.settings, user: ctx.user) {
        case let .failure(f): return .failure(f.message)
        case let .success(n): names = n
        }
        var data = Self.baseData(names)
        do {
            let db = try PostgresConnection(conninfo: names.conninfo)
            defer { db.close() }
            if try Self.isMember(db, names) {
                try db.executeFormatted("REVOKE %I FROM %I", identifiers: [names.role, names.member])
                guard try !Self.isMember(db, names) else {
                    return .failure("postgres_role: REVOKE \(names.role) FROM \(names.member) ran but \(names.member) is still a member", data: data)
                }
            } else {
                data.append(("already_absent", .bool(true)))
            }
            // After the REVOKE, so that no session can take the role again once listed.
            let sessions = try Self.endSessions(db, names)
            data.append(("sessions", .array(sessions.map(\.json))))
            let failed = sessions.filter { $0.outcome == "failed" }
            if !failed.isEmpty {
                return .failure("postgres_role: could not end session(s) " + failed.map { String($0.pid) }.joined(separator: ", ")
                                + " of \(names.member)", data: data)
            }
            return .success(data: data)
        } catch {
            return .failure("postgres_role: \(error)", data: data)
        }
    }

    /// Members of the role, as Unix user names (mapped back through `user_map`).
    public func check(target: Target) -> Result<AccessCheck, StrategyFailure>? {
        let settings = strategy.settings(for: target)
        guard let conninfo = settings["conninfo"]?.stringValue, let role = settings["role"]?.stringValue,
              TargetNames.isDatabaseRole(role) else {
            return .failure(StrategyFailure("postgres_role target \(target.name): settings conninfo and a plain role are needed"))
        }
        do {
            let db = try PostgresConnection(conninfo: conninfo)
            defer { db.close() }
            let rows = try db.execute("""
                SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
                WHERE r.rolname = $1
                """, [role])
            let back = Dictionary(Self.userMap(settings).map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            return .success(AccessCheck(users: Set(rows.compactMap { $0.first ?? nil }.map { back[$0] ?? $0 })))
        } catch {
            return .failure(StrategyFailure("postgres_role: \(error)"))
        }
    }

    public func validate(_ ctx: GrantContext) -> StrategyFailure? {
        if case let .failure(f) = Self.names(settings: ctx.settings, user: ctx.user) { return f }
        return nil
    }

    // MARK: - Names

    static func userMap(_ settings: [String: JSONValue]) -> [String: String] {
        var map: [String: String] = [:]
        for (k, v) in settings["user_map"]?.objectValue ?? [] { if let s = v.stringValue { map[k] = s } }
        return map
    }

    /// The checked names of one operation; anything not plain is refused before a connection is made.
    static func names(settings: [String: JSONValue], user: String) -> Result<Names, StrategyFailure> {
        guard let conninfo = settings["conninfo"]?.stringValue, !conninfo.isEmpty else {
            return .failure(StrategyFailure("postgres_role: setting `conninfo` is missing"))
        }
        if ConnInfo.containsPassword(conninfo) {
            return .failure(StrategyFailure("postgres_role: conninfo contains a password; use a libpq passfile"))
        }
        guard let role = settings["role"]?.stringValue else { return .failure(StrategyFailure("postgres_role: setting `role` is missing")) }
        guard TargetNames.isDatabaseRole(role) else {
            return .failure(StrategyFailure("postgres_role: \"\(SafeText.display(role))\" is not a plain database role name"))
        }
        guard UnixName.isValid(user) else { return .failure(StrategyFailure("postgres_role: \"\(SafeText.display(user))\" is not a plain user name")) }
        let member = userMap(settings)[user] ?? user
        guard TargetNames.isDatabaseRole(member) else {
            return .failure(StrategyFailure("postgres_role: \"\(SafeText.display(member))\" (the database user of \(user)) is not a plain database role name"))
        }
        guard member != role else { return .failure(StrategyFailure("postgres_role: cannot grant role \(role) to itself")) }
        let mode = settings["end_sessions"]?.stringValue ?? EndSessions.terminate.rawValue
        guard let endSessions = EndSessions(rawValue: mode) else {
            return .failure(StrategyFailure("postgres_role: end_sessions is \"\(SafeText.display(mode))\"; expected terminate or report"))
        }
        return .success(Names(conninfo: conninfo, role: role, member: member, endSessions: endSessions))
    }

    static func baseData(_ n: Names) -> [(String, JSONValue)] {
        [("role", .string(n.role)), ("member", .string(n.member))]
    }

    // MARK: - SQL

    private static func requireRoles(_ db: PostgresConnection, _ n: Names) throws {
        let rows = try db.execute("SELECT rolname FROM pg_roles WHERE rolname = $1 OR rolname = $2", [n.role, n.member])
        let found = Set(rows.compactMap { $0.first ?? nil })
        for name in [n.role, n.member] where !found.contains(name) {
            throw PostgresError(sqlState: "42704", message: "database role \"\(name)\" does not exist")
        }
    }

    private static func isMember(_ db: PostgresConnection, _ n: Names) throws -> Bool {
        let rows = try db.execute("""
            SELECT 1 FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
            WHERE r.rolname = $1 AND m.rolname = $2
            """, [n.role, n.member])
        return !rows.isEmpty
    }

    /// One database session of the user, and what was done to it.
    struct Session {
        var pid: Int64
        var database: String?
        var startedAt: String?
        var outcome: String   // terminated, gone, failed, reported
        var json: JSONValue {
            .object([("pid", .int(pid)), ("database", .str(database)), ("backend_start", .str(startedAt)), ("outcome", .string(outcome))])
        }
    }

    /// PostgreSQL does not show another session's current role, so every session of the member may still act
    /// as the role through an earlier `SET ROLE`: all of them are ended (or listed), except this one. Without
    /// pg_read_all_stats the server hides the sessions' start times (they are then null); pids and databases show.
    private static func endSessions(_ db: PostgresConnection, _ n: Names) throws -> [Session] {
        let rows = try db.execute("""
            SELECT pid::text, datname, to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()
            ORDER BY pid
            """, [n.member])
        var sessions: [Session] = []
        for row in rows {
            guard let text = row[0], let pid = Int64(text) else { continue }
            var s = Session(pid: pid, database: row[1], startedAt: row[2], outcome: "reported")
            if n.endSessions == .terminate {
                let answer = try db.execute("SELECT pg_terminate_backend($1::int, 5000)", [text])
                if answer.first?.first == "t" { s.outcome = "terminated" }
                else {
                    let still = try db.execute("SELECT 1 FROM pg_stat_activity WHERE pid = $1::int", [text])
                    s.outcome = still.isEmpty ? "gone" : "failed"
                }
            }
            sessions.append(s)
        }
        return sessions
    }
}
