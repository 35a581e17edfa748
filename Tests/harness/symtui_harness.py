"""The SymTUI test harness shared by the end-to-end suite (Tests/e2e/run.py) and the reliability
harnesses (Tests/reliability/*.py): throwaway Unix users and groups (st_<hex>_<role>), a directory, config
and store per test class, a root daemon, the CLI run as those users with setpriv, consoles in tmux, and
removal of everything at exit, even on failure. Standard library only; run as root.

    import symtui_harness as H
    class MyTests(H.SymtuiCase): ...          # a unittest.TestCase: users, config, daemon per class/test
    tm = H.Tmux("name"); tm.start("s", cmd)   # a private tmux server; killed at exit
"""

import atexit
import json
import os
import re
import secrets
import shutil
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SOURCE_BIN = os.path.abspath(os.environ.get("SYMTUI_BIN") or os.path.join(REPO, ".build", "debug", "symtui"))
PYTHON = os.path.realpath(sys.executable)   # for the strategy scripts, which the root daemon runs

# Every user and group this run creates, so that the atexit hook can remove whatever a class left.
CREATED_USERS = []
CREATED_GROUPS = []
CREATED_DIRS = []
STARTED_PIDS = []   # daemons we started (or that single-user mode started for our users)
TMUX_SERVERS = []   # the consoles' tmux servers (Tmux objects) still running


def quiet(cmd):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def remove_user(name):
    quiet(["userdel", "-f", name])
    if name in CREATED_USERS:
        CREATED_USERS.remove(name)


def remove_group(name):
    quiet(["groupdel", name])
    if name in CREATED_GROUPS:
        CREATED_GROUPS.remove(name)


def stop_pid(pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)      # so that atexit still removes users, groups and daemons


signal.signal(signal.SIGTERM, _exit_on_signal)
signal.signal(signal.SIGHUP, _exit_on_signal)


@atexit.register
def cleanup_everything():
    for t in list(TMUX_SERVERS):
        t.kill()
    for pid in list(STARTED_PIDS):
        stop_pid(pid)
    for u in list(CREATED_USERS):
        remove_user(u)
    for g in list(CREATED_GROUPS):
        remove_group(g)
    if not os.environ.get("SYMTUI_E2E_KEEP"):
        for d in list(CREATED_DIRS):
            shutil.rmtree(d, ignore_errors=True)


def traversable_by_others(path):
    """True when a user other than root can execute `path` (every parent dir o+x, the file o+rx)."""
    st = os.stat(path)
    if st.st_mode & 0o005 != 0o005:
        return False
    d = os.path.dirname(path)
    while True:
        if os.stat(d).st_mode & 0o001 == 0:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


