#!/usr/bin/env python3
"""kill -9 chaos: SIGKILL the daemon at random moments while requests, approvals, escalations and expiries flow.

Run as root:  SYMTUI_BIN=$PWD/.build/debug/symtui python3 Tests/reliability/chaos.py --cycles N [--seconds S]

Real throwaway users (6 requesters, 3 approvers in an `oncall` group) and a real `unix_group` strategy on a
throwaway group; grants last 1-3 s, a second flow's pending requests expire after 2 s. Each cycle: traffic runs,
the daemon gets SIGKILL at a random moment, traffic goes on against the dead socket for a moment, the daemon is
restarted, traffic stops, and once recovery has finished (no grant approved/escalating/deescalating) the
invariants are checked:
  group     every member of the target group has an active grant, and every active grant's user is a member
            (`getent group` against `symtui list --state active --json`)
  approvals every `symtui approve` that exited 0 is in the request's `approvals`
  decided   at most one deciding approve/deny event per request (required_approvals is 1)
  audit     `symtui audit verify` exits 0
  recovery  the daemon restarts within 10 s and the grants settle within 20 s; no CLI call hangs (30 s)
Prints one line per violation and a closing `chaos: N passed, M failed` (cycles); exit 1 when any failed.
"""

import argparse
import collections
import json
import os
import random
import shutil
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig as R  # noqa: E402

REQUESTERS = [f"r{i}" for i in range(6)]
APPROVERS = [f"ap{i}" for i in range(3)]
TRANSITIONAL = ("approved", "escalating", "deescalating")


class Traffic:
    """Background CLI traffic as real users; records what the CLI said."""

    def __init__(self, rig, rng):
        self.rig, self.rng = rig, rng
        self.on = threading.Event()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.pending = []                 # recent request ids that may still be pending
        self.active = []                  # recent ids that may be active
        self.ok_approvals = []            # (rid, user) for every approve that exited 0
        self.codes = collections.Counter()
        self.hangs = []
        self.bad_stderr = []
        self.calls = 0
        self.busy = 0                     # threads inside a CLI call

    def call(self, role, *args):
        with self.lock:
            self.busy += 1
        try:
            r = R.cli(self.rig, role, *args)
        finally:
            with self.lock:
                self.busy -= 1
        with self.lock:
            self.calls += 1
            self.codes[(args[0], r.returncode)] += 1
            if r.returncode is None:
                self.hangs.append(" ".join(map(str, args)))
            elif r.returncode != 0:
                for line in r.stderr.splitlines():
                    if not line.startswith("symtui: "):
                        self.bad_stderr.append((" ".join(map(str, args)), line))
        return r

    def requester(self):
        while not self.stop.is_set():
            if not self.on.wait(0.1):
                continue
            role = self.rng.choice(REQUESTERS)
            if self.rng.random() < 0.85:
                r = self.call(role, "request", "grp", "tgt", "--duration", f"{self.rng.randint(1, 3)}s", "--reason", "chaos")
            else:
                r = self.call(role, "request", "ttl", "--reason", "chaos ttl")
            if r.returncode == 0 and r.stdout.strip().isdigit():
                with self.lock:
                    self.pending.append((int(r.stdout.strip()), role))
                    self.pending = self.pending[-40:]

    def approver(self):
        while not self.stop.is_set():
            if not self.on.wait(0.1):
                continue
            with self.lock:
                if not self.pending:
                    item = None
                else:
                    item = self.pending[self.rng.randrange(len(self.pending))]
            if item is None:
                time.sleep(0.02)
                continue
            rid, requester = item
            role = self.rng.choice(APPROVERS)
            if self.rng.random() < 0.1:
                self.call(role, "deny", rid, "--reason", "chaos deny")
                continue
            r = self.call(role, "approve", rid, "--reason", f"chaos by {role}")
            if r.returncode == 0:
                with self.lock:
                    self.ok_approvals.append((rid, self.rig.users[role]))
                    self.active.append((rid, requester))
                    self.active = self.active[-20:]
                    if item in self.pending:
                        self.pending.remove(item)

    def ender(self):
        while not self.stop.is_set():
            if not self.on.wait(0.1):
                continue
            time.sleep(self.rng.uniform(0.1, 0.4))
            with self.lock:
                item = self.rng.choice(self.active) if self.active else None
            if item is None:
                continue
            rid, requester = item
            if self.rng.random() < 0.5:
                self.call(self.rng.choice(APPROVERS), "revoke", rid, "--reason", "chaos revoke")
            else:
                self.call(requester, "release", rid)

    def quiesce(self, timeout=35):
        self.on.clear()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.busy == 0:
                    return True
            time.sleep(0.02)
        return False


