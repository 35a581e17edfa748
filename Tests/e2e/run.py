#!/usr/bin/env python3
"""SymTUI end-to-end tests: real Unix users, a root daemon, the CLI as those users.

Run as root:  SYMTUI_BIN=$PWD/.build/debug/symtui python3 Tests/e2e/run.py [-k SUBSTRING]...
(`make e2e` does this.) Standard library only.

Every test class gets its own directory under /tmp (mode 0755), its own throwaway users and groups
(named st_<hex>_<role>, removed in tearDownClass and again at exit, even on failure), its own config
and store, and a daemon started as root in setUp and stopped with SIGTERM in tearDown.
"""

import grp
import json
import os
import pwd
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Tests", "harness"))

# The harness removes the users, groups, daemons, tmux servers and directories it made at exit.
from symtui_harness import (CREATED_USERS, PYTHON, SOURCE_BIN, STARTED_PIDS, Tmux, cleanup_everything,  # noqa: E402
                            parse_time, quiet, sqlite_ro, stop_pid)
from symtui_harness import ConsoleCase, SymtuiCase as E2ECase, with_audit_key  # noqa: E402
from fleet_e2e import PostgresClusterMixin  # noqa: E402

BAD_CLI_TSV = os.path.join(REPO, "Tests", "Fixtures", "cli-bad.tsv")

REQUEST_KEYS = ["id", "flow", "target", "target_label", "requester", "state", "end_reason", "fields",
                "duration_seconds", "created_at", "request_expires_at", "decided_at", "access_starts_at",
                "access_expires_at", "ended_at", "approvals", "denial", "required_approvals", "stuck", "error"]
TIME_KEYS = ["created_at", "request_expires_at", "decided_at", "access_starts_at", "access_expires_at", "ended_at"]
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# ---------------------------------------------------------------------------------------------------
# The base class (SymtuiCase, imported here as E2ECase) and Tmux live in Tests/harness/symtui_harness.py.
# ---------------------------------------------------------------------------------------------------

class ApprovalTests(E2ECase):
    """Request, refusals, approve, the JSON shape, deny and cancel — through the CLI, as real users."""

    def test_request_prints_an_id(self):
        rid = self.request("a", "note")
        self.assertGreater(rid, 0)
        req = self.show(rid)
        self.assertEqual(req["state"], "pending")
        self.assertEqual(req["requester"], self.users["a"])

    def test_non_approver_is_refused_with_77(self):
        rid = self.request("a", "note")
        self.assert_refused(self.run_as("b", "approve", rid), 77)
        self.assertEqual(self.show(rid)["state"], "pending")

    def test_requester_cannot_approve_own_request(self):
        # The requester is an approver here, so only the self-approval rule can refuse.
        rid = self.request("c", "note")
        self.assert_refused(self.run_as("c", "approve", rid, "--reason", "mine"), 77)
        self.assertEqual(self.show(rid)["approvals"], [])

    def test_approver_in_group_approves(self):
        rid = self.request("a", "note")
        self.ok("c", "approve", rid, "--reason", "looks fine")
        req = self.show(rid)
        self.assertEqual(req["state"], "approved")
        self.assertEqual(len(req["approvals"]), 1)
        ap = req["approvals"][0]
        self.assertEqual((ap["user"], ap["reason"], ap["self"]), (self.users["c"], "looks fine", False))

    def test_show_json_has_every_spec_key(self):
        rid = self.request("a", "db", "orders", duration="1h")
        self.ok("c", "approve", rid, "--reason", "ok")
        req = self.wait_state(rid, "active")
        missing = [k for k in REQUEST_KEYS + ["events"] if k not in req]
        self.assertEqual(missing, [], "keys missing from show --json")
        self.assertIsInstance(req["id"], int)
        self.assertIsInstance(req["fields"], dict)
        self.assertIsInstance(req["stuck"], bool)
        self.assertEqual(req["target"], "orders")
        self.assertEqual(req["target_label"], "Orders DB")
        self.assertEqual(req["duration_seconds"], 3600)
        self.assertLessEqual({"user", "at", "reason", "self"}, set(req["approvals"][0].keys()))
        self.assertIsNone(req["denial"])

    def test_times_are_rfc3339_utc_with_z(self):
        rid = self.request("a", "db", "orders", duration="1h")
        self.ok("c", "approve", rid)
        req = self.wait_state(rid, "active")
        for k in TIME_KEYS:
            if req[k] is not None:
                self.assertRegex(req[k], RFC3339_Z, k)
        for k in ["created_at", "request_expires_at", "decided_at", "access_starts_at", "access_expires_at"]:
            self.assertIsNotNone(req[k], k)
        self.assertRegex(req["approvals"][0]["at"], RFC3339_Z)
        for e in req["events"]:
            self.assertRegex(e["time"], RFC3339_Z)

    def test_every_event_carries_requester_target_and_actor(self):
        rid = self.request("a", "db", "orders", duration="1h")
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active")
        self.ok("c", "revoke", rid, "--reason", "done")
        req = self.wait_state(rid, "ended")
        types = [e["type"] for e in req["events"]]
        for t in ["request", "approve", "escalate", "revoke", "deescalate"]:
            self.assertIn(t, types)
        for e in req["events"]:
            self.assertEqual(e.get("requester"), self.users["a"], e)
            self.assertEqual(e.get("target"), "orders", e)
            self.assertTrue(e.get("actor"), e)
            self.assertEqual(e.get("request_id"), rid, e)
        actors = {e["type"]: e["actor"] for e in req["events"]}
        self.assertEqual(actors["request"], self.users["a"])
        self.assertEqual(actors["approve"], self.users["c"])
        self.assertEqual(actors["revoke"], self.users["c"])

    def test_deny_requires_a_reason(self):
        rid = self.request("a", "note")
        before = self.event_count()
        r = self.run_as("c", "deny", rid)
        self.assertIn(r.returncode, (64, 65), r.stderr)
        self.assert_refused(r, r.returncode)
        r = self.run_as("c", "deny", rid, "--reason", "   ")
        self.assertIn(r.returncode, (64, 65), r.stderr)
        self.assertEqual(self.event_count(), before)
        self.assertEqual(self.show(rid)["state"], "pending")

    def test_deny_records_denial(self):
        rid = self.request("a", "note")
        self.ok("c", "deny", rid, "--reason", "not today")
        req = self.show(rid)
        self.assertEqual(req["state"], "denied")
        self.assertEqual(req["denial"]["user"], self.users["c"])
        self.assertEqual(req["denial"]["reason"], "not today")
        self.assertRegex(req["denial"]["at"], RFC3339_Z)
        deny = [e for e in req["events"] if e["type"] == "deny"]
        self.assertEqual(len(deny), 1)
        self.assertEqual(deny[0]["reason"], "not today")

    def test_cancel_by_non_requester_is_refused_with_77(self):
        rid = self.request("a", "note")
        self.assert_refused(self.run_as("b", "cancel", rid), 77)
        self.assert_refused(self.run_as("c", "cancel", rid), 77)
        self.assertEqual(self.show(rid)["state"], "pending")

    def test_cancel_by_requester_works(self):
        rid = self.request("a", "note")
        self.ok("a", "cancel", rid)
        req = self.show(rid)
        self.assertEqual(req["state"], "cancelled")
        self.assertEqual([e["actor"] for e in req["events"] if e["type"] == "cancel"], [self.users["a"]])
        self.assertNotEqual(self.run_as("c", "approve", rid).returncode, 0, "a cancelled request cannot be approved")

    def test_decided_request_cannot_be_decided_again(self):
        rid = self.request("a", "note")
        self.ok("c", "approve", rid)
        before = self.event_count()
        self.assertNotEqual(self.run_as("c", "deny", rid, "--reason", "changed my mind").returncode, 0)
        self.assertEqual(self.event_count(), before)

    def test_list_review_shows_what_i_may_decide(self):
        rid = self.request("a", "note")
        mine = json.loads(self.ok("a", "list", "--mine", "--json").stdout)
        self.assertIn(rid, [r["id"] for r in mine])
        review_c = json.loads(self.ok("c", "list", "--review", "--json").stdout)
        self.assertIn(rid, [r["id"] for r in review_c])
        review_b = json.loads(self.ok("b", "list", "--review", "--json").stdout)
        self.assertNotIn(rid, [r["id"] for r in review_b])

    def test_second_daemon_refuses_to_start(self):
        r = subprocess.run([self.bin, "--config", self.config, "daemon"], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("another daemon", r.stderr)
        self.assertTrue(r.stderr.startswith("symtui: "), r.stderr)
        self.assertIsNone(self.daemon.poll(), "the first daemon still runs")
        self.request("a", "note")   # and still answers

    def test_daemon_refuses_a_retry_knob_that_is_not_a_duration(self):
        for value in ("soon", "0s", "-1", "1e999", "0.0000001"):
            r = subprocess.run([self.bin, "--config", self.config, "daemon"], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL, env=dict(os.environ, SYMTUI_RETRY_BASE=value))
            self.assertEqual(r.returncode, 64, f"{value}: {r.stderr}")
            self.assertIn("SYMTUI_RETRY_BASE", r.stderr)
            self.assertTrue(r.stderr.startswith("symtui: "), r.stderr)
        self.assertIsNone(self.daemon.poll(), "the running daemon is untouched")

    def test_daemon_refuses_a_log_level_it_does_not_know(self):
        r = subprocess.run([self.bin, "--config", self.config, "daemon", "--log-level", "verbose"], capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("--log-level", r.stderr)
        self.assertIn("debug, info, warning, error", r.stderr)
        self.assertIsNone(self.daemon.poll(), "the running daemon is untouched")

    def restart_daemon(self, args=(), env=None):
        """Stops the class's daemon once it serves (its SIGTERM handler is installed by then) and starts another with
        ARGS; returns where the new daemon's log begins."""
        deadline = time.time() + 10
        while f"(pid {self.daemon.pid})" not in self.daemon_log_tail() and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.stop_daemon(), 0)
        start = os.path.getsize(self.daemon_log)
        self.start_daemon(args=args, env=env)
        return start

    def new_daemon_log(self, start):
        with open(self.daemon_log, errors="replace") as f:
            f.seek(start)
            return f.read()

    def test_daemon_log_level_error_leaves_out_the_info_lines(self):
        start = self.restart_daemon(args=["--log-level", "error"])
        self.request("a", "note")
        self.assertEqual(self.new_daemon_log(start), "", "nothing at info level: not even 'serving'")

    def test_daemon_on_the_journal_prefixes_each_line_with_its_priority(self):
        st = os.stat(self.daemon_log)   # the file its stderr goes to stands in for the journal's stream
        start = self.restart_daemon(args=["--log-level", "debug"], env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        rid = self.request("a", "note")
        deadline = time.time() + 5
        while f"request {rid} pending" not in self.new_daemon_log(start) and time.time() < deadline:
            time.sleep(0.05)
        lines = self.new_daemon_log(start).splitlines()
        self.assertIn("<6>serving", "\n".join(lines))
        self.assertIn(f"<7>{self.users['a']}: request → request {rid} pending", lines)
        self.assertTrue(all(re.match(r"<[3467]>", line) for line in lines), lines)
        self.assertFalse(any("symtui daemon:" in line for line in lines), lines)


class StoreProtectionTests(E2ECase):
    """The store is the daemon's alone: users can neither write nor read it, and read through the daemon."""

    def setUp(self):
        super().setUp()
        self.rid = self.request("a", "note")   # makes sure the store, -wal and -shm exist

    def test_daemon_puts_back_dropped_append_only_triggers_and_says_so(self):
        self.assertEqual(self.stop_daemon(), 0)
        db = sqlite3.connect(self.store, timeout=10)
        try:
            db.execute("DROP TRIGGER events_no_delete")
            db.commit()
        finally:
            db.close()
        self.start_daemon()
        self.assertIn("append-only triggers were gone (events_no_delete)", self.daemon_log_tail())
        with sqlite_ro(self.store) as ro:
            names = {n for (n,) in ro.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
        self.assertTrue({"events_no_update", "events_no_delete"} <= names, names)

    def as_user_in_child(self, role, fn):
        """Runs fn() in a forked child with role's uid/gid; returns the child's exit status."""
        pw = pwd.getpwnam(self.users[role])
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
                os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
                os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
                os._exit(fn())
            except BaseException:
                os._exit(99)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def test_user_cannot_open_store_for_writing(self):
        for path in [self.store, self.store + "-wal", self.store + "-shm"]:
            if not os.path.exists(path):
                continue

            def attempt(path=path):
                try:
                    with open(path, "r+b"):
                        return 1
                except PermissionError:
                    return 0
            self.assertEqual(self.as_user_in_child("a", attempt), 0, f"{path} opened for writing as a user")

    def test_user_cannot_even_read_the_store_its_wal_shm_or_lock(self):
        for path in [self.store, self.store + "-wal", self.store + "-shm", self.store + ".lock"]:
            self.assertTrue(os.path.exists(path), path)

            def attempt(path=path):
                try:
                    with open(path, "rb"):
                        return 1
                except PermissionError:
                    return 0
            self.assertEqual(self.as_user_in_child("a", attempt), 0, f"{path} opened for reading as a user")

    def test_sqlite3_insert_as_user_fails(self):
        before = self.event_count()
        for sql in ["INSERT INTO meta(key, value) VALUES('pwned', 'yes');",
                    f"UPDATE requests SET state='approved' WHERE id={self.rid};"]:
            r = subprocess.run(["setpriv", "--reuid", self.users["a"], "--regid", "users", "--init-groups",
                                "sqlite3", self.store, sql], capture_output=True, text=True, timeout=20, cwd=self.dir)
            self.assertNotEqual(r.returncode, 0, f"sqlite3 as a user ran {sql!r}: {r.stdout} {r.stderr}")
        with sqlite_ro(self.store) as db:
            self.assertEqual(db.execute("SELECT count(*) FROM meta WHERE key='pwned'").fetchone()[0], 0)
        self.assertEqual(self.show(self.rid)["state"], "pending")
        self.assertEqual(self.event_count(), before)

    def test_store_files_are_0600_and_owned_by_root(self):
        found = 0
        for suffix in ["", "-wal", "-shm", ".lock"]:
            path = self.store + suffix
            if not os.path.exists(path):
                continue
            found += 1
            st = os.stat(path)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, f"{path} mode {oct(stat.S_IMODE(st.st_mode))}")
            self.assertEqual(st.st_uid, 0, f"{path} owner")
        self.assertEqual(found, 4, "store, -wal, -shm and the lock file exist while the daemon runs")

    def test_a_user_cannot_stall_the_writer_with_a_lock_on_the_shm_file(self):
        # A WAL reader's shared lock on the write-lock byte of -shm (offset 120) makes every commit wait for
        # busy_timeout: the user who holds it keeps their grants. Now they cannot open -shm at all.
        holder = subprocess.Popen(
            ["setpriv", "--reuid", self.users["a"], "--regid", "users", "--init-groups", PYTHON, "-c", """
import fcntl, os, struct, sys, time
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
except PermissionError:
    print("denied", flush=True); sys.exit(0)
fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 120, 1, 0))
print("locked", flush=True); time.sleep(20)
""", self.store + "-shm"], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "denied", "a user opened -shm and locked it")
            t0 = time.time()
            self.ok("c", "approve", self.rid, timeout=10)
            self.assertLess(time.time() - t0, 3, "a decision waited behind a reader's lock")
        finally:
            holder.kill()
            holder.wait()

    def test_a_user_holding_an_old_readable_lock_file_does_not_block_the_restart(self):
        self.assertEqual(self.stop_daemon(), 0)
        lock = self.store + ".lock"
        os.chmod(lock, 0o644)   # as round-1 daemons left it
        holder = subprocess.Popen(
            ["setpriv", "--reuid", self.users["a"], "--regid", "users", "--init-groups", PYTHON, "-c",
             "import fcntl, sys, time\nf = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)",
             lock], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "held")
            self.start_daemon()   # fails the test unless the socket answers within 10 s
            self.assertIn("replacing the lock file", self.daemon_log_tail())
            self.ok("c", "approve", self.rid)
            self.assertEqual(stat.S_IMODE(os.stat(lock).st_mode), 0o600)
        finally:
            holder.kill()
            holder.wait()

    def test_the_daemon_refuses_a_store_directory_others_can_write(self):
        self.assertEqual(self.stop_daemon(), 0)
        d = os.path.dirname(self.store)
        os.chmod(d, 0o777)
        try:
            r = subprocess.run([self.bin, "--config", self.config, "daemon"], capture_output=True, text=True, timeout=20, cwd=self.dir)
            self.assertEqual(r.returncode, 69, r.stderr)
            self.assertIn("writable by others", r.stderr)
        finally:
            os.chmod(d, 0o755)
        self.start_daemon()

    def test_a_clean_stop_leaves_every_commit_in_the_db_file_itself(self):
        for _ in range(5):
            self.request("a", "note")
        self.assertEqual(self.stop_daemon(), 0)
        self.assertEqual(os.path.getsize(self.store + "-wal"), 0, "the WAL was checkpointed and emptied")
        copy = os.path.join(self.dir, "copy.db")
        shutil.copyfile(self.store, copy)   # the .db alone, as a careless backup would take it
        with sqlite3.connect(copy) as db:
            self.assertEqual(db.execute("SELECT count(*) FROM requests").fetchone()[0], 6)
        os.unlink(copy)

    def test_users_read_through_the_daemon_and_get_69_while_it_is_down(self):
        self.assertIn(str(self.rid), self.ok("a", "list").stdout)
        self.assertEqual(self.stop_daemon(), 0)
        self.assert_refused(self.run_as("a", "list"), 69, "not running")
        self.assert_refused(self.run_as("a", "show", self.rid), 69, "not running")
        self.assertIn(str(self.rid), self.ok(None, "list").stdout, "root may read the file itself while the daemon is down")

    def test_one_user_holding_many_connections_does_not_lock_out_others(self):
        crowd = subprocess.Popen(
            ["setpriv", "--reuid", self.users["b"], "--regid", "users", "--init-groups", PYTHON, "-c", """
import socket, sys, time
socks = []
for _ in range(300):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); socks.append(s)
time.sleep(1)
refused = 0
for s in socks:
    try:
        if b"too many connections" in s.recv(4096, socket.MSG_DONTWAIT): refused += 1
    except BlockingIOError:
        pass
print(refused, flush=True); sys.stdin.readline()
""", self.socket], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            refused = int(crowd.stdout.readline())
            self.assertGreaterEqual(refused, 250, "one user kept more than their share of connections")
            t0 = time.time()
            self.ok("c", "approve", self.rid, timeout=10)
            self.assertIn(str(self.rid), self.ok("a", "list", "--all").stdout)
            self.assertLess(time.time() - t0, 5)
        finally:
            crowd.kill()
            crowd.wait()

    def test_identity_and_groups_are_resolved_for_every_command_of_a_connection(self):
        self.removed_approver_is_refused_at_next_command()

    def test_a_group_change_reaches_the_next_command_after_answers_were_cached(self):
        # The daemon keeps a resolved identity while /etc/passwd and /etc/group are unchanged and older than 2 s:
        # let them settle first, so that the answers before gpasswd come from that cache.
        deadline = time.time() + 10
        while time.time() - max(os.stat(f).st_mtime for f in ("/etc/passwd", "/etc/group")) < 2.5:
            self.assertLess(time.time(), deadline, "the account files keep changing")
            time.sleep(0.2)
        self.removed_approver_is_refused_at_next_command(pings=3)

    def removed_approver_is_refused_at_next_command(self, pings=1):
        client = subprocess.Popen(
            ["setpriv", "--reuid", self.users["c"], "--regid", "users", "--init-groups", PYTHON, "-c", """
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
for _ in range(int(sys.argv[3])):
    f.write(json.dumps({"v": 1, "event": "ping"}) + "\\n"); f.flush(); print(f.readline().strip(), flush=True)
sys.stdin.readline()
f.write(json.dumps({"v": 1, "event": "approve", "request": int(sys.argv[2])}) + "\\n"); f.flush()
print(f.readline().strip(), flush=True)
""", self.socket, str(self.rid), str(pings)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            for _ in range(pings):
                self.assertTrue(json.loads(client.stdout.readline())["ok"])
            subprocess.run(["gpasswd", "-d", self.users["c"], self.oncall], check=True, capture_output=True)
            client.stdin.write("\n")
            client.stdin.flush()
            reply = json.loads(client.stdout.readline())
            self.assertFalse(reply["ok"], "an approver removed from the group still approved over an old connection")
            self.assertEqual(reply["exit"], 77)
            self.assertEqual(self.show(self.rid)["state"], "pending")
        finally:
            subprocess.run(["gpasswd", "-a", self.users["c"], self.oncall], capture_output=True)
            client.kill()
            client.wait()

    def test_socket_is_open_to_every_user(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.socket).st_mode), 0o666)

    def test_identity_comes_from_the_kernel_not_user_env(self):
        rid = int(self.ok("a", "request", "note", "--reason", "who am I",
                          env={"USER": self.users["c"], "LOGNAME": self.users["c"]}).stdout)
        self.assertEqual(self.show(rid)["requester"], self.users["a"])


class StatusLineTests(E2ECase):
    """`symtui status`: the one line for tmux or a prompt, through the daemon, as real users."""

    def test_an_approver_sees_what_waits_and_a_requester_sees_their_grant(self):
        rid = self.request("a", "db", "orders", duration="1h")
        self.assertEqual(self.ok("c", "status").stdout.strip(), "⚑ 1 waiting")
        self.assertEqual(self.ok("b", "status").stdout.strip(), "", "nothing waits for b and b holds nothing")
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active")
        line = self.ok("a", "status").stdout.strip()
        self.assertRegex(line, r"^orders (59m|1h00m) left$")
        tmux = self.ok("c", "status", "--format", "tmux").stdout.strip()
        self.assertEqual(tmux, "", "nothing waits for c any more")
        j = json.loads(self.ok("a", "status", "--format", "json").stdout)
        self.assertEqual((j["user"], j["waiting"], j["grants"][0]["id"], j["grants"][0]["state"]), (self.users["a"], 0, rid, "active"))
        self.assertGreater(j["grants"][0]["seconds_left"], 3500)

    def test_status_is_69_when_the_daemon_is_down(self):
        self.assertEqual(self.stop_daemon(), 0)
        self.assert_refused(self.run_as("a", "status"), 69, "not running")


class BackupTests(E2ECase):
    """`symtui backup FILE`: the daemon's consistent, verified, atomic copy of the running store; the restore."""

    LIMITS = {"pending_per_user": 1000}     # the load test keeps its requests pending

    def backup_dir(self, name, mode=0o700, owner=None):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, mode)
        if owner:
            os.chown(d, pwd.getpwnam(self.users[owner]).pw_uid, -1)
        return d

    def test_backup_while_requests_commit_is_consistent_and_verifies(self):
        out = self.backup_dir("bk")
        stop = threading.Event()
        made = []

        def load():
            while not stop.is_set():
                r = self.run_as("a", "request", "note", "--reason", "load")
                if r.returncode == 0:
                    made.append(int(r.stdout))
        workers = [threading.Thread(target=load) for _ in range(3)]
        for w in workers:
            w.start()
        try:
            time.sleep(0.5)
            copies = []
            for i in range(4):
                path = os.path.join(out, f"store-{i}.db")
                r = self.ok(None, "backup", path, "--json")
                copies.append((path, json.loads(r.stdout)))
                time.sleep(0.2)
        finally:
            stop.set()
            for w in workers:
                w.join()
        self.assertGreater(len(made), 4, "requests kept committing during the backups")
        heads = []
        for path, info in copies:
            self.assertEqual(info["path"], path)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            v = json.loads(self.ok(None, "--db", path, "audit", "verify", "--json").stdout)
            self.assertTrue(v["ok"], v)
            self.assertEqual(v["head_seq"], info["head_seq"])
            db = sqlite_ro(path)
            try:
                self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
                # One commit's view: every request in the copy has its request event, and no event names a request it lacks.
                n_requests = db.execute("SELECT count(*) FROM requests").fetchone()[0]
                n_events = db.execute("SELECT count(*) FROM events WHERE type = 'request'").fetchone()[0]
                self.assertEqual(n_requests, n_events)
                self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "delete", "a copy stands alone (no -wal)")
            finally:
                db.close()
            heads.append(info["head_seq"])
        self.assertEqual(heads, sorted(heads))
        self.assertLess(heads[0], heads[-1], "later copies hold later commits")
        self.assertEqual([f for f in os.listdir(out) if f.startswith(".")], [], "no temporary file is left behind")

    def test_a_user_who_is_not_root_nor_in_store_group_is_refused_with_77(self):
        out = self.backup_dir("bk-a", owner="a")
        self.assert_refused(self.run_as("a", "backup", os.path.join(out, "s.db")), 77, "only root")
        self.assertEqual(os.listdir(out), [])

    def test_a_directory_others_can_write_is_refused_and_nothing_is_written(self):
        out = self.backup_dir("bk-open", mode=0o777)
        self.assert_refused(self.run_as(None, "backup", os.path.join(out, "s.db")), 77, "writable by others")
        self.assertEqual(os.listdir(out), [])

    def test_a_path_through_a_symlink_is_refused(self):
        real = self.backup_dir("bk-real")
        link = os.path.join(self.dir, "bk-link")
        os.symlink(real, link)
        self.assert_refused(self.run_as(None, "backup", os.path.join(link, "s.db")), 74, "symbolic link")
        self.assertEqual(os.listdir(real), [])

    def test_an_existing_symlink_at_the_target_is_not_followed(self):
        out = self.backup_dir("bk-sym")
        victim = os.path.join(self.dir, "victim")
        with open(victim, "w") as f:
            f.write("keep me")
        os.symlink(victim, os.path.join(out, "s.db"))
        self.assert_refused(self.run_as(None, "backup", os.path.join(out, "s.db")), 74, "not a regular file")
        with open(victim) as f:
            self.assertEqual(f.read(), "keep me")

    def test_restore_a_backup_into_a_stopped_daemon(self):
        rid = self.request("a", "note", reason="before the backup")
        out = self.backup_dir("bk-restore")
        path = os.path.join(out, "s.db")
        self.ok(None, "backup", path)
        later = self.request("a", "note", reason="after the backup")
        self.assertEqual(self.stop_daemon(), 0)
        # The restore docs/deployment.md gives: the copy replaces the store; its -wal/-shm go.
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.store + suffix):
                os.unlink(self.store + suffix)
        subprocess.run(["install", "-m", "0600", path, self.store], check=True)
        self.start_daemon()
        self.assertEqual(self.show(rid)["id"], rid)
        self.assert_refused(self.run_as(None, "show", later), 65, f"no request {later}")
        self.ok(None, "audit", "verify")


