import Foundation
import SymModel
import SymProtocol
import SymStore

/// `symtui store migrate`: moves a bastion's SQLite store onto the fleet's PostgreSQL (docs/store.md).
enum StoreCommands {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["store", "migrate"], summary: "copy this SQLite store into an empty PostgreSQL database, then verify its audit chain there (root)",
                    options: [.value("to", "URI", "the PostgreSQL store (a libpq URI; the password in a passfile, never in the URI)")],
                    details: """
                    Copies requests, approvals, audit events (seq, hashes and signatures unchanged), reporting cursors and queued
                    notifications, in one transaction, from one consistent read of the store file (the config's `store`, or --db).
                    A target that holds any row is refused (exit 73) and left as it was. Stop the daemon first, so that nothing is
                    decided after the copy. The target's schema is made (or brought up to date) first, so the role in URI must own
                    it. Exit 69 when PostgreSQL cannot be reached. Then set `store` to the URI (a role of the daemon's own, with
                    host_name per bastion) and start the daemon (docs/deployment.md, "A fleet of bastions on one PostgreSQL").
                    """,
                    run: migrate),
    ] }

    static func migrate(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        guard let uri = a.value("to"), !uri.isEmpty else { throw CommandError(ExitCode.usage, "store migrate needs --to URI (the PostgreSQL store)") }
        if ConnInfo.containsPassword(uri) {
            throw CommandError(ExitCode.usage, "--to holds a password: put it in a libpq passfile (~/.pgpass, PGPASSFILE or passfile=) instead")
        }
        let source = try c.store()
        let target: PostgresStore
        do { target = try PostgresStore(conninfo: uri, hostName: ProcessInfo.processInfo.hostName) } catch {
            throw CommandError(ExitCode.unavailable, "cannot open the PostgreSQL store \(PostgresStore.redacted(uri)): \(error)")
        }
        let started = Date()
        let counts: StoreMigration.Counts
        do { counts = try StoreMigration.copy(from: source, to: target) } catch let e as StoreError {
            throw CommandError(e.message.contains("not empty") ? 73 : ExitCode.unavailable, e.message)
        }
        let seconds = Date().timeIntervalSince(started)
        let v = try AuditVerifier(store: target).verify()
        guard v.ok else {
            throw CommandError(ExitCode.dataErr, "copied, but the audit chain does not verify on the target: \(v.problem.map { "\($0)" } ?? "")")
        }
        if c.json {
            Output.json(.obj([("to", .string(target.location)), ("requests", .int(Int64(counts.requests))), ("approvals", .int(Int64(counts.approvals))),
                              ("events", .int(Int64(counts.events))), ("cursors", .int(Int64(counts.cursors))),
                              ("notifications", .int(Int64(counts.notifications))), ("head_seq", .int(v.headSeq)),
                              ("head_hash", .string(v.headHash)), ("seconds", .double((seconds * 1000).rounded() / 1000))]))
        } else {
            Output.print("store migrate: \(counts.requests) requests, \(counts.approvals) approvals, \(counts.events) events, "
                         + "\(counts.cursors) cursors, \(counts.notifications) notifications copied to \(SafeText.display(target.location)) "
                         + "in \(String(format: "%.1f", seconds)) s; audit chain verified to seq \(v.headSeq)")
        }
        return ExitCode.ok
    }
}
