#!/usr/bin/env python3
"""Figures for end_sessions: from a revoke to the last process holding the group gone.

Runs as root with a real daemon and throwaway users, like the end-to-end tests (it reuses their harness):
GRANTS grants of a unix_group target, one after the other, each with PROCS processes of the requester holding the
group (`sg GROUP -c 'exec sleep 600'`). For each grant it measures, from the moment `symtui revoke` is run:
  - removed: until the user is no longer a member of the group (`getent group`),
  - gone:    until no process of the user holds the group any more (polled in /proc every 2 ms),
and prints p50/p99/max of both and of gone - removed (what ending the sessions adds).

usage: SYMTUI_BIN=.build/release/symtui python3 scripts/bench-end-sessions.py [GRANTS] [PROCS]
"""
import os
import statistics
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "e2e"))
import run  # noqa: E402

GRANTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
PROCS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Bench(run.EndSessionsTests):
    def test_revoke_to_last_holder_gone(self):
        g, user = self.groups["target"], self.users["a"]
        removed, gone = [], []
        for _ in range(GRANTS):
            rid = self.grant("a", "grpend", "tgt", "1h")
            ps = [self.spawn("a", "sg", g, "-c", "exec sleep 600", init_groups=False) for _ in range(PROCS)]
            holders = [pid for p in ps for pid in self.wait_holding(p, g)]
            self.assertEqual(len(holders), PROCS)
            t0 = time.monotonic()
            revoke = subprocess.Popen(["setpriv", "--reuid", self.users["c"], "--regid", "users", "--init-groups", self.bin,
                                       "--config", self.config, "revoke", str(rid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t_removed = None
            while True:
                now = time.monotonic()
                if t_removed is None and user not in self.group_members(g):
                    t_removed = now
                if not any(self.holds_group(pid, g) and os.path.exists(f"/proc/{pid}") for pid in holders):
                    gone.append(now - t0)
                    removed.append((t_removed or now) - t0)
                    break
                if now - t0 > 30:
                    self.fail("processes still hold the group 30 s after the revoke")
                time.sleep(0.002)
            self.assertEqual(revoke.wait(timeout=10), 0)
            self.wait_state(rid, "ended", timeout=10)
            for p in ps:
                p.wait(timeout=5)
            self.started.clear()
        adds = [b - a for a, b in zip(removed, gone)]
        print(f"\nend_sessions figures: {GRANTS} grants x {PROCS} processes (unix_group, terminate)")
        for name, v in (("revoke -> membership removed", removed), ("revoke -> last holder gone", gone),
                        ("membership removed -> last holder gone", adds)):
            print(f"  {name:40s} p50 {pct(v, 50) * 1000:7.1f} ms   p99 {pct(v, 99) * 1000:7.1f} ms   "
                  f"max {max(v) * 1000:7.1f} ms   mean {statistics.mean(v) * 1000:7.1f} ms")


if __name__ == "__main__":
    suite = unittest.TestSuite([Bench("test_revoke_to_last_holder_gone")])
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    run.cleanup_everything()
    sys.exit(0 if result.wasSuccessful() else 1)
