"""Sym's `knowbe4` integration: it has no local meaning in SymTUI; every call raises SymException (fail closed).

Grant such access with a `command` or `http` strategy, or call the service from a handler yourself.
"""

from sym.sdk.exceptions import SymIntegrationError
from sym.sdk.integrations._unsupported import install

install(__name__, "knowbe4", ("get_training_enrollments", "is_user_in_group", ), SymIntegrationError)