class BackupByStoreGroupTests(E2ECase):
    """A store_group member may back up, into a directory of theirs; the copy is made with their file-system uid."""

    @classmethod
    def config_text(cls):
        text = super().config_text()
        cfg = json.loads(text.split("\n", 1)[1])
        cfg["store_group"] = cls.oncall
        cfg["store_mode"] = "0640"
        return "// store_group config\n" + json.dumps(cfg, indent=2) + "\n"

    def test_a_store_group_member_backs_up_into_their_own_directory_as_themselves(self):
        self.request("a", "note")
        out = os.path.join(self.dir, "bk-c")
        os.makedirs(out)
        os.chmod(out, 0o700)
        uid = pwd.getpwnam(self.users["c"]).pw_uid
        os.chown(out, uid, -1)
        path = os.path.join(out, "s.db")
        self.ok("c", "backup", path)
        self.assertEqual(os.stat(path).st_uid, uid, "the copy belongs to the caller, not to root")
        self.assertTrue(json.loads(self.ok("c", "--db", path, "audit", "verify", "--json").stdout)["ok"])

    def test_a_store_group_member_cannot_write_where_they_could_not_themselves(self):
        out = os.path.join(self.dir, "bk-root")
        os.makedirs(out)
        os.chmod(out, 0o755)   # root's: the daemon could write here, the caller cannot
        self.assert_refused(self.run_as("c", "backup", os.path.join(out, "s.db")), 74, "cannot create")
        self.assertEqual(os.listdir(out), [])


