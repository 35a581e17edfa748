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
  holders   no process of a requester holds the target group while they have no active grant (a holder thread keeps
            `sg GROUP -c 'exec sleep 600'` running as members; deescalation must end them: end_sessions terminate)
  recovery  the daemon restarts within 10 s and the grants settle within 20 s; no CLI call hangs (30 s)
Prints one line per violation and a closing `chaos: N passed, M failed` (cycles); exit 1 when any failed.
"""

import argparse
import collections
import grp
import json
import os
import pwd
import random
import shutil
import signal
import sqlite3
import subprocess
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
        self.holders = []                 # Popen of `sg GROUP -c 'exec sleep 600'` started by holder()

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

    def holder(self):
        """Keeps up to two processes holding the group per requester who is a member now (started like a user would)."""
        group = self.rig.groups["target"]
        while not self.stop.is_set():
            if not self.on.wait(0.1):
                continue
            members = set(self.rig.group_members(group))
            role = self.rng.choice(REQUESTERS)
            user = self.rig.users[role]
            with self.lock:
                self.holders = [p for p in self.holders if p.poll() is None]
                mine = sum(1 for p in self.holders if p.args[2] == user)
            if user in members and mine < 2:
                p = subprocess.Popen(["setpriv", "--reuid", user, "--regid", "users", "--clear-groups", "sg", group, "-c",
                                      "exec sleep 600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
                with self.lock:
                    self.holders.append(p)
            time.sleep(0.05)

    def kill_holders(self):
        """Every process of the requesters (the holders and what sg started)."""
        uids = {pwd.getpwnam(self.rig.users[r]).pw_uid for r in REQUESTERS}
        for pid in [q for q, uid, _ in processes_holding(None) if uid in uids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with self.lock:
            for p in self.holders:
                try:
                    p.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass

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


def processes_holding(gid):
    """(pid, real uid, command) of every live process; only those holding gid (supplementary or as gid) unless None."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except (OSError, ValueError):
            continue
        if status.get("State", "").startswith("Z"):
            continue
        groups = [int(x) for x in status.get("Groups", "").split()] + [int(x) for x in status.get("Gid", "").split()[:3]]
        if gid is None or gid in groups:
            out.append((int(name), int(status.get("Uid", "0").split()[0]), status.get("Name", "")))
    return out


def check_holders(rig):
    """Processes of requesters holding the target group without an active grant: [(user, pid, command)]."""
    gid = grp.getgrnam(rig.groups["target"]).gr_gid
    users = {pwd.getpwnam(rig.users[r]).pw_uid: rig.users[r] for r in REQUESTERS}
    for _ in range(100):
        t0 = transitional(rig)
        granted = {r["requester"] for r in R.list_json(rig, "--state", "active")}
        found = [(users[uid], pid, cmd) for pid, uid, cmd in processes_holding(gid) if uid in users]
        t1 = transitional(rig)
        if not t0 and not t1:
            return [f for f in found if f[0] not in granted]
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
               (traffic.requester, traffic.requester, traffic.approver, traffic.approver, traffic.ender, traffic.holder)]
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
            h = check_holders(rig)
            if h is None:
                violation("holders", "no stable snapshot of grants and processes within 10 s")
            elif h:
                violation("holders", f"processes holding the group without an active grant: {h[:5]} -- "
                                     + " | ".join(diagnose(rig, u) for u in sorted({u for u, _, _ in h})))
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
        traffic.kill_holders()
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
