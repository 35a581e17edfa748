"""Tests of the Python handler SDK: `python3 -m unittest discover -s sdk/python/tests`."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

SDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(SDK))
sys.path.insert(0, SDK)

import symtui_sdk  # noqa: E402
from symtui_sdk import Event, approve, deny, hook, ignore, prefetch, reducer  # noqa: E402
from symtui_sdk.run import HandlerError, answer  # noqa: E402

EVENT = {
    "name": "approve", "handler": "on_approve", "user": "dave",
    "fields": {"reason": "deploy 1.2", "duration": "1h"},
    "flow": {"name": "prod-access", "label": "Production access", "vars": {"team": "sre"}},
    "target": {"name": "prod-ssh", "label": "Production SSH", "settings": {"group": "prod-ssh"}},
    "request": {"id": 42, "state": "pending", "requester": "bob", "fields": {"reason": "deploy 1.2"},
                "approvals": [{"user": "carol", "step": "security", "reason": "ok", "self": False}],
                "denial": None, "access_expires_at": None},
    "actors": {"request": "bob", "approve": "dave", "security": "carol"},
}


def run_handler(implementation, handler, event=EVENT):
    """Runs the SDK runner as the daemon does; returns (exit code, stdout, stderr)."""
    request = json.dumps({"protocol": 1, "handler": handler, "event": event})
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": SDK, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "symtui_sdk.run", implementation], input=request,
                          capture_output=True, text=True, env=env, cwd="/", timeout=60)
    return done.returncode, done.stdout, done.stderr


class RegistryTests(unittest.TestCase):
    def setUp(self):
        self.saved = dict(symtui_sdk._registry)
        symtui_sdk._registry.clear()

    def tearDown(self):
        symtui_sdk._registry.clear()
        symtui_sdk._registry.update(self.saved)

    def test_hook_registers_by_function_name(self):
        @hook
        def after_deny(event):
            return None
        self.assertIs(symtui_sdk._registry["after_deny"], after_deny)

    def test_hook_with_an_unknown_name_is_an_error(self):
        with self.assertRaises(ValueError):
            @hook
            def on_lunch(event):
                return None

    def test_reducer_registers_get_approvers(self):
        @reducer
        def get_approvers(event):
            return []
        self.assertIn("get_approvers", symtui_sdk._registry)

    def test_prefetch_registers_under_the_field_name(self):
        @prefetch("database")
        def anything(event):
            return []
        self.assertIs(symtui_sdk._registry["prefetch:database"], anything)


class AnswerTests(unittest.TestCase):
    def test_approve_deny_ignore_map_to_results(self):
        self.assertEqual(answer("on_request", approve("ok")), {"result": "approve", "reason": "ok"})
        self.assertEqual(answer("on_request", approve()), {"result": "approve", "reason": None})
        self.assertEqual(answer("on_deny", deny("no")), {"result": "deny", "reason": "no"})
        self.assertEqual(answer("on_approve", ignore("wait")), {"result": "ignore", "message": "wait"})

    def test_returning_none_continues(self):
        self.assertEqual(answer("after_request", None), {"result": "none"})

    def test_a_hook_returning_anything_else_is_an_error(self):
        with self.assertRaises(HandlerError):
            answer("on_request", True)

    def test_deny_needs_a_string_reason(self):
        with self.assertRaises(TypeError):
            deny(None)

    def test_get_approvers_list_is_users(self):
        self.assertEqual(answer("get_approvers", ["alice"]), {"result": "approvers", "users": ["alice"], "groups": []})

    def test_get_approvers_dict_has_users_and_groups(self):
        self.assertEqual(answer("get_approvers", {"groups": ["oncall"]}),
                         {"result": "approvers", "users": [], "groups": ["oncall"]})

    def test_get_approvers_string_is_an_error(self):
        with self.assertRaises(HandlerError):
            answer("get_approvers", "alice")

    def test_prefetch_returns_options(self):
        self.assertEqual(answer("prefetch:db", ("a", "b")), {"result": "options", "options": ["a", "b"]})


class EventTests(unittest.TestCase):
    def setUp(self):
        self.event = Event(EVENT)

    def test_user_is_a_str_with_username(self):
        self.assertEqual(self.event.user, "dave")
        self.assertEqual(self.event.user.username, "dave")

    def test_flow_target_request_attributes(self):
        self.assertEqual(self.event.flow.vars["team"], "sre")
        self.assertEqual(self.event.target.settings["group"], "prod-ssh")
        self.assertEqual(self.event.request.id, 42)
        self.assertEqual(self.event.request.requester.username, "bob")
        self.assertEqual(self.event.request.approvals[0]["user"], "carol")
        self.assertIsNone(self.event.request.access_expires_at)

    def test_get_actor_names_who_did_a_step(self):
        self.assertEqual(self.event.get_actor("request"), "bob")
        self.assertEqual(self.event.get_actor("security"), "carol")
        self.assertEqual(self.event.get_actor("approve"), "dave")
        self.assertIsNone(self.event.get_actor("deny"))

    def test_approval_only_event_has_no_target(self):
        self.assertIsNone(Event(dict(EVENT, target=None)).target)


class RunnerTests(unittest.TestCase):
    def write(self, body):
        handle = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        handle.write("from symtui_sdk import hook, approve, deny, ignore\n" + textwrap.dedent(body))
        handle.close()
        self.addCleanup(os.unlink, handle.name)
        return handle.name

    def test_print_goes_to_stderr_and_the_answer_to_stdout(self):
        path = self.write("""
            @hook
            def on_approve(event):
                print("chatty")
                return approve("fine")
            """)
        code, out, err = run_handler(path, "on_approve")
        self.assertEqual((code, json.loads(out)), (0, {"result": "approve", "reason": "fine"}))
        self.assertIn("chatty", err)

    def test_an_exception_exits_1_with_a_traceback(self):
        path = self.write("""
            @hook
            def on_approve(event):
                raise ValueError("boom")
            """)
        code, out, err = run_handler(path, "on_approve")
        self.assertEqual((code, out), (1, ""))
        self.assertIn("ValueError: boom", err)

    def test_send_message_adds_messages_to_the_answer(self):
        path = self.write("""
            from symtui_sdk import send_message

            @hook
            def on_approve(event):
                send_message("ops", "approving", channel=True)
                send_message(event.get_actor("request"), "soon")
                return approve("fine")
            """)
        code, out, err = run_handler(path, "on_approve")
        self.assertEqual((code, json.loads(out)), (0, {"result": "approve", "reason": "fine", "messages": [
            {"channel": "ops", "text": "approving"}, {"user": "bob", "text": "soon"}]}))

    def test_send_message_refuses_a_message_over_4096_bytes(self):
        path = self.write("""
            from symtui_sdk import send_message

            @hook
            def on_approve(event):
                send_message("ops", "é" * 2049, channel=True)
            """)
        code, out, err = run_handler(path, "on_approve")
        self.assertEqual(code, 1)
        self.assertIn("the message has 4098 bytes; at most 4096", err)

    def test_an_undefined_handler_is_missing(self):
        path = self.write("")
        self.assertEqual(json.loads(run_handler(path, "on_deny")[1]), {"result": "missing"})


class ExampleTests(unittest.TestCase):
    def test_prod_example_sends_short_reasons_back(self):
        event = dict(EVENT, name="request", user="bob", fields={"reason": "x", "duration": "1h"})
        code, out, err = run_handler(os.path.join(SDK, "examples", "prod.py"), "on_request", event)
        self.assertEqual(json.loads(out)["result"], "deny", err)

    def test_prod_example_adds_dba_for_database_targets(self):
        event = dict(EVENT, target={"name": "orders-rw", "label": "orders", "settings": {}})
        code, out, err = run_handler(os.path.join(SDK, "examples", "prod.py"), "get_approvers", event)
        self.assertEqual(json.loads(out)["groups"], ["oncall", "dba"], err)

    def test_jobs_example_continues_a_request_with_a_reason(self):
        event = dict(EVENT, name="request", target=None)
        code, out, err = run_handler(os.path.join(SDK, "examples", "jobs.py"), "on_request", event)
        self.assertEqual(json.loads(out), {"result": "none"}, err)

    def test_docs_show_the_examples_verbatim(self):
        with open(os.path.join(ROOT, "docs", "handlers.md"), encoding="utf-8") as f:
            docs = f.read()
        for name in ("prod.py", "jobs.py"):
            with open(os.path.join(SDK, "examples", name), encoding="utf-8") as f:
                self.assertIn(f.read(), docs, "docs/handlers.md must show examples/%s as it is" % name)


if __name__ == "__main__":
    unittest.main()


class OnCallTests(unittest.TestCase):
    def write(self, text):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: __import__("shutil").rmtree(d))
        path = os.path.join(d, "impl.py")
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def test_a_handler_auto_approves_the_on_call_engineers_own_request(self):
        impl = self.write("""
            from symtui_sdk import hook, approve, is_on_call

            @hook
            def on_request(event):
                if is_on_call(event.user, "primary"):
                    return approve("on call: " + event.user)
            """)
        event = dict(EVENT, name="request", handler="on_request", user="bob", oncall={"primary": ["bob"], "pd": []})
        code, out, err = run_handler(impl, "on_request", event)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), {"result": "approve", "reason": "on call: bob"})

    def test_someone_not_on_call_is_not(self):
        symtui_sdk._oncall = {"primary": ["bob"], "pd": ["carol"]}
        self.addCleanup(lambda: setattr(symtui_sdk, "_oncall", {}))
        self.assertFalse(symtui_sdk.is_on_call("dave", "primary"))
        self.assertTrue(symtui_sdk.is_on_call("carol"), "any schedule when none is named")
        self.assertFalse(symtui_sdk.is_on_call("bob", "nope"), "an unknown schedule has nobody on call")

    def test_without_schedules_nobody_is_on_call(self):
        self.assertFalse(symtui_sdk.is_on_call("bob"))
