"""Sym's `boundary` integration: it has no local meaning in SymTUI; every call raises SymException (fail closed).

Grant such access with a `command` or `http` strategy, or call the service from a handler yourself.
"""

from sym.sdk.exceptions import SymIntegrationError
from sym.sdk.integrations._unsupported import install

install(__name__, "boundary", ("is_user_in_group", "add_user_to_group", "remove_user_from_group", ), SymIntegrationError)
