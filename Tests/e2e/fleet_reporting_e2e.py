"""End-to-end: audit reporting by two bastions (two daemons with their own `host_name`, socket and state directory) on
one PostgreSQL store: each bastion's `jsonl` file gets the whole chain, one `http` collector configured on both gets
every event once, and `audit status` says whose cursor a row is. Builds on fleet_daemon_e2e's bastions. Loaded by run.py."""

import http.server
import json
import os
import threading
import time
import unittest

import fleet_daemon_e2e


class Collector(http.server.ThreadingHTTPServer):
    """A real HTTP collector on 127.0.0.1: records the seqs of every batch POSTed to it, in arrival order."""

    def __init__(self):
        self.seqs = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with collector.lock:
                    collector.seqs.extend(e["seq"] for e in body)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def received(self):
        with self.lock:
            return list(self.seqs)


class FleetReportingTests(fleet_daemon_e2e.PostgresDaemonTests):
    """Reporting destinations on every bastion of a fleet (docs/audit.md, "Reporting in a fleet")."""

    def setUp(self):
        super().setUp()
        self.collector = Collector()
        self.addCleanup(self.collector.server_close)
        self.addCleanup(self.collector.shutdown)
        self.audit_dir = os.path.join(self.dir, f"audit-{self.databases}")
        os.makedirs(self.audit_dir, mode=0o755, exist_ok=True)

    def jsonl_of(self, name):
        return os.path.join(self.audit_dir, f"{name}.jsonl")

    def bastion_config(self, name, host_name, uri=None):
        path, sock = super().bastion_config(name, host_name, uri)
        with open(path) as f:
            cfg = json.load(f)
        cfg["reporting"] = {"destinations": [
            {"type": "jsonl", "path": self.jsonl_of(name)},
            {"type": "http", "url": f"http://127.0.0.1:{self.collector.server_port}/audit", "batch_size": 5},
        ]}
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        return path, sock

    def seqs_in(self, name):
        try:
            with open(self.jsonl_of(name)) as f:
                return [json.loads(line)["seq"] for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def test_each_bastion_writes_the_whole_chain_to_its_own_file_and_one_http_collector_gets_each_event_once(self):
        self.start_bastion("a")
        self.start_bastion("b")
        rid = self.request_on("a", "a")
        self.on("b", "c", "approve", rid)
        self.wait_on("a", rid, "active")
        self.on("b", "c", "revoke", rid, "--reason", "done from B")
        self.wait_on("a", rid, "ended")
        head = int(self.sql("SELECT max(seq) FROM events", db=f"fleet{self.databases}"))
        everything = list(range(1, head + 1))
        deadline = time.time() + 30
        while time.time() < deadline:
            if all(len(self.seqs_in(n)) >= head for n in ("a", "b")) and len(self.collector.received()) >= head:
                break
            time.sleep(0.1)
        time.sleep(1)   # a second copy would have arrived by now
        for name in ("a", "b"):
            self.assertEqual(self.seqs_in(name), everything, f"bastion {name}'s file: the fleet's whole chain, once, in order")
        self.assertEqual(self.collector.received(), everything, "the http collector: each event once, in order")

        status = json.loads(self.on("a", None, "audit", "status", "--json").stdout)
        rows = {d["type"]: d for d in status["destinations"]}
        self.assertEqual((rows["jsonl"]["scope"], rows["jsonl"]["host"], rows["jsonl"]["cursor"]), ("host", "bastion-a", head))
        self.assertEqual((rows["http"]["scope"], rows["http"]["host"]), ("fleet", None))
        text = self.on("b", None, "audit", "status").stdout
        self.assertIn("HOST", text)
        self.assertRegex(text, r"jsonl:\S+\s+bastion-b\s+%d\s+0" % head)
        self.assertRegex(text, r"http:\S+\s+\(fleet\)")
        cursors = self.sql("SELECT string_agg(destination, ' ' ORDER BY destination) FROM delivery", db=f"fleet{self.databases}")
        self.assertEqual(cursors.split(" "), sorted([f"bastion-a/jsonl:{self.jsonl_of('a')}", f"bastion-b/jsonl:{self.jsonl_of('b')}",
                                                     f"http:http://127.0.0.1:{self.collector.server_port}/audit"]))


def load_tests(loader, standard_tests, pattern):
    """Only this module's tests (not the bastion tests it builds on, which fleet_daemon_e2e runs)."""
    names = sorted(n for n in vars(FleetReportingTests) if n.startswith("test_"))
    return unittest.TestSuite(FleetReportingTests(n) for n in names)