def sqlite_ro(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def with_audit_key(case, text):
    """The config TEXT of class CASE with a fresh 32-byte audit key (`case.key`, root-only) as
    `reporting.hmac_key_file`: the daemon signs every event with it."""
    header, body = text.split("\n", 1)
    cfg = json.loads(body)
    case.key = os.path.join(case.dir, "audit.key")
    with open(case.key, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(case.key, 0o400)
    cfg["reporting"] = {"hmac_key_file": case.key}
    return header + "\n" + json.dumps(cfg, indent=2) + "\n"


def parse_time(s):
    return time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


# ---------------------------------------------------------------------------------------------------
# The base class: users, directory, config, daemon.
# ---------------------------------------------------------------------------------------------------

class SymtuiCase(unittest.TestCase):
    """One directory, config, store and set of users per class; one root daemon per test."""

    # Roles: the requesters and the approvers (members of the class's oncall group).
    REQUESTERS = ["a", "b"]
    APPROVERS = ["c"]
    EXTRA_GROUPS = []          # more throwaway groups (e.g. a unix_group target)
    START_DAEMON = True
    LIMITS = None              # a config `limits` object (load tests raise pending_per_user)
    FLOW_OVERRIDES = {}

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("the end-to-end tests need root (useradd, setpriv, a root daemon)")
        cls.hex = secrets.token_hex(3)
        cls.prefix = f"st_{cls.hex}"
        cls.dir = tempfile.mkdtemp(prefix=f"{cls.prefix}_", dir="/tmp")
        CREATED_DIRS.append(cls.dir)
        os.chmod(cls.dir, 0o755)
        cls.bin = SOURCE_BIN
        if not os.path.exists(cls.bin):
            raise RuntimeError(f"no symtui binary at {cls.bin} (build it with `swift build`, or set SYMTUI_BIN)")
        if not traversable_by_others(cls.bin):
            cls.bin = os.path.join(cls.dir, "symtui")
            shutil.copy2(SOURCE_BIN, cls.bin)
            os.chmod(cls.bin, 0o755)
        try:
            cls.oncall = cls.group("oncall")
            cls.groups = {g: cls.group(g) for g in cls.EXTRA_GROUPS}
            cls.users = {}
            for r in cls.REQUESTERS:
                cls.users[r] = cls.user(r)
            for r in cls.APPROVERS:
                cls.users[r] = cls.user(r, groups=[cls.oncall])
            cls.store = os.path.join(cls.dir, "store", "symtui.db")
            cls.socket = os.path.join(cls.dir, "store", "symtui.sock")
            cls.log = os.path.join(cls.dir, "strategy.jsonl")
            cls.write_scripts()
            cls.config = os.path.join(cls.dir, "config.json5")
            with open(cls.config, "w") as f:
                f.write(cls.config_text())
            os.chmod(cls.config, 0o644)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for name in list(getattr(cls, "users", {}).values()):
            remove_user(name)
        for g in list(getattr(cls, "groups", {}).values()):
            remove_group(g)
        if getattr(cls, "oncall", None):
            remove_group(cls.oncall)

    # -- users ------------------------------------------------------------------------------------

    @classmethod
    def group(cls, role):
        name = f"{cls.prefix}_{role}"
        subprocess.run(["groupadd", name], check=True, capture_output=True)
        CREATED_GROUPS.append(name)
        return name

    @classmethod
    def user(cls, role, groups=(), home=None):
        name = f"{cls.prefix}_{role}"
        cmd = ["useradd", "-M", "-s", "/usr/sbin/nologin", "-g", "users", "-d", home or "/nonexistent"]
        if groups:
            cmd += ["-G", ",".join(groups)]
        subprocess.run(cmd + [name], check=True, capture_output=True)
        CREATED_USERS.append(name)
        return name

    # -- config -----------------------------------------------------------------------------------

    @classmethod
    def write_scripts(cls):
        for action in ("escalate", "deescalate"):
            path = os.path.join(cls.dir, action)
            with open(path, "w") as f:
                f.write(f"""#!{PYTHON}
import json, os, sys
rec = {{"action": {action!r}, "argv": sys.argv[1:], "uid": os.getuid(),
       "env": {{k: v for k, v in os.environ.items() if k.startswith("SYMTUI_")}}}}
with open({cls.log!r}, "a") as f:
    f.write(json.dumps(rec) + "\\n")
if os.environ.get("SYMTUI_FIELD_NOTE") == "slow":
    import time
    time.sleep(2)
""")
            os.chmod(path, 0o755)

    @classmethod
    def config_text(cls):
        oncall = [cls.oncall]
        reason = {"name": "reason", "type": "string", "label": "Why?", "required": True}
        duration = {"name": "duration", "type": "duration", "label": "How long", "required": True}
        note = {"name": "note", "type": "string", "label": "Note", "required": False}
        strategies = [
            {"name": "cmd", "type": "command",
             "settings": {"escalate": os.path.join(cls.dir, "escalate"),
                          "deescalate": os.path.join(cls.dir, "deescalate"),
                          "args": ["--from-config"], "timeout": "10s"},
             "targets": [{"name": "orders", "label": "Orders DB", "settings": {"role": "orders_rw"}},
                         {"name": "billing", "label": "Billing DB", "settings": {"role": "billing_ro"}}]},
        ]
        flows = [
            {"name": "db", "label": "Database access", "strategy": "cmd", "approvers": {"groups": oncall},
             "required_approvals": 1, "prompt_fields": [reason, duration, note]},
            {"name": "note", "label": "Approval-only", "approvers": {"groups": oncall},
             "prompt_fields": [reason]},
            {"name": "selfnote", "label": "Approval-only, self-approval allowed", "approvers": {"groups": oncall},
             "allow_self_approval": True, "prompt_fields": [reason]},
            {"name": "ttl", "label": "Short pending TTL", "approvers": {"groups": oncall}, "request_ttl": "2s",
             "prompt_fields": [reason]},
        ]
        if "target" in getattr(cls, "groups", {}):
            strategies.append({"name": "grp", "type": "unix_group",
                               "targets": [{"name": "tgt", "label": "Throwaway group",
                                            "settings": {"group": cls.groups["target"]}}]})
            flows.append({"name": "grp", "label": "Group access", "strategy": "grp", "approvers": {"groups": oncall},
                          "prompt_fields": [reason, duration]})
        cfg = {"store": cls.store, "strategies": strategies, "flows": flows}
        if cls.LIMITS is not None:
            cfg["limits"] = cls.LIMITS
        return "// SymTUI end-to-end test config (JSON5)\n" + json.dumps(cfg, indent=2) + "\n"

    # -- daemon -----------------------------------------------------------------------------------

    def setUp(self):
        self.daemon = None
        if self.START_DAEMON:
            self.start_daemon()

    def tearDown(self):
        if self.daemon is not None:
            if self.daemon.poll() is not None:
                self.assert_daemon_alive()
            code = self.stop_daemon()
            self.assertEqual(code, 0, f"the daemon exited {code} on SIGTERM; log: {self.daemon_log_tail()}")

    def start_daemon(self, args=(), env=None):
        self.daemon_log = os.path.join(self.dir, "daemon.log")
        logf = open(self.daemon_log, "ab")
        self.daemon = subprocess.Popen([self.bin, "--config", self.config, "daemon", *args], stdin=subprocess.DEVNULL,
                                       stdout=logf, stderr=logf, cwd=self.dir,
                                       env=dict(os.environ, **env) if env else None)
        logf.close()
        STARTED_PIDS.append(self.daemon.pid)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.daemon.poll() is not None:
                self.fail(f"the daemon exited {self.daemon.returncode} at start: {self.daemon_log_tail()}")
            if os.path.exists(self.socket):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(self.socket)
                    return
                except OSError:
                    pass
                finally:
                    s.close()
            time.sleep(0.05)
        self.fail("the daemon did not open its socket within 10 s")

    def stop_daemon(self):
        """SIGTERM; returns the exit code (or None when it had to be killed after 5 s)."""
        p, self.daemon = self.daemon, None
        if p is None:
            return 0
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            if os.environ.get("SYMTUI_E2E_GDB"):
                subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex", "thread apply all bt 12"],
                               stdout=open(os.path.join(self.dir, "hang.txt"), "w"), stderr=subprocess.STDOUT, timeout=60)
            p.kill()
            p.wait()
            code = None
        if p.pid in STARTED_PIDS:
            STARTED_PIDS.remove(p.pid)
        return code

    def daemon_log_tail(self):
        try:
            with open(self.daemon_log, errors="replace") as f:
                return f.read()[-1500:]
        except OSError:
            return "(no log)"

    # -- running the CLI --------------------------------------------------------------------------

    def run_as(self, role, *args, input=None, timeout=30, config=True, env=None):
        """Runs `symtui [--config C] ARGS` as the class's user ROLE (or as root when role is None)."""
        cmd = [self.bin] + (["--config", self.config] if config else []) + [str(a) for a in args]
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        if env:
            e.update(env)
        if role is not None:
            cmd = ["setpriv", "--reuid", self.users[role], "--regid", "users", "--init-groups"] + cmd
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=e, cwd=self.dir)

    def ok(self, role, *args, **kw):
        r = self.run_as(role, *args, **kw)
        self.assertEqual(r.returncode, 0, f"symtui {' '.join(map(str, args))} as {role}: exit {r.returncode}\n"
                                          f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def request(self, role, flow, target=None, duration=None, reason="e2e test", fields=None):
        args = ["request", flow] + ([target] if target else [])
        if duration:
            args += ["--duration", duration]
        args += ["--reason", reason]
        for k, v in (fields or {}).items():
            args += ["--field", f"{k}={v}"]
        out = self.ok(role, *args).stdout.strip()
        self.assertRegex(out, r"^\d+$", "request prints the request id alone")
        return int(out)

    def show(self, rid):
        r = self.ok(None, "show", rid, "--json")
        return json.loads(r.stdout)

    def wait_state(self, rid, states, timeout=5.0):
        """Polls `show --json` until the request is in one of `states`; returns it (or fails)."""
        if isinstance(states, str):
            states = [states]
        deadline = time.time() + timeout
        while True:
            req = self.show(rid)
            if req["state"] in states:
                return req
            if time.time() > deadline:
                self.fail(f"request {rid} is {req['state']} after {timeout} s, expected {states}; "
                          f"error={req.get('error')!r}; daemon log: {self.daemon_log_tail()}")
            time.sleep(0.1)

    def assert_refused(self, r, code, fragment=None):
        self.assertEqual(r.returncode, code, f"expected exit {code}, got {r.returncode}; stderr: {r.stderr!r}")
        self.assertTrue(r.stderr.strip(), "a refusal says why on stderr")
        for line in r.stderr.splitlines():
            self.assertTrue(line.startswith("symtui: "), f"stderr line does not start with 'symtui: ': {line!r}")
        if fragment:
            self.assertIn(fragment.lower(), r.stderr.lower())

    def assert_daemon_alive(self):
        if self.daemon is not None and self.daemon.poll() is not None:
            code, self.daemon = self.daemon.returncode, None
            with open(self.daemon_log, errors="replace") as f:
                log = f.read()
            crash = [l.strip() for l in log.splitlines() if re.match(r"^(Fatal|\*\*\* Program crashed|Simultaneous accesses)", l)]
            self.fail(f"the daemon died (exit {code}): {' | '.join(crash[:3])}")

    def event_count(self):
        if not os.path.exists(self.store):
            return 0
        with sqlite_ro(self.store) as db:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]

    def strategy_log(self, rid=None):
        try:
            with open(self.log) as f:
                recs = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        if rid is not None:
            recs = [r for r in recs if r["env"].get("SYMTUI_REQUEST_ID") == str(rid)]
        return recs

    def group_members(self, g):
        r = subprocess.run(["getent", "group", g], capture_output=True, text=True)
        fields = r.stdout.strip().split(":")
        return [m for m in fields[3].split(",") if m] if len(fields) > 3 else []


