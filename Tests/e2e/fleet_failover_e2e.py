"""End-to-end: a failover. The class's PostgreSQL 15 primary (fleet_e2e.PostgresClusterMixin) gets a streaming
standby made with `pg_basebackup` and synchronous replication (`synchronous_standby_names = '*'`), as an HA
PostgreSQL does; the daemon's store URI names both servers with `target_session_attrs=read-write`
(docs/deployment.md). During load the primary is killed (`pg_ctl stop -m immediate`) and the standby promoted
(`pg_ctl promote`). Loaded by run.py."""

import json
import os
import secrets
import subprocess
import threading
import time

from fleet_daemon_e2e import PostgresDaemonTests
from fleet_e2e import PGBIN, free_port


class FleetFailoverTests(PostgresDaemonTests):
    """A daemon whose database fails over to its synchronous standby: every call meanwhile answers 0 or 69, nothing it
    acknowledged is lost, and it carries on by itself on the promoted server (grants, revokes, the chain).
    (Only the tests defined here run for this class; see load_tests.)"""

    LIMITS = {"pending_per_user": 1000}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.start_standby()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "standby_started", False):
            cls.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", cls.standby_data, "-m", "immediate", "-w", "stop", check=False)
            cls.standby_started = False
        super().tearDownClass()

    @classmethod
    def start_standby(cls):
        password = secrets.token_hex(16)
        cls.sql(f"CREATE ROLE replicator REPLICATION LOGIN PASSWORD '{password}'", db="postgres")
        # The servers' own passfile, read by pg_basebackup and by the standby's WAL receiver (their user's, 0600).
        cls.pg_passfile = os.path.join(cls.pg_dir, "pgpass")
        with open(cls.pg_passfile, "w") as f:
            f.write(f"127.0.0.1:{cls.pg_port}:*:replicator:{password}\n")
        uid = int(subprocess.run(["id", "-u", cls.pg_user], capture_output=True, text=True, check=True).stdout)
        os.chown(cls.pg_passfile, uid, -1)
        os.chmod(cls.pg_passfile, 0o600)
        cls.standby_data = os.path.join(cls.pg_dir, "standby")
        cls.as_pg("env", f"PGPASSFILE={cls.pg_passfile}", os.path.join(PGBIN, "pg_basebackup"), "-h", "127.0.0.1",
                  "-p", str(cls.pg_port), "-U", "replicator", "-D", cls.standby_data, "-X", "stream", "--checkpoint=fast",
                  "--no-sync")
        with open(os.path.join(cls.standby_data, "postgresql.auto.conf"), "a") as f:
            f.write(f"primary_conninfo = 'host=127.0.0.1 port={cls.pg_port} user=replicator passfile={cls.pg_passfile}'\n")
        open(os.path.join(cls.standby_data, "standby.signal"), "w").close()
        subprocess.run(["chown", "-R", cls.pg_user, cls.standby_data], check=True)
        cls.standby_port = free_port()
        with open(os.path.join(cls.dir, "pg_ctl.out"), "a") as out:
            subprocess.run(["setpriv", "--reuid", cls.pg_user, "--regid", "users", "--clear-groups",
                            os.path.join(PGBIN, "pg_ctl"), "-D", cls.standby_data, "-l", os.path.join(cls.pg_dir, "standby.log"),
                            "-w", "-o", f"-p {cls.standby_port} -k {cls.pg_sock} -c listen_addresses=127.0.0.1 -c fsync=off",
                            "start"], stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=True, cwd="/", timeout=120)
        cls.standby_started = True
        cls.wait_replication("streaming")
        # Synchronous from here on: a commit is acknowledged only once the standby has it, so a failover loses none.
        cls.sql("ALTER SYSTEM SET synchronous_standby_names = '*'", db="postgres")
        cls.sql("SELECT pg_reload_conf()", db="postgres")
        cls.wait_replication("streaming", sync="sync")
        # The daemon's logins work on either server (the roles replicate; the passfile is per host and port).
        with open(cls.passfile) as f:
            lines = f.read().splitlines()
        with open(cls.passfile, "a") as f:
            for line in lines:
                f.write(line.replace(f"127.0.0.1:{cls.pg_port}:", f"127.0.0.1:{cls.standby_port}:", 1) + "\n")

    @classmethod
    def wait_replication(cls, state, sync=None, timeout=60):
        deadline = time.time() + timeout
        want = f"{state}|{sync}" if sync else state
        while time.time() < deadline:
            rows = cls.sql("SELECT state || '|' || sync_state FROM pg_stat_replication", db="postgres").splitlines()
            if any(r == want or (sync is None and r.startswith(state + "|")) for r in rows):
                return
            time.sleep(0.1)
        raise AssertionError(f"the standby is not {want} after {timeout} s: {rows}")

    def sql_on_standby(self, statement, db):
        return self.as_pg(os.path.join(PGBIN, "psql"), "-h", self.pg_sock, "-p", str(self.standby_port), "-U", "postgres",
                          "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement).stdout.strip()

    def failover_uri(self, db):
        return (f"postgresql://symtui_owner@127.0.0.1:{self.pg_port},127.0.0.1:{self.standby_port}/{db}"
                f"?passfile={self.passfile}&target_session_attrs=read-write")

    def test_a_failover_to_the_synchronous_standby_loses_nothing_acknowledged_and_the_daemon_carries_on_by_itself(self):
        db = f"fleet{self.databases}"
        self.start_bastion("a", uri=self.failover_uri(db))
        granted = self.request_on("a", "a")
        self.on("a", "c", "approve", granted)
        self.wait_on("a", granted, "active")
        self.wait_member(True)
        calls, stop = [], threading.Event()

        def load():
            n = 0
            while not stop.is_set():
                n += 1
                r = self.on("a", "a", "request", "grp", "tgt", "--duration", "1h", "--reason", f"load {n}", check=False)
                calls.append((r.returncode, r.stdout.strip(), r.stderr.strip()))

        t = threading.Thread(target=load)
        t.start()
        try:
            deadline = time.time() + 30
            while len([c for c in calls if c[0] == 0]) < 5 and time.time() < deadline:
                time.sleep(0.05)
            # The primary dies; the standby is promoted, as a failover manager (Patroni, a managed service) would do.
            self.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", self.pg_data, "-m", "immediate", "-w", "stop")
            type(self).pg_started = False
            time.sleep(1)   # down for a while: calls meanwhile answer 69
            self.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", self.standby_data, "-w", "promote")
            before = len(calls)
            deadline = time.time() + 60
            while not any(c[0] == 0 for c in calls[before:]) and time.time() < deadline:
                time.sleep(0.1)
            self.assertTrue(any(c[0] == 0 for c in calls[before:]),
                            f"no request went through within 60 s of the promotion: {calls[-3:]}\n{self.log_of('a')}")
            time.sleep(1)
        finally:
            stop.set()
            t.join(timeout=60)
        codes = {c[0] for c in calls}
        self.assertTrue(codes <= {0, 69}, f"every call answered 0 or 69: {[c for c in calls if c[0] not in (0, 69)][:3]}")
        unavailable = [c for c in calls if c[0] == 69]
        self.assertTrue(unavailable, "some calls landed while no server was writable")
        for c in unavailable:
            self.assertIn("store unavailable", c[2])
        acknowledged = [int(c[1]) for c in calls if c[0] == 0]
        found = self.sql_on_standby(f"SELECT count(*) FROM requests WHERE id IN ({','.join(map(str, acknowledged))})", db)
        self.assertEqual(int(found), len(acknowledged), "every request acknowledged before, during and after is on the new primary")
        request_events = self.sql_on_standby(
            f"SELECT count(DISTINCT request_id) FROM events WHERE type = 'request' AND request_id IN ({','.join(map(str, acknowledged))})", db)
        self.assertEqual(int(request_events), len(acknowledged), "each with its request event")
        # The daemon carries on by itself on the promoted server: the grant made before is revoked for real, a new one is
        # granted, and the chain is whole.
        self.on("a", "c", "revoke", granted, "--reason", "after the failover")
        self.wait_on("a", granted, "ended", timeout=30)
        self.wait_member(False)
        again = self.request_on("a", "a")
        self.on("a", "c", "approve", again)
        self.wait_on("a", again, "active", timeout=30)
        self.wait_member(True)
        verify = json.loads(self.on("a", None, "--json", "audit", "verify").stdout)
        self.assertTrue(verify["ok"], verify)
        count, high = self.sql_on_standby("SELECT count(*) || '|' || max(seq) FROM events", db).split("|")
        self.assertEqual(count, high, "seq gapless")
        self.assertEqual(verify["checked"], int(count))
        hosts = json.loads(self.on("a", None, "hosts", "--json").stdout)
        self.assertEqual([(h["host"], h["alive"]) for h in hosts["hosts"] if h["host"] == "bastion-a"], [("bastion-a", True)], hosts)


def load_tests(loader, standard_tests, pattern):
    """This class's own tests only (it reuses PostgresDaemonTests' bastions, not its tests)."""
    suite = loader.suiteClass()
    suite.addTests(FleetFailoverTests(n) for n in loader.getTestCaseNames(FleetFailoverTests) if n in vars(FleetFailoverTests))
    return suite
