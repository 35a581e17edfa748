"""Runs one handler of an implementation file: `python3 -m symtui_sdk.run IMPLEMENTATION`.

stdin:  {"protocol": 1, "handler": "on_request", "event": {...}}
stdout: one JSON object, e.g. {"result": "approve", "reason": "..."}; see docs/handlers.md.
Exit 0 with an answer; exit 1 when the handler raised (traceback on stderr); exit 2 on a bad call.
"""

import importlib.util
import json
import os
import sys
import traceback

import symtui_sdk
from symtui_sdk import Event, Result

HOOK_PREFIXES = ("on_", "after_")


class HandlerError(Exception):
    """The handler answered something the protocol has no word for."""


def _load(path):
    spec = importlib.util.spec_from_file_location("symtui_implementation", path)
    if spec is None or spec.loader is None:
        raise HandlerError("cannot load %s as Python" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _warn_undecorated(module, handler):
    fn = getattr(module, handler, None)
    if callable(fn) and symtui_sdk._registry.get(handler) is not fn:
        decorator = "@reducer" if handler in symtui_sdk.REDUCER_NAMES else "@hook"
        sys.stderr.write("symtui_sdk: %s is defined but not decorated with %s; ignored\n" % (handler, decorator))


def _names(value, what):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise HandlerError("%s must be a list of names, not %s" % (what, type(value).__name__))
    out = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("username") or item.get("name")
        if not isinstance(item, str) or not item:
            raise HandlerError("%s must contain user or group names, not %r" % (what, item))
        out.append(str(item))
    return out


def answer(handler, value):
    """Turns what the handler returned into the protocol's answer object."""
    # Objects of the Sym-named SDK (RequestPermission, slack.user(...), FieldOption, ...) say what they mean here.
    translate = getattr(value, "_symtui_answer", None)
    if callable(translate):
        value = translate(handler)
    if isinstance(value, (list, tuple)):
        value = [item._symtui_answer(handler) if callable(getattr(item, "_symtui_answer", None)) else item
                 for item in value]
    if handler.startswith(HOOK_PREFIXES):
        if value is None:
            return {"result": "none"}
        if isinstance(value, Result):
            return value.to_json()
        raise HandlerError("%s must return approve(...), deny(...), ignore(...) or None, not %r" % (handler, value))
    if handler == "get_approvers":
        if isinstance(value, dict):
            unknown = set(value) - {"users", "groups"}
            if unknown:
                raise HandlerError("get_approvers: unknown keys %s (use users, groups)" % ", ".join(sorted(unknown)))
            return {"result": "approvers", "users": _names(value.get("users"), "users"),
                    "groups": _names(value.get("groups"), "groups")}
        return {"result": "approvers", "users": _names(value, "get_approvers"), "groups": []}
    if handler.startswith("prefetch:"):
        if not isinstance(value, (list, tuple)):
            raise HandlerError("%s must return a list of options, not %s" % (handler, type(value).__name__))
        return {"result": "options", "options": list(value)}
    raise HandlerError("unknown handler %r" % handler)


def run(implementation, request):
    """Loads the implementation and runs the handler named in `request`; returns the answer object."""
    handler = request.get("handler")
    if not isinstance(handler, str):
        raise HandlerError("the request names no handler")
    known = (handler in symtui_sdk.HOOK_NAMES or handler in symtui_sdk.REDUCER_NAMES
             or (handler.startswith("prefetch:") and len(handler) > len("prefetch:")))
    if not known:
        raise HandlerError("unknown handler %r" % handler)
    module = _load(implementation)
    fn = symtui_sdk._registry.get(handler)
    for stand_in in symtui_sdk.REDUCER_STAND_INS.get(handler, ()):
        if fn is None:
            fn = symtui_sdk._registry.get(stand_in)
    if fn is None:
        _warn_undecorated(module, handler)
        return {"result": "missing"}
    event = Event(request.get("event"))
    symtui_sdk._current.append(event)
    symtui_sdk._oncall = event.oncall
    del symtui_sdk._messages[:]
    try:
        result = answer(handler, fn(event))
        if symtui_sdk._messages:
            result["messages"] = list(symtui_sdk._messages)
        return result
    finally:
        symtui_sdk._current.pop()
        del symtui_sdk._messages[:]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python3 -m symtui_sdk.run IMPLEMENTATION_FILE < request.json\n")
        return 2
    implementation = os.path.abspath(argv[0])
    try:
        request = json.loads(sys.stdin.read())
    except ValueError as error:
        sys.stderr.write("symtui_sdk: stdin is not JSON: %s\n" % error)
        return 2
    if not isinstance(request, dict) or request.get("protocol") != symtui_sdk.PROTOCOL:
        sys.stderr.write("symtui_sdk: expected {\"protocol\": %d, ...} on stdin\n" % symtui_sdk.PROTOCOL)
        return 2

    # Imports next to the implementation work, but last: a module put beside the file cannot shadow the standard
    # library or the SDK. The working directory is not on the path (the daemon runs python3 -I, which keeps it off).
    if not getattr(sys.flags, "safe_path", False) and sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    sys.path.append(os.path.dirname(implementation))
    protocol_out = sys.stdout
    # Whatever the handler prints is diagnostics, not the answer.
    sys.stdout = sys.stderr
    try:
        result = run(implementation, request)
        text = json.dumps(result, separators=(",", ":"), allow_nan=False)
    except HandlerError as error:
        sys.stderr.write("symtui_sdk: %s\n" % error)
        return 1
    except Exception as error:
        if getattr(error, "symtui_fail_closed", False):
            # A Sym call with no local meaning: its message says everything; keep it the last line of stderr.
            traceback.print_exc(file=sys.stderr)
            sys.stderr.write("symtui_sdk: %s: %s\n" % (type(error).__name__, error))
            return 1
        traceback.print_exc(file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        return 1
    finally:
        sys.stdout = protocol_out
    protocol_out.write(text + "\n")
    protocol_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
