"""End-to-end notifications: real channels (a program, HTTP receivers in this process, login terminals, an SMTP
server behind sendmail) fed by a real root daemon. Loaded by run.py."""

import json
import subprocess
import os
import socket
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import shlex

from symtui_harness import PYTHON, Tmux, parse_time
from symtui_harness import SymtuiCase as E2ECase


class Receiver:
    """A local HTTP server that records every POST (path, JSON body); `up=False` reserves the port only."""

    def __init__(self, port=0, up=True):
        self.posts = []
        self.lock = threading.Lock()
        self.server = None
        if port == 0:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
        self.port = port
        if up:
            self.start()

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.posts.append((self.path, json.loads(body), dict(self.headers)))
                self.send_response(202 if self.path.startswith("/v2/enqueue") else 200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path):
        with self.lock:
            return [b for (p, b, _) in self.posts if p == path]


class NotificationCase(E2ECase):
    APPROVERS = ["c", "d"]
    CHANNELS = []          # extra channels; `default` names every channel
    EXTRA_FLOWS = []

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        cls.notify_log = os.path.join(cls.dir, "notify.jsonl")
        path = os.path.join(cls.dir, "notify")
        with open(path, "w") as f:
            f.write(f"""#!{PYTHON}
import sys
data = sys.stdin.read()
with open({cls.notify_log!r}, "a") as f:
    f.write(data.strip() + "\\n")
""")
        os.chmod(path, 0o755)

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        channels = [{"name": "script", "type": "command", "command": os.path.join(cls.dir, "notify")}] + cls.CHANNELS
        cfg["notifications"] = {"channels": channels, "default": [c["name"] for c in channels if not c.get("_flow_only")]}
        for c in channels:
            c.pop("_flow_only", None)
        cfg["flows"] += cls.EXTRA_FLOWS
        return "// notifications e2e\n" + json.dumps(cfg, indent=2) + "\n"

    def script_payloads(self, rid=None, kind=None):
        try:
            with open(self.notify_log) as f:
                recs = [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []
        return [r for r in recs if (rid is None or r["request"]["id"] == rid) and (kind is None or r["kind"] == kind)]

    def wait_for(self, fn, what, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = fn()
            if v:
                return v
            time.sleep(0.05)
        self.fail(f"{what}: nothing within {timeout} s; daemon log: {self.daemon_log_tail()}")

    def notify_events(self, rid):
        return [e for e in self.show(rid)["events"] if e["type"] == "notify"]


class NotificationRoutingTests(NotificationCase):
    """Who hears what, through a `command` channel that records the JSON it gets on stdin."""

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        db = next(f for f in cfg["flows"] if f["name"] == "db")
        cfg["flows"].append(dict(db, name="warn", label="Short grants, warned 3 s before the end", expiry_warning="3s"))
        note = next(f for f in cfg["flows"] if f["name"] == "note")
        cfg["flows"].append(dict(note, name="tiered", label="Forwarded to b after 2 s",
                                 escalation=[{"after": "2s", "approvers": {"users": [cls.users["b"]]}}]))
        return "// routing e2e\n" + json.dumps(cfg, indent=2) + "\n"

    def test_an_unanswered_request_is_forwarded_to_the_next_tier(self):
        rid = self.request("a", "tiered")
        self.assert_refused(self.run_as("b", "approve", rid), 77)
        p = self.wait_for(lambda: self.script_payloads(rid, "forward"), "forward notification", timeout=10)[0]
        self.assertEqual(p["recipients"], [self.users["b"]])
        forwards = [e for e in self.show(rid)["events"] if e["type"] == "request_forward"]
        self.assertEqual(len(forwards), 1)
        self.assertEqual(forwards[0]["actor"], "system")
        self.assertEqual(forwards[0]["requester"], self.users["a"])
        review = json.loads(self.ok("b", "list", "--review", "--json").stdout)
        self.assertIn(rid, [r["id"] for r in review])
        self.ok("b", "approve", rid)
        self.assertEqual(self.show(rid)["state"], "approved")

    def test_the_requester_is_warned_before_the_grant_ends(self):
        rid = self.request("a", "warn", "orders", duration="6s")
        self.ok("c", "approve", rid)
        active = self.wait_state(rid, "active")
        p = self.wait_for(lambda: self.script_payloads(rid, "ending"), "ending notification", timeout=10)[0]
        self.assertEqual(p["recipients"], [self.users["a"]])
        self.assertEqual(p["action"], f"symtui extend {rid} --duration 30m")
        self.assertLess(time.time(), parse_time(active["access_expires_at"]), "the warning comes before the end")
        self.wait_for(lambda: self.script_payloads(rid, "ended"), "ended notification", timeout=15)
        self.assertEqual(len(self.script_payloads(rid, "ending")), 1)

    def test_a_request_tells_its_approvers_and_not_the_requester(self):
        rid = self.request("a", "note", reason="deploy")
        p = self.wait_for(lambda: self.script_payloads(rid, "request"), "request notification")[0]
        self.assertEqual(p["recipients"], sorted([self.users["c"], self.users["d"]]))
        self.assertNotIn(self.users["a"], p["recipients"])
        self.assertEqual(p["action"], f"symtui approve {rid}")
        self.assertEqual(p["request"]["requester"], self.users["a"])
        self.assertIn("deploy", p["text"])

    def test_each_queued_notification_writes_one_notify_event(self):
        rid = self.request("a", "note")
        events = self.notify_events(rid)
        self.assertEqual(len(events), 1, events)
        e = events[0]
        self.assertEqual(e["actor"], "system")
        self.assertEqual(e["data"]["kind"], "request")
        self.assertEqual(e["data"]["recipients"], sorted([self.users["c"], self.users["d"]]))
        self.assertEqual(e["data"]["channels"], ["script"])
        self.assertEqual(e["requester"], self.users["a"])

    def test_the_decision_reaches_the_requester(self):
        rid = self.request("a", "note")
        self.ok("c", "deny", rid, "--reason", "not today")
        p = self.wait_for(lambda: self.script_payloads(rid, "decision"), "decision notification")[0]
        self.assertEqual(p["recipients"], [self.users["a"]])
        self.assertEqual(p["outcome"], "denied")
        self.assertIn("not today", p["text"])
        self.assertIn(self.users["c"], p["text"])

    def test_the_requester_who_cancels_is_not_told_of_it(self):
        rid = self.request("a", "note")
        self.ok("a", "cancel", rid)
        self.assertEqual([e["data"]["kind"] for e in self.notify_events(rid)], ["request"])

    def test_active_and_ended_reach_the_requester(self):
        rid = self.request("a", "db", "orders", duration="1h")
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active")
        active = self.wait_for(lambda: self.script_payloads(rid, "active"), "active notification")[0]
        self.assertEqual(active["recipients"], [self.users["a"]])
        self.assertEqual(active["action"], f"symtui release {rid}")
        self.assertIn("until", active["text"])
        self.ok("c", "revoke", rid, "--reason", "done")
        self.wait_state(rid, "ended")
        ended = self.wait_for(lambda: self.script_payloads(rid, "ended"), "ended notification")[0]
        self.assertEqual(ended["recipients"], [self.users["a"]])
        self.assertIn("revoked", ended["text"])

    def test_self_approval_is_break_glass_to_the_other_approvers(self):
        rid = self.request("c", "selfnote", reason="prod is down")
        self.ok("c", "approve", rid, "--reason", "incident 7")
        p = self.wait_for(lambda: self.script_payloads(rid, "break_glass"), "break_glass notification")[0]
        self.assertEqual(p["recipients"], [self.users["d"]])
        self.assertIn("incident 7", p["text"])

    def test_a_request_expired_unanswered_tells_the_requester(self):
        rid = self.request("a", "ttl")
        p = self.wait_for(lambda: self.script_payloads(rid, "decision"), "expiry notification", timeout=10)[0]
        self.assertEqual(p["outcome"], "expired")


    def test_notify_test_sends_on_a_channel_now(self):
        r = self.ok("a", "notify", "test", "script")
        self.assertIn(f"script: delivered to {self.users['a']}", r.stdout)
        p = self.wait_for(lambda: [x for x in self.script_payloads() if x["kind"] == "test"], "the test payload")[-1]
        self.assertEqual(p["recipients"], [self.users["a"]])

    def test_notify_test_to_someone_else_needs_root(self):
        self.assert_refused(self.run_as("a", "notify", "test", "script", "--to", self.users["c"]), 77, "only root")
        self.ok(None, "notify", "test", "script", "--to", self.users["c"])

    def test_notify_test_of_an_unknown_channel_is_65(self):
        self.assert_refused(self.run_as("a", "notify", "test", "nope"), 65, "no notification channel")


class ChatAndPagerTests(NotificationCase):
    """HTTP channels post the payload shapes their services document."""

    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver()
        cls.keyfile = "/tmp/symtui-e2e-pd-%d.key" % os.getpid()
        with open(cls.keyfile, "w") as f:
            f.write("R0UTINGKEY0123456789abcdef012345\n")
        os.chmod(cls.keyfile, 0o600)
        cls.CHANNELS = [
            {"name": "hooks", "type": "http", "url": cls.rx.url("/json")},
            {"name": "chat", "type": "http", "url": cls.rx.url("/slack"), "format": "slack"},
            {"name": "mm", "type": "http", "url": cls.rx.url("/mm"), "format": "mattermost"},
            {"name": "teams", "type": "http", "url": cls.rx.url("/teams"), "format": "teams"},
            {"name": "pager", "type": "http", "url": cls.rx.url("/v2/enqueue"), "format": "pagerduty",
             "routing_key_file": cls.keyfile},
        ]
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.rx.stop()
        os.unlink(cls.keyfile)

    def for_request(self, path, rid):
        """The posts about request `rid`: chat text names "(request N)", PagerDuty the dedup key."""
        def about(b):
            if "dedup_key" in b:
                return b["dedup_key"] == f"symtui-request-{rid}"
            return f"(request {rid})" in json.dumps(b)
        return [b for b in self.rx.bodies(path) if about(b)]

    def test_json_channel_gets_the_notification_object(self):
        rid = self.request("a", "note")
        b = self.wait_for(lambda: [x for x in self.rx.bodies("/json") if x["request"]["id"] == rid], "json post")[0]
        self.assertEqual(b["kind"], "request")
        self.assertEqual(b["channel"], "hooks")

    def test_slack_mattermost_and_teams_payload_shapes(self):
        rid = self.request("a", "note", reason="ship it")
        slack = self.wait_for(lambda: self.for_request("/slack", rid), "slack post")[0]
        self.assertEqual(list(slack), ["text"])
        self.assertIn(f"symtui approve {rid}", slack["text"])
        mm = self.wait_for(lambda: self.for_request("/mm", rid), "mattermost post")[0]
        self.assertEqual(sorted(mm), ["text", "username"])
        teams = self.wait_for(lambda: self.for_request("/teams", rid), "teams post")[0]
        self.assertEqual(teams["@type"], "MessageCard")
        self.assertEqual(teams["@context"], "https://schema.org/extensions")
        self.assertIn("ship it", teams["text"])
        self.assertTrue(teams["summary"])

    def test_pagerduty_triggers_then_resolves_with_the_same_dedup_key(self):
        rid = self.request("a", "note")
        trig = self.wait_for(lambda: self.for_request("/v2/enqueue", rid), "pagerduty trigger")[0]
        self.assertEqual(trig["event_action"], "trigger")
        self.assertEqual(trig["routing_key"], "R0UTINGKEY0123456789abcdef012345")
        self.assertEqual(trig["dedup_key"], f"symtui-request-{rid}")
        self.assertTrue(trig["payload"]["summary"])
        self.assertTrue(trig["payload"]["source"])
        self.assertIn(trig["payload"]["severity"], ["critical", "error", "warning", "info"])
        self.ok("c", "approve", rid)
        resolve = self.wait_for(lambda: [b for b in self.rx.bodies("/v2/enqueue")
                                         if b.get("dedup_key") == f"symtui-request-{rid}" and b["event_action"] == "resolve"],
                                "pagerduty resolve")[0]
        self.assertEqual(resolve["routing_key"], trig["routing_key"])
        with open(self.daemon_log, errors="replace") as f:
            self.assertNotIn("R0UTINGKEY", f.read(), "the routing key is never logged")

    def test_notify_test_on_pagerduty_triggers_and_resolves(self):
        before = len(self.rx.bodies("/v2/enqueue"))
        self.ok("a", "notify", "test", "pager")
        tests = [b for b in self.rx.bodies("/v2/enqueue")[before:] if b["dedup_key"].startswith("symtui-test-")]
        self.assertEqual([b["event_action"] for b in tests], ["trigger", "resolve"])
        self.assertEqual(tests[0]["dedup_key"], tests[1]["dedup_key"])

    def test_hostile_text_reaches_chat_inert(self):
        rid = self.request("a", "note", reason="\x1b]0;pwn\x07 <!channel> & \r\nBcc: x@evil")
        slack = self.wait_for(lambda: self.for_request("/slack", rid), "slack post")[0]["text"]
        self.assertNotIn("\x1b", slack)
        self.assertNotIn("\x07", slack)
        self.assertNotIn("\r", slack)
        self.assertNotIn("<!channel>", slack)
        self.assertIn("&lt;!channel&gt;", slack)
        self.assertIn("&amp;", slack)


class ChannelDownTests(NotificationCase):
    """A channel that is down for a while: nothing lost, the other channel and the decisions unaffected."""

    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver(up=False)
        cls.CHANNELS = [{"name": "later", "type": "http", "url": cls.rx.url("/hook")}]
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.rx.stop()

    def test_a_dead_channel_delays_nothing_and_catches_up(self):
        rids, decide_ms = [], []
        for _ in range(3):
            rid = self.request("a", "note")
            t0 = time.time()
            self.ok("c", "approve", rid)
            decide_ms.append((time.time() - t0) * 1000)
            rids.append(rid)
        # The working channel got every notification while the other is down.
        for rid in rids:
            self.wait_for(lambda: self.script_payloads(rid, "decision"), f"script decision {rid}")
        status = self.wait_for(lambda: [c for c in json.loads(self.ok(None, "audit", "status", "--json").stdout)["channels"]
                                        if c["channel"] == "later" and c["last_error"]], "a failing channel in audit status")[0]
        self.assertEqual(status["backlog"], 6)
        self.assertIn("refused", status["last_error"])
        text = self.ok(None, "audit", "status").stdout
        self.assertIn("CHANNEL", text)
        self.assertIn("later", text)
        self.assertLess(max(decide_ms), 2000, f"decisions took {decide_ms} ms while a channel was down")
        # The console's status line says so while it lasts.
        tm = Tmux(f"{self.prefix}_down")
        try:
            env = "env -i PATH=/usr/bin:/bin LANG=C.UTF-8 TERM=tmux-256color HOME=/nonexistent"
            tm.start("c", f"{env} setpriv --reuid {self.users['c']} --regid users --init-groups "
                          f"{shlex.quote(self.bin)} --config {shlex.quote(self.config)}", cols=220, rows=30)
            text, t = tm.wait_for("c", lambda s: "notify: later failing" in s, timeout=12)
            self.assertIsNotNone(t, f"the console's status line does not show the failing channel:\n{text}")
        finally:
            tm.kill()
        self.assert_refused(self.run_as(None, "notify", "test", "later"), 69, "refused")
        self.rx.start()
        want = {(rid, k) for rid in rids for k in ("request", "decision")}
        got = self.wait_for(lambda: (lambda s: s if want <= s else None)(
            {(b["request"]["id"], b["kind"]) for b in self.rx.bodies("/hook")}), "the backlog after the channel came back",
            timeout=30)
        self.assertEqual(len(self.rx.bodies("/hook")), len(want), "each notification once (no crash, no duplicate)")
        after = [c for c in json.loads(self.ok(None, "audit", "status", "--json").stdout)["channels"] if c["channel"] == "later"][0]
        self.assertEqual(after["backlog"], 0)
        self.assertIsNone(after["last_error"])


class TerminalTests(NotificationCase):
    """`tty`: real login sessions (login -f on a pty inside tmux, recorded in utmp); each session's output is the
    file `script` writes."""

    REQUESTERS = ["a", "b"]
    CHANNELS = [{"name": "terminals", "type": "tty"}]

    @classmethod
    def setUpClass(cls):
        cls.made_utmp = not os.path.exists("/run/utmp")
        if cls.made_utmp:
            open("/run/utmp", "a").close()
            subprocess.run(["chgrp", "utmp", "/run/utmp"], check=True)
            os.chmod("/run/utmp", 0o664)
        super().setUpClass()
        cls.sessions = {}
        try:
            for role, mesg in (("c", "y"), ("d", "n"), ("b", "y")):
                cls.login(role, mesg)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def login(cls, role, mesg):
        name = cls.users[role]
        subprocess.run(["usermod", "-s", "/bin/sh", "-d", cls.dir, name], check=True, capture_output=True)
        out = os.path.join(cls.dir, f"tty-{role}.out")
        sock = f"{cls.prefix}_{role}"
        subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "30",
                        f"script -qfc 'login -f {name}' {out}"], check=True)
        cls.sessions[role] = (sock, out)
        deadline = time.time() + 10
        while time.time() < deadline:
            who = subprocess.run(["who"], capture_output=True, text=True).stdout
            if any(l.split()[:1] == [name] for l in who.splitlines()):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{name} did not appear in `who`")
        # login flushes what was typed before its shell started: wait for the prompt, and type again if need be.
        for _ in range(5):
            deadline = time.time() + 3
            while time.time() < deadline and not open(out, errors="replace").read().rstrip(" ").endswith("$"):
                time.sleep(0.05)
            subprocess.run(["tmux", "-L", sock, "send-keys", f"mesg {mesg}; echo READY-{role}", "Enter"], check=True)
            deadline = time.time() + 2
            while time.time() < deadline:
                if f"READY-{role}\n" in open(out, errors="replace").read().replace(f"echo READY-{role}", ""):
                    return
                time.sleep(0.05)
        raise RuntimeError(f"the shell of {name} did not answer: {open(out, errors='replace').read()[-300:]!r}")

    @classmethod
    def tearDownClass(cls):
        for sock, _ in getattr(cls, "sessions", {}).values():
            subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        time.sleep(0.3)
        super().tearDownClass()
        if getattr(cls, "made_utmp", False):
            os.unlink("/run/utmp")

    def terminal(self, role):
        with open(self.sessions[role][1], errors="replace") as f:
            return f.read()

    def lines_about(self, role, rid):
        return [l for l in self.terminal(role).splitlines() if "[symtui]" in l and f"(request {rid})" in l]

    def test_the_approver_sees_one_inert_line_on_their_terminal(self):
        rid = self.request("a", "note", reason="fix \x1b[31mred\x1b]0;owned\x07 now")
        lines = self.wait_for(lambda: self.lines_about("c", rid), "the line on the approver's terminal")
        self.assertEqual(len(lines), 1)
        self.assertNotIn("\x1b", lines[0])
        self.assertNotIn("\x07", lines[0].split("[symtui]")[1])
        self.assertIn(f"symtui approve {rid}", lines[0])

    def test_an_approver_with_mesg_n_gets_nothing(self):
        rid = self.request("a", "note")
        self.wait_for(lambda: self.lines_about("c", rid), "the line on the approver's terminal")
        time.sleep(0.3)
        self.assertEqual(self.lines_about("d", rid), [])
        self.assertIn("mesg n", self.daemon_log_tail())

    def test_another_users_terminal_gets_nothing(self):
        rid = self.request("a", "note")
        self.wait_for(lambda: self.lines_about("c", rid), "the line on the approver's terminal")
        time.sleep(0.3)
        self.assertNotIn("[symtui]", self.terminal("b"), "b is logged in but neither approver nor requester")

    def test_a_requester_not_logged_in_is_skipped_and_logged(self):
        rid = self.request("a", "note")
        self.ok("c", "approve", rid)
        self.wait_for(lambda: self.script_payloads(rid, "decision"), "the decision on the script channel")
        self.wait_for(lambda: "is not logged in" in self.daemon_log_tail(), "a log line for the skipped recipient")
        status = [c for c in json.loads(self.ok(None, "audit", "status", "--json").stdout)["channels"] if c["channel"] == "terminals"][0]
        self.assertIsNone(status["last_error"], "nobody to tell is not a failure")

    def test_request_to_terminal_latency(self):
        samples = []
        for _ in range(10):
            t0 = time.time()
            rid = self.request("a", "note")
            self.wait_for(lambda: self.lines_about("c", rid), "the line on the approver's terminal")
            samples.append((time.time() - t0) * 1000)
        samples.sort()
        p50, p99 = samples[len(samples) // 2], samples[-1]
        print(f"\n    request committed -> approver's terminal: p50 {p50:.0f} ms, p99 {p99:.0f} ms (n={len(samples)})", end=" ")
        self.assertLess(p50, 1500)


class EmailTests(NotificationCase):
    """`email`: /usr/sbin/sendmail is msmtp (Debian msmtp-mta), relaying to an aiosmtpd server this test runs."""

    @classmethod
    def setUpClass(cls):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise unittest.SkipTest("aiosmtpd is not installed (make e2e installs it)")
        if not os.path.realpath("/usr/sbin/sendmail").endswith("msmtp"):
            raise unittest.SkipTest("/usr/sbin/sendmail is not msmtp (make e2e installs msmtp-mta)")
        if os.path.exists("/etc/msmtprc"):
            raise unittest.SkipTest("/etc/msmtprc exists: not replacing the machine's mail setup")
        cls.messages = []

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                cls.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 OK"

        port = Receiver(up=False).port
        cls.smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
        cls.smtp.start()
        with open("/etc/msmtprc", "w") as f:
            f.write(f"# written by the SymTUI e2e tests, removed after them\naccount default\nhost 127.0.0.1\nport {port}\n"
                    "auth off\ntls off\n")
        cls.CHANNELS = [{"name": "mail", "type": "email", "from": "symtui@bastion.example"}]
        super().setUpClass()

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cfg["notifications"]["email_domain"] = "corp.example"
        cfg["notifications"]["users"] = {cls.users["c"]: {"email": "carol@other.example"}}
        return "// email e2e\n" + json.dumps(cfg, indent=2) + "\n"

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if hasattr(cls, "smtp"):
            cls.smtp.stop()
            os.unlink("/etc/msmtprc")

    def mails_about(self, rid):
        import email
        from email import policy
        out = []
        for (sender, rcpts, raw) in list(self.messages):
            m = email.message_from_bytes(raw, policy=policy.default)
            if f"(request {rid})" in str(m["Subject"]):
                out.append((sender, rcpts, m))
        return out

    def test_approvers_get_a_proper_message_with_the_command_to_act(self):
        rid = self.request("a", "note", reason="löschen bitte")
        mails = self.wait_for(lambda: (lambda m: m if len(m) == 2 else None)(self.mails_about(rid)), "two mails", timeout=15)
        to = sorted(str(m["To"]) for (_, _, m) in mails)
        self.assertEqual(to, sorted(["carol@other.example", f"{self.users['d']}@corp.example"]))
        sender, rcpts, m = mails[0]
        self.assertEqual(str(m["From"]), "symtui@bastion.example")
        self.assertTrue(m["Date"] and m["Message-ID"])
        self.assertRegex(str(m["Message-ID"]), r"^<[^<>@\s]+@[^<>@\s]+>$")
        self.assertIn("löschen bitte", str(m["Subject"]), "the subject is RFC 2047 encoded and decodes back")
        self.assertIn("=?UTF-8?B?", raw_headers(m))
        body = m.get_content()
        self.assertIn(f"To act: symtui approve {rid}", body)
        self.assertEqual(len(rcpts), 1)

    def test_hostile_text_cannot_inject_a_header(self):
        rid = self.request("a", "note", reason="x\r\nBcc: victim@evil.example\r\n\r\nfake body")
        mails = self.wait_for(lambda: self.mails_about(rid), "a mail", timeout=15)
        for (_, rcpts, m) in mails:
            self.assertIsNone(m["Bcc"])
            self.assertFalse(any("evil" in r for r in rcpts))
            self.assertEqual(len(m.get_all("To")), 1)


def raw_headers(m):
    return "\n".join(f"{k}: {v}" for k, v in m.raw_items())


class OnCallTests(E2ECase):
    """On-call schedules: a rotation and command schedules run by the daemon; `oncall:` in approvers."""

    REQUESTERS = ["a", "b", "e"]

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        cls.pd_file = os.path.join(cls.dir, "pd-oncall.txt")
        for name, body in (("pd", f"print(open({cls.pd_file!r}).read(), end='')"), ("broken", "print('*')")):
            path = os.path.join(cls.dir, f"who-{name}")
            with open(path, "w") as f:
                f.write(f"#!{PYTHON}\n{body}\n")
            os.chmod(path, 0o755)

    @classmethod
    def config_text(cls):
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        with open(cls.pd_file, "w") as f:
            f.write(cls.users["b"] + "\n")
        cfg["oncall"] = [
            {"name": "primary", "type": "rotation", "users": [cls.users["e"]], "shift": "1w", "start": "2026-01-05T09:00:00Z"},
            {"name": "pd", "type": "command", "command": os.path.join(cls.dir, "who-pd")},
            {"name": "broken", "type": "command", "command": os.path.join(cls.dir, "who-broken")},
        ]
        reason = {"name": "reason", "type": "string", "label": "Why?", "required": True}
        cfg["flows"] += [
            {"name": "oncall-note", "approvers": {"oncall": ["primary"]}, "prompt_fields": [reason]},
            {"name": "broken-note", "approvers": {"oncall": ["broken"], "users": [cls.users["c"]]}, "prompt_fields": [reason]},
            {"name": "oncall-auto", "approvers": {"groups": [cls.oncall]}, "prompt_fields": [reason],
             "implementation": os.path.join(cls.dir, "oncall_impl.py")},
        ]
        with open(os.path.join(cls.dir, "oncall_impl.py"), "w") as f:
            f.write("from symtui_sdk import hook, approve, is_on_call\n\n@hook\ndef on_request(event):\n"
                    "    if is_on_call(event.user, 'primary'):\n        return approve('on call')\n")
        os.chmod(os.path.join(cls.dir, "oncall_impl.py"), 0o644)
        return "// on-call e2e\n" + json.dumps(cfg, indent=2) + "\n"

    def test_the_on_call_user_may_decide_and_others_may_not(self):
        rid = self.request("a", "oncall-note")
        self.assert_refused(self.run_as("b", "approve", rid), 77)
        self.ok("e", "approve", rid)
        self.assertEqual(self.show(rid)["state"], "approved")

    def test_oncall_lists_each_schedule(self):
        out = json.loads(self.ok("a", "oncall", "--json").stdout)
        by = {s["name"]: s for s in out["schedules"]}
        self.assertEqual(by["primary"]["users"], [self.users["e"]])
        self.assertEqual(by["pd"]["users"], [self.users["b"]])
        self.assertEqual(by["broken"]["users"], [])
        self.assertIn("not a user name", by["broken"]["error"])
        text = self.ok("a", "oncall", "pd").stdout
        self.assertIn(self.users["b"], text)

    def test_oncall_before_the_rotation_starts_is_nobody(self):
        out = json.loads(self.ok("a", "oncall", "primary", "--at", "2025-12-31T00:00:00Z", "--json").stdout)
        self.assertEqual(out["schedules"][0]["users"], [])

    def test_a_bad_command_schedule_admits_nobody_and_is_logged(self):
        rid = self.request("a", "broken-note")
        self.assert_refused(self.run_as("b", "approve", rid), 77)
        self.assertIn("nobody is on call", self.daemon_log_tail())
        self.ok("c", "approve", rid)

    def test_a_handler_auto_approves_the_on_call_engineers_own_request(self):
        mine = self.request("e", "oncall-auto")
        self.assertEqual(self.show(mine)["state"], "approved")
        other = self.request("a", "oncall-auto")
        self.assertEqual(self.show(other)["state"], "pending")

    def test_an_unknown_schedule_is_65(self):
        self.assert_refused(self.run_as("a", "oncall", "nope"), 65, "no on-call schedule")
