"""End-to-end: several daemons' stores deciding on one PostgreSQL store, with faults — the server killed
(`pg_ctl stop -m immediate`) during load and started again, one daemon killed with SIGKILL. Each "daemon" is a
`symtui-bench pg-decider` process: one PostgresStore and one Engine, as `symtui daemon` has, with 8 threads deciding
through it as 8 CLI callers would (the daemon itself does not serve a PostgreSQL store yet). Loaded by run.py."""

import json
import os
import subprocess
import time
import unittest

from fleet_e2e import PGBIN, PostgresClusterMixin
from symtui_harness import SOURCE_BIN
from symtui_harness import SymtuiCase as E2ECase

BENCH = os.path.join(os.path.dirname(SOURCE_BIN), "symtui-bench")


class FleetFaultTests(PostgresClusterMixin, E2ECase):
    """3 daemons x 8 deciders on the same 500 requests: each decided exactly once, whatever fails meanwhile."""

    REQUESTS = 500
    FAULT_REQUESTS = 200   # enough for the fault to land in the middle of the load
    DAEMONS = 3
    DECIDERS = 8

    @classmethod
    def setUpClass(cls):
        if not os.access(BENCH, os.X_OK):
            raise unittest.SkipTest(f"{BENCH} is not built (swift build)")
        if not os.path.exists(os.path.join(PGBIN, "initdb")):
            raise unittest.SkipTest("PostgreSQL 15 is not installed (make deps)")
        super().setUpClass()
        try:
            cls.start_cluster()
        except BaseException:
            cls.tearDownClass()
            raise
        cls.schemas = 0

    @classmethod
    def tearDownClass(cls):
        cls.stop_cluster()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        type(self).schemas += 1
        schema = f"faults{self.schemas}"
        self.sql(f"CREATE SCHEMA {schema} AUTHORIZATION symtui_owner")
        self.conninfo = (f"host=127.0.0.1 port={self.pg_port} dbname=symtui user=symtui_owner passfile={self.passfile} "
                         f"options='-c search_path={schema}'")
        self.schema = schema
        self.fleet_config = os.path.join(self.dir, f"fleet-{schema}.json5")
        with open(self.fleet_config, "w") as f:
            json.dump({"store": "postgresql://symtui_owner@127.0.0.1/symtui", "limits": {"pending_per_user": 1000},
                       "flows": [{"name": "job", "label": "Run a job", "approvers": {"users": ["alice"]}}]}, f)

    # -- helpers ----------------------------------------------------------------------------------------------

    def decider(self, *args, **kw):
        return [BENCH, "pg-decider", "--conninfo", self.conninfo, "--config", self.fleet_config] + list(args)

    def seed(self, n=None):
        n = n or self.REQUESTS
        r = subprocess.run(self.decider("--seed", str(n)), capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        ids = [int(x) for x in r.stdout.split()]
        self.assertEqual(len(ids), n)
        return ids

    def start_daemons(self, ids, seconds=180):
        procs = []
        for n in range(self.DAEMONS):
            out = os.path.join(self.dir, f"{self.schema}-d{n}.jsonl")
            err = open(os.path.join(self.dir, f"{self.schema}-d{n}.err"), "w")
            p = subprocess.Popen(self.decider("--approve", f"{ids[0]}-{ids[-1]}", "--host", f"bastion-{n}", "--deciders",
                                              str(self.DECIDERS), "--seconds", str(seconds), "--out", out),
                                 stdout=err, stderr=err, stdin=subprocess.DEVNULL)
            procs.append((p, out, err))
        return procs

    def wait_all(self, procs, timeout=300):
        for p, _, err in procs:
            try:
                p.wait(timeout=timeout)
            finally:
                if p.poll() is None:
                    p.kill()
                err.close()

    def outcomes(self, procs):
        lines = []
        for _, out, _ in procs:
            with open(out) as f:
                lines += [json.loads(line) for line in f if line.endswith("\n")]
        return lines

    def approve_events(self):
        rows = self.sql(f"SELECT request_id, count(*) FROM {self.schema}.events WHERE type = 'approve' GROUP BY request_id")
        return {int(r.split("|")[0]): int(r.split("|")[1]) for r in rows.splitlines() if r}

    def count_approved_by_sql(self):
        return int(self.sql(f"SELECT count(*) FROM {self.schema}.events WHERE type = 'approve'"))

    def assert_each_decided_exactly_once_and_the_chain_is_whole(self, ids, outcomes):
        states = dict(line.split("|") for line in self.sql(f"SELECT id, state FROM {self.schema}.requests").splitlines())
        self.assertEqual({states[str(i)] for i in ids} - {"approved"}, set(), "every request ended approved")
        per_request = self.approve_events()
        self.assertEqual({i: per_request.get(i, 0) for i in ids if per_request.get(i, 0) != 1}, {},
                         "exactly one approve event per request")
        approved_ok = {o["id"] for o in outcomes if o["code"] == 0}
        self.assertEqual(len([o for o in outcomes if o["code"] == 0]), len(approved_ok), "no request approved twice with success")
        self.assertTrue(approved_ok <= set(ids))
        count, low, high = self.sql(f"SELECT count(*), min(seq), max(seq) FROM {self.schema}.events").split("|")
        self.assertEqual((int(low), int(high)), (1, int(count)), "seq is gapless from 1")
        head = self.sql(f"SELECT seq FROM {self.schema}.chain_head")
        self.assertEqual(head, count)
        v = subprocess.run(self.decider("--verify"), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertTrue(v.stdout.startswith("ok"), v.stdout)

    def assert_calls_ended_with_0_or_a_clear_refusal(self, outcomes, allow_unavailable):
        codes = {}
        for o in outcomes:
            codes.setdefault(o["code"], []).append(o["message"])
        allowed = {0, 69} if allow_unavailable else {0}
        refused = {c: m for c, m in codes.items() if c not in allowed}
        # The losers of a race are refused with the caller's error (the request is no longer pending), and say so.
        for code, messages in refused.items():
            self.assertEqual(code, 65, f"{code}: {messages[:3]}")
            self.assertTrue(all("approved" in m or "pending" in m for m in messages), messages[:3])
        for m in codes.get(69, []):
            self.assertIn("store unavailable", m)
        return codes

    def stop_server_immediately(self):
        self.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", self.pg_data, "-m", "immediate", "-w", "stop")

    def start_server(self):
        with open(os.path.join(self.dir, "pg_ctl.out"), "a") as out:
            subprocess.run(["setpriv", "--reuid", self.pg_user, "--regid", "users", "--clear-groups",
                            os.path.join(PGBIN, "pg_ctl"), "-D", self.pg_data, "-l", os.path.join(self.pg_dir, "log"), "-w",
                            "-o", f"-p {self.pg_port} -k {self.pg_sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                           stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=True, cwd="/", timeout=120)

    def wait_for_approvals(self, at_least, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.count_approved_by_sql() >= at_least:
                return
            time.sleep(0.05)
        self.fail(f"fewer than {at_least} approvals after {timeout} s")

    # -- tests --------------------------------------------------------------------------------------------------

    def test_three_daemons_of_eight_deciders_decide_each_of_500_requests_exactly_once(self):
        ids = self.seed()
        procs = self.start_daemons(ids)
        self.wait_all(procs)
        self.assertEqual([p.returncode for p, _, _ in procs], [0] * self.DAEMONS)
        outcomes = self.outcomes(procs)
        self.assert_calls_ended_with_0_or_a_clear_refusal(outcomes, allow_unavailable=False)
        self.assertEqual(sorted(o["id"] for o in outcomes if o["code"] == 0), sorted(ids), "each approved once, by someone")
        self.assert_each_decided_exactly_once_and_the_chain_is_whole(ids, outcomes)

    def test_a_server_crash_during_load_loses_no_approval_and_decides_nothing_twice(self):
        ids = self.seed(self.FAULT_REQUESTS)
        procs = self.start_daemons(ids)
        crashed = False
        try:
            self.wait_for_approvals(30)
            self.stop_server_immediately()
            crashed = True
            time.sleep(2)   # down for a while: every call meanwhile answers 69
        finally:
            if crashed or self.count_approved_by_sql_safely() is None:
                self.start_server()
        self.wait_all(procs)
        self.assertEqual([p.returncode for p, _, _ in procs], [0] * self.DAEMONS)
        outcomes = self.outcomes(procs)
        codes = self.assert_calls_ended_with_0_or_a_clear_refusal(outcomes, allow_unavailable=True)
        self.assertIn(69, codes, "the crash happened during the load (some calls answered 69)")
        # Whatever a caller was told was approved is approved; a call whose COMMIT was cut may have committed
        # without an answer: then a retry was refused as already approved, and the request is still decided once.
        self.assert_each_decided_exactly_once_and_the_chain_is_whole(ids, outcomes)

    def count_approved_by_sql_safely(self):
        try:
            return self.count_approved_by_sql()
        except subprocess.CalledProcessError:
            return None

    def test_a_daemon_killed_midway_leaves_the_others_serving_every_request(self):
        ids = self.seed(self.FAULT_REQUESTS)
        procs = self.start_daemons(ids)
        self.wait_for_approvals(20)
        procs[0][0].kill()   # SIGKILL: its open transaction dies with its connection
        self.wait_all(procs)
        self.assertEqual([p.returncode for p, _, _ in procs[1:]], [0] * (self.DAEMONS - 1))
        outcomes = self.outcomes(procs)
        self.assert_calls_ended_with_0_or_a_clear_refusal(outcomes, allow_unavailable=False)
        self.assert_each_decided_exactly_once_and_the_chain_is_whole(ids, outcomes)