# ---------------------------------------------------------------------------------------------------
# Consoles in tmux.
# ---------------------------------------------------------------------------------------------------

class Tmux:
    """One tmux server (its own socket) holding the consoles of one test; killed in tearDown."""

    def __init__(self, name):
        self.name = name
        self.sessions = []
        TMUX_SERVERS.append(self)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-u", "-L", self.name] + [str(a) for a in args], capture_output=True,
                              text=True, timeout=10, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                                                          "TERM": "xterm-256color"})

    def start(self, session, shell_cmd, cols=120, rows=34):
        r = self.tmux("new-session", "-d", "-s", session, "-x", cols, "-y", rows, shell_cmd)
        if r.returncode != 0:
            raise RuntimeError(f"tmux new-session: {r.stderr}")
        self.sessions.append(session)
        # Keep the pane after its command exits, so that the exit status can be read back.
        self.tmux("set-option", "-t", self.target(session), "remain-on-exit", "on")

    @staticmethod
    def target(session):
        # Exactly this session's current pane: a bare "b" may resolve to a window of another session.
        return f"={session}:"

    def keys(self, session, *keys):
        self.tmux("send-keys", "-t", self.target(session), *keys)

    def type(self, session, text):
        self.tmux("send-keys", "-t", self.target(session), "-l", text)

    def screen(self, session, escapes=False):
        r = self.tmux("capture-pane", "-p", "-t", self.target(session), *(["-e"] if escapes else []))
        return r.stdout

    def lines(self, session):
        return self.screen(session).split("\n")

    def wait_for(self, session, predicate, timeout=3.0, interval=0.05):
        """Polls the screen until predicate(text) is true; returns (text, seconds) or (last text, None)."""
        t0 = time.time()
        text = ""
        while True:
            text = self.screen(session)
            if predicate(text):
                return text, time.time() - t0
            if time.time() - t0 > timeout:
                return text, None
            time.sleep(interval)

    def kill(self):
        path = self.tmux("display-message", "-p", "#{socket_path}").stdout.strip()
        self.tmux("kill-server")
        if self in TMUX_SERVERS:
            TMUX_SERVERS.remove(self)
        if path.endswith("/" + self.name):
            try:
                os.unlink(path)      # tmux leaves the socket file behind when its server is killed
            except OSError:
                pass


