"""End-to-end: a fleet deciding on one PostgreSQL store, with faults — the server killed (`pg_ctl stop -m immediate`)
during load and started again, one daemon killed with SIGKILL. Two levels: FleetDaemonFaultTests runs real
`symtui daemon`s (bastions) with real users deciding through `symtui events`, and checks that one daemon's commits
reach another's change subscribers; FleetFaultTests runs the same load at the store level, faster and harder (each
"daemon" a `symtui-bench pg-decider` process: one PostgresStore and one Engine with 8 deciding threads). Loaded by
run.py."""

import json
import os
import random
import shlex
import socket
import subprocess
import threading
import time
import unittest

from fleet_daemon_e2e import PostgresDaemonTests
from fleet_e2e import PGBIN, PostgresClusterMixin
from symtui_harness import SOURCE_BIN, STARTED_PIDS, Tmux
from symtui_harness import SymtuiCase as E2ECase

BENCH = os.path.join(os.path.dirname(SOURCE_BIN), "symtui-bench")


class FleetFaultTests(PostgresClusterMixin, E2ECase):
    """The server crashing under 3 stores x 8 deciding threads: each request decided exactly once all the same."""

    REQUESTS = 200   # enough for the crash to land in the middle of the load
    DAEMONS = 3
    DECIDERS = 8

    @classmethod
    def setUpClass(cls):
        if not os.access(BENCH, os.X_OK):
            raise unittest.SkipTest(f"{BENCH} is not built (swift build)")
        super().setUpClass()
        cls.schemas = 0

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

    def test_a_server_crash_during_load_loses_no_approval_and_decides_nothing_twice(self):
        ids = self.seed()
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


