"""Sym's decorators: `@hook`, `@reducer`, `@prefetch(field_name=...)`, registered with the SymTUI runner."""

import symtui_sdk

from sym.sdk.exceptions import SymException

__all__ = ["hook", "reducer", "prefetch"]

# Reducers with a local meaning: get_approvers (who may approve) and get_permissions (the same, as a
# RequestPermission). Sym's other reducers route notifications or look up identities, which SymTUI does not do.
REDUCERS = ("get_approvers", "get_permissions")
OTHER_SYM_REDUCERS = ("get_request_notifications", "get_timeout", "get_identity", "get_destinations")


def hook(fn):
    """Registers a hook by its function name (on_request, after_escalate, ...)."""
    name = getattr(fn, "__name__", None)
    if name not in symtui_sdk.HOOK_NAMES:
        raise SymException("@hook %s: SymTUI runs these hooks: %s" % (name, ", ".join(symtui_sdk.HOOK_NAMES)))
    return symtui_sdk._register(name, fn)


def reducer(fn):
    """Registers a reducer by its function name: get_approvers or get_permissions."""
    name = getattr(fn, "__name__", None)
    if name in OTHER_SYM_REDUCERS:
        raise SymException("@reducer %s has no local meaning in SymTUI: approvers come from get_approvers, "
                           "get_permissions or the flow's config; notifications from the flow's config" % name)
    if name not in REDUCERS:
        raise SymException("@reducer %s: SymTUI runs these reducers: %s" % (name, ", ".join(REDUCERS)))
    return symtui_sdk._register(name, fn)


def prefetch(field_name=None, **unknown):
    """Registers the function that lists the options (FieldOption) of prompt field `field_name`."""
    if unknown:
        raise SymException("@prefetch: unknown arguments %s" % ", ".join(sorted(unknown)))
    if callable(field_name):
        raise SymException("@prefetch needs the field's name: @prefetch(field_name=\"...\")")
    return symtui_sdk.prefetch(field_name)