class NotificationMetricsTests(E2ECase):
    """`symtui_notification_backlog{channel}`: what a failing channel has not delivered yet."""

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cfg["notifications"] = {"channels": [{"name": "script", "type": "command", "command": "/bin/false"}], "default": ["script"]}
        return json.dumps(cfg, indent=2)

    def test_a_channel_that_fails_shows_its_backlog(self):
        self.request("a", "note")
        deadline = time.time() + 10
        while True:
            text = self.ok("b", "metrics").stdout
            m = re.search(r'^symtui_notification_backlog\{channel="script"\} (\S+)$', text, re.M)
            if m and float(m.group(1)) >= 1 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(float(m.group(1)), 1, "the request's notification waits on the failing channel")
        if shutil.which("promtool"):
            check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class MetricsTests(E2ECase):
    """`symtui metrics`: Prometheus text exposition through the daemon, checked by promtool."""

    def metric(self, text, name):
        m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
        self.assertIsNotNone(m, f"{name} in\n{text}")
        return float(m.group(1))

    def test_metrics_pass_promtool_and_count_the_store(self):
        if not shutil.which("promtool"):
            self.skipTest("promtool (Debian prometheus) is not installed")
        p1 = self.request("a", "note")
        self.request("a", "note")
        g = self.request("a", "db", "orders", duration="1h")
        self.ok("c", "approve", g)
        self.wait_state(g, "active")
        self.ok("c", "approve", p1)
        text = self.ok("b", "metrics").stdout
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual((check.stdout + check.stderr).strip(), "", "promtool has no lint complaint")
        self.assertEqual(self.metric(text, 'symtui_requests{state="pending"}'), 1)
        self.assertEqual(self.metric(text, 'symtui_requests{state="active"}'), 1)
        self.assertEqual(self.metric(text, "symtui_grants_active"), 1)
        self.assertEqual(self.metric(text, "symtui_grants_stuck"), 0)
        self.assertEqual(self.metric(text, "symtui_approval_latency_seconds_count"), 2)
        self.assertEqual(self.metric(text, 'symtui_approval_latency_seconds_bucket{le="+Inf"}'), 2)
        self.assertEqual(self.metric(text, "symtui_audit_head_seq"), self.event_count())

    def test_the_sample_alert_rules_pass_promtool(self):
        if not shutil.which("promtool"):
            self.skipTest("promtool (Debian prometheus) is not installed")
        r = subprocess.run(["promtool", "check", "rules", os.path.join(REPO, "contrib", "symtui-alerts.yml")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 6 rules found", r.stdout)

    def test_metrics_output_file_is_replaced_atomically(self):
        out = os.path.join(self.dir, "symtui.prom")
        self.ok(None, "metrics", "--output", out)
        with open(out) as f:
            self.assertIn("# TYPE symtui_requests gauge", f.read())
        self.assertEqual([f for f in os.listdir(self.dir) if f.startswith("symtui.prom.")], [])

    def test_metrics_are_69_when_the_daemon_is_down(self):
        self.assertEqual(self.stop_daemon(), 0)
        self.assert_refused(self.run_as("a", "metrics"), 69, "not running")


class CompletionAndManTests(E2ECase):
    """`symtui completion bash` loaded in a real bash; the man pages pass mandoc's and man's checks."""

    def complete(self, role, *words):
        """What bash offers after `words` (the last one being completed), as ROLE, with the daemon up."""
        script = self.ok(role, "completion", "bash").stdout
        path = os.path.join(self.dir, f"completion-{role}.bash")
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, 0o644)
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir, exist_ok=True)
        if not os.path.exists(os.path.join(bindir, "symtui")):
            os.symlink(self.bin, os.path.join(bindir, "symtui"))
        words = ["symtui", "--config", self.config] + list(words)
        prog = (f"source {shlex.quote(path)}\ncomplete -p symtui\n"
                f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
                "_symtui; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        cmd = ["bash", "--norc", "--noprofile", "-c", prog]
        if role is not None:
            cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=self.dir,
                           env={"PATH": f"{bindir}:/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "complete -F _symtui symtui")
        return lines[1:]

    def test_bash_completes_commands_and_subcommands_from_the_table(self):
        self.assertEqual(self.complete("a", "appr"), ["approve"])
        self.assertEqual(sorted(self.complete("a", "audit", "")), ["export", "status", "tail", "verify"])
        self.assertIn("--reason", self.complete("a", "deny", "--"))

    def test_bash_completes_flows_and_targets_from_the_config(self):
        self.assertEqual(sorted(self.complete("a", "request", "")), ["db", "note", "selfnote", "ttl"])
        self.assertEqual(sorted(self.complete("a", "request", "db", "")), ["billing", "orders"])
        self.assertEqual(self.complete("a", "list", "--state", "pe"), ["pending"])

    def test_bash_completes_request_ids_from_the_daemon(self):
        rid = self.request("a", "note")
        done = self.request("a", "note")
        self.ok("a", "cancel", done)
        self.assertEqual(self.complete("c", "approve", ""), [str(rid)], "open requests only")

    def test_version_flag_prints_what_the_version_command_prints(self):
        plain = self.ok("a", "version").stdout
        self.assertRegex(plain, r"^symtui \d+\.\d+\.\d+\n$")
        self.assertEqual(self.ok("a", "--version").stdout, plain)
        self.assertEqual(json.loads(self.ok("a", "--json", "--version").stdout), json.loads(self.ok("a", "--json", "version").stdout))

    def test_generated_man_pages_pass_mandoc_lint_and_man_warnings(self):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed")
        pages = {os.path.join(self.dir, "symtui.1"): self.ok(None, "help", "--man").stdout,
                 os.path.join(self.dir, "symtui-config.5"): subprocess.run(
                     [PYTHON, os.path.join(REPO, "scripts", "man-config.py"), os.path.join(REPO, "docs", "configuration.md")],
                     capture_output=True, text=True, check=True).stdout}
        for path, text in pages.items():
            with open(path, "w") as f:
                f.write(text)
            lint = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", path], capture_output=True, text=True)
            self.assertEqual((lint.returncode, lint.stdout + lint.stderr), (0, ""), path)
            man = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                                 env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LANG": "C.UTF-8", "MANPAGER": "cat"})
            self.assertEqual((man.returncode, man.stderr), (0, ""), path)
        self.assertIn("symtui backup", pages[os.path.join(self.dir, "symtui.1")])
        self.assertIn("store_group", pages[os.path.join(self.dir, "symtui-config.5")])


class CommandStrategyTests(E2ECase):
    """The `command` strategy: argv, environment, expiry, hostile field values; `wait`."""

    def test_approved_grant_is_active_within_2s_and_script_saw_env(self):
        rid = self.request("a", "db", "orders", duration="1h", reason="deploy", fields={"note": "hello"})
        self.ok("c", "approve", rid)
        t0 = time.time()
        req = self.wait_state(rid, "active", timeout=2.5)
        self.assertLess(time.time() - t0, 2.5)
        recs = [r for r in self.strategy_log(rid) if r["action"] == "escalate"]
        self.assertEqual(len(recs), 1, recs)
        rec = recs[0]
        self.assertEqual(rec["argv"], ["--from-config", self.users["a"], "orders"])
        env = rec["env"]
        self.assertEqual(env.get("SYMTUI_USER"), self.users["a"])
        self.assertEqual(env.get("SYMTUI_TARGET"), "orders")
        self.assertEqual(env.get("SYMTUI_REQUEST_ID"), str(rid))
        self.assertEqual(env.get("SYMTUI_FIELD_REASON"), "deploy")
        self.assertEqual(env.get("SYMTUI_FIELD_NOTE"), "hello")
        self.ok("a", "release", rid)
        self.wait_state(rid, "ended")
        # Last: the grant's expiry, as the script's SYMTUI_EXPIRES_AT, within a few seconds of the stored one.
        self.assertRegex(env.get("SYMTUI_EXPIRES_AT", ""), RFC3339_Z, "SYMTUI_EXPIRES_AT is the grant's expiry")
        self.assertLess(abs(parse_time(env["SYMTUI_EXPIRES_AT"]) - parse_time(req["access_expires_at"])), 5)

    def test_short_grant_expires_and_deescalate_runs(self):
        rid = self.request("a", "db", "billing", duration="2s")
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active", timeout=2.5)
        req = self.wait_state(rid, "ended", timeout=6)
        self.assertEqual(req["end_reason"], "expired")
        self.assertIsNotNone(req["ended_at"])
        de = [r for r in self.strategy_log(rid) if r["action"] == "deescalate"]
        self.assertEqual(len(de), 1, self.strategy_log(rid))
        self.assertEqual(de[0]["argv"], ["--from-config", self.users["a"], "billing"])
        types = [e["type"] for e in req["events"]]
        self.assertIn("deescalate", types)

    def test_hostile_field_value_is_passed_verbatim(self):
        marker = f"/tmp/pwned_{self.hex}"
        hostile = f"$(touch {marker}); rm -rf /"
        rid = self.request("a", "db", "orders", duration="2s", reason=f"`touch {marker}_r`",
                           fields={"note": hostile})
        self.assertEqual(self.show(rid)["fields"]["note"], hostile)
        self.ok("c", "approve", rid)
        self.wait_state(rid, "ended", timeout=8)
        recs = self.strategy_log(rid)
        self.assertEqual(sorted(r["action"] for r in recs), ["deescalate", "escalate"])
        for r in recs:
            self.assertEqual(r["env"].get("SYMTUI_FIELD_NOTE"), hostile)
            self.assertEqual(r["env"].get("SYMTUI_FIELD_REASON"), f"`touch {marker}_r`")
        self.assertFalse(os.path.exists(marker), "a field value was run by a shell")
        self.assertFalse(os.path.exists(marker + "_r"), "a field value was run by a shell")
        self.assertTrue(os.path.isdir("/bin") and os.path.isdir("/tmp"))

    def test_daemon_stops_on_sigterm_while_a_strategy_runs(self):
        rid = self.request("a", "db", "orders", duration="1h", fields={"note": "slow"})
        self.ok("c", "approve", rid)
        self.wait_state(rid, "escalating", timeout=2)
        time.sleep(0.3)                      # the escalate script now sleeps 2 s
        t0 = time.time()
        code = self.stop_daemon()
        self.assertEqual(code, 0, f"exit code on SIGTERM after {time.time() - t0:.1f}s (None = still running after 5 s); "
                                  f"log: {self.daemon_log_tail()}")
        self.start_daemon()                  # a restarted daemon finishes the job
        self.wait_state(rid, "active", timeout=8)
        self.ok("a", "release", rid)
        self.wait_state(rid, "ended", timeout=5)

    def test_request_wait_returns_0_once_approved_and_active(self):
        p = subprocess.Popen(["setpriv", "--reuid", self.users["a"], "--regid", "users", "--init-groups",
                              self.bin, "--config", self.config, "request", "db", "orders", "--duration", "1h",
                              "--reason", "waiting", "--wait", "--timeout", "10s"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.dir,
                             env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        try:
            first = p.stderr.readline()
            m = re.search(r"request (\d+) created", first)
            self.assertIsNotNone(m, f"request --wait says which request it waits for on stderr: {first!r}")
            rid = int(m.group(1))
            time.sleep(1)
            self.assertIsNone(p.poll(), "request --wait returned before the decision")
            threading.Thread(target=lambda: self.run_as("c", "approve", rid)).start()
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.show(rid)["state"], "active")
        self.ok("a", "release", rid)
        self.wait_state(rid, "ended")

    def test_wait_on_pending_times_out_with_75(self):
        rid = self.request("a", "db", "orders", duration="1h")
        t0 = time.time()
        r = self.run_as("a", "wait", rid, "--timeout", "1s")
        elapsed = time.time() - t0
        self.assert_refused(r, 75)
        self.assertLess(elapsed, 4)
        self.assertGreater(elapsed, 0.8)
        self.ok("a", "cancel", rid)

    def test_wait_on_denied_request_exits_1(self):
        rid = self.request("a", "db", "orders", duration="1h")
        self.ok("c", "deny", rid, "--reason", "no")
        r = self.run_as("a", "wait", rid, "--timeout", "5s")
        self.assertEqual(r.returncode, 1, r.stderr)

    def test_wait_on_approved_approval_only_request_exits_0(self):
        rid = self.request("a", "note")
        self.ok("c", "approve", rid)
        self.assertEqual(self.run_as("b", "wait", rid, "--timeout", "5s").returncode, 0)


class UnixGroupTests(E2ECase):
    """The `unix_group` strategy against a throwaway group."""

    REQUESTERS = ["r1", "r2", "r3", "r4"]
    EXTRA_GROUPS = ["target"]

    def approve_active(self, role, duration):
        rid = self.request(role, "grp", "tgt", duration=duration)
        self.assertNotIn(self.users[role], self.group_members(self.groups["target"]), "not a member before approval")
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active", timeout=3)
        self.assertIn(self.users[role], self.group_members(self.groups["target"]), "a member while active")
        return rid

    def test_member_while_active_and_removed_after_expiry(self):
        rid = self.approve_active("r1", "2s")
        req = self.wait_state(rid, "ended", timeout=6)
        self.assertEqual(req["end_reason"], "expired")
        self.assertNotIn(self.users["r1"], self.group_members(self.groups["target"]))

    def test_revoke_by_approver_ends_and_removes_member(self):
        rid = self.approve_active("r2", "1h")
        self.assert_refused(self.run_as("r3", "revoke", rid), 77)
        self.ok("c", "revoke", rid, "--reason", "incident over")
        req = self.wait_state(rid, "ended", timeout=3)
        self.assertEqual(req["end_reason"], "revoked")
        self.assertNotIn(self.users["r2"], self.group_members(self.groups["target"]))

    def test_release_by_requester_ends_and_removes_member(self):
        rid = self.approve_active("r3", "1h")
        self.ok("r3", "release", rid)
        req = self.wait_state(rid, "ended", timeout=3)
        self.assertEqual(req["end_reason"], "released")
        self.assertNotIn(self.users["r3"], self.group_members(self.groups["target"]))

    def test_revoke_is_final(self):
        rid = self.approve_active("r4", "1h")
        self.ok("c", "revoke", rid)
        self.wait_state(rid, "ended", timeout=3)
        before = self.event_count()
        r = self.run_as("c", "revoke", rid)
        self.assertNotEqual(r.returncode, 0, "a second revoke")
        self.assert_daemon_alive()
        r = self.run_as("r4", "release", rid)
        self.assertNotEqual(r.returncode, 0, "release after revoke")
        self.assert_daemon_alive()
        self.assertEqual(self.event_count(), before)
        self.assertEqual(self.show(rid)["end_reason"], "revoked")

    def test_release_is_final(self):
        rid = self.approve_active("r4", "1h")
        self.ok("r4", "release", rid)
        self.wait_state(rid, "ended", timeout=3)
        before = self.event_count()
        r = self.run_as("r4", "release", rid)
        self.assertNotEqual(r.returncode, 0, "a second release")
        self.assert_daemon_alive()
        r = self.run_as("c", "revoke", rid)
        self.assertNotEqual(r.returncode, 0, "revoke after release")
        self.assert_daemon_alive()
        self.assertEqual(self.event_count(), before)
        self.assertEqual(self.show(rid)["end_reason"], "released")


class EndSessionsTests(E2ECase):
    """`end_sessions`: what a grant let the user start, and that still holds the access, ends with the grant."""

    REQUESTERS = ["a", "b"]
    EXTRA_GROUPS = ["target", "reported"]
    SUDO_RULE = "ALL=(root) NOPASSWD: /bin/sh"

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        reason = {"name": "reason", "type": "string", "required": True}
        duration = {"name": "duration", "type": "duration", "required": True}
        cfg["strategies"] += [
            {"name": "grpend", "type": "unix_group",
             "targets": [{"name": "tgt", "settings": {"group": cls.groups["target"]}}]},
            {"name": "grprep", "type": "unix_group", "settings": {"end_sessions": "report"},
             "targets": [{"name": "rep", "settings": {"group": cls.groups["reported"]}}]},
            {"name": "root", "type": "sudoers",
             "targets": [{"name": "shell", "settings": {"rule": cls.SUDO_RULE}}]},
            {"name": "rootrep", "type": "sudoers", "settings": {"end_sessions": "report"},
             "targets": [{"name": "rshell", "settings": {"rule": cls.SUDO_RULE}}]},
        ]
        for name, strategy in (("grpend", "grpend"), ("grprep", "grprep"), ("root", "root"), ("rootrep", "rootrep")):
            cfg["flows"].append({"name": name, "strategy": strategy, "approvers": {"groups": [cls.oncall]},
                                 "prompt_fields": [reason, duration]})
        return "// end_sessions e2e config\n" + json.dumps(cfg, indent=2) + "\n"

    def setUp(self):
        super().setUp()
        self.started = []   # Popen objects of the processes this test started (each in its own session)

    def tearDown(self):
        # Everything this test started: its sessions (sudo's root processes among them) and every process of the
        # class's throwaway users, which a later class could otherwise inherit with a reused uid.
        uids = {pwd.getpwnam(u).pw_uid for u in self.users.values()}
        for _ in range(3):
            victims = set()
            for p in self.started:
                victims.update(self.session_pids(p))
            for name in os.listdir("/proc"):
                try:
                    with open(f"/proc/{name}/status") as f:
                        line = [l for l in f if l.startswith("Uid:")][0]
                except (OSError, IndexError):
                    continue
                if set(int(x) for x in line.split()[1:4]) & uids:
                    victims.add(int(name))
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for p in self.started:
                if p.poll() is None:
                    try:
                        p.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        pass
            if not victims:
                break
            time.sleep(0.1)
        # A failed test must not leave a grant that covers the next test's processes.
        if self.daemon is not None:
            with sqlite_ro(self.store) as db:
                left = [r[0] for r in db.execute("SELECT id FROM requests WHERE state IN ('active', 'escalating', 'approved')")]
            for rid in left:
                self.run_as("c", "revoke", rid)
            for rid in left:
                self.wait_state(rid, ["ended", "failed"], timeout=10)
        super().tearDown()

    # -- helpers ----------------------------------------------------------------------------------

    def grant(self, role, flow, target, duration):
        rid = self.request(role, flow, target, duration=duration)
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active", timeout=5)
        return rid

    def spawn(self, role, *cmd, init_groups=True):
        """Starts CMD as ROLE in a new session (the user's current groups when init_groups); returns the Popen."""
        prefix = ["setpriv", "--reuid", self.users[role], "--regid", "users"]
        prefix += ["--init-groups"] if init_groups else ["--clear-groups"]
        p = subprocess.Popen(prefix + list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self.started.append(p)
        return p

    def session_pids(self, p):
        """Every live, non-zombie process of the session that p leads."""
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat_line = f.read()
            except OSError:
                continue
            rest = stat_line.rsplit(")", 1)[1].split()
            if rest[0] != "Z" and int(rest[3]) == p.pid:
                pids.append(int(name))
        return pids

    def holds_group(self, pid, group):
        gid = grp.getgrnam(group).gr_gid
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("Groups:"):
                        return gid in [int(x) for x in line.split()[1:]]
                    if line.startswith("Gid:") and gid in [int(x) for x in line.split()[1:4]]:
                        return True
        except OSError:
            return False
        return False

    def command_of(self, pid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                return f.read().strip()
        except OSError:
            return None

    def wait_holding(self, p, group, count=1, timeout=5.0):
        """The session's processes that hold the group, once COUNT of them run `sleep` (sg and su have exec'd)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            pids = [pid for pid in self.session_pids(p) if self.holds_group(pid, group) and self.command_of(pid) == "sleep"]
            if len(pids) >= count:
                return pids
            time.sleep(0.05)
        self.fail(f"no process of session {p.pid} holds {group} within {timeout} s")

    def wait_session_gone(self, p, timeout=8.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.session_pids(p):
                return time.time()
            time.sleep(0.05)
        left = {q: open(f"/proc/{q}/status").read() for q in self.session_pids(p)}
        with sqlite_ro(self.store) as db:
            ev = db.execute("SELECT request_id, data FROM events WHERE type = 'deescalate' ORDER BY seq DESC LIMIT 2").fetchall()
        self.fail(f"session {p.pid} still has {left} after {timeout} s; events {ev}; log: {self.daemon_log_tail()}")

    def deescalate_data(self, rid):
        with sqlite_ro(self.store) as db:
            rows = db.execute("SELECT data FROM events WHERE request_id = ? AND type = 'deescalate'", (rid,)).fetchall()
        self.assertEqual(len(rows), 1, f"one deescalate event for request {rid}")
        return json.loads(rows[0][0])

    def check_json(self):
        r = self.run_as(None, "check", "--json")
        return r.returncode, json.loads(r.stdout)

    # -- unix_group -------------------------------------------------------------------------------

    def test_sg_process_holding_the_group_ends_when_the_grant_expires_and_the_event_names_it(self):
        g = self.groups["target"]
        rid = self.grant("a", "grpend", "tgt", "3s")
        p = self.spawn("a", "sg", g, "-c", "exec sleep 600", init_groups=False)
        pids = self.wait_holding(p, g)
        self.wait_state(rid, "ended", timeout=8)
        gone = self.wait_session_gone(p, timeout=4)
        ended_at = parse_time(self.show(rid)["ended_at"])
        self.assertLess(gone - ended_at, 3.5, "gone within a few seconds of the end")
        sessions = self.deescalate_data(rid)["sessions"]
        self.assertEqual(sorted(s["pid"] for s in sessions), sorted(pids))
        for s in sessions:
            self.assertEqual(s["command"], "sleep")
            self.assertEqual(s["outcome"], "terminated")
            self.assertEqual(s["signal"], "SIGHUP")

    def test_login_shell_that_picked_the_group_up_ends_on_revoke(self):
        g = self.groups["target"]
        rid = self.grant("a", "grpend", "tgt", "1h")
        # su -l makes a login: initgroups() gives the shell every group the user is a member of now.
        p = subprocess.Popen(["su", "-s", "/bin/sh", "-l", self.users["a"], "-c", "sleep 600 & sleep 600; wait"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.started.append(p)
        uid = pwd.getpwnam(self.users["a"]).pw_uid

        def holders():   # su -c runs the command in a session of its own: find the user's sleeps instead
            return [q for q in map(int, filter(str.isdigit, os.listdir("/proc")))
                    if self.command_of(q) == "sleep" and self.holds_group(q, g)
                    and f"Uid:\t{uid}\t" in (open(f"/proc/{q}/status").read() if os.path.exists(f"/proc/{q}") else "")]
        deadline = time.time() + 5
        while len(holders()) < 2:
            self.assertLess(time.time(), deadline, "the login's two sleeps hold the group")
            time.sleep(0.05)
        pids = holders()
        self.ok("c", "revoke", rid, "--reason", "done")
        self.wait_state(rid, "ended", timeout=8)
        deadline = time.time() + 4
        while holders():
            self.assertLess(time.time(), deadline, f"{holders()} still hold the group")
            time.sleep(0.05)
        ended = {s["pid"] for s in self.deescalate_data(rid)["sessions"] if s["outcome"] in ("terminated", "gone")}
        self.assertTrue(set(pids) <= ended, f"{pids} named in the event ({ended})")

    def test_other_users_and_unrelated_processes_survive(self):
        g = self.groups["target"]
        subprocess.run(["gpasswd", "-a", self.users["b"], g], check=True, capture_output=True)
        try:
            other = self.spawn("b", "sg", g, "-c", "exec sleep 600", init_groups=False)
            self.wait_holding(other, g)
            unrelated = self.spawn("a", "sleep", "600", init_groups=False)   # started without the group
            rid = self.grant("a", "grpend", "tgt", "1h")
            holder = self.spawn("a", "sg", g, "-c", "exec sleep 600", init_groups=False)
            self.wait_holding(holder, g)
            self.ok("a", "release", rid)
            self.wait_state(rid, "ended", timeout=8)
            self.wait_session_gone(holder, timeout=4)
            self.assertIsNone(other.poll(), "another user's process holding the group survives")
            self.assertTrue(self.session_pids(other))
            self.assertIsNone(unrelated.poll(), "the user's process without the group survives")
        finally:
            quiet(["gpasswd", "-d", self.users["b"], g])

    def test_overlapping_grants_keep_processes_until_the_last_ends(self):
        g = self.groups["target"]
        first = self.grant("a", "grpend", "tgt", "1h")
        second = self.grant("a", "grpend", "tgt", "1h")
        p = self.spawn("a", "sg", g, "-c", "exec sleep 600", init_groups=False)
        self.wait_holding(p, g)
        self.ok("c", "revoke", first)
        self.wait_state(first, "ended", timeout=8)
        time.sleep(0.5)
        self.assertTrue(self.session_pids(p), "still covered by the second grant")
        self.assertTrue(self.deescalate_data(first).get("kept"))
        self.ok("c", "revoke", second)
        self.wait_state(second, "ended", timeout=8)
        self.wait_session_gone(p, timeout=4)

    def test_report_leaves_the_process_and_check_shows_it_as_drift(self):
        g = self.groups["reported"]
        rid = self.grant("a", "grprep", "rep", "1h")
        p = self.spawn("a", "sg", g, "-c", "exec sleep 600", init_groups=False)
        pids = self.wait_holding(p, g)
        self.ok("c", "revoke", rid)
        self.wait_state(rid, "ended", timeout=8)
        time.sleep(0.5)
        self.assertEqual(sorted(q for q in self.session_pids(p) if self.holds_group(q, g)), sorted(pids), "report leaves them running")
        sessions = self.deescalate_data(rid)["sessions"]
        self.assertEqual([s["outcome"] for s in sessions], ["reported"] * len(pids))
        code, out = self.check_json()
        self.assertEqual(code, 1, "surviving holders are drift")
        self.assertTrue(out["drift"])
        row = [t for t in out["targets"] if t["target"] == "rep"][0]
        self.assertEqual(sorted(s["pid"] for s in row["surviving_sessions"]), sorted(pids))
        self.assertEqual({s["user"] for s in row["surviving_sessions"]}, {self.users["a"]})
        text = self.run_as(None, "check").stdout
        self.assertIn(f"{self.users['a']}:{pids[0]}(sleep)", text)

    def test_kill_9_between_removing_the_group_and_ending_the_sessions_is_finished_after_restart(self):
        g = self.groups["target"]
        rid = self.grant("a", "grpend", "tgt", "1h")
        # An ignored signal stays ignored across exec: this sleep survives SIGHUP and SIGTERM.
        p = self.spawn("a", "sg", g, "-c", "trap '' HUP TERM; exec sleep 600", init_groups=False)
        pids = self.wait_holding(p, g)
        self.ok("c", "revoke", rid)
        # The member is removed, then SIGHUP and SIGTERM are ignored: the daemon waits out their grace periods.
        deadline = time.time() + 5
        while self.users["a"] in self.group_members(g):
            self.assertLess(time.time(), deadline, "the membership is removed")
            time.sleep(0.02)
        time.sleep(0.3)
        self.assertEqual(self.show(rid)["state"], "deescalating")
        self.daemon.kill()
        self.daemon.wait()
        STARTED_PIDS.remove(self.daemon.pid)
        self.daemon = None
        self.assertEqual(sorted(q for q in self.session_pids(p) if self.holds_group(q, g)), sorted(pids),
                         "the process outlived the killed daemon")
        self.start_daemon()
        self.wait_state(rid, "ended", timeout=10)
        self.wait_session_gone(p, timeout=2)
        sessions = self.deescalate_data(rid)["sessions"]
        self.assertEqual([(s["pid"], s["signal"]) for s in sessions], [(pid, "SIGKILL") for pid in sorted(pids)])

    # -- sudoers ----------------------------------------------------------------------------------

    def test_sudo_sessions_started_before_the_grant_are_not_its_own_and_survive(self):
        dropin = f"/etc/sudoers.d/zz-{self.prefix}-b"
        with open(dropin, "w") as f:
            f.write(f"{self.users['b']} ALL=(root) NOPASSWD: /usr/bin/sleep\n")
        os.chmod(dropin, 0o440)
        try:
            earlier = self.spawn("b", "/usr/bin/sudo", "-n", "/usr/bin/sleep", "600")   # a standing rule, before the grant
            deadline = time.time() + 5
            while len(self.session_pids(earlier)) < 2:
                self.assertLess(time.time(), deadline, "sudo started its sleep")
                time.sleep(0.05)
            # A process started up to 2 s before the grant's recorded start counts as the grant's own (the drop-in is in
            # place before the start is recorded; SessionHolders.startedThroughSudo): the grant starts clearly later.
            # 1.1 s passed only when the boot time's lost fraction of a second (btime is whole seconds) made up the rest.
            time.sleep(2.2)
            rid = self.grant("b", "root", "shell", "1h")
            self.ok("c", "revoke", rid)
            self.wait_state(rid, "ended", timeout=8)
            self.assertEqual(len(self.session_pids(earlier)), 2, "a sudo session older than the grant survives")
            self.assertEqual(self.deescalate_data(rid)["sessions"], [])
        finally:
            os.unlink(dropin)

    def wait_sudo_command(self, p, timeout=5.0):
        """Every process of the sudo session p leads, once sudo's command runs its `sleep`."""
        deadline = time.time() + timeout
        while True:
            pids = sorted(self.session_pids(p))
            if any(self.command_of(q) == "sleep" for q in pids):
                return pids
            self.assertLess(time.time(), deadline, f"sudo did not start its command: {pids}")
            time.sleep(0.05)

    def test_sudo_session_left_by_report_is_drift_in_check_with_its_pids(self):
        user = self.users["a"]
        rid = self.grant("a", "rootrep", "rshell", "1h")
        p = self.spawn("a", "/usr/bin/sudo", "-n", "/bin/sh", "-c", "sleep 600; true")
        pids = self.wait_sudo_command(p)   # sudo, sh and sleep
        code, out = self.check_json()
        row = [t for t in out["targets"] if t["target"] == "rshell"][0]
        self.assertEqual(row["surviving_sessions"], [], "an active grant covers its own sudo session")
        self.ok("c", "revoke", rid)
        self.wait_state(rid, "ended", timeout=8)
        time.sleep(0.3)
        self.assertEqual(self.wait_sudo_command(p), pids, "report leaves the sudo session running")
        self.assertEqual(sorted(s["pid"] for s in self.deescalate_data(rid)["sessions"]), pids)
        code, out = self.check_json()
        self.assertEqual(code, 1, "a surviving sudo session is drift")
        self.assertTrue(out["drift"])
        row = [t for t in out["targets"] if t["target"] == "rshell"][0]
        self.assertEqual(sorted(s["pid"] for s in row["surviving_sessions"]), pids)
        self.assertEqual({s["user"] for s in row["surviving_sessions"]}, {user})
        self.assertTrue({"sudo", "sleep"} <= {s["command"] for s in row["surviving_sessions"]}, row)
        shell = [t for t in out["targets"] if t["target"] == "shell"][0]
        self.assertEqual(shell["surviving_sessions"], [], "a session of one sudoers target is not another target's")
        text = self.run_as(None, "check").stdout
        self.assertIn(f"{user}:{pids[0]}(", text)
        # Once the processes are gone, nothing is left to report.
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait_session_gone(p, timeout=4)
        code, out = self.check_json()
        row = [t for t in out["targets"] if t["target"] == "rshell"][0]
        self.assertEqual(row["surviving_sessions"], [])

    def test_root_shell_started_through_sudo_does_not_survive_and_the_sudo_timestamp_is_cleared(self):
        user = self.users["a"]
        rid = self.grant("a", "root", "shell", "1h")
        p = self.spawn("a", "/usr/bin/sudo", "-n", "/bin/sh", "-c", "sleep 600; true")
        deadline = time.time() + 5
        while True:
            root = [pid for pid in self.session_pids(p) if open(f"/proc/{pid}/status").read().find("Uid:\t0\t0") >= 0]
            if len(root) >= 2:
                break
            self.assertLess(time.time(), deadline, f"sudo did not start a root shell: {self.session_pids(p)}")
            time.sleep(0.05)
        unrelated = self.spawn("a", "sleep", "600")
        os.makedirs("/run/sudo/ts", mode=0o700, exist_ok=True)
        ts = f"/run/sudo/ts/{user}"
        with open(ts, "wb") as f:
            f.write(b"\0" * 16)
        self.ok("c", "revoke", rid)
        self.wait_state(rid, "ended", timeout=8)
        self.wait_session_gone(p, timeout=4)
        self.assertIsNone(unrelated.poll(), "a process not started through sudo survives")
        data = self.deescalate_data(rid)
        self.assertEqual(data["sudo_timestamp"], "removed")
        self.assertFalse(os.path.exists(ts))
        commands = sorted(s["command"] for s in data["sessions"])
        self.assertIn("sudo", commands)
        self.assertIn("sleep", commands)
        self.assertFalse(os.path.exists(data["file"]))
        code, out = self.check_json()
        row = [t for t in out["targets"] if t["target"] == "shell"][0]
        self.assertEqual(row["surviving_sessions"], [], "with terminate, check finds no survivor")


class ScheduledWindowTests(E2ECase):
    """`request --start`: a fixed access window [start, start + duration]."""

    EXTRA_GROUPS = ["target"]

    def scheduled(self, role, start, duration):
        out = self.ok(role, "request", "grp", "tgt", "--duration", duration, "--start", start, "--reason", "window").stdout
        return int(out.strip())

    def test_approved_before_the_start_waits_then_grants_inside_the_window_and_ends_at_its_end(self):
        g, user = self.groups["target"], self.users["a"]
        rid = self.scheduled("a", "+3s", "3s")
        req = self.show(rid)
        start, end = parse_time(req["access_starts_at"]), parse_time(req["access_expires_at"])
        self.assertAlmostEqual(end - start, 3, delta=0.01)
        self.ok("c", "approve", rid)
        time.sleep(0.5)
        self.assertEqual(self.show(rid)["state"], "approved", "waits for its window")
        self.assertNotIn(user, self.group_members(g), "no access before the start")
        self.assertIn("starts in", self.ok("a", "list", "--mine").stdout)
        self.wait_state(rid, "active", timeout=start - time.time() + 2)
        self.assertGreaterEqual(time.time(), start - 0.05)
        with sqlite_ro(self.store) as db:
            escalated_ms = db.execute("SELECT time FROM events WHERE request_id = ? AND type = 'escalate'", (rid,)).fetchone()[0]
        # The event is written once gpasswd has run: under a loaded machine that alone takes a few hundred ms.
        self.assertLess(escalated_ms / 1000 - start, 1.5, "the loop wakes for the start as precisely as for an end")
        self.assertIn(user, self.group_members(g), "access inside the window")
        req = self.wait_state(rid, "ended", timeout=end - time.time() + 3)
        self.assertLess(parse_time(req["ended_at"]) - end, 1.5, "ends at the window's end")
        self.assertEqual(req["end_reason"], "expired")
        self.assertNotIn(user, self.group_members(g))

    def test_approved_inside_the_window_runs_until_the_windows_end(self):
        g, user = self.groups["target"], self.users["b"]
        rid = self.scheduled("b", "+1s", "4s")
        end = parse_time(self.show(rid)["access_expires_at"])
        time.sleep(2)
        self.assertEqual(self.show(rid)["state"], "pending")
        self.ok("c", "approve", rid)
        req = self.wait_state(rid, "active", timeout=3)
        self.assertEqual(parse_time(req["access_expires_at"]), end, "the window does not move with a late approval")
        self.assertIn(user, self.group_members(g))
        req = self.wait_state(rid, "ended", timeout=end - time.time() + 3)
        self.assertLess(parse_time(req["ended_at"]) - end, 1.5)
        self.assertNotIn(user, self.group_members(g))

    def test_not_approved_by_the_windows_end_expires(self):
        rid = self.scheduled("a", "+1s", "1s")
        req = self.wait_state(rid, "expired", timeout=5)
        self.assertIsNone(req["decided_at"])
        self.assertNotIn(self.users["a"], self.group_members(self.groups["target"]))

    def test_a_start_that_is_not_a_time_or_in_the_past_is_refused_and_nothing_is_recorded(self):
        before = self.event_count()
        for bad in ["tomorrow", "+2x", "2020-01-01T00:00:00Z"]:
            r = self.run_as("a", "request", "grp", "tgt", "--duration", "1h", "--start", bad, "--reason", "x")
            self.assert_refused(r, 65, "--start")
        self.assert_refused(self.run_as("a", "request", "note", "--start", "+1h", "--reason", "x"), 65, "approval-only")
        self.assertEqual(self.event_count(), before)


class EventsApiTests(E2ECase):
    """`symtui events`: JSON Lines in, one JSON line out per input line."""

    def next_id(self):
        with sqlite_ro(self.store) as db:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='requests'").fetchone()
        return (row[0] if row else 0) + 1

    def test_events_answers_each_line_and_exits_with_first_failure(self):
        self.request("c", "note")   # the store exists
        rid = self.next_id()
        lines = [
            json.dumps({"event": "request", "flow": "selfnote", "fields": {"reason": "via events"}}),
            json.dumps({"event": "approve", "request": rid, "reason": "self-approved on purpose"}),
            '{"event": "approve", "request": ',
            json.dumps({"event": "frobnicate", "request": rid}),
            json.dumps({"event": "request", "flow": "note", "fields": {"reason": "after failures"}}),
        ]
        before = self.event_count()
        r = self.run_as("c", "events", "-", input="\n".join(lines) + "\n")
        out = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual(len(out), len(lines), r.stdout)
        self.assertEqual([o.get("ok") for o in out], [True, True, False, False, True])
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertEqual(out[0]["request"]["id"], rid)
        self.assertEqual(out[1]["request"]["state"], "approved")
        for o in out[2:4]:
            self.assertEqual(o.get("exit"), 65)
            self.assertTrue(o.get("error"))
        self.assertEqual(self.event_count() - before, 3, "request + approve + request; bad lines change nothing")
        req = self.show(rid)
        self.assertEqual(req["state"], "approved")
        self.assertEqual([a["self"] for a in req["approvals"]], [True])

    def test_bad_event_lines_change_nothing(self):
        rid = self.request("a", "note")
        before = self.event_count()
        lines = ["not json", "[]", json.dumps({"event": "approve"}),
                 json.dumps({"event": "approve", "request": rid, "bogus": 1}),
                 json.dumps({"event": "request", "flow": "nosuchflow"}),
                 json.dumps({"event": "approve", "request": 999999})]
        r = self.run_as("c", "events", "-", input="\n".join(lines) + "\n")
        out = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual(len(out), len(lines), r.stdout)
        self.assertTrue(all(o.get("ok") is False for o in out), out)
        self.assertEqual(r.returncode, 65)
        self.assertEqual(self.event_count(), before)
        self.assertEqual(self.show(rid)["state"], "pending")

    def test_events_reads_a_file(self):
        rid = self.request("a", "note")
        path = os.path.join(self.dir, "decisions.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps({"event": "deny", "request": rid, "reason": "from a file"}) + "\n")
        os.chmod(path, 0o644)
        r = self.ok("c", "events", path)
        self.assertEqual(json.loads(r.stdout)["request"]["state"], "denied")

    def test_non_approver_decision_via_events_is_77(self):
        rid = self.request("a", "note")
        r = self.run_as("b", "events", "-", input=json.dumps({"event": "approve", "request": rid}) + "\n")
        self.assertEqual(r.returncode, 77)
        self.assertEqual(json.loads(r.stdout)["exit"], 77)


class PendingTTLTests(E2ECase):
    """A pending request expires after the flow's request_ttl."""

    def test_pending_request_expires_with_request_expire_event(self):
        rid = self.request("a", "ttl")
        req = self.wait_state(rid, "expired", timeout=6)
        ev = [e for e in req["events"] if e["type"] == "request_expire"]
        self.assertEqual(len(ev), 1, req["events"])
        self.assertEqual(ev[0]["actor"], "system")
        self.assertEqual(ev[0]["requester"], self.users["a"])
        self.assert_refused(self.run_as("c", "approve", rid), 65)

    def test_daemon_once_expires_due_requests(self):
        rid = self.request("a", "ttl")
        other = self.request("a", "note")          # not due: must stay pending
        self.assertEqual(self.stop_daemon(), 0)
        time.sleep(2.5)
        self.assertEqual(self.show(rid)["state"], "pending", "nothing expires while no daemon runs")
        r = subprocess.run([self.bin, "--config", self.config, "daemon", "--once"], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        req = self.show(rid)
        self.assertEqual(req["state"], "expired")
        self.assertIn("request_expire", [e["type"] for e in req["events"]])
        self.assertEqual(self.show(other)["state"], "pending")
        self.assertFalse(os.path.exists(self.socket) and self.socket_answers(), "--once leaves no daemon behind")

    def socket_answers(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()


class ConcurrencyTests(E2ECase):
    """8 approvers decide the same 200 requests at once: each is decided exactly once."""

    APPROVERS = [f"ap{i}" for i in range(8)]
    N = 200
    LIMITS = {"pending_per_user": 1000}     # one requester keeps all N pending at once

    def test_200_requests_decided_exactly_once_by_8_processes(self):
        deadline = time.time() + 60
        lines = "".join(json.dumps({"event": "request", "flow": "note", "fields": {"reason": f"load {i}"}}) + "\n"
                        for i in range(self.N))
        try:
            r = self.run_as("a", "events", "-", input=lines, timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("creating 200 requests through `events -` did not finish in 30 s (daemon hung?)")
        answers = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        bad = [a for a in answers if not a.get("ok")]
        self.assertEqual((r.returncode, bad[:3]), (0, []), f"creating the requests; stderr: {r.stderr[-500:]}")
        ids = [a["request"]["id"] for a in answers]
        self.assertEqual(len(set(ids)), self.N)
        rng = random.Random(7)
        procs = []
        for role in self.APPROVERS:
            order = ids[:]
            rng.shuffle(order)
            text = "".join(json.dumps({"event": rng.choice(["approve", "deny"]), "request": i, "reason": f"by {role}"}) + "\n"
                           for i in order)
            cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups",
                   self.bin, "--config", self.config, "events", "-"]
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, cwd=self.dir, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
            procs.append((role, p, text))
        results = {}

        def drive(role, p, text):
            try:
                results[role] = p.communicate(text, timeout=max(1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                results[role] = p.communicate()
                results[role] = (results[role][0], results[role][1] + "\n(timed out)")
        threads = [threading.Thread(target=drive, args=x) for x in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        timed_out = [role for role, (_, err) in results.items() if err.endswith("(timed out)")]
        self.assertEqual(timed_out, [], "deciders still running after 60 s (daemon hung?)")
        wins = {i: 0 for i in ids}
        for role, p, _ in procs:
            out, err = results[role]
            for bad in ["database is locked", "SQLITE_BUSY", "busy"]:
                self.assertNotIn(bad.lower(), (out + err).lower(), f"{role} saw {bad!r}")
            answers = [json.loads(l) for l in out.splitlines() if l.strip()]
            self.assertEqual(len(answers), self.N, f"{role}: {len(answers)} answers; stderr: {err[-300:]}")
            for a in answers:
                if a.get("ok"):
                    wins[a["request"]["id"]] += 1
                else:
                    self.assertEqual(a.get("exit"), 65, f"{role}: a lost race is exit 65 (already decided): {a}")
        self.assertEqual([i for i, n in wins.items() if n != 1], [], "requests not won exactly once")
        with sqlite_ro(self.store) as db:
            rows = db.execute("SELECT request_id, count(*) FROM events WHERE type IN ('approve','deny') "
                              "GROUP BY request_id").fetchall()
            states = db.execute(f"SELECT state, count(*) FROM requests WHERE id IN ({','.join(map(str, ids))}) "
                                "GROUP BY state").fetchall()
        decisive = dict(rows)
        self.assertEqual([i for i in ids if decisive.get(i) != 1], [], "requests without exactly one decision event")
        self.assertEqual(sum(n for s, n in states if s in ("approved", "denied")), self.N, states)
        with open(self.daemon_log, errors="replace") as f:
            self.assertNotIn("database is locked", f.read())


class AnswerOrderTests(E2ECase):
    """A change is answered by the thread that completes its batch, not by the connection's own thread: answers
    still come back in the order their lines were sent, and a client that reads none of them holds up no one else."""

    LIMITS = {"pending_per_user": 1000}

    def run_client(self, role, script, *args, timeout=30):
        cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups", PYTHON, "-c", script,
               self.socket] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.dir)

    def test_lines_sent_at_once_on_one_connection_are_answered_in_their_order(self):
        script = ("import json,socket,sys\n"
                  "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
                  "lines=[]\n"
                  "for i in range(90):\n"
                  "    if i%3==0: lines.append({'event':'request','flow':'note','fields':{'reason':'order %d'%i}})\n"
                  "    elif i%3==1: lines.append({'event':'ping'})\n"
                  "    else: lines.append({'event':'request','flow':'no-such-flow-%d'%i})\n"
                  "s.sendall(''.join(json.dumps(l)+'\\n' for l in lines).encode())\n"
                  "f=s.makefile()\n"
                  "print(json.dumps([json.loads(f.readline()) for _ in lines]))\n")
        r = self.run_client("a", script)
        self.assertEqual(r.returncode, 0, r.stderr)
        answers = json.loads(r.stdout)
        for i, a in enumerate(answers):
            if i % 3 == 0:
                self.assertTrue(a.get("ok"), (i, a))
                self.assertEqual(a["request"]["fields"]["reason"], f"order {i}", f"answer {i} is another line's")
            elif i % 3 == 1:
                self.assertEqual((a.get("ok"), a.get("user")), (True, self.users["a"]), (i, a))
            else:
                self.assertFalse(a.get("ok"), (i, a))
                self.assertIn(f"no-such-flow-{i}", a.get("error", ""), f"answer {i} is another line's")

    def test_a_client_that_reads_none_of_its_answers_holds_up_no_other_client(self):
        # Up to 400 requests sent and no answer read: ~1.2 MB of answers, far more than the socket holds (its
        # sender's buffer, ~200 KB), so the daemon cannot write them all.
        hog = ("import json,socket,sys,time\n"
               "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
               "line=(json.dumps({'event':'request','flow':'note','fields':{'reason':'x'*3000}})+'\\n').encode()\n"
               "s.setblocking(False); data=line*400; end=time.time()+3\n"
               "while data and time.time()<end:\n"   # while the others are busy: some of its commands join their batches
               "    try: data=data[s.send(data[:4096]):]\n"
               "    except BlockingIOError: time.sleep(0.005)\n"   # the daemon stopped reading: it owes answers it cannot write
               "print('sent', flush=True); time.sleep(60)\n")
        lines = "".join(json.dumps({"event": "request", "flow": "note", "fields": {"reason": f"busy {i}"}}) + "\n"
                        for i in range(120))
        cmd = ["setpriv", "--reuid", self.users["b"], "--regid", "users", "--init-groups",
               self.bin, "--config", self.config, "events", "-"]
        hog_cmd = ["setpriv", "--reuid", self.users["a"], "--regid", "users", "--init-groups", PYTHON, "-c", hog, self.socket]
        p = subprocess.Popen(hog_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.dir)
        try:
            # Clients busy at the same time, so that commands are batched with the stuck one's and completed together.
            busy = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=self.dir, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}) for _ in range(6)]
            outcomes = []
            for q in busy:
                try:
                    out, err = q.communicate(lines, timeout=30)
                    outcomes.append((q.returncode, len(out.splitlines())))
                except subprocess.TimeoutExpired:
                    q.kill()
                    q.communicate()
                    outcomes.append(("timed out", 0))
            self.assertEqual(outcomes, [(0, 120)] * 6, "other clients' answers waited for the one that does not read")
            self.assertEqual(p.stdout.readline().strip(), "sent", p.stderr.read() if p.poll() is not None else "")
            rid = self.request("b", "note", reason="not held up")
            self.assertEqual(self.show(rid)["state"], "pending")
        finally:
            p.kill()
            p.communicate()
        # The daemon lets the stuck connection go and goes on serving.
        self.assertGreater(self.request("b", "note", reason="after"), 0)


class SingleUserModeTests(E2ECase):
    """A user's own store: the first client starts a daemon owned by that user."""

    START_DAEMON = False
    REQUESTERS = []
    APPROVERS = []

    def test_client_auto_starts_a_daemon_owned_by_the_user(self):
        home = os.path.join(self.dir, "home_solo")
        os.mkdir(home, 0o700)
        name = self.user("solo", home=home)
        self.users["solo"] = name
        pw = pwd.getpwnam(name)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        store = os.path.join(home, "state", "symtui.db")
        cfg = os.path.join(home, "config.json5")
        with open(cfg, "w") as f:
            f.write(json.dumps({"store": store, "flows": [
                {"name": "solo", "approvers": {"users": [name]}, "allow_self_approval": True,
                 "prompt_fields": [{"name": "reason", "type": "string", "required": True}]}]}))
        os.chown(cfg, pw.pw_uid, pw.pw_gid)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home}
        base = ["setpriv", "--reuid", name, "--regid", "users", "--init-groups", self.bin, "--config", cfg]
        pid = None
        try:
            r = subprocess.run(base + ["request", "solo", "--reason", "just me"], capture_output=True, text=True,
                               timeout=30, env=env, cwd=home)
            pid = self.daemon_pid(store)
            self.assertEqual(r.returncode, 0, r.stderr)
            rid = int(r.stdout.strip())
            self.assertIsNotNone(pid, "a daemon holds the store lock")
            with open(f"/proc/{pid}/status") as f:
                uids = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
            self.assertEqual(set(uids), {str(pw.pw_uid)}, "the auto-started daemon runs as the user")
            self.assertEqual(os.stat(store).st_uid, pw.pw_uid)
            r = subprocess.run(base + ["approve", str(rid), "--reason", "self"], capture_output=True, text=True,
                               timeout=30, env=env, cwd=home)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.daemon_pid(store), pid, "the second client reuses the daemon")
        finally:
            if pid:
                stop_pid(pid)

    def daemon_pid(self, store):
        try:
            with open(store + ".lock") as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid and os.path.exists(f"/proc/{pid}"):
            if pid not in STARTED_PIDS:
                STARTED_PIDS.append(pid)
            return pid
        return None


# ---------------------------------------------------------------------------------------------------
# The console in tmux, as real users.
# ---------------------------------------------------------------------------------------------------

class ConsoleTests(ConsoleCase):
    """The console (contract §9b) in tmux: a requester (a) and an approver (b, in the approvers group)."""

    REQUESTERS = ["a"]
    APPROVERS = ["b"]

    def console_cmd(self, role, wrap=False):
        cmd = self.console_command(role)
        if wrap:
            # After the console: its exit status and whether the terminal is back in canonical mode.
            after = '; echo EXIT=$?; stty -a | grep -o -- "-icanon\\|icanon"; sleep 60'
            return "sh -c " + shlex.quote(cmd + after)
        return cmd

    def open_console(self, role, session=None, view=None, wrap=False, cols=120, rows=34):
        session = self.start_console(role, session=session, cols=cols, rows=rows, command=self.console_cmd(role, wrap))
        if view:
            self.tm.keys(session, view)
            label = {"1": "[1 Request", "2": "[2 Review", "3": "[3 Mine", "4": "[4 Grants", "5": "[5 Audit"}[view]
            text, t = self.tm.wait_for(session, lambda s: label in s)
            self.assertIsNotNone(t, f"view {view} did not open:\n{text}")
        return session

    def row_of(self, text, rid):
        for line in text.split("\n"):
            if re.search(rf"#{rid}\b", line):
                return line
        return None

    def select_flow(self, session, label_regex):
        """Moves the Request view's selection (▸) down to the row whose label matches."""
        for _ in range(20):
            sel = [l for l in self.tm.lines(session) if l.startswith("▸")]
            if sel and re.match(label_regex, sel[0][1:].strip()):
                return
            self.tm.keys(session, "j")
            time.sleep(0.1)
        self.fail(f"no flow row matching {label_regex!r} in the Request view:\n{self.tm.screen(session)}")

    def test_request_form_creates_request(self):
        self.open_console("a")
        self.select_flow("a", r"Database access\s+Orders DB")
        self.tm.keys("a", "Enter")
        text, t = self.tm.wait_for("a", lambda s: "Submit" in s)
        self.assertIsNotNone(t, f"Enter did not open the form:\n{text}")
        self.tm.type("a", "console reason")
        self.tm.keys("a", "Tab")
        self.tm.type("a", "1h")
        self.tm.keys("a", "Tab")
        self.tm.type("a", "from tmux")
        self.tm.keys("a", "Tab")
        time.sleep(0.2)
        sel = [l for l in self.tm.lines("a") if l.startswith("▸")]
        self.assertTrue(sel and "Submit" in sel[0], f"Tab after the last field focuses Submit:\n{self.tm.screen('a')}")
        self.tm.keys("a", "Enter")
        text, t = self.tm.wait_for("a", lambda s: re.search(r"request \d+ sent", s), timeout=3)
        self.assertIsNotNone(t, f"no confirmation after Enter on Submit:\n{text}")
        mine = json.loads(self.ok("a", "list", "--mine", "--json").stdout)
        self.assertEqual(len(mine), 1, mine)
        req = mine[0]
        self.assertEqual((req["flow"], req["target"], req["state"], req["requester"]),
                         ("db", "orders", "pending", self.users["a"]))
        self.assertEqual(req["fields"].get("reason"), "console reason")
        self.assertEqual(req["fields"].get("note"), "from tmux")
        self.assertEqual(req["duration_seconds"], 3600)

    def test_request_form_start_in_1h_schedules_the_window(self):
        self.open_console("a")
        self.select_flow("a", r"Database access\s+Orders DB")
        self.tm.keys("a", "Enter")
        text, t = self.tm.wait_for("a", lambda s: "starting [now" in s)
        self.assertIsNotNone(t, f"the form has no Start field beside Submit:\n{text}")
        self.tm.type("a", "later, please")
        for value in ("1h", "scheduled"):
            self.tm.keys("a", "Tab")
            self.tm.type("a", value)
        self.tm.keys("a", "Tab")   # Submit
        self.tm.keys("a", "Tab")   # Start
        self.tm.type("a", "in 1h")
        t0 = time.time()
        self.tm.keys("a", "Enter")
        text, t = self.tm.wait_for("a", lambda s: re.search(r"request \d+ sent", s), timeout=3)
        self.assertIsNotNone(t, f"no confirmation after Enter on Start:\n{text}")
        mine = json.loads(self.ok("a", "list", "--mine", "--json").stdout)
        self.assertEqual(len(mine), 1, mine)
        req = mine[0]
        starts = parse_time(req["access_starts_at"])
        self.assertLess(abs(starts - (t0 + 3600)), 30, f"the window starts in an hour: {req['access_starts_at']}")
        self.assertEqual(parse_time(req["access_expires_at"]) - starts, 3600)
        self.ok("b", "approve", req["id"])
        time.sleep(0.5)
        self.assertEqual(self.show(req["id"])["state"], "approved", "approved before its start, the request waits")
        self.tm.keys("a", "3")
        text, t = self.tm.wait_for("a", lambda s: "starts in" in (self.row_of(s, req["id"]) or ""), timeout=3)
        self.assertIsNotNone(t, f"Mine does not say when it starts:\n{text}")

    def test_review_shows_new_request_without_key_press(self):
        self.open_console("b", view="2")
        time.sleep(0.3)
        rid = self.request("a", "note", reason="live please")
        t0 = time.time()
        text, _ = self.tm.wait_for("b", lambda s: self.row_of(s, rid) is not None, timeout=2.0, interval=0.02)
        latency = time.time() - t0
        self.assertIsNotNone(self.row_of(text, rid), f"request #{rid} not in b's Review after 2 s:\n{text}")
        self.note = f"latency {latency * 1000:.0f} ms"
        self.assertIn(self.users["a"], self.row_of(text, rid))
        self.assertLess(latency, 1.5, f"request #{rid} took {latency:.2f} s to appear")
        self.assertRegex(text.rstrip().split("\n")[-1], r"\b1 (request waits for you|waiting)\b", "the status line counts it")

    def test_approve_key_shows_active_in_requesters_mine_view(self):
        self.open_console("b", view="2")
        self.open_console("a", view="3")
        rid = self.request("a", "db", "orders", duration="1h", reason="approve me in the console")
        text, t = self.tm.wait_for("b", lambda s: self.row_of(s, rid) is not None, timeout=2)
        self.assertIsNotNone(t, f"#{rid} not in b's Review:\n{text}")
        text, t = self.tm.wait_for("a", lambda s: (self.row_of(s, rid) or "").find("pending") >= 0, timeout=2)
        self.assertIsNotNone(t, f"#{rid} not pending in a's Mine:\n{text}")
        self.tm.keys("b", "a")
        text, t = self.tm.wait_for("b", lambda s: "reason (optional)" in s, timeout=2)
        self.assertIsNotNone(t, f"`a` did not prompt for an optional reason:\n{text}")
        self.tm.type("b", "fine")
        self.tm.keys("b", "Enter")
        t0 = time.time()
        text, t = self.tm.wait_for("a", lambda s: re.search(r"\bactive\b", self.row_of(s, rid) or ""), timeout=3)
        self.assertIsNotNone(t, f"a's Mine does not show #{rid} active 3 s after b's approval:\n{text}")
        self.note = f"active on a's screen after {time.time() - t0:.2f} s"
        self.assertLess(time.time() - t0, 2.5)
        req = self.show(rid)
        self.assertEqual(req["state"], "active")
        self.assertEqual([(a["user"], a["reason"]) for a in req["approvals"]], [(self.users["b"], "fine")])

    def test_own_request_cannot_be_approved_in_console(self):
        rid = self.request("b", "note", reason="approve my own")
        self.open_console("b", view="2")
        time.sleep(0.3)
        text = self.tm.screen("b")
        self.assertIsNone(self.row_of(text, rid), f"b's own request #{rid} is in b's Review queue:\n{text}")
        self.tm.keys("b", "a")
        text, t = self.tm.wait_for("b", lambda s: "nothing selected to approve" in s or "not allowed" in s.lower()
                                   or "own request" in s.lower(), timeout=2)
        self.assertIsNotNone(t, f"no refusal message after `a`:\n{text}")
        self.tm.keys("b", "Enter")          # an Enter that would confirm a prompt, if one had opened
        time.sleep(0.3)
        text = self.tm.screen("b")
        self.assertIn(self.users["b"], self.status_line(text), f"the console still runs:\n{text}")
        self.assertIn("[2 Review", text)
        self.assertEqual(self.show(rid)["state"], "pending")
        self.assertEqual(self.show(rid)["approvals"], [])

    def status_line(self, text):
        return text.rstrip("\n").split("\n")[-1]

    def test_resize_redraws_at_the_new_size(self):
        self.open_console("b", view="2")
        self.tm.tmux("resize-window", "-t", self.tm.target("b"), "-x", 90, "-y", 28)
        user = self.users["b"]

        def redrawn(s):
            lines = s.rstrip("\n").split("\n")
            return len(lines) == 28 and user in lines[-1] and lines[0].rstrip().endswith("? help")
        text, t = self.tm.wait_for("b", redrawn, timeout=2)
        self.assertIsNotNone(t, f"no redraw at 90×28:\n{text}")
        lines = text.rstrip("\n").split("\n")
        self.assertTrue(85 <= len(lines[0].rstrip()) <= 90, f"the tab line is laid out for 90 columns: {lines[0]!r}")
        self.assertNotIn("too small", text)
        # Back to a larger size: the status line moves to the new last row, nothing left over.
        self.tm.tmux("resize-window", "-t", self.tm.target("b"), "-x", 120, "-y", 34)
        text, t = self.tm.wait_for("b", lambda s: len(s.rstrip("\n").split("\n")) == 34
                                   and user in s.rstrip("\n").split("\n")[-1], timeout=2)
        self.assertIsNotNone(t, f"no redraw at 120×34:\n{text}")
        lines = text.rstrip("\n").split("\n")
        self.assertEqual([i for i, l in enumerate(lines[:-1]) if user in l and "store" in l], [],
                         "a stale status line was left above the new one")
        self.assertTrue(115 <= len(lines[0].rstrip()) <= 120, f"the tab line is laid out for 120 columns: {lines[0]!r}")

    def test_below_80x24_shows_too_small(self):
        self.open_console("b")
        self.tm.tmux("resize-window", "-t", self.tm.target("b"), "-x", 70, "-y", 20)
        text, t = self.tm.wait_for("b", lambda s: "too small" in s, timeout=2)
        self.assertIsNotNone(t, f"no 'too small' message at 70×20:\n{text}")
        self.assertNotIn(self.users["b"], text, "nothing else is drawn while too small")
        self.tm.tmux("resize-window", "-t", self.tm.target("b"), "-x", 80, "-y", 24)
        text, t = self.tm.wait_for("b", lambda s: "too small" not in s and self.users["b"] in self.status_line(s),
                                   timeout=2)
        self.assertIsNotNone(t, f"no normal screen back at 80×24:\n{text}")

    def test_q_quits_with_0_and_restores_the_terminal(self):
        self.open_console("a", wrap=True)
        self.tm.keys("a", "q")
        text, t = self.tm.wait_for("a", lambda s: "EXIT=" in s and "icanon" in s, timeout=3)
        self.assertIsNotNone(t, f"the console did not quit on q:\n{text}")
        self.assertIn("EXIT=0", text)
        modes = [l.strip() for l in text.split("\n") if l.strip() in ("icanon", "-icanon")]
        self.assertEqual(modes, ["icanon"], "the terminal is back in canonical (cooked) mode")
        self.assertNotIn("SymTUI", text, "the console's screen was cleared away (alternate screen left)")

    def test_deny_key_requires_a_reason(self):
        rid = self.request("a", "note", reason="deny me")
        self.open_console("b", view="2")
        text, t = self.tm.wait_for("b", lambda s: self.row_of(s, rid) is not None, timeout=2)
        self.assertIsNotNone(t, f"#{rid} not in b's Review:\n{text}")
        self.tm.keys("b", "d")
        text, t = self.tm.wait_for("b", lambda s: "Deny" in s and "reason" in s, timeout=2)
        self.assertIsNotNone(t, f"`d` did not prompt for a reason:\n{text}")
        self.tm.keys("b", "Enter")
        time.sleep(0.4)
        self.assertEqual(self.show(rid)["state"], "pending", "an empty reason denied the request")
        self.assertIn(self.users["b"], self.status_line(self.tm.screen("b")), "the console still runs")
        self.tm.keys("b", "Escape")
        time.sleep(0.2)
        self.tm.keys("b", "d")
        time.sleep(0.2)
        self.tm.type("b", "not now")
        self.tm.keys("b", "Enter")
        req = self.wait_state(rid, "denied", timeout=2)
        self.assertEqual((req["denial"]["user"], req["denial"]["reason"]), (self.users["b"], "not now"))

    def test_self_approval_in_console_needs_a_reason_and_is_marked_self(self):
        rid = self.request("b", "selfnote", reason="break glass")
        self.open_console("b", view="2")
        text, t = self.tm.wait_for("b", lambda s: self.row_of(s, rid) is not None, timeout=2)
        self.assertIsNotNone(t, f"b's own request #{rid} of a self-approval flow is not in b's Review:\n{text}")
        self.tm.keys("b", "a")
        time.sleep(0.3)
        self.tm.keys("b", "Enter")          # no reason: refused
        time.sleep(0.4)
        self.assertEqual(self.show(rid)["state"], "pending", "self-approval without a reason was accepted")
        self.assertIn(self.users["b"], self.status_line(self.tm.screen("b")), "the console still runs")
        self.tm.keys("b", "Escape")
        time.sleep(0.2)
        self.tm.keys("b", "a")
        time.sleep(0.2)
        self.tm.type("b", "pager down, fixing")
        self.tm.keys("b", "Enter")
        req = self.wait_state(rid, "approved", timeout=2)
        self.assertEqual([(a["user"], a["self"], a["reason"]) for a in req["approvals"]],
                         [(self.users["b"], True, "pager down, fixing")])

    def test_hostile_reason_is_inert_in_audit_view(self):
        self.open_console("b", view="5")
        self.tm.tmux("set-option", "-g", "set-clipboard", "on")
        rid = self.request("a", "note", reason="audit\x1b]52;c;SGVsbG8=\x07\x1b[2J\u202eview")
        text, t = self.tm.wait_for("b", lambda s: "audit" in s and "view" in s.split("audit", 1)[-1], timeout=2)
        self.assertIsNotNone(t, f"the request event of #{rid} is not in b's Audit view:\n{text}")
        time.sleep(0.3)
        raw = self.tm.screen("b", escapes=True)
        text = self.tm.screen("b")
        self.assertNotIn("\x1b]", raw)
        self.assertNotIn("\x07", raw)
        self.assertNotIn("\u202e", text)
        self.assertEqual(self.tm.tmux("list-buffers").stdout, "", "an OSC 52 reached tmux")
        self.assertIn("SymTUI", text.split("\n")[0], "the screen was cleared")

    def test_console_says_the_daemon_is_unavailable_and_recovers_when_it_returns(self):
        rid = self.request("a", "note", reason="while the daemon is down")
        self.assertEqual(self.stop_daemon(), 0)
        self.open_console("b", view="2")   # b may not read the store file: only the daemon opens it
        text, t = self.tm.wait_for("b", lambda s: "daemon ok" not in self.status_line(s), timeout=3)
        self.assertIsNotNone(t, f"the status line still says the daemon is ok:\n{self.status_line(text)}")
        self.assertIsNone(self.row_of(text, rid), f"b saw the store without the daemon:\n{text}")
        self.tm.keys("b", "a")
        time.sleep(0.2)
        self.tm.keys("b", "Enter")
        text, t = self.tm.wait_for("b", lambda s: re.search(r"daemon|unavailable|not running", s, re.I), timeout=3)
        self.assertIsNotNone(t, f"no message saying the daemon cannot be reached:\n{text}")
        self.assertIn(self.users["b"], self.status_line(text), "the console still runs")
        self.start_daemon()
        text, t = self.tm.wait_for("b", lambda s: self.row_of(s, rid) is not None, timeout=12)
        self.assertIsNotNone(t, f"#{rid} did not appear once the daemon was back:\n{text}")
        self.assertEqual(self.show(rid)["state"], "pending")

    def test_console_keeps_answering_keys_while_the_daemon_is_stopped(self):
        rid = self.request("a", "note", reason="approve while stopped")
        self.open_console("b", view="2")
        text, t = self.tm.wait_for("b", lambda s: self.row_of(s, rid) is not None, timeout=2)
        self.assertIsNotNone(t, f"#{rid} not in b's Review:\n{text}")
        self.tm.keys("b", "a")
        text, t = self.tm.wait_for("b", lambda s: "reason (optional)" in s, timeout=2)
        self.assertIsNotNone(t, f"`a` did not prompt for a reason:\n{text}")
        self.tm.type("b", "while stopped")
        os.kill(self.daemon.pid, signal.SIGSTOP)     # the daemon hangs: it accepts nothing, answers nothing
        try:
            self.tm.keys("b", "Enter")
            text, t = self.tm.wait_for("b", lambda s: "sending…" in (self.row_of(s, rid) or "")
                                       and "sending…" in self.status_line(s), timeout=2)
            self.assertIsNotNone(t, f"neither the row nor the status line says the approval is being sent:\n{text}")
            # Keys are answered at once while the command is out: every view opens.
            for key, label in (("1", "[1 Request"), ("3", "[3 Mine"), ("4", "[4 Grants"), ("5", "[5 Audit"), ("2", "[2 Review")):
                self.tm.keys("b", key)
                text, t = self.tm.wait_for("b", lambda s: label in s, timeout=1)
                self.assertIsNotNone(t, f"view {key} did not open within 1 s while the daemon was stopped:\n{text}")
            # Countdowns keep being redrawn (the row's age and expiry tick every second).
            before = self.row_of(self.tm.screen("b"), rid)
            text, t = self.tm.wait_for("b", lambda s: (self.row_of(s, rid) or before) != before, timeout=2.5)
            self.assertIsNotNone(t, f"#{rid}'s countdowns were not redrawn in 2.5 s: {before!r}")
            # The console says what happened once the answer is overdue.
            text, t = self.tm.wait_for("b", lambda s: "did not answer within 10 s" in s, timeout=12, interval=0.2)
            self.assertIsNotNone(t, f"no message about the missing answer after 10 s:\n{text}")
            self.assertIn("daemon not answering", self.status_line(text))
            self.tm.keys("b", "3")
            text, t = self.tm.wait_for("b", lambda s: "[3 Mine" in s, timeout=1)
            self.assertIsNotNone(t, f"keys are no longer answered after the timeout:\n{text}")
            self.tm.keys("b", "2")
        finally:
            os.kill(self.daemon.pid, signal.SIGCONT)
        # The daemon carries on: the late answer is reported and the row shows the decision.
        text, t = self.tm.wait_for("b", lambda s: f"request {rid}: approved" in s, timeout=10, interval=0.1)
        self.assertIsNotNone(t, f"the late answer was not reported after SIGCONT:\n{text}")
        self.assertEqual(self.show(rid)["state"], "approved")
        text, t = self.tm.wait_for("b", lambda s: "daemon ok" in self.status_line(s) and "sending" not in s, timeout=8)
        self.assertIsNotNone(t, f"the console did not recover (status line: {self.status_line(text)!r})")

    def test_hostile_reason_is_inert_in_review(self):
        self.open_console("b", view="2")
        self.tm.tmux("set-option", "-g", "set-clipboard", "on")   # tmux would now store an OSC 52 as a buffer
        hostile = "evil\x1b]52;c;SGVsbG8=\x07\x1b[2J\u202egnp.exe"
        rid = self.request("a", "note", reason=hostile)
        self.assertEqual(self.show(rid)["fields"]["reason"], hostile, "stored verbatim")
        text, t = self.tm.wait_for("b", lambda s: self.row_of(s, rid) is not None, timeout=2)
        self.assertIsNotNone(t, f"#{rid} not in b's Review:\n{text}")
        time.sleep(0.3)
        self.tm.keys("b", "Enter")          # the detail pane shows the reason in full
        time.sleep(0.3)
        text = self.tm.screen("b")
        raw = self.tm.screen("b", escapes=True)
        row = self.row_of(text, rid)
        self.assertIn("evil", row)
        self.assertIn("gnp.exe", row)
        self.assertNotIn("\u202e", text, "a bidi override reached the terminal")
        self.assertNotIn("\x1b]", raw, "an OSC sequence reached the terminal")
        self.assertNotIn("\x07", raw)
        self.assertEqual(self.tm.tmux("list-buffers").stdout, "", "an OSC 52 reached tmux (clipboard buffer set)")
        lines = text.rstrip("\n").split("\n")
        self.assertIn("SymTUI", lines[0], "the screen was cleared (the tab line is gone)")
        self.assertIn(self.users["b"], lines[-1], "the screen was cleared (the status line is gone)")
        self.assertRegex(row, r"evil\S+gnp\.exe", "a visible stand-in replaces the escape sequences")


class CrashSafetyTests(E2ECase):
    """kill -9 of the daemon while a strategy runs (contract §4, Vault's expiration manager): after a
    restart the step runs again to completion; no request is lost."""

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        cls.crash_log = os.path.join(cls.dir, "crash.log")
        for action in ("escalate", "deescalate"):
            path = os.path.join(cls.dir, f"slow_{action}")
            with open(path, "w") as f:
                f.write(f"""#!{PYTHON}
import os, time
def log(what):
    with open({cls.crash_log!r}, "a") as f:
        f.write(f"{{os.environ.get('SYMTUI_REQUEST_ID')}} {action} {{what}} {{os.getpid()}} {{time.time():.3f}}\\n")
log("start")
time.sleep(3)
log("done")
""")
            os.chmod(path, 0o755)

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cfg["strategies"].append({"name": "slow", "type": "command",
                                  "settings": {"escalate": os.path.join(cls.dir, "slow_escalate"),
                                               "deescalate": os.path.join(cls.dir, "slow_deescalate"),
                                               "timeout": "20s"},
                                  "targets": [{"name": "slowdb", "label": "Slow DB"}]})
        cfg["flows"].append({"name": "slow", "label": "Slow strategy", "strategy": "slow",
                             "approvers": {"groups": [cls.oncall]},
                             "prompt_fields": [{"name": "reason", "type": "string", "required": True},
                                               {"name": "duration", "type": "duration", "required": True}]})
        return json.dumps(cfg, indent=2)

    def crash_lines(self, rid):
        try:
            with open(self.crash_log) as f:
                rows = [l.split() for l in f if l.strip()]
        except FileNotFoundError:
            return []
        return [(r[1], r[2], int(r[3]), float(r[4])) for r in rows if r[0] == str(rid)]

    def wait_log(self, rid, action, what, count=1, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(1 for a, w, _, _ in self.crash_lines(rid) if (a, w) == (action, what)) >= count:
                return
            time.sleep(0.05)
        self.fail(f"no {count}× '{action} {what}' for #{rid} in {timeout} s: {self.crash_lines(rid)}")

    def kill9_and_restart(self):
        p, self.daemon = self.daemon, None
        p.kill()
        p.wait()
        if p.pid in STARTED_PIDS:
            STARTED_PIDS.remove(p.pid)
        killed_at = time.time()
        self.start_daemon()
        return killed_at

    def assert_rerun_completed(self, rid, action, killed_at):
        lines = self.crash_lines(rid)
        reruns = [pid for a, w, pid, t in lines if (a, w) == (action, "start") and t > killed_at]
        self.assertEqual(len(reruns), 1, f"the {action} ran once again after the restart: {lines}")
        done = [pid for a, w, pid, t in lines if (a, w) == (action, "done") and pid == reruns[0]]
        self.assertEqual(done, reruns, f"the re-run {action} completed: {lines}")

    def test_kill9_during_escalation_reruns_it_after_restart(self):
        rid = self.request("a", "slow", "slowdb", duration="1h")
        self.ok("c", "approve", rid)
        self.wait_log(rid, "escalate", "start")
        killed_at = self.kill9_and_restart()
        req = self.wait_state(rid, "active", timeout=10)
        self.assert_rerun_completed(rid, "escalate", killed_at)
        self.assertEqual([e["type"] for e in req["events"]].count("escalate"), 1, "one escalate event")
        self.assertEqual(self.run_as("a", "audit", "verify").returncode, 0)

    def test_kill9_during_deescalation_reruns_it_after_restart(self):
        rid = self.request("a", "slow", "slowdb", duration="1h")
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active", timeout=8)
        self.ok("a", "release", rid)
        self.wait_log(rid, "deescalate", "start")
        killed_at = self.kill9_and_restart()
        req = self.wait_state(rid, "ended", timeout=10)
        self.assertEqual(req["end_reason"], "released")
        self.assert_rerun_completed(rid, "deescalate", killed_at)
        self.assertEqual([e["type"] for e in req["events"]].count("deescalate"), 1, "one deescalate event")
        self.assertEqual(self.run_as("a", "audit", "verify").returncode, 0)


class GroupGrantTimingTests(E2ECase):
    """unix_group grants in time: an extension without a gap, the max_duration cap, overlapping grants."""

    REQUESTERS = ["r1", "r2", "r3", "r4", "r5"]
    EXTRA_GROUPS = ["target"]

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cfg["flows"].append({"name": "grpcap", "label": "Group access, 10 s at most", "strategy": "grp",
                             "approvers": {"groups": [cls.oncall]}, "max_duration": "10s",
                             "prompt_fields": [{"name": "reason", "type": "string", "required": True},
                                               {"name": "duration", "type": "duration", "required": True}]})
        return json.dumps(cfg, indent=2)

    def member(self, role):
        return self.users[role] in self.group_members(self.groups["target"])

    def active_grant(self, role, flow, duration):
        rid = self.request(role, flow, "tgt", duration=duration)
        self.ok("c", "approve", rid)
        return rid, self.wait_state(rid, "active", timeout=3)

    def test_extension_moves_expiry_without_gap(self):
        rid, req = self.active_grant("r1", "grp", "4s")
        first_expiry = parse_time(req["access_expires_at"]) + float("0." + (req["access_expires_at"][20:-1] or "0"))
        r = self.ok("r1", "extend", rid, "--duration", "5s", "--reason", "more time", "--json")
        ext = json.loads(r.stdout)
        self.assertEqual((ext["extends"], ext["state"]), (rid, "pending"), ext)
        ext = ext["id"]
        self.ok("c", "approve", ext)
        self.assertLess(time.time(), first_expiry - 0.5, "the extension was approved before the first expiry")
        deadline = time.time() + 3
        while parse_time(self.show(rid)["access_expires_at"]) < first_expiry + 4 and time.time() < deadline:
            time.sleep(0.1)
        new_expiry = parse_time(self.show(rid)["access_expires_at"])
        self.assertAlmostEqual(new_expiry - int(first_expiry), 5, delta=1.5,
                               msg="the approved extension moved the grant's expiry by 5 s")
        missing, removed_at = [], None
        while time.time() < new_expiry + 4:
            now = time.time()
            present = self.member("r1")
            if not present and removed_at is None:
                removed_at = now
            if not present and now < new_expiry - 0.2:
                missing.append(round(now - first_expiry, 2))
            if removed_at is not None and now > new_expiry:
                break
            time.sleep(0.1)
        self.assertEqual(missing, [], "the member was missing (seconds after the first expiry) before the new expiry")
        self.assertIsNotNone(removed_at, "the member was never removed after the new expiry")
        self.note = f"removed {removed_at - new_expiry:+.2f} s from the new expiry"
        self.assertEqual(self.wait_state(rid, "ended", timeout=3)["end_reason"], "expired")
        self.assertFalse(self.member("r1"))

    def test_extension_beyond_max_duration_is_refused_with_65(self):
        rid, _ = self.active_grant("r2", "grpcap", "8s")
        before = self.event_count()
        self.assert_refused(self.run_as("r2", "extend", rid, "--duration", "5s"), 65, "max_duration")
        self.assertEqual(self.event_count(), before, "nothing recorded")
        self.ok("r2", "release", rid)
        self.wait_state(rid, "ended", timeout=3)

    def test_overlapping_grants_member_stays_until_the_last_expires(self):
        first, _ = self.active_grant("r3", "grp", "2s")
        second, req2 = self.active_grant("r3", "grp", "5s")
        second_expiry = parse_time(req2["access_expires_at"])
        self.assertEqual(self.wait_state(first, "ended", timeout=5)["end_reason"], "expired")
        gaps = []
        while time.time() < second_expiry - 0.3:
            if not self.member("r3"):
                gaps.append(round(second_expiry - time.time(), 2))
            time.sleep(0.1)
        self.assertEqual(gaps, [], "the member was removed while the second grant was active (s before its expiry)")
        self.assertEqual(self.wait_state(second, "ended", timeout=4)["end_reason"], "expired")
        self.assertFalse(self.member("r3"), "removed after the last grant ended")


    def test_shorter_second_grant_expiring_keeps_the_member(self):
        long_rid, req = self.active_grant("r4", "grp", "5s")
        short_rid, _ = self.active_grant("r4", "grp", "2s")
        long_expiry = parse_time(req["access_expires_at"])
        self.assertEqual(self.wait_state(short_rid, "ended", timeout=5)["end_reason"], "expired")
        gaps = []
        while time.time() < long_expiry - 0.3:
            if not self.member("r4"):
                gaps.append(round(long_expiry - time.time(), 2))
            time.sleep(0.1)
        self.assertEqual(gaps, [], "the member was removed while the longer grant was active (s before its expiry)")
        self.assertEqual(self.wait_state(long_rid, "ended", timeout=4)["end_reason"], "expired")
        self.assertFalse(self.member("r4"))

    def test_revoking_one_of_two_grants_keeps_the_member(self):
        first, _ = self.active_grant("r5", "grp", "1h")
        second, _ = self.active_grant("r5", "grp", "1h")
        self.ok("c", "revoke", first, "--reason", "one is enough")
        self.assertEqual(self.wait_state(first, "ended", timeout=3)["end_reason"], "revoked")
        time.sleep(0.3)
        self.assertTrue(self.member("r5"), "revoking one grant removed access the other still covers")
        self.ok("r5", "release", second)
        self.wait_state(second, "ended", timeout=3)
        self.assertFalse(self.member("r5"), "removed once no grant covers it")


class HandlerHookTests(E2ECase):
    """A flow's `implementation` file with the Python SDK: an after_approve hook, an on_request deny."""

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        cls.marker = os.path.join(cls.dir, "after_approve.out")
        cls.impl_after = os.path.join(cls.dir, "impl_after.py")
        with open(cls.impl_after, "w") as f:
            f.write(f"""import subprocess
from symtui_sdk import hook

@hook
def after_approve(event):
    subprocess.run(["/usr/bin/tee", {cls.marker!r}], input=str(event.request.id).encode(),
                   stdout=subprocess.DEVNULL, check=True)
""")
        cls.impl_deny = os.path.join(cls.dir, "impl_deny.py")
        with open(cls.impl_deny, "w") as f:
            f.write("""from symtui_sdk import hook, deny

@hook
def on_request(event):
    return deny("requests for this flow are closed")
""")
        for p in (cls.impl_after, cls.impl_deny):
            os.chmod(p, 0o644)

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        reason = [{"name": "reason", "type": "string", "required": True}]
        cfg["flows"] += [
            {"name": "hooked", "label": "Approval-only with an after_approve hook", "approvers": {"groups": [cls.oncall]},
             "implementation": cls.impl_after, "prompt_fields": reason},
            {"name": "closed", "label": "Denied by on_request", "approvers": {"groups": [cls.oncall]},
             "implementation": cls.impl_deny, "prompt_fields": reason},
        ]
        return json.dumps(cfg, indent=2)

    def handler_events(self, req, name):
        return [e for e in req["events"] if e["type"] == "handler" and (e.get("data") or {}).get("handler") == name]

    def test_after_approve_hook_runs_and_is_audited(self):
        rid = self.request("a", "hooked")
        self.assertFalse(os.path.exists(self.marker))
        self.ok("c", "approve", rid)
        # The hook opens its file before it writes the id: wait for the content, not only the file.
        deadline = time.time() + 5
        written = ""
        while written != str(rid) and time.time() < deadline:
            if os.path.exists(self.marker):
                with open(self.marker) as f:
                    written = f.read()
            time.sleep(0.05)
        self.assertEqual(written, str(rid), f"after_approve did not write the request id to its file; log: {self.daemon_log_tail()}")
        deadline = time.time() + 3
        while True:
            req = self.show(rid)
            hev = self.handler_events(req, "after_approve")
            if hev or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(hev), 1, f"one handler event for after_approve: {req['events']}")
        self.assertEqual(hev[0]["data"].get("outcome"), "continue", hev[0])
        self.assertEqual(req["state"], "approved")

    def test_on_request_deny_denies_immediately(self):
        r = self.run_as("a", "request", "closed", "--reason", "please")
        mine = [q for q in json.loads(self.ok("a", "list", "--mine", "--all", "--json").stdout) if q["flow"] == "closed"]
        self.assertEqual(len(mine), 1, f"the request is recorded (exit {r.returncode}, stderr {r.stderr!r})")
        req = self.show(mine[0]["id"])
        self.assertEqual(req["state"], "denied")
        self.assertEqual(req["denial"]["reason"], "requests for this flow are closed")
        self.assertEqual(req["denial"]["user"], "handler:on_request")
        # Exactly one on_request run for this flow in the whole log, by this requester.
        with sqlite_ro(self.store) as db:
            rows = db.execute("SELECT requester, data FROM events WHERE type='handler' AND flow='closed'").fetchall()
        runs = [(who, json.loads(data)) for who, data in rows]
        self.assertEqual([(who, d.get("handler"), d.get("outcome")) for who, d in runs],
                         [(self.users["a"], "on_request", "deny")], runs)
        self.assertEqual(r.returncode, 0, f"request exit code when on_request denies; stderr {r.stderr!r}")
        self.assertEqual([e["actor"] for e in self.handler_events(req, "on_request")], ["handler:on_request"],
                         "the on_request run is part of the request's own history")

    def test_handlers_test_runs_one_handler_on_a_sample_event(self):
        event = os.path.join(self.dir, "sample-event.json")
        with open(event, "w") as f:
            json.dump({"fields": {"reason": "trying it"}}, f)
        os.chmod(event, 0o644)
        r = self.run_as("a", "handlers", "test", "closed", "on_request", "--event", event)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("outcome   deny", r.stdout)
        self.assertIn("requests for this flow are closed", r.stdout)
        r = self.run_as("a", "handlers", "test", "closed", "on_request", "--event", event, "--json")
        self.assertEqual(json.loads(r.stdout)["outcome"], "deny")
        r = self.run_as("a", "handlers", "test", "closed", "on_bogus")
        self.assertEqual(r.returncode, 64, r.stderr)


class SymHandlerTests(E2ECase):
    """A Sym-style impl.py (Sym's module names, unmodified) on a real flow through the root daemon."""

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        # An escalate program that answers in Sym's Lambda shape: its JSON stdout is the step output.
        cls.sym_escalate = os.path.join(cls.dir, "sym_escalate")
        with open(cls.sym_escalate, "w") as f:
            f.write(f"""#!{PYTHON}
import json, os
print(json.dumps({{"body": {{"message": "granted " + os.environ["SYMTUI_TARGET_ROLE"] + " to " + os.environ["SYMTUI_USER"]}},
                  "errors": []}}))
""")
        os.chmod(cls.sym_escalate, 0o755)
        cls.impl = os.path.join(cls.dir, "impl.py")
        with open(cls.impl, "w") as f:
            f.write("""import sys

from sym.sdk.annotations import hook, reducer
from sym.sdk.integrations import okta, slack
from sym.sdk.templates import ApprovalTemplate, get_step_output


@reducer
def get_approvers(event):
    # Sym would DM this person; in SymTUI they are the one who may approve.
    return slack.user(event.flow.vars["approver"])


@hook
def on_request(event):
    reason = event.payload.fields.get("reason", "")
    if reason.startswith("EMERGENCY"):
        return ApprovalTemplate.approve(reason="emergency: approved by the flow's rules")
    if reason == "okta says":
        if not okta.is_user_in_group(event.user, group_id="00g1oncall"):
            return ApprovalTemplate.deny(reason="not in the on-call group")


@hook
def on_approve(event):
    if "second opinion" in event.payload.fields.get("reason", ""):
        return ApprovalTemplate.ignore(message="This flow needs a second opinion first: ask in #ops.")


@hook
def after_escalate(event):
    output = get_step_output()
    sys.stderr.write("escalate said: %s (%d errors)\\n" % (output.payload["body"]["message"], len(output.errors)))
""")
        os.chmod(cls.impl, 0o644)

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cfg["strategies"].append({"name": "symcmd", "type": "command",
                                  "settings": {"escalate": cls.sym_escalate, "deescalate": os.path.join(cls.dir, "deescalate")},
                                  "targets": [{"name": "orders", "label": "Orders DB", "settings": {"role": "orders_rw"}}]})
        cfg["flows"].append({"name": "symflow", "label": "Sym-style handlers", "strategy": "symcmd",
                             "implementation": cls.impl, "vars": {"approver": cls.users["c"]},
                             "prompt_fields": [{"name": "reason", "type": "string", "required": True}]})
        return json.dumps(cfg, indent=2)

    def handler_events(self, rid, name, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            req = self.show(rid)
            found = [e for e in req["events"] if e["type"] == "handler" and (e.get("data") or {}).get("handler") == name]
            if found or time.time() > deadline:
                return found
            time.sleep(0.1)

    def test_sym_on_request_approval_template_approves_and_escalates(self):
        rid = self.request("a", "symflow", "orders", duration="30m", reason="EMERGENCY orders is down")
        req = self.wait_state(rid, "active")
        self.assertEqual([a["user"] for a in req["approvals"]], ["handler:on_request"])
        self.assertEqual(req["approvals"][0]["reason"], "emergency: approved by the flow's rules")

    def test_sym_get_approvers_with_slack_user_decides_who_may_approve(self):
        rid = self.request("a", "symflow", "orders", duration="30m", reason="routine change")
        self.assert_refused(self.run_as("b", "approve", rid), 77)
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active")

    def test_sym_ignore_blocks_the_approval_and_tells_the_approver(self):
        rid = self.request("a", "symflow", "orders", duration="30m", reason="needs a second opinion")
        r = self.run_as("c", "approve", rid)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("This flow needs a second opinion first: ask in #ops.", r.stderr)
        req = self.show(rid)
        self.assertEqual((req["state"], req["approvals"]), ("pending", []))

    def test_unsupported_sym_integration_fails_closed_with_its_message(self):
        r = self.run_as("a", "request", "symflow", "orders", "--duration", "30m", "--reason", "okta says")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("okta.is_user_in_group has no local meaning in SymTUI: use a command strategy or a handler", r.stderr)
        mine = [q for q in json.loads(self.ok("a", "list", "--mine", "--all", "--json").stdout) if q["flow"] == "symflow"]
        self.assertEqual([q for q in mine if q["fields"].get("reason") == "okta says"], [], "no request was created")

    def test_sym_get_step_output_after_escalate_reads_the_strategy_answer(self):
        rid = self.request("a", "symflow", "orders", duration="30m", reason="EMERGENCY step output")
        self.wait_state(rid, "active")
        runs = self.handler_events(rid, "after_escalate")
        self.assertEqual(len(runs), 1, self.show(rid)["events"])
        self.assertEqual(runs[0]["data"]["outcome"], "continue", runs[0])
        self.assertIn(f"escalate said: granted orders_rw to {self.users['a']} (0 errors)", runs[0]["data"]["stderr_tail"])


class SymTerraformImportTests(E2ECase):
    """`symtui import sym-terraform` as an ordinary user on the fixtures under Tests/Fixtures/sym-terraform/."""

    START_DAEMON = False

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        source = os.path.join(REPO, "Tests", "Fixtures", "sym-terraform")
        cls.fixtures = os.path.join(cls.dir, "sym-terraform")
        shutil.copytree(source, cls.fixtures)
        for root, dirs, files in os.walk(cls.fixtures):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        cls.outdir = os.path.join(cls.dir, "out")
        os.mkdir(cls.outdir)
        os.chmod(cls.outdir, 0o777)

    def out(self, name):
        path = os.path.join(self.outdir, name)
        if os.path.exists(path):
            os.unlink(path)
        return path

    def test_import_of_a_v2_directory_writes_a_config_that_passes_config_check(self):
        out = self.out("okta.json5")
        r = self.ok("a", "import", "sym-terraform", os.path.join(self.fixtures, "okta-access-v2"), "--out", out, config=False)
        self.assertEqual(r.stdout, "")
        self.assertIn("symtui: imported 1 flow, 1 strategy, 2 targets", r.stderr)
        self.assertIn("symtui: not translated: sym_integration.slack", r.stderr)
        self.assertIn("passes 'symtui config check'", r.stderr)
        check = self.ok("a", "config", "check", out, config=False)
        self.assertIn("ok (1 flows, 1 strategies)", check.stdout)

    def test_import_to_stdout_says_exactly_why_the_config_does_not_pass_yet(self):
        r = self.ok("a", "import", "sym-terraform", os.path.join(self.fixtures, "approval-and-sso-v1.tf"), config=False)
        self.assertIn('name: "deploy-freeze-override"', r.stdout)
        self.assertIn("does not pass 'symtui config check' yet (1 problem)", r.stderr)
        self.assertIn("flows[0].approvers: approvers is empty", r.stderr)

    def test_import_json_reports_counts_and_the_check(self):
        r = self.ok("a", "import", "sym-terraform", os.path.join(self.fixtures, "approval-and-sso-v1.tf"), "--json", config=False)
        result = json.loads(r.stdout)
        self.assertEqual((result["flows"], result["strategies"], result["targets"]), (3, 2, 2))
        self.assertFalse(result["check"]["ok"])
        self.assertIn("approval-only", result["config"])

    def test_invalid_hcl_exits_65_with_file_and_line_and_writes_nothing(self):
        out = self.out("bad.json5")
        bad = os.path.join(self.fixtures, "malformed", "unclosed-string.tf")
        r = self.run_as("a", "import", "sym-terraform", bad, "--out", out, config=False)
        self.assert_refused(r, 65, f"{bad}:3: the string started on line 3 is not closed")
        self.assertFalse(os.path.exists(out))
        self.assertEqual(r.stdout, "")

    def test_import_does_not_overwrite_an_existing_file(self):
        out = self.out("keep.json5")
        with open(out, "w") as f:
            f.write("{}\n")
        os.chmod(out, 0o666)
        r = self.run_as("a", "import", "sym-terraform", os.path.join(self.fixtures, "okta-access-v2"), "--out", out, config=False)
        self.assert_refused(r, 74, "not overwriting")
        with open(out) as f:
            self.assertEqual(f.read(), "{}\n")

    def test_a_missing_path_exits_66(self):
        r = self.run_as("a", "import", "sym-terraform", os.path.join(self.fixtures, "nope"), config=False)
        self.assert_refused(r, 66, "no such file or directory")


class ReportingTests(E2ECase):
    """A jsonl reporting destination; `audit verify` with and without --against; a tampered store."""

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cls.jsonl = os.path.join(cls.dir, "audit.jsonl")
        cfg["reporting"] = {"destinations": [{"type": "jsonl", "path": cls.jsonl}]}
        return json.dumps(cfg, indent=2)

    def shipped(self):
        try:
            with open(self.jsonl) as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def request_and_approve(self):
        rid = self.request("a", "note", reason="reported")
        self.ok("c", "approve", rid, "--reason", "ok")
        t0 = time.time()
        while time.time() - t0 < 3:
            if any(e["type"] == "approve" and e["request_id"] == rid for e in self.shipped()):
                break
            time.sleep(0.05)
        return rid, time.time() - t0

    def test_jsonl_destination_gets_events_in_seq_order(self):
        rid, delay = self.request_and_approve()
        events = self.shipped()
        self.assertTrue(any(e["type"] == "approve" and e["request_id"] == rid for e in events),
                        f"the approve event was not shipped within 3 s: {events}")
        self.note = f"shipped in {delay:.2f} s"
        self.assertLess(delay, 1.5)
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "gapless, in seq order, from 1")
        self.assertEqual([e["type"] for e in events if e["request_id"] == rid][:2], ["request", "approve"])
        with sqlite_ro(self.store) as db:
            stored = dict(db.execute("SELECT seq, hash FROM events").fetchall())
        self.assertEqual({e["seq"]: e["hash"] for e in events}, {s: stored[s] for s in seqs})

    def test_audit_verify_exits_0(self):
        self.request_and_approve()
        r = self.run_as("a", "audit", "verify")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_audit_verify_against_jsonl_exits_0(self):
        self.request_and_approve()
        r = self.run_as(None, "audit", "verify", "--against", self.jsonl)   # the destination file is root's
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_tampered_store_fails_verify_with_65_naming_the_seq(self):
        rid, _ = self.request_and_approve()
        with sqlite_ro(self.store) as db:
            seq = db.execute("SELECT seq FROM events WHERE request_id=? AND type='request'", (rid,)).fetchone()[0]
        db = sqlite3.connect(self.store, timeout=10)
        try:
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
                db.execute(f'DROP TRIGGER "{name}"')
            db.execute("UPDATE events SET reason='nothing to see' WHERE seq=?", (seq,))
            db.commit()
        finally:
            db.close()
        with sqlite_ro(self.store) as ro:
            self.assertEqual(ro.execute("SELECT reason FROM events WHERE seq=?", (seq,)).fetchone()[0], "nothing to see")
        r = self.run_as("a", "audit", "verify")
        self.assert_refused(r, 65, f"seq {seq}")
        r = self.run_as(None, "audit", "verify", "--against", self.jsonl)
        self.assert_refused(r, 65, f"seq {seq}")


    def test_audit_verify_since_checks_only_the_events_after_the_last_verified_head(self):
        self.request_and_approve()
        full = json.loads(self.run_as("a", "audit", "verify", "--json").stdout)
        self.assertTrue(full["ok"], full)
        self.request_and_approve()
        with sqlite_ro(self.store) as db:
            head = db.execute("SELECT max(seq) FROM events").fetchone()[0]
        r = self.run_as("a", "audit", "verify", "--since", str(full["head_seq"] + 1), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        since = json.loads(r.stdout)
        self.assertEqual((since["checked"], since["head_seq"]), (head - full["head_seq"], head))
        r = self.run_as("a", "audit", "verify", "--since", "zero")
        self.assert_refused(r, 64, "--since: 'zero' is not a seq")

    def test_audit_export_from_the_file_is_byte_for_byte_the_daemons(self):
        self.request_and_approve()
        for fmt in ("jsonl", "csv"):
            from_file = self.run_as(None, "audit", "export", "--format", fmt)   # root reads the store file
            through_daemon = self.run_as("a", "audit", "export", "--format", fmt)
            self.assertEqual(from_file.returncode, 0, from_file.stderr)
            self.assertEqual(through_daemon.returncode, 0, through_daemon.stderr)
            self.assertGreater(len(from_file.stdout), 0)
            self.assertEqual(from_file.stdout, through_daemon.stdout, fmt)

    def with_second_destination(self):
        """Adds a second jsonl destination to the config file; returns its path and a function that restores it."""
        with open(self.config) as f:
            original = f.read()
        lines = original.split("\n")
        head = "\n".join(l for l in lines if l.startswith("//"))
        cfg = json.loads("\n".join(l for l in lines if not l.startswith("//")))
        second = os.path.join(self.dir, f"second-{random.randrange(1 << 30)}.jsonl")
        cfg["reporting"]["destinations"].append({"type": "jsonl", "path": second})
        with open(self.config, "w") as f:
            f.write(head + "\n" + json.dumps(cfg, indent=2))

        def restore():
            with open(self.config, "w") as f:
                f.write(original)
        return second, restore

    def wait_for_lines(self, path, count, timeout=5):
        deadline = time.time() + timeout
        while True:
            try:
                with open(path) as f:
                    seqs = [json.loads(l)["seq"] for l in f if l.strip()]
            except FileNotFoundError:
                seqs = []
            if len(seqs) >= count or time.time() >= deadline:
                return seqs
            time.sleep(0.05)

    def test_sighup_adds_a_destination_that_gets_the_whole_chain(self):
        self.request_and_approve()
        second, restore = self.with_second_destination()
        try:
            self.daemon.send_signal(signal.SIGHUP)
            with sqlite_ro(self.store) as db:
                head = db.execute("SELECT max(seq) FROM events").fetchone()[0]
            seqs = self.wait_for_lines(second, head)
            self.assertEqual(seqs[:head], list(range(1, head + 1)), "the new destination starts at seq 1, in order")
            self.assertIn("configuration reloaded", self.daemon_log_tail())
        finally:
            restore()
            self.daemon.send_signal(signal.SIGHUP)

    def test_daemon_once_delivers_the_backlog(self):
        self.request_and_approve()
        self.assertEqual(self.stop_daemon(), 0)
        second, restore = self.with_second_destination()
        try:
            r = subprocess.run([self.bin, "--config", self.config, "daemon", "--once"], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stderr)
            with sqlite_ro(self.store) as db:
                head = db.execute("SELECT max(seq) FROM events").fetchone()[0]
            self.assertEqual(self.wait_for_lines(second, head, timeout=0), list(range(1, head + 1)))
        finally:
            restore()


class SignedAuditTests(E2ECase):
    """reporting.hmac_key_file: the daemon signs each event; `audit verify --key` checks the signatures."""

    @classmethod
    def config_text(cls):
        return with_audit_key(cls, super().config_text())

    def test_every_event_is_signed_and_verifies_with_the_key(self):
        rid = self.request("a", "note", reason="signed")
        self.ok("c", "approve", rid)
        r = self.run_as(None, "audit", "verify", "--key", self.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("every event signed", r.stdout)
        lines = [json.loads(l) for l in self.run_as(None, "audit", "export").stdout.splitlines()]
        self.assertTrue(lines and all(len(e.get("hmac", "")) == 64 for e in lines), lines[:2])

    def test_an_untouched_signed_export_verifies_against_the_store_with_the_key_too(self):
        rid = self.request("a", "note", reason="signed and shipped")
        self.ok("c", "approve", rid)
        copy = os.path.join(self.dir, "signed-copy.jsonl")
        with open(copy, "w") as f:
            f.write(self.ok(None, "audit", "export").stdout)
        r = self.run_as(None, "audit", "verify", "--against", copy, "--key", self.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("match", r.stdout)
        self.assertIn("signed", r.stdout)

    def test_the_key_is_root_only_so_users_cannot_check_or_forge_with_it(self):
        self.request("a", "note")
        self.assert_refused(self.run_as("a", "audit", "verify", "--key", self.key), 77, "Permission denied")
        self.assertEqual(self.run_as("a", "audit", "verify").returncode, 0, "the chain itself anyone may verify")

    def test_a_changed_or_stripped_signature_is_named_by_seq(self):
        self.request("a", "note")
        self.request("a", "note")
        with sqlite_ro(self.store) as db:
            head = db.execute("SELECT max(seq) FROM events").fetchone()[0]
            saved = db.execute("SELECT seq, hmac FROM events WHERE seq >= ?", (head - 1,)).fetchall()

        def tamper(sql, *args):
            db = sqlite3.connect(self.store, timeout=10)
            try:
                db.execute("DROP TRIGGER IF EXISTS events_no_update")
                db.execute(sql, args)
                db.commit()
            finally:
                db.close()
        try:
            tamper("UPDATE events SET hmac = NULL WHERE seq = ?", head)
            self.assertEqual(self.run_as(None, "audit", "verify").returncode, 0, "the chain alone does not see it")
            self.assert_refused(self.run_as(None, "audit", "verify", "--key", self.key), 65, f"seq {head}: unsigned")
            tamper("UPDATE events SET hmac = ? WHERE seq = ?", "0" * 64, head - 1)
            self.assert_refused(self.run_as(None, "audit", "verify", "--key", self.key), 65, f"seq {head - 1}: bad signature")
        finally:
            for seq, hmac in saved:      # the class shares one store: put it back as it was
                tamper("UPDATE events SET hmac = ? WHERE seq = ?", hmac, seq)
            db = sqlite3.connect(self.store, timeout=10)
            try:
                db.execute("CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events "
                           "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END")
                db.commit()
            finally:
                db.close()

    def test_the_daemon_refuses_a_key_others_may_read(self):
        self.assertEqual(self.stop_daemon(), 0)
        os.chmod(self.key, 0o644)
        try:
            r = subprocess.run([self.bin, "--config", self.config, "daemon"], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn("chmod 0400", r.stderr)
        finally:
            os.chmod(self.key, 0o400)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_port(port, proc, timeout=15, what="server"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the {what} exited {proc.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the {what} did not listen on 127.0.0.1:{port} within {timeout} s")


class SSHCertTests(E2ECase):
    """`ssh_cert` against a real sshd on 127.0.0.1 that trusts the test's CA and reads its KRL."""

    REQUESTERS = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10"]
    SSHD = "/usr/sbin/sshd"
    KEYGEN = "/usr/bin/ssh-keygen"

    @classmethod
    def user(cls, role, groups=(), home=None):
        name = f"{cls.prefix}_{role}"
        if role not in cls.REQUESTERS:
            return super().user(role, groups, home)
        home = os.path.join(cls.dir, "home", name)
        os.makedirs(home)
        cmd = ["useradd", "-M", "-s", "/bin/sh", "-g", "users", "-d", home]
        subprocess.run(cmd + [name], check=True, capture_output=True)
        CREATED_USERS.append(name)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)   # unlocked for key logins
        ssh = os.path.join(home, ".ssh")
        os.makedirs(ssh)
        subprocess.run(["setpriv", "--reuid", name, "--regid", "users", "--init-groups", "true"], check=True)
        subprocess.run([cls.KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", os.path.join(ssh, "id_ed25519")], check=True)
        for root, dirs, files in os.walk(home):
            for p in [root] + [os.path.join(root, f) for f in files]:
                os.chown(p, pwd.getpwnam(name).pw_uid, grp.getgrnam("users").gr_gid)
        os.chmod(ssh, 0o700)
        os.makedirs(os.path.join(cls.dir, "principals"), exist_ok=True)
        with open(os.path.join(cls.dir, "principals", name), "w") as f:
            f.write(f"{cls.prefix}-web\n")
        return name

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(cls.SSHD):
            raise unittest.SkipTest("openssh-server is not installed (make deps)")
        super().setUpClass()
        cls.start_sshd()

    @classmethod
    def write_scripts(cls):
        # Runs inside setUpClass before the config is written: the CA, the KRL, the sshd around them.
        cls.principal = f"{cls.prefix}-web"
        cls.ca = os.path.join(cls.dir, "ca", "user_ca")
        os.makedirs(os.path.dirname(cls.ca), mode=0o700)
        subprocess.run([cls.KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "test CA", "-f", cls.ca], check=True)
        os.chmod(cls.ca, 0o600)
        cls.krl = os.path.join(cls.dir, "krl", "revoked.krl")
        os.makedirs(os.path.dirname(cls.krl))
        empty = os.path.join(cls.dir, "empty-spec")
        open(empty, "w").close()
        subprocess.run([cls.KEYGEN, "-q", "-k", "-f", cls.krl, empty], check=True, capture_output=True)
        os.chmod(cls.krl, 0o644)
        cls.issued = os.path.join(cls.dir, "issued")
        super().write_scripts()

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cfg["strategies"].append({"name": "ssh", "type": "ssh_cert",
                                  "settings": {"ca_key": cls.ca, "krl": cls.krl, "issued_dir": cls.issued},
                                  "targets": [{"name": "web", "label": "Web servers",
                                               "settings": {"principals": [cls.principal]}}]})
        cfg["flows"].append({"name": "ssh", "label": "SSH to the web servers", "strategy": "ssh",
                             "approvers": {"groups": [cls.oncall]},
                             "prompt_fields": [{"name": "reason", "type": "string", "required": True},
                                               {"name": "duration", "type": "duration", "required": True}]})
        cfg["flows"].append({"name": "sshkey", "label": "SSH with a key given in the request", "strategy": "ssh",
                             "approvers": {"groups": [cls.oncall]},
                             "prompt_fields": [{"name": "reason", "type": "string", "required": True},
                                               {"name": "duration", "type": "duration", "required": True},
                                               {"name": "public_key", "type": "string", "required": False}]})
        return json.dumps(cfg, indent=2)

    @classmethod
    def start_sshd(cls):
        os.makedirs("/run/sshd", exist_ok=True)
        hostkey = os.path.join(cls.dir, "ssh_host_ed25519_key")
        subprocess.run([cls.KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", hostkey], check=True)
        cls.sshd_port = free_port()
        cls.sshd_log = os.path.join(cls.dir, "sshd.log")
        conf = os.path.join(cls.dir, "sshd_config")
        with open(conf, "w") as f:
            f.write(f"""Port {cls.sshd_port}
ListenAddress 127.0.0.1
HostKey {hostkey}
PidFile {cls.dir}/sshd.pid
TrustedUserCAKeys {cls.ca}.pub
AuthorizedPrincipalsFile {cls.dir}/principals/%u
RevokedKeys {cls.krl}
AuthorizedKeysFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
""")
        logf = open(cls.sshd_log, "ab")
        cls.sshd = subprocess.Popen([cls.SSHD, "-D", "-e", "-f", conf], stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        STARTED_PIDS.append(cls.sshd.pid)
        wait_for_port(cls.sshd_port, cls.sshd, what="sshd")

    @classmethod
    def tearDownClass(cls):
        p = getattr(cls, "sshd", None)
        if p is not None:
            stop_pid(p.pid)
            if p.pid in STARTED_PIDS:
                STARTED_PIDS.remove(p.pid)
        super().tearDownClass()

    # -- helpers ------------------------------------------------------------------------------------

    def home(self, role):
        return pwd.getpwnam(self.users[role]).pw_dir

    def cert_path(self, role):
        return os.path.join(self.home(role), ".ssh", "id_ed25519-cert.pub")

    def ssh(self, role):
        """`ssh -o BatchMode=yes USER@127.0.0.1 true` as the user, with their own key (and certificate, if any)."""
        user = self.users[role]
        key = os.path.join(self.home(role), ".ssh", "id_ed25519")
        cmd = ["setpriv", "--reuid", user, "--regid", "users", "--init-groups", "/usr/bin/ssh", "-p", str(self.sshd_port),
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i", key,
               f"{user}@127.0.0.1", "true"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              env={"PATH": "/usr/bin:/bin", "HOME": self.home(role)})

    def assert_ssh_ok(self, role):
        r = self.ssh(role)
        self.assertEqual(r.returncode, 0, f"ssh as {role} failed: {r.stderr}; sshd log: {self.sshd_log_tail()}")

    def assert_ssh_refused(self, role, why):
        r = self.ssh(role)
        self.assertNotEqual(r.returncode, 0, f"ssh as {role} succeeded but should be refused ({why})")
        self.assertIn("Permission denied", r.stderr, f"refused by sshd ({why}), not by something else")

    def sshd_log_tail(self):
        with open(self.sshd_log, errors="replace") as f:
            return f.read()[-1500:]

    def active_grant(self, role, duration="1h"):
        rid = self.request(role, "ssh", "web", duration=duration)
        self.ok("c", "approve", rid)
        return rid, self.wait_state(rid, "active", timeout=5)

    def cert_info(self, path):
        return subprocess.run([self.KEYGEN, "-L", "-f", path], capture_output=True, text=True, check=True).stdout

    def revoked_in_krl(self, cert):
        r = subprocess.run([self.KEYGEN, "-Q", "-f", self.krl, cert], capture_output=True, text=True)
        return r.returncode == 1 and "REVOKED" in r.stdout

    def plant(self, role, text):
        """Puts a certificate back where the client uses it, as a user who kept a copy would."""
        path = self.cert_path(role)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, pwd.getpwnam(self.users[role]).pw_uid, -1)

    def failed_escalation_error(self, rid, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            events = self.show(rid)["events"]
            failed = [e for e in events if e["type"] == "escalate_failed"]
            if failed:
                return failed[0]["data"].get("error", "")
            time.sleep(0.1)
        self.fail(f"no escalate_failed event for request {rid}")

    # -- tests --------------------------------------------------------------------------------------

    def test_never_without_a_grant(self):
        self.assertFalse(os.path.exists(self.cert_path("r1")))
        self.assert_ssh_refused("r1", "no grant, no certificate")

    def test_grant_lets_ssh_in_and_revoke_refuses_it_by_the_krl(self):
        rid, req = self.active_grant("r2")
        cert = self.cert_path("r2")
        st = os.stat(cert)
        self.assertEqual(st.st_uid, pwd.getpwnam(self.users["r2"]).pw_uid, "the certificate belongs to the requester")
        self.assert_ssh_ok("r2")
        with open(cert) as f:
            kept = f.read()
        self.ok("c", "revoke", rid, "--reason", "done")
        req = self.wait_state(rid, "ended", timeout=5)
        self.assertFalse(os.path.exists(cert), "the certificate file is removed on revoke")
        self.assert_ssh_refused("r2", "revoked, no certificate")
        self.plant("r2", kept)
        self.assertTrue(self.revoked_in_krl(cert), "the serial is in the KRL")
        self.assert_ssh_refused("r2", "revoked by the KRL although the certificate is still within its validity")
        self.assertIn("revoked", self.sshd_log_tail().lower())
        deesc = [e for e in self.show(rid)["events"] if e["type"] == "deescalate"][0]
        self.assertEqual([c["outcome"] for c in deesc["data"]["certificates"]], ["revoked"], deesc["data"])
        os.unlink(cert)

    def test_expiry_refuses_by_validity_without_the_krl(self):
        rid, req = self.active_grant("r3", duration="4s")
        self.assert_ssh_ok("r3")
        with open(self.cert_path("r3")) as f:
            kept = f.read()
        req = self.wait_state(rid, "ended", timeout=10)
        self.assertEqual(req["end_reason"], "expired")
        self.assertFalse(os.path.exists(self.cert_path("r3")), "the certificate file is removed on expiry")
        self.plant("r3", kept)
        self.assertFalse(self.revoked_in_krl(self.cert_path("r3")), "an expired certificate is not added to the KRL")
        self.assert_ssh_refused("r3", "the certificate has expired by itself")
        deesc = [e for e in self.show(rid)["events"] if e["type"] == "deescalate"][0]
        self.assertEqual([c["outcome"] for c in deesc["data"]["certificates"]], ["expired"], deesc["data"])
        os.unlink(self.cert_path("r3"))

    def test_certificate_is_valid_exactly_for_the_grant_with_a_serial_naming_the_request(self):
        rid, req = self.active_grant("r4", duration="1h")
        info = self.cert_info(self.cert_path("r4"))
        m = re.search(r"Valid: from (\S+) to (\S+)", info)
        start, end = (parse_time(t + "Z") for t in m.groups())
        self.assertAlmostEqual(start, parse_time(req["access_starts_at"]), delta=2)
        self.assertAlmostEqual(end, parse_time(req["access_expires_at"]), delta=2)
        self.assertLessEqual(end, parse_time(req["access_expires_at"]) + 1, "never longer than the grant")
        self.assertIn(f"Serial: {rid << 32}", info)
        self.assertIn(f"symtui-{rid}-{self.users['r4']}-web", info, "the key id names the request")
        self.assertIn(self.principal, info)
        self.ok("r4", "release", rid)
        self.wait_state(rid, "ended", timeout=5)

    def test_extension_issues_a_certificate_for_the_new_window(self):
        rid, req = self.active_grant("r5", duration="5s")
        first_end = parse_time(req["access_expires_at"])
        ext = json.loads(self.ok("r5", "extend", rid, "--duration", "1h", "--reason", "more", "--json").stdout)["id"]
        self.ok("c", "approve", ext)
        deadline = time.time() + 5
        while time.time() < deadline:
            events = [e for e in self.show(rid)["events"] if e["type"] == "escalate" and e["data"].get("extension_request") == ext]
            if events:
                break
            time.sleep(0.1)
        self.assertTrue(events, "an escalate event records the new certificate")
        self.assertEqual(events[0]["data"]["serial"], str((rid << 32) | ext))
        info = self.cert_info(self.cert_path("r5"))
        end = parse_time(re.search(r"Valid: from \S+ to (\S+)", info).group(1) + "Z")
        self.assertGreater(end, first_end + 3000, "the installed certificate covers the extended window")
        while time.time() < first_end + 1.5:
            time.sleep(0.2)
        self.assert_ssh_ok("r5")
        self.ok("c", "revoke", rid)
        req = self.wait_state(rid, "ended", timeout=5)
        deesc = [e for e in self.show(rid)["events"] if e["type"] == "deescalate"][0]
        outcomes = {c["serial"]: c["outcome"] for c in deesc["data"]["certificates"]}
        self.assertEqual(outcomes, {str(rid << 32): "expired", str((rid << 32) | ext): "revoked"})

    def test_check_lists_valid_unrevoked_certificates(self):
        rid, _ = self.active_grant("r6")
        r = self.run_as(None, "check", "ssh", "--json")
        row = [t for t in json.loads(r.stdout)["targets"] if t["target"] == "web"][0]
        self.assertIn(self.users["r6"], row["has_access"], row)
        self.assertNotIn(self.users["r6"], row["standing_access"], row)
        self.ok("c", "revoke", rid)
        self.wait_state(rid, "ended", timeout=5)
        r = self.run_as(None, "check", "ssh", "--json")
        row = [t for t in json.loads(r.stdout)["targets"] if t["target"] == "web"][0]
        self.assertNotIn(self.users["r6"], row["has_access"], row)

    def test_symlinked_key_is_refused_at_request_time(self):
        ssh = os.path.join(self.home("r7"), ".ssh")
        real = os.path.join(self.home("r8"), ".ssh", "id_ed25519.pub")
        os.rename(os.path.join(ssh, "id_ed25519.pub"), os.path.join(ssh, "mine.pub"))
        os.symlink(real, os.path.join(ssh, "id_ed25519.pub"))
        try:
            before = self.event_count()
            self.assert_refused(self.run_as("r7", "request", "ssh", "web", "--duration", "1h", "--reason", "x"), 65, "symlink")
            self.assertEqual(self.event_count(), before, "nothing recorded")
        finally:
            os.unlink(os.path.join(ssh, "id_ed25519.pub"))
            os.rename(os.path.join(ssh, "mine.pub"), os.path.join(ssh, "id_ed25519.pub"))

    def test_key_of_another_user_is_refused(self):
        key = os.path.join(self.home("r7"), ".ssh", "id_ed25519.pub")
        os.chown(key, pwd.getpwnam(self.users["r8"]).pw_uid, -1)
        try:
            self.assert_refused(self.run_as("r7", "request", "ssh", "web", "--duration", "1h", "--reason", "x"), 65,
                                "a key of another user")
        finally:
            os.chown(key, pwd.getpwnam(self.users["r7"]).pw_uid, -1)

    def test_a_key_that_is_not_a_public_key_is_refused(self):
        key = os.path.join(self.home("r8"), ".ssh", "id_ed25519.pub")
        with open(key) as f:
            good = f.read()
        with open(key, "w") as f:
            f.write("ssh-ed25519 -oProxyCommand=evil x\n")
        try:
            self.assert_refused(self.run_as("r8", "request", "ssh", "web", "--duration", "1h", "--reason", "x"), 65, "base64")
        finally:
            with open(key, "w") as f:
                f.write(good)

    def test_a_krl_that_cannot_be_updated_keeps_the_grant_deescalating_until_it_can(self):
        rid, _ = self.active_grant("r9")
        with open(self.krl, "rb") as f:
            good = f.read()
        try:
            with open(self.krl, "wb") as f:
                f.write(b"not a KRL")   # ssh-keygen -k -u cannot read it (and sshd, failing closed, lets nobody in)
            self.ok("c", "revoke", rid)
            deadline = time.time() + 8
            while time.time() < deadline:
                req = self.show(rid)
                failed = [e for e in req["events"] if e["type"] == "deescalate_failed"]
                if failed:
                    break
                time.sleep(0.1)
            self.assertTrue(failed, "the failed KRL update is recorded")
            self.assertIn("KRL", failed[0]["data"]["error"])
            self.assertEqual(req["state"], "deescalating", "the grant is not dropped")
            with open(self.krl, "rb") as f:
                self.assertEqual(f.read(), b"not a KRL", "a KRL that cannot be read is left alone, not replaced")
        finally:
            with open(self.krl, "wb") as f:
                f.write(good)
        req = self.wait_state(rid, "ended", timeout=15)
        self.assertEqual(req["end_reason"], "revoked")
        spec = subprocess.run([self.KEYGEN, "-Q", "-l", "-f", self.krl], capture_output=True, text=True).stdout
        ranges = [tuple(int(n) for n in m.split("-")) if "-" in m else (int(m), int(m))
                  for m in re.findall(r"^serial: (\S+)$", spec, re.M)]
        self.assertTrue(any(lo <= rid << 32 <= hi for lo, hi in ranges), f"retried until the grant's serials were in the KRL: {spec}")

    def test_a_key_from_the_public_key_field_gets_a_certificate_file_for_certificatefile(self):
        ssh = os.path.join(self.home("r10"), ".ssh")
        for name in ("id_ed25519", "id_ed25519.pub"):
            os.rename(os.path.join(ssh, name), os.path.join(ssh, "work_" + name.replace("id_ed25519", "key")))
        with open(os.path.join(ssh, "work_key.pub")) as f:
            public = f.read().strip()
        rid = self.request("r10", "sshkey", "web", duration="1h", fields={"public_key": public})
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active", timeout=5)
        cert = os.path.join(ssh, "symtui-cert.pub")
        self.assertTrue(os.path.exists(cert))
        user = self.users["r10"]
        cmd = ["setpriv", "--reuid", user, "--regid", "users", "--init-groups", "/usr/bin/ssh", "-p", str(self.sshd_port),
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "IdentitiesOnly=yes", "-o", f"CertificateFile={cert}", "-i", os.path.join(ssh, "work_key"),
               f"{user}@127.0.0.1", "true"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin", "HOME": self.home("r10")})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.ok("r10", "release", rid)
        self.wait_state(rid, "ended", timeout=5)
        self.assertFalse(os.path.exists(cert))

    def test_a_public_key_field_that_is_not_a_key_is_refused_naming_the_field(self):
        before = self.event_count()
        r = self.run_as("r1", "request", "sshkey", "web", "--duration", "1h", "--reason", "x",
                        "--field", "public_key=ssh-ed25519 AAAA -oProxyCommand=sh")
        self.assert_refused(r, 65, "public_key")
        self.assertEqual(self.event_count(), before)

    def test_daemon_refuses_to_start_when_others_can_read_the_ca_key(self):
        self.stop_daemon()
        os.chmod(self.ca, 0o640)
        try:
            r = subprocess.run([self.bin, "--config", self.config, "daemon"], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn("ca_key", r.stderr)
            self.assertIn("640", r.stderr)
        finally:
            os.chmod(self.ca, 0o600)


class PostgresRoleTests(PostgresClusterMixin, E2ECase):
    """`postgres_role` against a real PostgreSQL 15 cluster the test creates (initdb/pg_ctl, a free port, a temp dir).
    The mixin's class set-up skips without PostgreSQL and stops the cluster; this class starts its own kind of cluster
    (peer logins for the requesters, a role to grant)."""

    REQUESTERS = ["r1", "r2", "r3", "r4", "r5"]
    PGBIN = "/usr/lib/postgresql/15/bin"
    PSQL = "/usr/bin/psql"

    @classmethod
    def write_scripts(cls):
        cls.pg_port = free_port()
        cls.pg_dir = os.path.join(cls.dir, "pg")
        cls.pg_sock = os.path.join(cls.pg_dir, "sock")
        cls.role = f"{cls.prefix}_orders_rw"
        cls.passfile = os.path.join(cls.dir, "pgpass")
        cls.admin_password = secrets.token_hex(16)
        with open(cls.passfile, "w") as f:
            f.write(f"127.0.0.1:{cls.pg_port}:appdb:symtui_admin:{cls.admin_password}\n")
        os.chmod(cls.passfile, 0o600)
        super().write_scripts()

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        conninfo = f"postgresql://symtui_admin@127.0.0.1:{cls.pg_port}/appdb?passfile={cls.passfile}"
        cfg["strategies"].append({"name": "pg", "type": "postgres_role", "settings": {"conninfo": conninfo},
                                  "targets": [{"name": "orders", "label": "orders read-write", "settings": {"role": cls.role}},
                                              {"name": "orders-report", "label": "orders, sessions reported",
                                               "settings": {"role": cls.role, "end_sessions": "report"}}]})
        cfg["flows"].append({"name": "pg", "label": "Database roles", "strategy": "pg", "approvers": {"groups": [cls.oncall]},
                             "prompt_fields": [{"name": "reason", "type": "string", "required": True},
                                               {"name": "duration", "type": "duration", "required": True}]})
        return json.dumps(cfg, indent=2)

    @classmethod
    def as_postgres(cls, *cmd, check=True, input=None):
        return subprocess.run(["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups"] + list(cmd),
                              capture_output=True, text=True, check=check, input=input, cwd="/", timeout=60)

    @classmethod
    def sql(cls, statement, db="appdb"):
        return cls.as_postgres(cls.PSQL, "-h", cls.pg_sock, "-p", str(cls.pg_port), "-d", db, "-U", "postgres",
                               "-v", "ON_ERROR_STOP=1", "-At", "-c", statement).stdout.strip()

    @classmethod
    def start_cluster(cls):
        os.makedirs(cls.pg_sock)
        pg = pwd.getpwnam("postgres")
        for d in (cls.pg_dir, cls.pg_sock):
            os.chown(d, pg.pw_uid, pg.pw_gid)
        os.chmod(cls.pg_dir, 0o755)
        data = os.path.join(cls.pg_dir, "data")
        cls.as_postgres(os.path.join(cls.PGBIN, "initdb"), "-D", data, "-U", "postgres", "--auth-local=peer",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write("local all all peer\nhost appdb symtui_admin 127.0.0.1/32 scram-sha-256\n")
        cls.pg_data = data
        cls.as_postgres(os.path.join(cls.PGBIN, "pg_ctl"), "-D", data, "-l", os.path.join(cls.pg_dir, "log"), "-w",
                        "-o", f"-p {cls.pg_port} -k {cls.pg_sock} -c listen_addresses=127.0.0.1", "start")
        cls.pg_started = True
        cls.sql("CREATE DATABASE appdb", db="postgres")
        users = "; ".join(f"CREATE ROLE {cls.users[r]} LOGIN" for r in cls.REQUESTERS)
        cls.sql(f"""CREATE ROLE symtui_admin LOGIN CREATEROLE PASSWORD '{cls.admin_password}';
                    GRANT pg_signal_backend TO symtui_admin;
                    CREATE ROLE {cls.role} NOLOGIN; {users};
                    CREATE TABLE orders (id int, by_user text DEFAULT current_user);
                    REVOKE ALL ON orders FROM PUBLIC; GRANT SELECT, INSERT ON orders TO {cls.role}""")

    @classmethod
    def stop_cluster(cls):
        if getattr(cls, "pg_started", False):
            cls.as_postgres(os.path.join(cls.PGBIN, "pg_ctl"), "-D", cls.pg_data, "-m", "immediate", "-w", "stop", check=False)
            cls.pg_started = False

    # -- helpers ------------------------------------------------------------------------------------

    def psql_as(self, role, statement):
        """psql as the Unix user ROLE over the cluster's socket (peer authentication: the database user of the same name)."""
        cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups", self.PSQL, "-h", self.pg_sock,
               "-p", str(self.pg_port), "-d", "appdb", "-v", "ON_ERROR_STOP=1", "-At", "-c", statement]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin"})

    def can_write(self, role):
        r = self.psql_as(role, "INSERT INTO orders (id) VALUES (1)")
        if r.returncode != 0:
            self.assertIn("permission denied", r.stderr)
        return r.returncode == 0

    def member(self, role):
        return self.sql(f"""SELECT count(*) FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
                            JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = '{self.role}'
                            AND m.rolname = '{self.users[role]}'""") == "1"

    def active_grant(self, role, target="orders", duration="1h"):
        rid = self.request(role, "pg", target, duration=duration)
        self.ok("c", "approve", rid)
        return rid, self.wait_state(rid, "active", timeout=5)

    def set_role_session(self, role):
        """A psql session of the user that takes the role with SET ROLE and stays open; returns (process, backend pid)."""
        cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups", self.PSQL, "-h", self.pg_sock,
               "-p", str(self.pg_port), "-d", "appdb", "-v", "ON_ERROR_STOP=1", "-At"]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                             env={"PATH": "/usr/bin:/bin"})
        p.stdin.write(f"SET ROLE {self.role};\nSELECT 'ready-' || current_user;\n")
        p.stdin.flush()
        deadline = time.time() + 10
        while time.time() < deadline:
            pid = self.sql(f"SELECT pid FROM pg_stat_activity WHERE usename = '{self.users[role]}' AND query LIKE '%ready-%'")
            if pid:
                return p, int(pid)
            time.sleep(0.1)
        p.kill()
        self.fail("the SET ROLE session did not start")

    def deescalate_event(self, rid):
        return [e for e in self.show(rid)["events"] if e["type"] == "deescalate"][0]

    # -- tests --------------------------------------------------------------------------------------

    def test_never_without_a_grant(self):
        self.assertFalse(self.member("r1"))
        self.assertFalse(self.can_write("r1"), "the user cannot write the role's table without a grant")

    def test_role_works_during_the_grant_and_not_after_revoke(self):
        rid, _ = self.active_grant("r2")
        self.assertTrue(self.member("r2"))
        self.assertTrue(self.can_write("r2"), "psql as the user writes the table only the role may write")
        self.ok("c", "revoke", rid, "--reason", "done")
        self.wait_state(rid, "ended", timeout=5)
        self.assertFalse(self.member("r2"))
        self.assertFalse(self.can_write("r2"), "after the revoke the write is refused")

    def test_role_ends_at_expiry(self):
        rid, _ = self.active_grant("r3", duration="3s")
        self.assertTrue(self.can_write("r3"))
        req = self.wait_state(rid, "ended", timeout=8)
        self.assertEqual(req["end_reason"], "expired")
        self.assertFalse(self.can_write("r3"))

    def test_a_set_role_session_from_before_the_revoke_is_terminated(self):
        rid, _ = self.active_grant("r4")
        p, pid = self.set_role_session("r4")
        try:
            self.ok("c", "revoke", rid)
            self.wait_state(rid, "ended", timeout=10)
            sessions = self.deescalate_event(rid)["data"]["sessions"]
            self.assertEqual([(s["pid"], s["outcome"]) for s in sessions], [(pid, "terminated")], sessions)
            self.assertEqual(self.sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"), "0", "the backend is gone")
            p.stdin.write("INSERT INTO orders (id) VALUES (4);\n")
            p.stdin.close()
            self.assertNotEqual(p.wait(timeout=10), 0, "the old session can no longer write as the role")
            self.assertEqual(self.sql(f"SELECT count(*) FROM orders WHERE id = 4"), "0")
        finally:
            if p.poll() is None:
                p.kill()

    def test_end_sessions_report_lists_but_keeps_the_session(self):
        rid, _ = self.active_grant("r5", target="orders-report")
        p, pid = self.set_role_session("r5")
        try:
            self.ok("r5", "release", rid)
            self.wait_state(rid, "ended", timeout=10)
            sessions = self.deescalate_event(rid)["data"]["sessions"]
            self.assertEqual([(s["pid"], s["outcome"]) for s in sessions], [(pid, "reported")], sessions)
            self.assertEqual(self.sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"), "1", "reported, not ended")
        finally:
            p.kill()
            p.wait()

    def test_check_reports_members_of_the_role_against_grants(self):
        rid, _ = self.active_grant("r1")
        try:
            r = self.run_as(None, "check", "pg", "--json")
            rows = {t["target"]: t for t in json.loads(r.stdout)["targets"]}
            self.assertEqual(rows["orders"]["check"], "ok", rows)
            self.assertIn(self.users["r1"], rows["orders"]["has_access"])
            self.assertNotIn(self.users["r1"], rows["orders"]["standing_access"])
            self.sql(f"GRANT {self.role} TO {self.users['r2']}")   # access given behind symtui's back
            r = self.run_as(None, "check", "pg", "--json")
            self.assertEqual(r.returncode, 1, "drift")
            rows = {t["target"]: t for t in json.loads(r.stdout)["targets"]}
            self.assertIn(self.users["r2"], rows["orders"]["standing_access"])
        finally:
            self.sql(f"REVOKE {self.role} FROM {self.users['r2']}")
            self.ok("c", "revoke", rid)
            self.wait_state(rid, "ended", timeout=5)


class TargetNameCheckTests(E2ECase):
    """Principals and database roles that are not plain never pass `config check`."""

    START_DAEMON = False
    REQUESTERS = []

    def test_config_check_refuses_hostile_principals_and_roles_naming_each(self):
        cfg = json.loads(self.config_text().split("\n", 1)[1])
        cfg["strategies"] += [
            {"name": "ssh", "type": "ssh_cert", "settings": {"ca_key": "/etc/symtui/ca", "krl": "/etc/ssh/revoked.krl"},
             "targets": [{"name": "web", "settings": {"principals": ["-oProxyCommand=sh", "a,root", "x y"]}}]},
            {"name": "pg", "type": "postgres_role", "settings": {"conninfo": "postgresql://admin:pw@db/app"},
             "targets": [{"name": "orders", "settings": {"role": "orders\"; DROP TABLE x; --"}}]},
        ]
        path = os.path.join(self.dir, "hostile.json5")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        r = self.run_as(None, "config", "check", path, config=False)
        self.assertEqual(r.returncode, 65, r.stderr)
        for fragment in ["'-oProxyCommand=sh'", "'a,root'", "'x y'", "orders\"; DROP TABLE", "conninfo contains a password"]:
            self.assertIn(fragment, r.stdout + r.stderr)
        self.assertNotIn("admin:pw", r.stdout + r.stderr, "the password is not echoed")


class BadCLIInputTests(E2ECase):
    """Tests/Fixtures/cli-bad.tsv: each bad invocation exits with its code, says why, writes nothing.

    A row is `ARGS<TAB>EXIT<TAB>FRAGMENT`; ARGS are split like a shell would, `--config C` is put in
    front unless the row names its own `--config`, and {pending}/{theirs} are a pending request of
    the user running the row (a) and of another user (b). A row starting with `#` is skipped (not
    implemented yet); a line starting with `#` without tabs is a comment.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.placeholders = None

    def prepare(self):
        if BadCLIInputTests.placeholders is None:
            BadCLIInputTests.placeholders = {"pending": str(self.request("a", "note")),
                                             "theirs": str(self.request("b", "note"))}
        return BadCLIInputTests.placeholders

    def check_row(self, args, code, fragment):
        values = self.prepare()
        argv = [a.format(**values) for a in shlex.split(args)]
        before = self.event_count()
        r = self.run_as("a", *argv, config="--config" not in argv, timeout=20)
        self.assert_refused(r, code, fragment)
        self.assertEqual(r.stdout, "", "nothing on stdout on an error")
        self.assertEqual(self.event_count(), before, "the store changed")
        self.assert_daemon_alive()


def load_bad_rows():
    rows = []
    if not os.path.exists(BAD_CLI_TSV):
        return rows
    with open(BAD_CLI_TSV) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or (line.startswith("#") and "\t" not in line):
                continue
            skipped = line.startswith("#")
            parts = line.lstrip("#").split("\t")
            if len(parts) != 3:
                raise SystemExit(f"{BAD_CLI_TSV}:{n}: expected ARGS<TAB>EXIT<TAB>FRAGMENT")
            rows.append((n, parts[0].strip(), int(parts[1]), parts[2].strip(), skipped))
    return rows


def add_bad_row_tests():
    for n, args, code, fragment, skipped in load_bad_rows():
        slug = re.sub(r"[^a-z0-9]+", "_", args.lower()).strip("_")[:40]

        def test(self, args=args, code=code, fragment=fragment, skipped=skipped, n=n):
            if skipped:
                self.skipTest(f"row {n} is marked # (not implemented yet)")
            self.check_row(args, code, fragment)
        test.__doc__ = f"cli-bad.tsv:{n}: symtui {args} -> {code}"
        setattr(BadCLIInputTests, f"test_cli_bad_{n:03d}_{slug}", test)


add_bad_row_tests()


# ---------------------------------------------------------------------------------------------------
# Running: one line per test, then `N passed, M failed[, K skipped]`.
# ---------------------------------------------------------------------------------------------------

class SecurityReviewTests(E2ECase):
    """The outside review's findings, as a local user would try them: floods, oversized input, a planted SDK or
    module, a step output too large for the environment, secrets in step output, parallel extensions."""

    LIMITS = {"pending_per_user": 3, "field_bytes": 2048, "request_bytes": 8192}

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        cls.received = os.path.join(cls.dir, "deescalate-stdin")
        big = os.path.join(cls.dir, "big-escalate")
        with open(big, "w") as f:
            f.write(f"""#!{PYTHON}
import json, sys
sys.stdout.write(json.dumps({{"blob": "x" * (300 * 1024), "secret": {{"token": "s3cr3t-" + sys.argv[1]}}}}))
""")
        down = os.path.join(cls.dir, "stdin-deescalate")
        with open(down, "w") as f:
            f.write(f"""#!{PYTHON}
import sys
data = sys.stdin.read()
with open({cls.received!r} + "-" + sys.argv[1], "w") as f:
    f.write(data)
""")
        cls.impl = os.path.join(cls.dir, "impl_handlers.py")
        with open(cls.impl, "w") as f:
            f.write("from symtui_sdk import hook, approve\n\n@hook\ndef on_request(event):\n    return None\n")
        for path, mode in ((big, 0o755), (down, 0o755), (cls.impl, 0o644)):
            os.chmod(path, mode)

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        reason = {"name": "reason", "type": "string", "required": True}
        duration = {"name": "duration", "type": "duration", "allowed_values": ["1m", "2m", "1h"], "required": True}
        cfg["strategies"].append({"name": "big", "type": "command",
                                  "settings": {"escalate": os.path.join(cls.dir, "big-escalate"),
                                               "deescalate": os.path.join(cls.dir, "stdin-deescalate"), "timeout": "20s"},
                                  "targets": [{"name": "blob", "label": "Big step output"}]})
        cfg["flows"] += [
            {"name": "big", "label": "Big step output", "strategy": "big", "approvers": {"groups": [cls.oncall]},
             "max_duration": "1h5m", "prompt_fields": [reason, duration]},
            {"name": "handled", "label": "With handlers", "approvers": {"groups": [cls.oncall]},
             "implementation": cls.impl, "prompt_fields": [reason]},
        ]
        return json.dumps(cfg, indent=2)

    def active_big_grant(self, role="a", duration="1h"):
        rid = self.request(role, "big", duration=duration)
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active", timeout=20)
        return rid

    def test_pending_requests_per_user_are_limited_and_the_refusal_writes_nothing(self):
        for _ in range(3):
            self.request("b", "note")
        before = self.event_count()
        self.assert_refused(self.run_as("b", "request", "note", "--reason", "one too many"), 65, "limits.pending_per_user is 3")
        self.assertEqual(self.event_count(), before)
        self.request("a", "note")          # another user is not affected

    def test_a_field_value_over_field_bytes_is_refused_with_65_and_nothing_written(self):
        before = self.event_count()
        r = self.run_as("a", "request", "db", "orders", "--duration", "1h", "--reason", "x", "--field", "note=" + "n" * 3000)
        self.assert_refused(r, 65, "limits.field_bytes")
        self.assertEqual(self.event_count(), before)

    def test_a_step_output_of_300_kib_still_reaches_deescalate_and_the_grant_ends(self):
        # b holds no other grant of this target, so its deescalate really runs (a's other grants would cover a).
        rid = self.active_big_grant("b")
        self.ok("b", "release", rid)
        req = self.wait_state(rid, "ended", timeout=20)
        self.assertFalse(req["stuck"])
        with open(self.received + "-" + self.users["b"]) as f:
            kept = json.loads(f.read())
        self.assertEqual(len(kept["blob"]), 300 * 1024)
        self.assertEqual(kept["secret"]["token"], "s3cr3t-" + self.users["b"], "deescalate gets the secret")

    def test_a_secret_in_step_output_is_shown_to_nobody(self):
        rid = self.active_big_grant()
        secret = "s3cr3t-" + self.users["a"]
        for role in ("a", "b", None):
            shown = self.ok(role, "show", rid, "--json").stdout
            self.assertNotIn(secret, shown, f"show as {role}")
            self.assertIn('"(secret)"', shown)
        self.assertNotIn(secret, self.ok(None, "audit", "export").stdout)
        with sqlite_ro(self.store) as db:
            data = " ".join(d for (d,) in db.execute("SELECT data FROM events WHERE request_id = ?", (rid,)))
        self.assertNotIn(secret, data, "the append-only log never holds it")

    def test_only_one_pending_extension_per_grant_and_it_must_use_an_allowed_duration(self):
        rid = self.active_big_grant(duration="1m")
        self.assert_refused(self.run_as("a", "extend", rid, "--duration", "5m"), 65, "not one of the allowed values")
        self.ok("a", "extend", rid, "--duration", "1h")
        self.assert_refused(self.run_as("a", "extend", rid, "--duration", "2m"), 65, "already has a pending extension")

    def test_handlers_test_as_root_ignores_a_planted_sdk_directory(self):
        # The old fixed path of the SDK for root's `handlers test`, made first by a user with a sitecustomize in it.
        planted = "/tmp/symtui-sdk-0"
        marker = os.path.join(self.dir, "planted-ran")
        if os.path.lexists(planted):
            if os.lstat(planted).st_uid != 0:
                self.skipTest(f"{planted} exists already and is not root's")
            shutil.rmtree(planted)          # an older symtui's SDK cache (root's): made again on demand
        # What user b can do: make the directory and put a sitecustomize (imported from every PYTHONPATH entry) in it.
        os.makedirs(os.path.join(planted, "symtui_sdk"))
        with open(os.path.join(planted, "sitecustomize.py"), "w") as f:
            f.write(f"open({marker!r}, 'w').write('ran as uid %d' % __import__('os').getuid())\n")
        uid = pwd.getpwnam(self.users["b"]).pw_uid
        for path in (planted, os.path.join(planted, "symtui_sdk"), os.path.join(planted, "sitecustomize.py")):
            os.chown(path, uid, -1)
        os.chmod(planted, 0o777)
        try:
            r = self.run_as(None, "handlers", "test", "handled", "on_request")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertFalse(os.path.exists(marker), "code planted by a user ran as root")
        finally:
            shutil.rmtree(planted, ignore_errors=True)

    def test_a_handler_in_a_directory_others_can_write_is_refused(self):
        shared = os.path.join(self.dir, "shared")
        os.makedirs(shared, exist_ok=True)
        os.chmod(shared, 0o777)
        try:
            impl = os.path.join(shared, "impl.py")
            shutil.copy(self.impl, impl)
            os.chmod(impl, 0o644)
            cfg = self.config + ".shared"
            with open(self.config) as f:
                text = f.read().replace(self.impl, impl)
            with open(cfg, "w") as f:
                f.write(text)
            os.chmod(cfg, 0o644)
            r = subprocess.run([self.bin, "--config", cfg, "handlers", "test", "handled", "on_request"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
            self.assertIn("writable by group or others", r.stdout + r.stderr)
        finally:
            shutil.rmtree(shared, ignore_errors=True)

    def test_audit_verify_of_a_missing_store_is_an_error_not_ok(self):
        r = self.run_as("a", "audit", "verify", "--db", os.path.join(self.dir, "typo", "backup.db"))
        self.assert_refused(r, 66, "no store")
        self.assertNotIn("ok", r.stdout)


class LineResult(unittest.TestResult):
    """One line per test (a test that fails in its body and its tearDown still counts once)."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.outcome = {}      # test id -> "ok" | "FAIL" | "ERROR" | "skip" | "xfail" | "XPASS"
        self.details = []

    def startTest(self, test):
        super().startTest(test)
        self.t0 = time.time()
        self.current = None

    def stopTest(self, test):
        super().stopTest(test)
        if self.current is not None:
            status, extra = self.current
            name = f"{type(test).__name__}.{test._testMethodName}"
            note = getattr(test, "note", None)     # a figure a test measured (latency, …)
            if note:
                extra += f" [{note}]"
            self.stream.write(f"{status:5} {name} ({time.time() - self.t0:.1f}s){extra}\n")
            self.stream.flush()
            self.outcome[test.id()] = status

    def set(self, status, extra=""):
        # The worst outcome wins: a passing body with a failing tearDown is a failure.
        rank = {"ok": 0, "xfail": 0, "skip": 1, "FAIL": 2, "ERROR": 2, "XPASS": 2}
        if self.current is None or rank[status] > rank[self.current[0]]:
            self.current = (status, extra)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.set("ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.set("FAIL")
        self.details.append((test, self.failures[-1][1]))

    def addError(self, test, err):
        super().addError(test, err)
        self.details.append((test, self.errors[-1][1]))
        if not isinstance(test, unittest.TestCase):   # setUpClass / tearDownClass
            self.stream.write(f"ERROR {test}\n")
            self.outcome[str(test)] = "ERROR"
            return
        self.set("ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if isinstance(test, unittest.TestCase):
            self.set("skip", f": {reason}")
        else:
            self.stream.write(f"skip  {test}: {reason}\n")
            self.outcome[str(test)] = "skip"

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.set("xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.set("XPASS", " (marked expectedFailure but passed)")

    def count(self, *statuses):
        return sum(1 for v in self.outcome.values() if v in statuses)


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", action="append", default=[], help="only tests whose Class.name contains this")
    opts = ap.parse_args()
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    # Suites kept in their own files (they import the shared harness, as this file does).
    import notifications_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(notifications_e2e))
    import handler_messages_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(handler_messages_e2e))
    import stats_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(stats_e2e))
    import console_cmdline_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(console_cmdline_e2e))
    import fleet_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(fleet_e2e))
    import fleet_daemon_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(fleet_daemon_e2e))
    import checkpoint_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(checkpoint_e2e))
    import fleet_reporting_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(fleet_reporting_e2e))
    import console_feed_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(console_feed_e2e))
    import hosts_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(hosts_e2e))
    import fleet_faults_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(fleet_faults_e2e))
    import fleet_failover_e2e
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(fleet_failover_e2e))
    if opts.k:
        def keep(s):
            out = unittest.TestSuite()
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    sub = keep(t)
                    if sub.countTestCases():
                        out.addTest(sub)
                elif any(k in f"{type(t).__name__}.{t._testMethodName}" for k in opts.k):
                    out.addTest(t)
            return out
        suite = keep(suite)
    print(f"symtui e2e: {SOURCE_BIN}", flush=True)
    result = LineResult(sys.stdout)
    t0 = time.time()
    suite.run(result)
    for test, tb in result.details:
        print(f"\n==== {test}\n{tb}", end="")
    cleanup_everything()
    print(f"\n({time.time() - t0:.0f}s)")
    passed, failed, skipped = result.count("ok", "xfail"), result.count("FAIL", "ERROR", "XPASS"), result.count("skip")
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