class ConsoleCase(SymtuiCase):
    """A test case with consoles in tmux: a fresh store per test (the daemon is stopped between tests, so each screen
    shows only its own test's requests) and one tmux server, killed in tearDown."""

    def setUp(self):
        shutil.rmtree(os.path.dirname(self.store), ignore_errors=True)
        super().setUp()
        self.tm = Tmux(f"{self.prefix}_{self._testMethodName[-20:]}")

    def tearDown(self):
        self.tm.kill()
        super().tearDown()

    def console_command(self, role, *flags):
        """The shell command that runs the console as ROLE's user, in a clean environment, with FLAGS."""
        env = "env -i PATH=/usr/bin:/bin LANG=C.UTF-8 TERM=tmux-256color HOME=/nonexistent"
        return (f"{env} setpriv --reuid {self.users[role]} --regid users --init-groups "
                f"{shlex.quote(self.bin)} --config {shlex.quote(self.config)}" + "".join(" " + f for f in flags))

    @staticmethod
    def status_line(text):
        return text.rstrip("\n").split("\n")[-1]

    def start_console(self, role, *flags, session=None, cols=120, rows=34, command=None):
        """Starts ROLE's console in tmux session SESSION (default: the role) and waits for its status line."""
        session = session or role
        self.tm.start(session, command or self.console_command(role, *flags), cols=cols, rows=rows)
        user = self.users[role]
        text, t = self.tm.wait_for(session, lambda s: user in self.status_line(s), timeout=5)
        self.assertIsNotNone(t, f"{role}'s console did not draw its status line within 5 s:\n{text}")
        return session