class FleetDaemonFaultTests(PostgresDaemonTests):
    """Real daemons on one PostgreSQL store (bastions, see fleet_daemon_e2e), real users deciding through `symtui events`:
    the change feed crosses daemons, and a server crash or a killed daemon loses nothing and decides nothing twice.
    (Only the tests defined here run for this class; see load_tests.)"""

    REQUESTERS = ["a"]
    APPROVERS = ["c"]
    EXTRA_GROUPS = ["target"]
    LIMITS = {"pending_per_user": 1000}

    def events_as(self, name, role, lines, timeout=300):
        """`symtui events` on bastion NAME as ROLE with LINES (dicts); returns the process and its answer lines."""
        config = self.bastions[name][1]
        cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups", self.bin, "--config", config, "events"]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=self.dir), "".join(json.dumps(x) + "\n" for x in lines)

    def run_events(self, name, role, lines, timeout=300):
        p, text = self.events_as(name, role, lines)
        out, err = p.communicate(text, timeout=timeout)
        return p.returncode, [json.loads(x) for x in out.splitlines() if x.strip()], err

    def seed_on(self, name, n):
        code, answers, err = self.run_events(name, "a", [{"event": "request", "flow": "note", "fields": {"reason": f"fleet {i}"},
                                                          "reason": f"fleet {i}"} for i in range(n)])
        self.assertEqual(code, 0, err)
        self.assertTrue(all(a["ok"] for a in answers), [a for a in answers if not a["ok"]][:3])
        return [a["request"]["id"] for a in answers]

    def whole_log(self, name):
        with open(self.bastions[name][3], errors="replace") as f:
            return f.read()

    def fleet_sql(self, statement):
        return self.sql(statement, db=f"fleet{self.databases}")

    def assert_decided_once_and_chain_whole(self, ids):
        states = dict(l.split("|") for l in self.fleet_sql("SELECT id, state FROM requests").splitlines())
        self.assertEqual({i for i in ids if states[str(i)] != "approved"}, set(), "every request ended approved")
        rows = self.fleet_sql("SELECT request_id, count(*) FROM events WHERE type = 'approve' GROUP BY request_id HAVING count(*) <> 1")
        self.assertEqual(rows, "", "exactly one approve event per request")
        count, low, high = self.fleet_sql("SELECT count(*), min(seq), max(seq) FROM events").split("|")
        self.assertEqual((int(low), int(high)), (1, int(count)), "seq gapless from 1")
        for name in self.bastions:
            verify = json.loads(self.on(name, None, "--json", "audit", "verify").stdout)
            self.assertTrue(verify["ok"], verify)

    def decide_everywhere(self, ids, per_daemon):
        """Starts PER_DAEMON `symtui events` streams as approver c on every bastion, each approving every request in its
        own order; returns [(process, input)]."""
        streams = []
        for name in self.bastions:
            for k in range(per_daemon):
                order = list(ids)
                random.Random(f"{name}{k}").shuffle(order)
                p, text = self.events_as(name, "c", [{"event": "approve", "request": i, "reason": f"{name} {k}"} for i in order])
                streams.append((p, text))
        return streams

    def collect(self, streams, timeout=600):
        threads, results = [], [None] * len(streams)

        def talk(i, p, text):
            out, err = p.communicate(text, timeout=timeout)
            results[i] = (p.returncode, [json.loads(x) for x in out.splitlines() if x.strip()], err)
        for i, (p, text) in enumerate(streams):
            t = threading.Thread(target=talk, args=(i, p, text))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        return results

    def test_a_commit_through_daemon_a_reaches_the_change_subscribers_of_daemon_b(self):
        self.start_bastion("a")
        self.start_bastion("b")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.bastions["b"][2])
        s.sendall(b'{"v":1,"read":"subscribe"}\n')
        f = s.makefile("r")
        self.assertTrue(json.loads(f.readline()).get("subscribed"))
        rid = self.request_on("a", "a")
        deadline = time.time() + 30
        seen = []
        while time.time() < deadline:
            line = json.loads(f.readline())
            seen.append(line)
            if line.get("changed") and ("ids" not in line or rid in line["ids"]):
                break
        else:
            self.fail(f"no change line for #{rid} from B: {seen}")
        self.assertIn(rid, seen[-1].get("ids", [rid]), seen)
        self.assertIn("ids", seen[-1], "B names the request A changed")
        s.close()

    def test_three_daemons_of_eight_deciding_streams_decide_each_of_500_requests_exactly_once(self):
        for name in ("a", "b", "d"):
            self.start_bastion(name)
        ids = self.seed_on("a", 500)
        results = self.collect(self.decide_everywhere(ids, 8))
        approved = []
        for code, answers, err in results:
            self.assertIn(code, {0} | {a["exit"] for a in answers if not a["ok"]}, err)   # a refusal's code, or 0
            for a in answers:
                if a["ok"]:
                    approved.append(a["request"]["id"])
                else:
                    self.assertEqual(a["exit"], 65, a)   # lost the race: no longer pending, said so
        self.assertEqual(sorted(approved), sorted(ids), "each approved once, by one of the 24 streams")
        self.assert_decided_once_and_chain_whole(ids)

    def test_a_server_crash_while_daemons_decide_ends_every_call_with_an_answer_and_loses_no_approval(self):
        for name in ("a", "b"):
            self.start_bastion(name)
        ids = self.seed_on("a", 200)
        streams = self.decide_everywhere(ids, 4)
        ids_per_stream = len(ids)
        collector = threading.Thread(target=lambda: setattr(self, "_results", self.collect(streams)))
        collector.start()
        deadline = time.time() + 120
        while int(self.fleet_sql("SELECT count(*) FROM events WHERE type = 'approve'")) < 20 and time.time() < deadline:
            time.sleep(0.05)
        self.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", self.pg_data, "-m", "immediate", "-w", "stop")
        try:
            time.sleep(2)
        finally:
            restart(self)
        collector.join()
        unavailable = []
        approved = set()
        for code, answers, err in self._results:
            self.assertIn(code, {0} | {a["exit"] for a in answers if not a["ok"]}, err)
            self.assertEqual(len(answers), ids_per_stream, f"one answer per line, nothing cut off: {err}")
            for a in answers:
                if a["ok"]:
                    approved.add(a["request"]["id"])
                elif a["exit"] == 69:
                    unavailable.append(a)
                    self.assertIn("unavailable", a["error"], a)
                else:
                    self.assertEqual(a["exit"], 65, a)
        self.assertTrue(unavailable, "the crash happened while the daemons decided (some answers were 69)")
        # Both daemons are still up, reconnect by themselves, and finish the work: what was not approved before the
        # crash is approved now (each once; what a caller was told was approved stayed approved).
        for name in self.bastions:
            self.assertIsNone(self.bastions[name][0].poll(), f"daemon {name} exited: {self.log_of(name)}")
        for name in self.bastions:   # each daemon's listener noticed, and reconnected with backoff
            deadline = time.time() + 30
            while "listening to the fleet's changes again" not in self.whole_log(name) and time.time() < deadline:
                time.sleep(0.2)
            self.assertIn("not hearing the other daemons' changes", self.whole_log(name))
            self.assertIn("listening to the fleet's changes again", self.whole_log(name))
        left = [i for i in ids if i not in approved]
        deadline = time.time() + 60
        while left and time.time() < deadline:
            code, answers, _ = self.run_events("b", "c", [{"event": "approve", "request": i, "reason": "after"} for i in left])
            left = [a.get("request", {}).get("id") for a in answers if not a["ok"] and a["exit"] == 69]
            if left:
                time.sleep(0.5)
        self.assertEqual(left, [])
        self.assert_decided_once_and_chain_whole(ids)
        rid = self.request_on("a", "a")
        self.on("b", "c", "approve", rid)
        self.wait_on("a", rid, "active", timeout=30)   # due work resumes on A after the restart

    def note_on(self, name):
        return int(self.on(name, "a", "request", "note", "--reason", "fleet e2e").stdout.strip())

    def test_a_daemon_killed_with_sigkill_leaves_the_other_serving_and_catches_up_when_it_returns(self):
        self.start_bastion("a")
        self.start_bastion("b")
        rid = self.note_on("a")
        grant = self.request_on("a", "a")   # a unix_group target: A's to run (runs_on requester_host)
        p = self.bastions.pop("a")[0]
        p.kill()
        p.wait()
        if p.pid in STARTED_PIDS:
            STARTED_PIDS.remove(p.pid)
        review = json.loads(self.on("b", "c", "list", "--review", "--json").stdout)
        self.assertIn(rid, [r["id"] for r in review], "B serves the request A made")
        self.on("b", "c", "approve", rid)
        self.assertEqual(json.loads(self.on("b", None, "show", rid, "--json").stdout)["state"], "approved")
        rid2 = self.note_on("b")
        self.on("b", "c", "deny", rid2, "--reason", "no")
        self.on("b", "c", "approve", grant)
        time.sleep(1)
        self.assertIn(json.loads(self.on("b", None, "show", grant, "--json").stdout)["state"], ("approved", "escalating"),
                      "B does not run A's grant: it waits for A")
        self.assertNotIn(self.users["a"], self.group_members(self.groups["target"]))
        self.start_bastion("a")   # it comes back (its host lock died with its connection) and sees what B did
        self.assertEqual(json.loads(self.on("a", None, "show", rid2, "--json").stdout)["state"], "denied")
        self.wait_on("a", grant, "active", timeout=30)   # and catches up on its own due work
        self.wait_member(True)
        self.assert_decided_once_and_chain_whole([rid])


    def test_a_minute_without_postgresql_answers_69_throughout_and_the_grant_that_expired_meanwhile_ends_after(self):
        self.start_bastion("a")
        grant = int(self.on("a", "a", "request", "grp", "tgt", "--duration", "1m", "--reason", "short").stdout.strip())
        self.on("a", "c", "approve", grant)
        self.wait_on("a", grant, "active")
        self.wait_member(True)
        self.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", self.pg_data, "-m", "immediate", "-w", "stop")
        down_since = time.time()
        answers = []
        try:
            # A minute down, longer than the grant has left: writes and reads are refused, and say why, throughout.
            while time.time() - down_since < 62:
                answers.append(("request", self.on("a", "a", "request", "note", "--reason", "while down", check=False)))
                answers.append(("show", self.on("a", "c", "show", grant, check=False)))
                time.sleep(4)
        finally:
            restart(self)
        for what, r in answers:
            self.assertEqual(r.returncode, 69, f"{what}: {r.returncode} {r.stdout} {r.stderr}")
            self.assertIn("store unavailable", r.stderr, what)
        self.assertIsNone(self.bastions["a"][0].poll(), f"the daemon stayed up: {self.log_of('a')}")
        # Back: the daemon reconnects by itself, and the grant whose time ran out meanwhile is ended for real.
        self.wait_on("a", grant, "ended", timeout=60)
        self.wait_member(False)
        self.note_on("a")
        types = self.fleet_sql(f"SELECT string_agg(type, ',' ORDER BY seq) FROM events WHERE request_id = {grant}").split(",")
        self.assertEqual(types[-1], "deescalate", types)
        verify = json.loads(self.on("a", None, "--json", "audit", "verify").stdout)
        self.assertTrue(verify["ok"], verify)

    def test_the_console_says_store_unavailable_while_postgresql_is_down_and_recovers_by_itself(self):
        self.start_bastion("a")
        rid = self.note_on("a")
        tm = Tmux(f"{self.prefix}_pgdown")
        env = "env -i PATH=/usr/bin:/bin LANG=C.UTF-8 TERM=tmux-256color HOME=/nonexistent"
        tm.start("c", f"{env} setpriv --reuid {self.users['c']} --regid users --init-groups {shlex.quote(self.bin)} "
                      f"--config {shlex.quote(self.bastions['a'][1])}", cols=160, rows=34)
        status = lambda text: text.rstrip("\n").split("\n")[-1]
        down = False
        try:
            text, t = tm.wait_for("c", lambda x: "daemon ok" in status(x) and f"#{rid}" in x, timeout=15)
            self.assertIsNotNone(t, f"the console did not show #{rid} with the daemon ok:\n{text}")
            self.as_pg(os.path.join(PGBIN, "pg_ctl"), "-D", self.pg_data, "-m", "immediate", "-w", "stop")
            down = True
            text, t = tm.wait_for("c", lambda x: "store unavailable" in status(x), timeout=30)
            self.assertIsNotNone(t, f"no 'store unavailable' on the status line with PostgreSQL down:\n{text}")
            restart(self)
            down = False
            # No key pressed: the console finds the store back by itself.
            text, t = tm.wait_for("c", lambda x: "daemon ok" in status(x) and f"#{rid}" in x, timeout=30)
            self.assertIsNotNone(t, f"the console did not recover after PostgreSQL came back:\n{text}")
        finally:
            tm.kill()
            if down:
                restart(self)

def restart(case):
    with open(os.path.join(case.dir, "pg_ctl.out"), "a") as out:
        subprocess.run(["setpriv", "--reuid", case.pg_user, "--regid", "users", "--clear-groups",
                        os.path.join(PGBIN, "pg_ctl"), "-D", case.pg_data, "-l", os.path.join(case.pg_dir, "log"), "-w",
                        "-o", f"-p {case.pg_port} -k {case.pg_sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=True, cwd="/", timeout=120)


def load_tests(loader, standard_tests, pattern):
    """Each class's own tests only (FleetDaemonFaultTests reuses PostgresDaemonTests' bastions, not its tests)."""
    suite = unittest.TestSuite()
    for cls in (FleetFaultTests, FleetDaemonFaultTests):
        suite.addTests(cls(n) for n in loader.getTestCaseNames(cls) if n in vars(cls))
    return suite
