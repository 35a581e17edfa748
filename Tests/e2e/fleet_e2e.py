"""End-to-end: the PostgreSQL store as the CLI reaches it — `symtui store migrate --to URI` into a real PostgreSQL 15
cluster this suite creates (initdb as a throwaway user, pg_ctl on a free 127.0.0.1 port, removed afterwards), and a
`store` URI in the config. Loaded by run.py."""

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import unittest

from symtui_harness import SymtuiCase as E2ECase
from symtui_harness import remove_user

PGBIN = "/usr/lib/postgresql/15/bin"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PostgresClusterMixin:
    """A throwaway PostgreSQL 15 cluster for one class: initdb as a throwaway user (`cls.user("pg")`), pg_ctl on a free
    127.0.0.1 port, the login role `symtui_owner` with its password in a passfile (never in a URI), database `symtui`.
    `new_database()` makes another, for a test that wants a store of its own. The class is skipped when PostgreSQL 15
    is not installed (`make test` installs it)."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(PGBIN, "initdb")):
            raise unittest.SkipTest("PostgreSQL 15 is not installed (make deps)")
        super().setUpClass()
        try:
            cls.start_cluster()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stop_cluster()
        super().tearDownClass()

    @classmethod
    def as_pg(cls, *cmd, check=True):
        return subprocess.run(["setpriv", "--reuid", cls.pg_user, "--regid", "users", "--clear-groups"] + list(cmd),
                              capture_output=True, text=True, check=check, cwd="/", timeout=120, stdin=subprocess.DEVNULL)

    @classmethod
    def start_cluster(cls):
        cls.pg_user = cls.user("pg")
        cls.pg_dir = os.path.join(cls.dir, "pg")
        cls.pg_sock = os.path.join(cls.pg_dir, "sock")
        os.makedirs(cls.pg_sock)
        uid = int(subprocess.run(["id", "-u", cls.pg_user], capture_output=True, text=True, check=True).stdout)
        for d in (cls.pg_dir, cls.pg_sock):
            os.chown(d, uid, -1)
            os.chmod(d, 0o700)
        cls.pg_data = os.path.join(cls.pg_dir, "data")
        cls.as_pg(os.path.join(PGBIN, "initdb"), "-D", cls.pg_data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        cls.pg_port = free_port()
        # pg_ctl's server keeps the descriptors it inherits: its output goes to a file, not to our pipe.
        with open(os.path.join(cls.dir, "pg_ctl.out"), "w") as out:
            subprocess.run(["setpriv", "--reuid", cls.pg_user, "--regid", "users", "--clear-groups",
                            os.path.join(PGBIN, "pg_ctl"), "-D", cls.pg_data, "-l", os.path.join(cls.pg_dir, "log"), "-w",
                            "-o", f"-p {cls.pg_port} -k {cls.pg_sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                           stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=True, cwd="/", timeout=120)
        cls.pg_started = True
        password = secrets.token_hex(16)
        cls.sql(f"CREATE ROLE symtui_owner LOGIN PASSWORD '{password}'", db="postgres")
        cls.sql("CREATE DATABASE symtui OWNER symtui_owner", db="postgres")
        cls.passfile = os.path.join(cls.dir, "pgpass")
        with open(cls.passfile, "w") as f:
            f.write(f"127.0.0.1:{cls.pg_port}:*:symtui_owner:{password}\n")
        os.chmod(cls.passfile, 0o600)
        cls.uri = cls.database_uri("symtui")

    @classmethod
    def database_uri(cls, db):
        return f"postgresql://symtui_owner@127.0.0.1:{cls.pg_port}/{db}?passfile={cls.passfile}"

    @classmethod
    def new_database(cls, name):
        """A new empty database owned by the store's role; returns its URI."""
        cls.sql(f"CREATE DATABASE {name} OWNER symtui_owner", db="postgres")
        return cls.database_uri(name)

    @classmethod
    def sql(cls, statement, db="symtui"):
        return cls.as_pg(os.path.join(PGBIN, "psql"), "-h", cls.pg_sock, "-p", str(cls.pg_port), "-U", "postgres", "-d", db,
                         "-v", "ON_ERROR_STOP=1", "-At", "-c", statement).stdout.strip()

    @classmethod
    def stop_cluster(cls):
        if getattr(cls, "pg_started", False):
            cls.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", cls.pg_data, "-m", "immediate", "-w", "stop", check=False)
            cls.pg_started = False


class StoreMigrateTests(PostgresClusterMixin, E2ECase):
    """A bastion's SQLite store moved onto PostgreSQL with the real binary, as root, the daemon stopped."""

    REQUESTERS = ["a", "b"]

    def sqlite_count(self, table):
        db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True)
        try:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            db.close()

    def test_store_migrate_copies_every_request_and_event_and_the_chain_verifies_on_the_target(self):
        rids = [self.request(r, "db", "orders", duration="1h") for r in ("a", "b", "a")]
        self.ok("c", "approve", rids[0])
        self.ok("c", "deny", rids[1], "--reason", "not today")
        self.wait_state(rids[0], "active")
        self.stop_daemon()
        requests, events = self.sqlite_count("requests"), self.sqlite_count("events")
        r = self.ok(None, "--json", "store", "migrate", "--to", self.uri)
        out = json.loads(r.stdout)
        self.assertEqual((out["requests"], out["events"]), (requests, events))
        self.assertEqual(out["head_seq"], events)
        self.assertIn("127.0.0.1", out["to"])
        self.assertEqual(self.sql("SELECT count(*) FROM requests"), str(requests))
        self.assertEqual(self.sql("SELECT count(*) FROM events"), str(events))
        self.assertEqual(self.sql(f"SELECT state FROM requests WHERE id = {rids[1]}"), "denied")
        self.assertEqual(self.sql("SELECT seq FROM chain_head"), str(events))
        # A second run finds the target full and leaves it as it was.
        again = self.run_as(None, "store", "migrate", "--to", self.uri)
        self.assert_refused(again, 73, "not empty")
        self.assertEqual(self.sql("SELECT count(*) FROM events"), str(events))

    def test_store_migrate_refuses_a_uri_with_a_password_in_it(self):
        self.stop_daemon()
        r = self.run_as(None, "store", "migrate", "--to", f"postgresql://symtui_owner:hunter2@127.0.0.1:{self.pg_port}/symtui")
        self.assert_refused(r, 64, "passfile")
        self.assertNotIn("hunter2", r.stderr)

    def test_store_migrate_answers_69_when_postgresql_cannot_be_reached(self):
        self.stop_daemon()
        r = self.run_as(None, "store", "migrate", "--to", f"postgresql://symtui_owner@127.0.0.1:{free_port()}/symtui?connect_timeout=3")
        self.assert_refused(r, 69, "cannot")
