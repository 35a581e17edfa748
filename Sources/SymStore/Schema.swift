/// Versioned migrations: entry N brings the schema from version N to N+1 (PRAGMA user_version).
enum Schema {
    static let migrations: [String] = [
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE requests(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            flow TEXT NOT NULL,
            target TEXT,
            target_label TEXT,
            requester TEXT NOT NULL,
            state TEXT NOT NULL,
            end_reason TEXT,
            fields TEXT NOT NULL,
            duration_seconds INTEGER,
            created_at INTEGER NOT NULL,
            request_expires_at INTEGER NOT NULL,
            decided_at INTEGER,
            access_starts_at INTEGER,
            access_expires_at INTEGER,
            ended_at INTEGER,
            denial TEXT,
            required_approvals INTEGER NOT NULL,
            stuck INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            extends INTEGER REFERENCES requests(id),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            step_output TEXT,
            routing TEXT
        );
        CREATE INDEX requests_state ON requests(state, id);
        CREATE INDEX requests_requester ON requests(requester, id);
        CREATE INDEX requests_pending_ttl ON requests(request_expires_at) WHERE state = 'pending';
        CREATE INDEX requests_active_expiry ON requests(access_expires_at) WHERE state = 'active';
        CREATE INDEX requests_work ON requests(state, next_attempt_at) WHERE state IN ('approved', 'escalating', 'deescalating');
        CREATE TABLE approvals(
            request_id INTEGER NOT NULL REFERENCES requests(id),
            user TEXT NOT NULL,
            at INTEGER NOT NULL,
            reason TEXT,
            self INTEGER NOT NULL,
            step TEXT,
            PRIMARY KEY(request_id, user)
        ) WITHOUT ROWID;
        CREATE TABLE events(
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            time INTEGER NOT NULL,
            type TEXT NOT NULL,
            request_id INTEGER,
            flow TEXT,
            target TEXT,
            requester TEXT,
            actor TEXT NOT NULL,
            reason TEXT,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX events_request ON events(request_id, seq);
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
        CREATE TABLE delivery(
            destination TEXT PRIMARY KEY,
            seq INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_attempt_at INTEGER,
            delivered_at INTEGER
        );
        """,
        // 2: deescalation asks whether the same user holds another live grant of the target (once per grant).
        """
        CREATE INDEX requests_holder ON requests(requester, target, state);
        """,
        // 3: the loop asks, on every wake-up, for the earliest deadline of each state and for approved grants to
        // escalate; with only (state, id) those scans grew with every pending request and every approved job.
        """
        DROP INDEX requests_pending_ttl;
        DROP INDEX requests_active_expiry;
        DROP INDEX requests_work;
        CREATE INDEX requests_ttl ON requests(state, request_expires_at);
        CREATE INDEX requests_expiry ON requests(state, access_expires_at);
        CREATE INDEX requests_retry ON requests(state, next_attempt_at);
        CREATE INDEX requests_to_escalate ON requests(id) WHERE state = 'approved' AND target IS NOT NULL AND extends IS NULL;
        """,
        // 4: the review queue matched each pending request's routing with json_each, parsing the JSON of every
        // row on every refresh; the users and groups it names are now kept as text to search (Store.approverKeys).
        """
        ALTER TABLE requests ADD COLUMN approver_keys TEXT;
        UPDATE requests SET approver_keys = coalesce(char(31) || (
            SELECT group_concat(k, char(31)) FROM (
              SELECT 'u:' || value AS k FROM json_each(routing, '$.users')
              UNION ALL SELECT 'g:' || value FROM json_each(routing, '$.groups')
              UNION ALL SELECT 'u:' || su.value FROM json_each(routing, '$.steps') st, json_each(st.value, '$.users') su
              UNION ALL SELECT 'g:' || sg.value FROM json_each(routing, '$.steps') st, json_each(st.value, '$.groups') sg
              UNION ALL SELECT '!steps' WHERE coalesce(json_array_length(routing, '$.steps'), 0) > 0)
            WHERE instr(k, char(31)) = 0) || char(31), '')
        WHERE routing IS NOT NULL;
        """,
        // 5: events may carry an HMAC of their hash, made with a key only the daemon reads (`reporting.hmac_key_file`).
        """
        ALTER TABLE events ADD COLUMN hmac TEXT;
        """,
        // 6: every commit wrote a page of each (state, …) index, for every request ever made; as partial indexes they
        // hold only the rows the loop looks for, and a new request or a final decision touches fewer of them
        // (WAL frames per request + approve: 11 → 8). The loop's queries name them (INDEXED BY): without
        // statistics the planner would take requests_state instead.
        """
        DROP INDEX requests_ttl;
        DROP INDEX requests_expiry;
        DROP INDEX requests_retry;
        DROP INDEX requests_holder;
        CREATE INDEX requests_ttl ON requests(request_expires_at) WHERE state = 'pending';
        CREATE INDEX requests_expiry ON requests(access_expires_at) WHERE state = 'active';
        CREATE INDEX requests_retry ON requests(next_attempt_at) WHERE state IN ('escalating', 'deescalating');
        CREATE INDEX requests_holder ON requests(requester, target) WHERE state IN ('active', 'escalating');
        """,
        // 7: `symtui metrics` counts handler failures and approval times on every scrape; these partial indexes hold
        // only those rows, so a scrape does not read the whole log or every request ever made.
        """
        CREATE INDEX events_handler_failures ON events(seq) WHERE type = 'handler' AND reason IS NOT NULL;
        CREATE INDEX requests_approval_time ON requests(decided_at - created_at) WHERE decided_at IS NOT NULL AND denial IS NULL;
        """,
        // 8: the notification outbox, written in the transaction of the change that causes each notification. One row
        // per channel and recipient ('' for a channel that gets one copy); the unique key is the de-duplication (`dedup`
        // tells apart the repeats of one kind: the n-th reminder, the warning before one expiry time).
        """
        CREATE TABLE notifications(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id INTEGER,
            kind TEXT NOT NULL,
            dedup TEXT NOT NULL DEFAULT '',
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            last_attempt_at INTEGER,
            last_error TEXT,
            delivered_at INTEGER,
            UNIQUE(request_id, kind, dedup, channel, recipient)
        );
        CREATE INDEX notifications_due ON notifications(channel, next_attempt_at) WHERE delivered_at IS NULL;
        """,
        // 9: `symtui report` counts the grants active on each day of a window, those that began before it included;
        // without this the question reads every request ever made. Only rows that became grants are in it (a row
        // enters when its access starts and moves once when it ends), by end time and start, so it covers the query.
        """
        CREATE INDEX requests_grant_span ON requests(ended_at, access_starts_at) WHERE access_starts_at IS NOT NULL;
        """,
        // 10: the fleet. `host` is the bastion a request was made on, `runs_on` the host whose daemon runs its strategy
        // steps (NULL: any daemon); rows made before are given the migrating daemon's host_name for both (`Store.migrate`):
        // a store of one bastion keeps running its work where it always did. `hosts` has each daemon's heartbeat.
        """
        ALTER TABLE requests ADD COLUMN host TEXT;
        ALTER TABLE requests ADD COLUMN runs_on TEXT;
        CREATE TABLE hosts(
            host TEXT PRIMARY KEY,
            version TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            seen_at INTEGER NOT NULL
        );
        """,
        // 11: every new request counts its requester's pending requests (`limits.pending_per_user`) inside its write;
        // through requests_requester that read every request the user ever made, a row each, on the writer.
        """
        CREATE INDEX requests_pending_requester ON requests(requester) WHERE state = 'pending';
        """,
    ]

    /// The migration that added `requests.host` and `requests.runs_on` (old rows are filled in after it runs).
    static let fleetVersion = 10

    static var version: Int { migrations.count }

    /// The triggers that make the events table append-only, by name (also in migration 1).
    static let appendOnlyTriggers: [(name: String, sql: String)] = [
        ("events_no_update", "CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"),
        ("events_no_delete", "CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"),
    ]
}
