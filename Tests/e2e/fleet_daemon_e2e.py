"""End-to-end: `symtui daemon` serving a PostgreSQL store — one daemon, then two bastions (two daemons with their own
`host_name`, socket and state directory) sharing one database. A real PostgreSQL 15 cluster for the module (see
fleet_e2e.PostgresClusterMixin), real throwaway users, a real unix_group target. Loaded by run.py."""

import json
import os
import secrets
import signal
import socket
import subprocess
import time

from symtui_harness import STARTED_PIDS
from symtui_harness import SymtuiCase as E2ECase
from fleet_e2e import PostgresClusterMixin


class PostgresDaemonTests(PostgresClusterMixin, E2ECase):
    """The daemon on PostgreSQL behaves as on SQLite, through the same CLI; consoles and the CLI hold no credentials."""

    REQUESTERS = ["a"]
    APPROVERS = ["c"]
    EXTRA_GROUPS = ["target"]
    START_DAEMON = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.databases = 0
        # Bastion B's daemon logs in with a role of its own that holds only what a daemon needs (docs/deployment.md).
        password = secrets.token_hex(16)
        cls.sql(f"CREATE ROLE symtui_bastion_b LOGIN PASSWORD '{password}'", db="postgres")
        with open(cls.passfile, "a") as f:
            f.write(f"127.0.0.1:{cls.pg_port}:*:symtui_bastion_b:{password}\n")

    def setUp(self):
        super().setUp()
        self.bastions = {}
        type(self).databases += 1
        self.db_uri = self.new_database(f"fleet{self.databases}")

    def tearDown(self):
        codes = {name: self.stop_bastion(name) for name in list(self.bastions)}
        super().tearDown()
        for name, code in codes.items():
            self.assertEqual(code, 0, f"daemon {name} exited {code} on SIGTERM")

    # -- bastions -----------------------------------------------------------------------------------

    def bastion_config(self, name, host_name, uri=None):
        """A config for bastion NAME: the class's flows, the shared store URI, its own socket and host_name."""
        text = self.config_text()
        cfg = json.loads(text.split("\n", 1)[1])
        state = os.path.join(self.dir, f"state-{name}-{self.databases}")
        cfg.update({"store": uri or self.db_uri, "socket": os.path.join(state, "symtui.sock"), "host_name": host_name})
        for key, items in getattr(self, "extra_config", {}).items():
            cfg[key] = cfg.get(key, []) + items
        path = os.path.join(self.dir, f"config-{name}-{self.databases}.json5")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        os.chmod(path, 0o644)
        return path, cfg["socket"]

    def start_bastion(self, name, host_name=None, expect_start=True, uri=None):
        config, sock = self.bastion_config(name, host_name or f"bastion-{name}", uri)
        log = os.path.join(self.dir, f"daemon-{name}-{self.databases}.log")
        with open(log, "ab") as logf:
            p = subprocess.Popen([self.bin, "--config", config, "daemon"], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                 cwd=self.dir)
        STARTED_PIDS.append(p.pid)
        if not expect_start:
            return p, config, log
        self.bastions[name] = (p, config, sock, log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if p.poll() is not None:
                self.fail(f"daemon {name} exited {p.returncode} at start: {self.log_of(name)}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sock)
                return p
            except OSError:
                pass
            finally:
                s.close()
            time.sleep(0.05)
        self.fail(f"daemon {name} did not open {sock} within 20 s: {self.log_of(name)}")

    def stop_bastion(self, name):
        p = self.bastions.pop(name)[0]
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            code = None
        if p.pid in STARTED_PIDS:
            STARTED_PIDS.remove(p.pid)
        return code

    def log_of(self, name):
        with open(self.bastions[name][3], errors="replace") as f:
            return f.read()[-1500:]

    def on(self, name, role, *args, check=True):
        """`symtui --config <bastion NAME's> ARGS` as ROLE (root when None); asserts exit 0 when `check`."""
        config = self.bastions[name][1]
        cmd = [self.bin, "--config", config] + [str(a) for a in args]
        if role is not None:
            cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups"] + cmd
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env, cwd=self.dir, stdin=subprocess.DEVNULL)
        if check:
            self.assertEqual(r.returncode, 0, f"symtui {' '.join(map(str, args))} as {role} on {name}: exit {r.returncode}\n"
                                              f"stdout: {r.stdout}\nstderr: {r.stderr}\ndaemon log: {self.log_of(name)}")
        return r

    def request_on(self, name, role):
        out = self.on(name, role, "request", "grp", "tgt", "--duration", "1h", "--reason", "fleet e2e").stdout.strip()
        self.assertRegex(out, r"^\d+$", "request prints the request id alone")
        return int(out)

    def wait_on(self, name, rid, state, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            req = json.loads(self.on(name, None, "show", rid, "--json").stdout)
            if req["state"] == state:
                return req
            if time.time() > deadline:
                self.fail(f"request {rid} is {req['state']} on {name} after {timeout} s, expected {state}; "
                          f"error={req.get('error')!r}; daemon log: {self.log_of(name)}")
            time.sleep(0.1)

    def wait_member(self, present, timeout=10.0):
        group, user = self.groups["target"], self.users["a"]
        deadline = time.time() + timeout
        while (user in self.group_members(group)) != present:
            if time.time() > deadline:
                self.fail(f"{user} is {'not ' if present else 'still '}a member of {group} after {timeout} s")
            time.sleep(0.1)

    # -- one daemon ---------------------------------------------------------------------------------

    def test_one_daemon_on_postgresql_grants_and_revokes_a_unix_group_and_answers_list_show_status_and_verify(self):
        self.start_bastion("a")
        rid = self.request_on("a", "a")
        review = json.loads(self.on("a", "c", "list", "--review", "--json").stdout)
        self.assertIn(rid, [r["id"] for r in review], "the approver's review queue, read through the daemon")
        self.on("a", "c", "approve", rid)
        self.wait_on("a", rid, "active")
        self.wait_member(True)
        self.on("a", None, "check")   # the grant and the group agree: no drift (exit 0)
        status = json.loads(self.on("a", "a", "status", "--format", "json").stdout)
        self.assertIn(rid, [g["id"] for g in status["grants"]], status)
        mine = json.loads(self.on("a", "a", "list", "--mine", "--json").stdout)
        self.assertEqual([r["id"] for r in mine], [rid])
        self.on("a", "c", "revoke", rid, "--reason", "done")
        self.wait_on("a", rid, "ended")
        self.wait_member(False)
        shown = json.loads(self.on("a", "a", "show", rid, "--json").stdout)
        self.assertEqual(shown["requester"], self.users["a"])
        verify = json.loads(self.on("a", None, "--json", "audit", "verify").stdout)
        self.assertTrue(verify["ok"], verify)
        events = int(self.sql("SELECT count(*) FROM events", db=f"fleet{self.databases}"))
        self.assertEqual(verify["checked"], events, "every event of the database, through the daemon")
        types = self.sql(f"SELECT string_agg(type, ',' ORDER BY seq) FROM events WHERE request_id = {rid}", db=f"fleet{self.databases}")
        self.assertEqual(types.split(","), ["request", "approve", "escalate", "revoke", "deescalate"])

    def test_a_second_daemon_with_the_same_host_name_is_refused_with_69_and_says_why(self):
        self.start_bastion("a", host_name="same")
        p, config, log = self.start_bastion("b", host_name="same", expect_start=False)
        try:
            code = p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            STARTED_PIDS.remove(p.pid)
        with open(log, errors="replace") as f:
            text = f.read()
        self.assertEqual(code, 69, text)
        self.assertIn("host_name same", text)
        # The first one still serves.
        self.on("a", "a", "status")

    def test_backup_of_a_postgresql_store_is_refused_and_names_pg_dump(self):
        self.start_bastion("a")
        out = os.path.join(self.dir, f"backup-{self.databases}")
        os.makedirs(out, mode=0o700)
        r = self.on("a", None, "backup", os.path.join(out, "copy.db"), check=False)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("pg_dump", r.stderr)
        self.assertEqual(os.listdir(out), [], "nothing was written")

    def test_without_its_daemon_the_cli_answers_69_and_never_opens_the_database_itself(self):
        self.start_bastion("a")
        rid = self.request_on("a", "a")
        p, config, sock, log = self.bastions["a"]
        self.assertEqual(self.stop_bastion("a"), 0)
        for role, args in [("a", ["status"]), ("c", ["list", "--review"]), (None, ["show", str(rid)]), (None, ["audit", "verify"])]:
            r = self.run_as(role, "--config", config, *args, config=False)
            self.assert_refused(r, 69, "daemon is not running")
            if args != ["status"]:   # status has a short message of its own
                self.assertIn("everything goes through it", r.stderr)

    def test_a_command_that_reads_the_store_file_says_a_postgresql_store_is_read_through_the_daemon(self):
        config, _ = self.bastion_config("a", "bastion-a")
        r = self.run_as(None, "--config", config, "store", "migrate", "--to", self.database_uri("symtui"), config=False)
        self.assert_refused(r, 69, "the store is a PostgreSQL database")
        self.assertIn("ask the daemon instead", r.stderr)

    # -- two bastions -------------------------------------------------------------------------------

    def daemon_role_uri(self, role):
        """The database's URI for ROLE, after granting it only what a daemon needs (the schema exists by then)."""
        db = f"fleet{self.databases}"
        for grant in [f"GRANT USAGE ON SCHEMA public TO {role}", f"GRANT SELECT, INSERT ON events TO {role}",
                      f"GRANT SELECT, INSERT, UPDATE ON requests, approvals, chain_head, delivery, notifications, hosts TO {role}",
                      f"GRANT SELECT ON schema_version TO {role}", f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"]:
            self.sql(grant, db=db)
        return self.db_uri.replace("symtui_owner@", f"{role}@")

    def test_a_request_made_on_bastion_a_is_reviewed_approved_and_revoked_from_bastion_b(self):
        self.start_bastion("a")   # the owner role: it makes the schema
        self.start_bastion("b", uri=self.daemon_role_uri("symtui_bastion_b"))
        rid = self.request_on("a", "a")
        review = json.loads(self.on("b", "c", "list", "--review", "--json").stdout)
        self.assertIn(rid, [r["id"] for r in review], "B's review queue holds the request made on A")
        shown = json.loads(self.on("b", "c", "show", rid, "--json").stdout)
        self.assertEqual((shown["requester"], shown["state"]), (self.users["a"], "pending"))
        self.on("b", "c", "approve", rid)
        self.wait_on("a", rid, "active")
        self.wait_member(True)
        self.assertNotIn(rid, [r["id"] for r in json.loads(self.on("a", "c", "list", "--review", "--json").stdout)],
                         "decided: in nobody's queue, on either bastion")
        self.on("b", "c", "revoke", rid, "--reason", "done from B")
        self.wait_on("a", rid, "ended")
        self.wait_member(False)
        for name in ("a", "b"):
            verify = json.loads(self.on(name, None, "--json", "audit", "verify").stdout)
            self.assertTrue(verify["ok"], verify)
        seqs = self.sql("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM events", db=f"fleet{self.databases}").split(",")
        self.assertEqual([int(s) for s in seqs], list(range(1, len(seqs) + 1)), "one gapless chain for the fleet")
        approvals = self.sql(f"SELECT count(*) FROM events WHERE request_id = {rid} AND type = 'approve'", db=f"fleet{self.databases}")
        self.assertEqual(approvals, "1")
        # runs_on requester_host (unix_group's default): A's daemon ran both steps, though B approved and revoked.
        self.assertEqual(self.step_hosts(rid), [("escalate", "bastion-a"), ("deescalate", "bastion-a")])

    def step_hosts(self, rid):
        """(type, data.host) of a request's escalate/deescalate events, in chain order."""
        rows = self.sql(f"SELECT type || ' ' || (data::json->>'host') FROM events WHERE request_id = {rid} "
                        f"AND type IN ('escalate', 'deescalate') ORDER BY seq", db=f"fleet{self.databases}")
        return [tuple(line.split(" ", 1)) for line in rows.splitlines() if line]

    def test_an_http_target_is_escalated_by_whichever_daemon_is_up_while_a_group_waits_for_its_own_bastion(self):
        from notifications_e2e import Receiver
        rx = Receiver()
        self.addCleanup(rx.stop)
        extra = {"strategies": [{"name": "web", "type": "http", "settings": {"url": rx.url("/grant"), "timeout": "5s"},
                                 "targets": [{"name": "app", "label": "App admin", "settings": {"role": "admin"}}]}],
                 "flows": [{"name": "web", "label": "Web access", "strategy": "web", "approvers": {"groups": [self.oncall]},
                            "prompt_fields": [{"name": "reason", "type": "string", "label": "Why?", "required": True},
                                              {"name": "duration", "type": "duration", "label": "How long", "required": True}]}]}
        self.extra_config = extra
        self.start_bastion("a")
        self.start_bastion("b", uri=self.daemon_role_uri("symtui_bastion_b"))
        web = int(self.on("a", "a", "request", "web", "app", "--duration", "1h", "--reason", "http").stdout.strip())
        grp = self.request_on("a", "a")
        self.assertEqual(self.stop_bastion("a"), 0)
        self.on("b", "c", "approve", web)
        self.on("b", "c", "approve", grp)
        self.wait_on("b", web, "active")
        self.assertEqual(self.step_hosts(web), [("escalate", "bastion-b")], "runs_on any: B ran it with A down")
        self.assertEqual([b["action"] for b in rx.bodies("/grant")], ["escalate"])
        time.sleep(1.0)   # B's grant loop has passed over the group grant several times by now
        self.assertEqual(self.wait_on("b", grp, "escalating")["state"], "escalating", "the group grant waits for bastion A")
        self.assertEqual(self.step_hosts(grp), [])
        self.start_bastion("a")
        self.wait_on("a", grp, "active")
        self.wait_member(True)
        self.assertEqual(self.step_hosts(grp), [("escalate", "bastion-a")])
