"""Shared rig for the reliability harnesses: throwaway users/groups, a root daemon, the CLI as those users.

It uses the test harness the end-to-end suite is built on (Tests/harness/symtui_harness.py: SymtuiCase) as a
plain object, so the users, groups, config, daemon start/stop and the at-exit cleanup are exactly the e2e
suite's. Standard library only.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Tests", "harness"))

import symtui_harness as harness  # noqa: E402  (removes the users, groups, daemons and dirs it made at exit)


class RigFailure(Exception):
    pass


# Load runs leave far more requests pending per user than the default `limits.pending_per_user` allows.
LOAD_LIMITS = {"pending_per_user": 10000}


def make_rig(name, requesters=("a", "b"), approvers=("c",), extra_groups=(), config_text=None, start=True, limits=None):
    """A started rig: `rig.users[role]`, `rig.run_as(role, *args)`, `rig.start_daemon()`, `rig.store`…"""
    attrs = {"REQUESTERS": list(requesters), "APPROVERS": list(approvers), "EXTRA_GROUPS": list(extra_groups),
             "START_DAEMON": False, "LIMITS": limits, "runTest": lambda self: None}
    if config_text is not None:
        attrs["config_text"] = classmethod(lambda cls: config_text(cls))
    cls = type(name, (harness.SymtuiCase,), attrs)
    cls.setUpClass()
    rig = cls()
    rig.setUp()
    if start:
        rig.start_daemon()
    return rig


def teardown(rig):
    try:
        if rig.daemon is not None:
            rig.stop_daemon()
    finally:
        type(rig).tearDownClass()


def kill9(rig):
    """SIGKILL the rig's daemon and reap it; returns its pid."""
    p, rig.daemon = rig.daemon, None
    if p is None:
        return None
    try:
        p.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()
    if p.pid in harness.STARTED_PIDS:
        harness.STARTED_PIDS.remove(p.pid)
    return p.pid


def db(rig):
    return sqlite3.connect(f"file:{rig.store}?mode=ro", uri=True, timeout=30)


def store_counts(rig):
    """(events, requests, max(seq)) read straight from the store."""
    if not os.path.exists(rig.store):
        return (0, 0, 0)
    with db(rig) as c:
        return (c.execute("SELECT count(*) FROM events").fetchone()[0],
                c.execute("SELECT count(*) FROM requests").fetchone()[0],
                c.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def cli(rig, role, *args, timeout=30, **kw):
    """Runs the CLI as ROLE; a hang becomes an exit code of None instead of an exception."""
    try:
        return rig.run_as(role, *args, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(e.cmd, None, e.stdout or "", (e.stderr or "") + "\n(timed out)")


def list_json(rig, *args):
    r = cli(rig, None, "list", "--json", "--limit", "100000", *args)
    if r.returncode != 0:
        raise RigFailure(f"list {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def wait_socket(rig, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = cli(rig, None, "list", "--json", "--limit", "1", timeout=10)
        if r.returncode == 0:
            return True
        time.sleep(0.05)
    return False