def transitional(rig):
    with R.db(rig) as c:
        return c.execute(f"SELECT id, state FROM requests WHERE flow='grp' AND state IN {TRANSITIONAL}").fetchall()


def settle(rig, timeout=20):
    """Waits for no grant in a transitional state; returns the ones still there (empty when settled)."""
    deadline = time.time() + timeout
    while True:
        t = transitional(rig)
        if not t or time.time() > deadline:
            return t
        time.sleep(0.05)


def check_group(rig):
    """(members without an active grant, active grants without membership), from a snapshot taken while
    nothing was in transition."""
    group = rig.groups["target"]
    for _ in range(100):
        t0 = transitional(rig)
        a1 = sorted((r["id"], r["requester"]) for r in R.list_json(rig, "--state", "active"))
        members = set(rig.group_members(group))
        a2 = sorted((r["id"], r["requester"]) for r in R.list_json(rig, "--state", "active"))
        t1 = transitional(rig)
        if not t0 and not t1 and a1 == a2:
            users = {u for _, u in a1}
            return sorted(members - users), sorted(users - members)
        time.sleep(0.1)
    return None


def diagnose(rig, user, window_ms=60_000):
    """The user's last 6 grants touched in the last minute with their events (time in ms since the first shown, and
    what the strategy said), for a violation report."""
    out = []
    with R.db(rig) as c:
        last = c.execute("SELECT coalesce(max(time), 0) FROM events").fetchone()[0]
        rows = c.execute("SELECT DISTINCT r.id, r.state, r.end_reason FROM requests r JOIN events e ON e.request_id = r.id "
                         "WHERE r.requester=? AND r.flow='grp' AND e.time >= ? AND e.type != 'request' ORDER BY r.id DESC LIMIT 6",
                         (user, last - window_ms)).fetchall()[::-1]
        base = None
        for rid, state, end in rows:
            evs = c.execute("SELECT seq, time, type, data FROM events WHERE request_id=? ORDER BY seq", (rid,)).fetchall()
            steps = []
            for seq, at, typ, data in evs:
                base = at if base is None else base
                d = json.loads(data) if data else {}
                extra = [k for k in ("kept", "already_member", "already_absent", "resumed") if isinstance(d, dict) and d.get(k)]
                g = d.get("gpasswd") if isinstance(d, dict) else None
                if isinstance(g, dict) and g.get("exit_code") != 0:
                    extra.append(f"gpasswd exit {g.get('exit_code')}/{g.get('signal')}: {str(g.get('stderr_tail', ''))[:80]}")
                steps.append(f"{seq}@{at - base}:{typ}" + (f"({','.join(extra)})" if extra else ""))
            out.append(f"#{rid} {state}/{end}: {' '.join(steps)}")
    return "; ".join(out) or "(no grant of this user changed in the last minute)"


