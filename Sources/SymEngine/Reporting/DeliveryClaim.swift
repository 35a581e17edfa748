import Foundation
import SymModel
import SymStore

/// Audit reporting on a store shared by a fleet of daemons (docs/audit.md, "Reporting in a fleet"): whose cursor a
/// destination has, and how a shared one is claimed.
public struct ReportingFleet: Sendable {
    /// This daemon's `host_name`: the prefix of its local destinations' cursors.
    public var hostName: String
    /// The PostgreSQL store, for the connections that hold claims on shared destinations.
    public var conninfo: String

    public init(hostName: String, conninfo: String) { self.hostName = hostName; self.conninfo = conninfo }
}

extension ReportingDestinations {
    /// Whether each bastion delivers the destination on its own (a file, a program or a socket on that machine) rather
    /// than the fleet delivering it once (`http`).
    public static func isLocal(_ d: Destination) -> Bool { d.type != "http" }

    /// The destination's cursor in the `delivery` table. On a SQLite store (`host` nil) it is `key(for:)`; on a shared
    /// store a local destination's cursor is its bastion's: `HOST/KEY` (e.g. `bastion-a/jsonl:/var/log/x`), so every
    /// bastion ships the whole chain into its own file, program or syslog. A shared destination has one cursor.
    public static func cursorKey(for d: Destination, host: String?) -> String {
        guard let host, isLocal(d) else { return key(for: d) }
        return host + "/" + key(for: d)
    }
}

/// The right to deliver one shared destination, held by one worker of the whole fleet at a time: a session-level
/// advisory lock `pg_try_advisory_lock(0x73747264, hashtext(SCHEMA/KEY))` ("strd"; the schema the store lives in, so
/// two stores in one database do not share claims) on a connection of the worker's own.
/// The server ends the lock with that connection, so a daemon that dies or loses the store hands the destination
/// over to another daemon's worker, which reads the cursor only once it holds the claim (in order, at least once).
/// Two keys with the same hash share one claim: they are then delivered by one daemon, never by none.
final class DeliveryClaim {
    /// The first key of the lock: "strd".
    static let lockClass: Int32 = 0x73747264

    let conninfo: String
    let key: String
    let applicationName: String
    private var connection: PostgresConnection?
    private(set) var held = false

    init(conninfo: String, key: String, hostName: String) {
        self.conninfo = conninfo; self.key = key
        applicationName = "symtui reporting " + String(hostName.prefix(40))
    }

    deinit { release() }

    /// Whether this worker holds the claim now. A held claim is checked on its connection (one the server dropped
    /// lost it: false, and the next call tries again on a new one); a free one is taken. Throws when the store cannot
    /// be reached.
    func hold() throws -> Bool {
        if held, let c = connection {
            if (try? c.execute("SELECT 1")) != nil { return true }
            release()
            return false
        }
        if connection == nil {
            connection = try PostgresConnection(conninfo: conninfo, applicationName: applicationName)
        }
        do {
            held = try connection?.execute("SELECT pg_try_advisory_lock(\(Self.lockClass), hashtext(current_schema() || '/' || $1))", [key]).first?.first == "t"
        } catch {
            release()
            throw error
        }
        return held
    }

    /// Lets the claim go (its connection closes).
    func release() {
        connection?.close()
        connection = nil
        held = false
    }
}
