"""End-to-end: the stored, signed checkpoint of the verified audit prefix (`symtui audit verify` as root, a real root
daemon with reporting.hmac_key_file). Loaded by run.py."""

import json
import os
import shutil
import sqlite3
import subprocess

from symtui_harness import PYTHON, SymtuiCase as E2ECase, sqlite_ro, with_audit_key


def tamper(store, sql, *args):
    """What someone who can write the store file does: drops the append-only triggers and runs `sql`."""
    db = sqlite3.connect(store, timeout=10)
    try:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        db.execute(sql, args)
        db.commit()
    finally:
        db.close()


class AuditCheckpointTests(E2ECase):
    """A full verify records (seq, hash, time) signed by the daemon; the next one checks it and only what is new."""

    REQUESTERS = ["a"]
    APPROVERS = ["b"]

    @classmethod
    def config_text(cls):
        return with_audit_key(cls, super().config_text())

    def setUp(self):
        # A fresh store per test: the checkpoint is per store, and some tests tamper with it.
        shutil.rmtree(os.path.dirname(self.store), ignore_errors=True)
        super().setUp()

    def verify(self, *args):
        return self.run_as(None, "audit", "verify", "--key", self.key, *args)

    def verify_json(self, *args):
        r = self.verify("--json", *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)

    def head(self):
        with sqlite_ro(self.store) as db:
            return db.execute("SELECT max(seq) FROM events").fetchone()[0]

    def stored_checkpoint(self):
        with sqlite_ro(self.store) as db:
            row = db.execute("SELECT value FROM meta WHERE key='audit_checkpoint'").fetchone()
        return json.loads(row[0]) if row else None

    def some_events(self, n=2):
        for i in range(n):
            rid = self.request("a", "note", reason=f"checkpoint {i}")
            self.ok("b", "approve", rid, "--reason", "ok")

    def test_a_full_verify_records_a_signed_checkpoint_at_the_head(self):
        self.some_events()
        v = self.verify_json()
        head = self.head()
        self.assertEqual((v["from_seq"], v["checked"], v["head_seq"]), (1, head, head))
        self.assertIsNone(v["checkpoint"], "the first verify has no checkpoint to start from")
        self.assertEqual(v["checkpoint_recorded"]["seq"], head)
        self.assertTrue(v["checkpoint_recorded"]["signed"])
        stored = self.stored_checkpoint()
        self.assertEqual((stored["seq"], stored["hash"]), (head, v["head_hash"]))
        self.assertEqual(len(stored["hmac"]), 64, "signed with the daemon's key")

    def test_the_next_verify_checks_only_the_new_events_and_says_which(self):
        self.some_events()
        first = self.verify_json()
        self.some_events(1)
        head = self.head()
        r = self.verify()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"(seq {first['head_seq'] + 1}…{head})", r.stdout)
        self.assertIn(f"seq 1…{first['head_seq']} verified before", r.stdout)
        self.assertIn(f"checkpoint recorded at seq {head}", r.stdout)
        again = self.verify_json()
        self.assertEqual((again["from_seq"], again["checked"]), (head + 1, 0), "nothing new: nothing read")
        self.assertEqual(again["checkpoint"]["seq"], head)
        self.assertIsNone(again["checkpoint_recorded"], "the checkpoint stays where it is")

    def test_a_row_tampered_before_the_checkpoint_is_found_by_full(self):
        self.some_events()
        with sqlite_ro(self.store) as db:
            seq = db.execute("SELECT min(seq) FROM events WHERE type='approve'").fetchone()[0]
        self.verify_json()
        self.assertGreater(self.head(), seq)
        tamper(self.store, "UPDATE events SET reason='nothing to see' WHERE seq=?", seq)
        self.assertEqual(self.verify().returncode, 0, "the daily verify does not read what the checkpoint covers")
        r = self.verify("--full")
        self.assert_refused(r, 65, f"seq {seq}: edited")

    def test_a_forged_checkpoint_is_refused_naming_it(self):
        self.some_events()
        v = self.verify_json()
        self.some_events(1)
        # Moved forward over events nobody verified, without the key: its hmac no longer fits.
        forged = dict(self.stored_checkpoint())
        with sqlite_ro(self.store) as db:
            forged["seq"], forged["hash"] = db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        tamper(self.store, "UPDATE meta SET value=? WHERE key='audit_checkpoint'", json.dumps(forged))
        r = self.verify()
        self.assert_refused(r, 65, f"seq {forged['seq']}: bad checkpoint")
        self.assertIn("does not match the key", r.stderr)
        # One with the signature stripped is refused the same way.
        forged["hmac"] = None
        tamper(self.store, "UPDATE meta SET value=? WHERE key='audit_checkpoint'", json.dumps(forged))
        self.assert_refused(self.verify(), 65, "bad checkpoint")
        # --full does not trust it, checks everything, and records a good one.
        full = self.verify_json("--full")
        self.assertEqual((full["from_seq"], full["checkpoint_recorded"]["seq"]), (1, self.head()))
        self.assertGreater(full["head_seq"], v["head_seq"])

    def test_a_row_changed_at_the_checkpoint_seq_is_reported_there(self):
        self.some_events()
        v = self.verify_json()
        tamper(self.store, "UPDATE events SET hash=? WHERE seq=?", "0" * 64, v["head_seq"])
        self.assert_refused(self.verify(), 65, f"seq {v['head_seq']}: differs")

    def test_without_the_key_the_checkpoint_is_neither_used_nor_moved(self):
        self.some_events()
        v = self.verify_json()
        self.some_events(1)
        r = self.run_as(None, "audit", "verify", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        plain = json.loads(r.stdout)
        self.assertEqual((plain["from_seq"], plain["checkpoint"], plain["checkpoint_recorded"]), (1, None, None))
        self.assertTrue(any("--key" in n for n in plain["notes"]), plain["notes"])
        self.assertEqual(self.stored_checkpoint()["seq"], v["head_seq"])

    def test_a_user_who_reads_through_the_daemon_verifies_everything_and_records_nothing(self):
        self.some_events()
        r = self.run_as("a", "audit", "verify", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual((out["from_seq"], out["checkpoint_recorded"]), (1, None))
        self.assertIsNone(self.stored_checkpoint())

    def test_only_root_and_store_group_may_ask_the_daemon_for_a_checkpoint(self):
        self.some_events(1)
        with sqlite_ro(self.store) as db:
            seq, h = db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        line = json.dumps({"event": "audit_checkpoint", "seq": seq, "hash": h, "hmacs_checked": True})
        script = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
                  "s.sendall(sys.argv[2].encode()+b'\\n')\nprint(s.makefile().readline())")
        r = self.run_as_program("a", [PYTHON, "-c", script, self.socket, line])
        reply = json.loads(r.stdout)
        self.assertEqual((reply["ok"], reply["exit"]), (False, 77), reply)
        self.assertIsNone(self.stored_checkpoint())

    def run_as_program(self, role, argv):
        cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups"] + argv
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=self.dir)
