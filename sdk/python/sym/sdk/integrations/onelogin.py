"""Sym's `onelogin` integration: it has no local meaning in SymTUI; every call raises SymException (fail closed).

Grant such access with a `command` or `http` strategy, or call the service from a handler yourself.
"""

from sym.sdk.exceptions import SymIntegrationError
from sym.sdk.integrations._unsupported import install

install(__name__, "onelogin", ("is_user_in_role", "users_in_role", "get_user_info", ), SymIntegrationError)
