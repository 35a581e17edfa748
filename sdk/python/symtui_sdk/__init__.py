"""SymTUI handler SDK: decorators and helpers for a flow's `implementation` file.

    from symtui_sdk import hook, reducer, prefetch, approve, deny, ignore

    @hook
    def on_request(event):
        if event.fields.get("duration") == "15m":
            return approve("short requests are auto-approved")

The daemon runs `python3 -m symtui_sdk.run IMPLEMENTATION` with one JSON object on stdin and reads one
JSON object from stdout; see docs/handlers.md. Standard library only.
"""

__all__ = [
    "hook", "reducer", "prefetch", "approve", "deny", "ignore", "is_on_call", "send_message",
    "Event", "User", "FlowInfo", "TargetInfo", "RequestInfo", "Result", "Payload", "EventInfo",
    "HOOK_NAMES", "REDUCER_NAMES", "PROTOCOL", "current_event",
]

PROTOCOL = 1

HOOK_NAMES = (
    "on_request", "after_request",
    "on_approve", "after_approve",
    "on_deny", "after_deny",
    "on_escalate", "after_escalate",
    "on_deescalate", "after_deescalate",
    "on_request_expire",
)
REDUCER_NAMES = ("get_approvers",)
# Reducers that answer for another: Sym's get_permissions says who may approve, as get_approvers does.
REDUCER_STAND_INS = {"get_approvers": ("get_permissions",)}

# handler name ("on_request", "get_approvers", "prefetch:FIELD") -> function
_registry = {}
# The event of the handler running now (set by the runner), for helpers called without it (Sym's get_step_output).
_current = []


def current_event():
    """The event of the handler that is running now, or None outside a handler run."""
    return _current[-1] if _current else None

# schedule name -> users on call, as the daemon resolved them for the event being handled
_oncall = {}

# Messages the running handler sends (Sym's slack.send_message): [{"channel"|"user": NAME, "text": TEXT}]; the runner
# puts them in the answer and the daemon queues them on notification channels (docs/handlers.md).
_messages = []
# What one answer may carry; the daemon holds answers to the same bounds.
MAX_MESSAGES = 10
MAX_MESSAGE_BYTES = 4096


def send_message(to, text, channel=False):
    """Queues `text` for user `to` (on the flow's notification channels), or for the notification channel named
    `to` when `channel` is true. Delivered once the handler's answer is recorded; a failing handler sends nothing."""
    if not isinstance(to, str) or not to:
        raise ValueError("send_message needs a user or channel name")
    if not isinstance(text, str):
        raise ValueError("send_message: the message must be a string, not %s" % type(text).__name__)
    if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise ValueError("send_message: the message has %d bytes; at most %d" % (len(text.encode("utf-8")), MAX_MESSAGE_BYTES))
    if len(_messages) >= MAX_MESSAGES:
        raise ValueError("send_message: at most %d messages per handler run" % MAX_MESSAGES)
    _messages.append({"channel" if channel else "user": to, "text": text})


def is_on_call(user, schedule=None):
    """Whether `user` is on call on `schedule` (a name from the config's `oncall`), or on any schedule when None.

    The daemon resolves every schedule when it runs the handler; an unknown schedule, or one whose command failed,
    has nobody on call (False), never everyone.
    """
    name = str(user) if user is not None else ""
    if schedule is None:
        return any(name in (users or []) for users in _oncall.values())
    return name in (_oncall.get(schedule) or [])


def _register(name, fn):
    if name in _registry and _registry[name] is not fn:
        raise ValueError("handler %s is defined twice" % name)
    _registry[name] = fn
    return fn


def hook(fn):
    """Registers a hook; its function name says which one (on_request, after_approve, ...)."""
    name = getattr(fn, "__name__", None)
    if name not in HOOK_NAMES:
        raise ValueError("@hook: unknown hook %r; known hooks: %s" % (name, ", ".join(HOOK_NAMES)))
    return _register(name, fn)


def reducer(fn):
    """Registers a reducer; its function name says which one (get_approvers)."""
    name = getattr(fn, "__name__", None)
    if name not in REDUCER_NAMES:
        raise ValueError("@reducer: unknown reducer %r; known reducers: %s" % (name, ", ".join(REDUCER_NAMES)))
    return _register(name, fn)


def prefetch(field):
    """Registers the function that lists the options of prompt field `field` (returns a list)."""
    if not isinstance(field, str) or not field:
        raise ValueError("@prefetch needs the field name, e.g. @prefetch(\"database\")")

    def register(fn):
        return _register("prefetch:" + field, fn)
    return register


class Result(object):
    """What an on_* hook returns: approve, deny or ignore (returning None continues)."""
    __slots__ = ("kind", "text")

    def __init__(self, kind, text):
        self.kind = kind
        self.text = text

    def to_json(self):
        if self.kind == "ignore":
            return {"result": "ignore", "message": self.text}
        return {"result": self.kind, "reason": self.text}

    def __repr__(self):
        return "%s(%r)" % (self.kind, self.text)

    def __eq__(self, other):
        return isinstance(other, Result) and (self.kind, self.text) == (other.kind, other.text)

    def __hash__(self):
        return hash((self.kind, self.text))


def _text(value, what, required):
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise TypeError("%s must be a string, not %s" % (what, type(value).__name__))
    return value


def approve(reason=None):
    """Approves the request (on_request, on_approve)."""
    return Result("approve", _text(reason, "approve(reason)", False))


def deny(reason):
    """Denies the request, with a reason the requester sees."""
    return Result("deny", _text(reason, "deny(reason)", True))


