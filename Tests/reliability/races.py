#!/usr/bin/env python3
"""Races against a live root daemon, as real throwaway users.

Run as root:  SYMTUI_BIN=$PWD/.build/debug/symtui python3 Tests/reliability/races.py [deciders] [twodaemons] [sigstop]
  deciders    20 approver processes (`symtui events -`) decide the same 1,000 requests in shuffled orders:
              each request is decided exactly once (one winner, one approve/deny event), the losers get exit 65,
              nobody sees SQLITE_BUSY / "database is locked" (--deciders P --requests N to change the size)
  twodaemons  two daemons started at the same instant on one store (fresh and existing stores, --trials T
              each): exactly one serves, the other exits 69 with a `symtui: ` line
  sigstop     SIGSTOP the daemon at the moment it holds the SQLite write lock (seen by a BEGIN IMMEDIATE that
              fails at once), then: what do readers (`list`, `show` through the daemon as users; `audit verify`
              of the file as root) and writers (`request`, `approve`) see, for how long; after SIGCONT: do the
              waiting calls complete, is the store intact (`audit verify`)
Prints a result line per check and a closing `races: N passed, M failed`; exit 1 when any failed.
"""

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig as R  # noqa: E402

RESULTS = []


def result(name, ok, detail):
    RESULTS.append((name, ok))
    print(f"races: {'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


def deciders(rig, n_procs, n_requests):
    lines = "".join(json.dumps({"event": "request", "flow": "note", "fields": {"reason": f"race {i}"}}) + "\n"
                    for i in range(n_requests))
    t0 = time.time()
    r = R.cli(rig, "a", "events", "-", input=lines, timeout=120)
    answers = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    ids = [a["request"]["id"] for a in answers if a.get("ok")]
    if r.returncode != 0 or len(set(ids)) != n_requests:
        result("deciders", False, f"creating {n_requests} requests: exit {r.returncode}, {len(ids)} ids; {r.stderr[-300:]}")
        return
    created = time.time() - t0
    rng = random.Random(11)
    procs = []
    t0 = time.time()
    for i in range(n_procs):
        role = f"ap{i}"
        order = ids[:]
        rng.shuffle(order)
        text = "".join(json.dumps({"event": rng.choice(["approve", "deny"]), "request": x, "reason": f"by {role}"}) + "\n"
                       for x in order)
        cmd = ["setpriv", "--reuid", rig.users[role], "--regid", "users", "--init-groups",
               rig.bin, "--config", rig.config, "events", "-"]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=rig.dir, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        procs.append((role, p, text))
    out = {}

    def drive(role, p, text):
        try:
            out[role] = p.communicate(text, timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
            out[role] = (o, e + "\n(timed out)")
    threads = [threading.Thread(target=drive, args=x) for x in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    wins = {x: 0 for x in ids}
    problems = []
    for role, p, _ in procs:
        o, e = out[role]
        for bad in ("database is locked", "sqlite_busy", "busy"):
            if bad in (o + e).lower():
                problems.append(f"{role} saw {bad!r}")
        if e.endswith("(timed out)"):
            problems.append(f"{role} timed out")
        ans = [json.loads(l) for l in o.splitlines() if l.strip()]
        if len(ans) != n_requests:
            problems.append(f"{role}: {len(ans)} answers")
        for a in ans:
            if a.get("ok"):
                wins[a["request"]["id"]] += 1
            elif a.get("exit") != 65:
                problems.append(f"{role}: a lost race answered {a}")
    not_once = [x for x, n in wins.items() if n != 1]
    with R.db(rig) as c:
        ev = dict(c.execute("SELECT request_id, count(*) FROM events WHERE type IN ('approve','deny') GROUP BY request_id"))
    not_one_event = [x for x in ids if ev.get(x) != 1]
    with open(rig.daemon_log, errors="replace") as f:
        if "database is locked" in f.read():
            problems.append("the daemon log says 'database is locked'")
    ok = not problems and not not_once and not not_one_event
    result("deciders", ok, f"{n_procs} processes x {n_requests} requests ({n_procs * n_requests} decisions) in "
                           f"{elapsed:.1f} s ({n_procs * n_requests / elapsed:.0f}/s; creating took {created:.1f} s); "
                           f"won exactly once: {n_requests - len(not_once)}/{n_requests}; one decision event: "
                           f"{n_requests - len(not_one_event)}/{n_requests}; problems: {problems[:5]}")


def two_daemons(rig, trials):
    rig.stop_daemon()
    outcomes = []
    bad = []
    for i in range(trials * 2):
        fresh = i < trials
        store_dir = os.path.join(rig.dir, f"two{i}" if fresh else "two-existing")
        cfg = os.path.join(rig.dir, f"two{i}.json5")
        with open(rig.config) as f:
            text = f.read().replace(rig.store, os.path.join(store_dir, "symtui.db"))
        with open(cfg, "w") as f:
            f.write(text)
        barrier = threading.Barrier(2)
        procs = [None, None]

        def start(k):
            barrier.wait()
            procs[k] = subprocess.Popen([rig.bin, "--config", cfg, "daemon"], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ts = [threading.Thread(target=start, args=(k,)) for k in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for p in procs:
            R.harness.STARTED_PIDS.append(p.pid)
        time.sleep(1.5)
        codes = [p.poll() for p in procs]
        serving = [p for p in procs if p.poll() is None]
        exited = [p for p in procs if p.poll() is not None]
        errs = [p.stderr.read() if p.poll() is not None else "" for p in procs]
        answer = subprocess.run([rig.bin, "--config", cfg, "list", "--json"], capture_output=True, text=True, timeout=20)
        for p in serving:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for p in procs:
            R.harness.STARTED_PIDS.remove(p.pid)
        outcomes.append(tuple(sorted(str(c) for c in codes)))
        ok = (len(serving) == 1 and len(exited) == 1 and exited[0].returncode == 69 and answer.returncode == 0
              and all(l.startswith("symtui: ") for e in errs for l in e.splitlines()))
        if not ok:
            bad.append(f"trial {i} ({'fresh' if fresh else 'existing'} store): exit codes {codes}, "
                       f"stderr {[e.strip()[:200] for e in errs]}, list exit {answer.returncode}")
    counts = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    result("twodaemons", not bad, f"{len(outcomes)} trials ({trials} fresh stores, {trials} on one existing store): "
                                  f"outcomes {counts} (None = still serving); bad: {bad[:3]}")
    rig.start_daemon()


def write_lock_held(store):
    c = sqlite3.connect(store, timeout=0, isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as e:
        return "locked" in str(e) or "busy" in str(e)
    finally:
        c.close()


def sigstop(rig, hold):
    # Load: a stream of requests through one events process, so that the daemon is often inside a write.
    load_text = "".join(json.dumps({"event": "request", "flow": "note", "fields": {"reason": f"load {i}"}}) + "\n"
                        for i in range(20000))
    load = subprocess.Popen(["setpriv", "--reuid", rig.users["b"], "--regid", "users", "--init-groups",
                             rig.bin, "--config", rig.config, "events", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=rig.dir)
    threading.Thread(target=lambda: load.communicate(load_text, timeout=600), daemon=True).start()
    pending = rig.request("a", "note", reason="decide me while the daemon is stopped")
    pid = rig.daemon.pid
    caught = None
    for attempt in range(1, 2001):
        time.sleep(random.uniform(0, 0.003))
        os.kill(pid, signal.SIGSTOP)
        if write_lock_held(rig.store):
            caught = attempt
            break
        os.kill(pid, signal.SIGCONT)
    load.kill()
    if caught is None:
        os.kill(pid, signal.SIGCONT)
        result("sigstop", False, "never caught the daemon holding the write lock in 2,000 tries")
        return
    print(f"races: sigstop: daemon stopped holding the write lock (try {caught}); holding it {hold} s", flush=True)
    calls = {
        "list (reader)": ("a", ["list", "--json"]),
        "show (reader)": ("a", ["show", str(pending), "--json"]),
        "audit verify (root reads the file)": (None, ["audit", "verify"]),
        "request (writer)": ("a", ["request", "note", "--reason", "while stopped"]),
        "approve (writer)": ("c", ["approve", str(pending), "--reason", "while stopped"]),
    }
    seen = {}

    def go(name, role, args):
        t0 = time.time()
        r = R.cli(rig, role, *args, timeout=hold + 60)
        seen[name] = (r.returncode, round(time.time() - t0, 2), (r.stderr or "").strip().splitlines()[-1:] or [""])
    threads = [threading.Thread(target=go, args=(n, role, a)) for n, (role, a) in calls.items()]
    t_stop = time.time()
    for t in threads:
        t.start()
    time.sleep(hold)
    during = {n: v for n, v in seen.items()}
    os.kill(pid, signal.SIGCONT)
    resumed = time.time() - t_stop
    for t in threads:
        t.join()
    after_ok = rig.show(pending)
    verify = R.cli(rig, None, "audit", "verify")
    alive = rig.daemon.poll() is None
    lines = []
    for n in calls:
        code, secs, err = seen[n]
        when = "before SIGCONT" if n in during else f"after SIGCONT (at {resumed:.1f} s)"
        lines.append(f"{n}: exit {code} after {secs} s, {when}; {err[0][:120]!r}")
    for l in lines:
        print(f"races: sigstop: {l}", flush=True)
    # Users read through the daemon (only it opens the store): a stopped daemon is a clear 69 within the read
    # timeout, never a hang. Root may read the file itself and answers at once.
    readers_ok = all(seen[n][0] == 69 and n in during and "did not answer" in seen[n][2][0] for n in calls if "(reader)" in n) \
        and seen["audit verify (root reads the file)"][0] == 0 and "audit verify (root reads the file)" in during
    writers_done = all(seen[n][0] is not None for n in calls if "writer" in n)
    ok = readers_ok and writers_done and alive and verify.returncode == 0 and after_ok["state"] == "approved"
    result("sigstop", ok, f"readers told 69 (users) / answered from the file (root) while stopped: {readers_ok}; writers finished after SIGCONT: "
                          f"{writers_done}; request decided after SIGCONT: {after_ok['state']}; daemon alive: {alive}; "
                          f"audit verify exit {verify.returncode}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="*", default=["deciders", "twodaemons", "sigstop"])
    ap.add_argument("--deciders", type=int, default=20)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--hold", type=float, default=15.0, help="seconds the daemon stays stopped")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("races: needs root", file=sys.stderr)
        return 2
    rig = R.make_rig("Races", requesters=["a", "b"], approvers=["c"] + [f"ap{i}" for i in range(args.deciders)],
                    limits=R.LOAD_LIMITS)
    try:
        if "deciders" in args.which:
            deciders(rig, args.deciders, args.requests)
        if "twodaemons" in args.which:
            two_daemons(rig, args.trials)
        if "sigstop" in args.which:
            sigstop(rig, args.hold)
    finally:
        R.teardown(rig)
    failed = sum(1 for _, ok in RESULTS if not ok)
    print(f"races: {len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
