"""End-to-end: a Sym handler's `slack.send_message` is delivered on real notification channels by a real root
daemon (a `command` channel writing to a file; an http channel to a local server). Loaded by run.py."""

import json
import os
import time

from notifications_e2e import NotificationCase, Receiver
from symtui_harness import sqlite_ro


class HandlerMessageTests(NotificationCase):
    """`slack.send_message(destination, message)` from a Sym-style impl.py: a channel, a user, an unknown channel."""

    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.receiver.stop()

    @classmethod
    def write_scripts(cls):
        super().write_scripts()
        cls.impl = os.path.join(cls.dir, "messages_impl.py")
        with open(cls.impl, "w") as f:
            f.write("""from sym.sdk.annotations import hook
from sym.sdk.integrations import slack
from sym.sdk.templates import ApprovalTemplate


@hook
def on_request(event):
    reason = event.payload.fields.get("reason", "")
    if reason == "to a nowhere channel":
        slack.send_message(slack.channel("#nowhere"), "lost")
    if reason.startswith("shout"):
        slack.send_message(slack.channel("#ops"), "\\x1b[31m" + event.user.username + " asks: " + reason + "\\n")


@hook
def after_approve(event):
    # event.user is who acted (the approver); the requester is the actor of the request step.
    slack.send_message(slack.user(event.get_actor("request")), "approved; you may start")
""")
        os.chmod(cls.impl, 0o644)

    @classmethod
    def config_text(cls):
        cls.CHANNELS = [{"name": "ops", "type": "http", "url": cls.receiver.url("/ops"), "_flow_only": True}]
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        note = next(f for f in cfg["flows"] if f["name"] == "note")
        cfg["flows"].append(dict(note, name="talky", label="Sends messages", implementation=cls.impl, notify=["script"]))
        return "// handler messages e2e\n" + json.dumps(cfg, indent=2) + "\n"

    def handler_event(self, rid, name, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            found = [e for e in self.show(rid)["events"] if e["type"] == "handler" and e["data"].get("handler") == name]
            if found or time.time() > deadline:
                return found
            time.sleep(0.1)

    def test_send_message_to_a_channel_is_delivered_on_that_channel_neutralised(self):
        rid = self.request("a", "talky", reason="shout for help")
        bodies = self.wait_for(lambda: [b for b in self.receiver.bodies("/ops") if b["request"]["id"] == rid],
                               "a message on the ops channel")
        self.assertEqual(len(bodies), 1, bodies)
        body = bodies[0]
        self.assertEqual((body["kind"], body["channel"], body["request"]["id"]), ("message", "ops", rid))
        self.assertIn(f"{self.users['a']} asks: shout for help", body["text"])
        self.assertNotIn("\x1b", body["text"], "control characters are neutralised")
        self.assertNotIn("\n", body["text"])
        events = [e for e in self.notify_events(rid) if e["data"]["kind"] == "message"]
        self.assertEqual([(e["data"]["channels"], e["data"]["handler"], e["actor"]) for e in events], [(["ops"], "on_request", "system")])
        self.assertEqual(self.handler_event(rid, "on_request")[0]["data"]["messages"][0]["channel"], "ops")

    def test_send_message_to_a_user_reaches_them_on_the_flows_channels(self):
        rid = self.request("a", "talky", reason="quiet please")
        self.ok("c", "approve", rid)
        p = self.wait_for(lambda: self.script_payloads(rid, "message"), "a message to the requester")[0]
        self.assertEqual((p["recipients"], p["text"], p["channel"]), ([self.users["a"]], "approved; you may start", "script"))
        self.assertEqual([b for b in self.receiver.bodies("/ops") if b["request"]["id"] == rid], [],
                         "a message to a user goes on the flow's channels only")

    def test_send_message_to_an_unknown_channel_fails_the_handler_step_and_sends_nothing(self):
        r = self.run_as("a", "request", "talky", "--reason", "to a nowhere channel")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn('no notification channel "nowhere"', r.stderr)
        with sqlite_ro(self.store) as db:
            rows = [json.loads(d) for (d,) in db.execute("SELECT data FROM events WHERE type = 'handler' AND flow = 'talky'")]
        failed = [d for d in rows if d.get("handler") == "on_request" and d["outcome"] == "failed"]
        self.assertEqual(len(failed), 1, rows)
        self.assertIn('no notification channel "nowhere" (channels: script, ops)', failed[0]["error"])
        self.assertEqual([p for p in self.script_payloads() if p["kind"] == "message" and p["text"] == "lost"], [])