def ignore(message):
    """Blocks the action that triggered the hook and tells the actor why; the request is unchanged."""
    return Result("ignore", _text(message, "ignore(message)", True))


class User(str):
    """A Unix user name; `.username` for Sym-style code, and usable anywhere a str is.

    `.email` is the address the event carries for this user (key `emails` of the event), else None: SymTUI
    identifies people by their Unix user name, never by an address.
    """

    def __new__(cls, name, email=None):
        self = str.__new__(cls, name)
        self._email = email
        return self

    @property
    def username(self):
        return str(self)

    @property
    def email(self):
        return self._email

    def __repr__(self):
        return "User(%s)" % str.__repr__(self)


def _user(value, emails=None):
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("username") or value.get("user")
    if not isinstance(value, str):
        return None
    email = (emails or {}).get(value)
    return User(value, email if isinstance(email, str) else None)


class _Record(object):
    """A JSON object with attribute access; `.raw` is the object itself."""

    def __init__(self, raw):
        object.__setattr__(self, "raw", dict(raw or {}))

    def __getattr__(self, key):
        raw = object.__getattribute__(self, "raw")
        if key in raw:
            return raw[key]
        raise AttributeError("%s has no attribute %r" % (type(self).__name__, key))

    def __setattr__(self, key, value):
        raise AttributeError("%s is read-only" % type(self).__name__)

    def get(self, key, default=None):
        return self.raw.get(key, default)

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.raw)


class _Named(_Record):
    """A record with a `.name` and a `.label` (the name when no label is set)."""

    @property
    def name(self):
        return self.raw.get("name")

    @property
    def label(self):
        return self.raw.get("label") or self.raw.get("name")


class FlowInfo(_Named):
    """The flow: `.name`, `.label`, `.vars` (the flow's `vars` object)."""

    @property
    def vars(self):
        return self.raw.get("vars") or {}


class TargetInfo(_Named):
    """The target: `.name`, `.label`, `.settings`."""

    @property
    def settings(self):
        return self.raw.get("settings") or {}


class RequestInfo(_Record):
    """The request as in `symtui show --json`: `.id`, `.state`, `.requester`, `.approvals`, ..."""

    @property
    def id(self):
        return self.raw.get("id")

    @property
    def state(self):
        return self.raw.get("state")

    @property
    def requester(self):
        return _user(self.raw.get("requester"))

    @property
    def approvals(self):
        return list(self.raw.get("approvals") or [])

    @property
    def fields(self):
        return self.raw.get("fields") or {}


class Payload(_Record):
    """Sym's `event.payload`: `.fields` (the prompt field values), `.type` (the step), `.timestamp`."""

    def __init__(self, fields, step, timestamp):
        _Record.__init__(self, {"fields": fields, "type": step, "timestamp": timestamp})

    @property
    def fields(self):
        return self.raw["fields"]


class EventInfo(_Record):
    """Sym's `event.event`: `.type` (the step: "request", "approve", ...), `.timestamp`."""

    @property
    def type(self):
        return self.raw.get("type")

    @property
    def timestamp(self):
        return self.raw.get("timestamp")


class Event(object):
    """What a handler is called with.

    name      the step: "request", "approve", "deny", "escalate", "deescalate", "request_expire", "prefetch"
    handler   the handler being run ("on_request", "get_approvers", "prefetch:database", ...)
    user      who did the action (a User; the requester for request steps, "system" for expiry)
    fields    the prompt field values (dict)
    flow      FlowInfo: .name, .label, .vars
    target    TargetInfo: .name, .label, .settings; None for an approval-only flow
    request   RequestInfo: .id, .state, .requester, .approvals (list of dicts), ...
    oncall    {schedule: [users]} on call when the handler runs (see is_on_call)
    raw       the whole event object as received

    Sym's names for the same things: payload.fields, event.type, user.username, user.email.
    """

    def __init__(self, raw):
        raw = dict(raw or {})
        self.raw = raw
        self.name = raw.get("name")
        self.handler = raw.get("handler")
        emails = raw.get("emails") if isinstance(raw.get("emails"), dict) else {}
        self._emails = emails
        self.user = _user(raw.get("user"), emails)
        self.fields = dict(raw.get("fields") or {})
        self.flow = FlowInfo(raw.get("flow"))
        self.target = TargetInfo(raw["target"]) if isinstance(raw.get("target"), dict) else None
        self.request = RequestInfo(raw.get("request"))
        self.oncall = dict(raw.get("oncall") or {})
        if not self.fields and self.request.fields:
            self.fields = dict(self.request.fields)
        self.payload = Payload(self.fields, self.name, raw.get("time"))
        self.event = EventInfo({"type": self.name, "timestamp": raw.get("time")})

    def get_actor(self, step):
        """The user who did `step` ("request", "approve", "deny", or an approval step's name), or None."""
        actors = self.raw.get("actors") or {}
        if step in actors:
            return _user(actors[step], self._emails)
        if step == self.name:
            return self.user
        if step == "request":
            return _user(self.request.get("requester"), self._emails)
        matching = [a for a in self.request.approvals
                    if isinstance(a, dict) and (step == "approve" or a.get("step") == step)]
        if matching:
            return _user(matching[-1].get("user"), self._emails)
        if step == "deny":
            denial = self.request.get("denial")
            if isinstance(denial, dict):
                return _user(denial.get("user"), self._emails)
        return None

    def __repr__(self):
        return "Event(name=%r, handler=%r, user=%r)" % (self.name, self.handler, self.user)
