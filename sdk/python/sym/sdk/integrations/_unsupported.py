"""Builds integration modules whose every call raises SymException("… has no local meaning in SymTUI …")."""

import sys

from sym.sdk.exceptions import no_local_meaning


def unsupported_call(qualified, error):
    """A function standing for Sym's `qualified` (e.g. "okta.is_user_in_group") that fails closed when called."""
    def call(*args, **kwargs):
        raise no_local_meaning(qualified, error)
    call.__name__ = qualified.rsplit(".", 1)[-1]
    call.__qualname__ = call.__name__
    call.__doc__ = "Sym's %s; it has no local meaning in SymTUI and raises SymException." % qualified
    return call


def install(module_name, short, names, error):
    """Defines `names` in module `module_name` and answers any other public name the same way (PEP 562)."""
    module = sys.modules[module_name]
    for name in names:
        setattr(module, name, unsupported_call("%s.%s" % (short, name), error))

    def __getattr__(name):
        if name.startswith("_"):
            raise AttributeError(name)
        return unsupported_call("%s.%s" % (short, name), error)

    module.__getattr__ = __getattr__
    module.__all__ = list(names)