def keep_evidence(rig, directory, cycle):
    """A copy of the store (SQLite backup) and the daemon log, for a violation found in `cycle`."""
    if not directory:
        return
    dest = os.path.join(directory, f"cycle-{cycle}")
    os.makedirs(dest, exist_ok=True)
    with R.db(rig) as src, sqlite3.connect(os.path.join(dest, "symtui.db")) as dst:
        src.backup(dst)
    shutil.copy(rig.daemon_log, os.path.join(dest, "daemon.log"))
    print(f"chaos: cycle {cycle}: store and daemon log kept in {dest}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=0, help="also stop after this many seconds (0: no limit)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", metavar="FILE", help="write the summary as JSON here")
    ap.add_argument("--keep", metavar="DIR", help="on a group violation, keep a copy of the store and the daemon log here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("chaos: needs root (useradd, setpriv, a root daemon)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"chaos: seed {seed}, up to {args.cycles} cycles" + (f" or {args.seconds:.0f} s" if args.seconds else ""), flush=True)
    rig = R.make_rig("Chaos", requesters=REQUESTERS, approvers=APPROVERS, extra_groups=["target"], limits=R.LOAD_LIMITS)
    traffic = Traffic(rig, random.Random(seed + 1))
    threads = [threading.Thread(target=f, daemon=True) for f in
               (traffic.requester, traffic.requester, traffic.approver, traffic.approver, traffic.ender)]
    for t in threads:
        t.start()
    violations = []
    failed_cycles = set()
    restarts = []
    settle_times = []
    started = time.time()
    cycle = 0

    def violation(kind, detail):
        violations.append((cycle, kind, detail))
        failed_cycles.add(cycle)
        print(f"chaos: cycle {cycle}: VIOLATION {kind}: {detail}", flush=True)

    checked_approvals = 0
    try:
        while cycle < args.cycles and not (args.seconds and time.time() - started > args.seconds):
            cycle += 1
            traffic.on.set()
            time.sleep(rng.uniform(0.05, 1.2))
            R.kill9(rig)
            time.sleep(rng.uniform(0.0, 0.3))          # traffic meets a dead daemon
            t0 = time.time()
            try:
                rig.start_daemon()
            except AssertionError as e:
                violation("recovery", f"the daemon did not restart after SIGKILL: {e}")
                break
            restarts.append(time.time() - t0)
            time.sleep(rng.uniform(0.1, 0.5))          # traffic against the restarted daemon
            if not traffic.quiesce():
                violation("recovery", "a CLI call still running 35 s after the traffic stopped")
            t1 = time.time()
            left = settle(rig)
            settle_times.append(time.time() - t1)
            if left:
                violation("recovery", f"grants still in transition 20 s after restart: {left[:5]}")
            g = check_group(rig)
            if g is None:
                violation("group", "no stable snapshot of grants and group members within 10 s")
            else:
                without, not_member = g
                if without:
                    violation("group", f"members of the group without an active grant: {without} -- "
                                       + " | ".join(diagnose(rig, u) for u in without))
                if not_member:
                    violation("group", f"active grants whose user is not a member: {not_member} -- "
                                       + " | ".join(diagnose(rig, u) for u in not_member))
                if without or not_member:
                    keep_evidence(rig, args.keep, cycle)
            with traffic.lock:
                new = traffic.ok_approvals[checked_approvals:]
                checked_approvals = len(traffic.ok_approvals)
            if new:
                by_id = {r["id"]: r for r in R.list_json(rig, "--all")}
                for rid, user in new:
                    req = by_id.get(rid)
                    if req is None or user not in [a["user"] for a in req["approvals"]]:
                        violation("approvals", f"approve {rid} as {user} exited 0 but is not in its approvals "
                                               f"({None if req is None else req['approvals']})")
            with R.db(rig) as c:
                twice = c.execute("SELECT request_id, count(*) FROM events WHERE type IN ('approve','deny') "
                                  "GROUP BY request_id HAVING count(*) > 1").fetchall()
            if twice:
                violation("decided", f"requests with more than one approve/deny event: {twice[:5]}")
            v = R.cli(rig, None, "audit", "verify")
            if v.returncode != 0:
                violation("audit", f"audit verify exit {v.returncode}: {(v.stdout + v.stderr).strip()[:300]}")
            with traffic.lock:
                hangs, traffic.hangs = traffic.hangs, []
                bad, traffic.bad_stderr = traffic.bad_stderr, []
            if hangs:
                violation("recovery", f"CLI calls hung > 30 s: {hangs[:3]}")
            if bad:
                violation("stderr", f"error lines not starting 'symtui: ': {bad[:3]}")
            if cycle % 10 == 0:
                print(f"chaos: {cycle} cycles, {traffic.calls} CLI calls, {len(violations)} violations, "
                      f"{time.time() - started:.0f} s", flush=True)
    finally:
        traffic.stop.set()
        traffic.on.set()
        for t in threads:
            t.join(timeout=40)
        elapsed = time.time() - started
        with R.db(rig) as c:
            states = dict(c.execute("SELECT state || coalesce('/' || end_reason, ''), count(*) FROM requests GROUP BY 1"))
            events = c.execute("SELECT count(*) FROM events").fetchone()[0]
        summary = {
            "seed": seed, "cycles": cycle, "failed_cycles": len(failed_cycles), "violations": len(violations),
            "seconds": round(elapsed, 1), "cli_calls": traffic.calls, "ok_approvals": len(traffic.ok_approvals),
            "events": events, "request_states": states,
            "restart_s_max": round(max(restarts, default=0), 3), "restart_s_median": round(sorted(restarts)[len(restarts) // 2], 3) if restarts else 0,
            "settle_s_max": round(max(settle_times, default=0), 3),
            "cli_exit_codes": {f"{k[0]}:{k[1]}": n for k, n in sorted(traffic.codes.items(), key=str)},
        }
        print("chaos: summary " + json.dumps(summary, sort_keys=True), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"summary": summary, "violations": violations}, f, indent=2)
        R.teardown(rig)
    print(f"chaos: {cycle - len(failed_cycles)} passed, {len(failed_cycles)} failed")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
