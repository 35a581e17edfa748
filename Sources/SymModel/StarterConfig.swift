/// The commented starter configuration that `symtui init` writes; it passes `symtui config check` as is.
public enum StarterConfig {
    public static let text: String = #"""
// SymTUI configuration (JSON5: comments and trailing commas are allowed).
// Check it with `symtui config check`; every key is described in the SymTUI documentation.
{
  // The SQLite store; only the daemon opens it (0600). Default: ~/.local/state/symtui/symtui.db
  // store: "/var/lib/symtui/symtui.db",
  // Daemon socket. Default: next to the store.
  // socket: "/run/symtui/symtui.sock",
  // Trusted direct readers (default: none, "0600"): these users can stall the daemon; keep the group to admins.
  // store_group: "symtui", store_mode: "0640",
  // This bastion's name in a fleet (requests record it; `symtui hosts` lists it). Default: the machine's host name.
  // host_name: "bastion-eu-1",

  // Strategies grant and remove access: unix_group, sudoers, command, http, ssh_cert or postgres_role.
  strategies: [
    {
      name: "example-command",
      type: "command",
      // Absolute paths, run without a shell. Replace /bin/true with your own grant/revoke programs;
      // they get SYMTUI_USER, SYMTUI_TARGET, SYMTUI_REQUEST_ID, SYMTUI_EXPIRES_AT in their environment.
      // What escalate prints as JSON reaches deescalate on stdin and is shown in the audit log, except
      // what it puts under a "secret" object.
      settings: { escalate: "/bin/true", deescalate: "/bin/true", timeout: "30s" },
      targets: [
        // runs_on: which daemon of a fleet runs a target's steps: "requester_host" (the default here), "any", or a host name.
        { name: "staging-db", label: "Staging database (read-write)", settings: { role: "staging_rw" } },
      ],
    },
    // A unix_group strategy adds the requester to a group while access lasts (the daemon runs as root):
    // { name: "prod-groups", type: "unix_group",
    //   targets: [ { name: "prod-ssh", label: "Production SSH", settings: { group: "prod-ssh" } } ] },
  ],

  flows: [
    {
      // An access flow: it names a strategy, so approved requests grant access for a while.
      name: "staging-access",
      label: "Staging database access",
      strategy: "example-command",
      approvers: { groups: ["wheel"], users: [] },  // who may decide: Unix groups and/or users
      required_approvals: 1,
      allow_self_approval: false,
      allow_revoke: true,
      schedule_deescalation: true,  // access ends by itself after the chosen duration
      request_ttl: "1h",            // a pending request expires after this
      max_duration: "8h",
      prompt_fields: [
        { name: "reason", type: "string", label: "Why do you need access?", required: true },
        { name: "duration", type: "duration", label: "For how long?", allowed_values: ["15m", "1h", "4h"], default: "1h" },
      ],
      // implementation: "/etc/symtui/impl/staging.py",  // optional Python handlers (get_approvers, on_request…)
    },
    {
      // An approval-only flow: no strategy, no duration; the decision is recorded (hooks may act on it).
      name: "run-reindex",
      label: "Run the nightly reindex now",
      approvers: { groups: ["wheel"] },
      prompt_fields: [
        { name: "reason", type: "string", label: "Why now?", required: true },
      ],
    },
  ],

  // Where audit events are shipped besides the store.
  reporting: {
    destinations: [
      // { type: "jsonl", path: "/var/log/symtui/audit.jsonl" },
      // { type: "syslog" },
      // { type: "http", url: "http://127.0.0.1:9000/audit" },
    ],
  },

  // How much one user may ask of the daemon (these are the defaults).
  // limits: { pending_per_user: 20, field_bytes: 16384, request_bytes: 65536 },

  // Console keys rebound: action → one character (approve, deny, revoke, cancel, release, extend,
  // request_again, filter, sort, sort_reverse, move_up, move_down, first, last).
  // console: { keys: { approve: "y", deny: "n" } },
}

"""#
}
