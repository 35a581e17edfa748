import Foundation
import SymModel

// The PostgreSQL store's audit chain as `audit verify` reads it, and the privileges of a daemon's own role.

extension PostgresStore: AuditChainSource {
    public func chainRows(afterSeq: Int64, limit: Int) throws -> [ChainRow] {
        try execute("SELECT \(PostgresSession.eventColumns) FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                    [String(afterSeq), String(limit)]).map { c in
            ChainRow(seq: Int64(c[0] ?? "") ?? 0, id: c[1] ?? "", timeMs: Int64(c[2] ?? "") ?? 0, type: c[3] ?? "",
                     requestId: c[4].flatMap { Int64($0) }, flow: c[5], target: c[6], requester: c[7], actor: c[8] ?? "", reason: c[9],
                     data: c[10] ?? "", prevHash: c[11] ?? "", hash: c[12] ?? "", hmac: c[13])
        }
    }

    public func event(seq: Int64) throws -> AuditEvent? { try read { try $0.event(seq: seq) } }

    /// Grants `role` what a daemon needs on the store's tables in `schema`, and no more: it may append events but never
    /// UPDATE, DELETE or TRUNCATE them, so that the log stays append-only even if the trigger were dropped. Run by the
    /// role that owns the schema (the one that migrated it). Names are quoted by the server (`format('%I')`).
    public func grantDaemonPrivileges(to role: String, schema: String) throws {
        try lock.withLock {
            try session.autocommit {
                for template in PostgresSchema.daemonGrants {
                    let names = template.contains("SCHEMA %I") ? [schema, role] : [role]
                    try session.executeFormatted(template, identifiers: names)
                }
            }
        }
    }
}
