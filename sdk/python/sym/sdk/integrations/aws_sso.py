"""Sym's `aws_sso` integration: it has no local meaning in SymTUI; every call raises SymException (fail closed).

Grant such access with a `command` or `http` strategy, or call the service from a handler yourself.
"""

from sym.sdk.exceptions import AWSError
from sym.sdk.integrations._unsupported import install

install(__name__, "aws_sso", ("is_user_in_group", "get_user_arn", "list_groups", "users_in_group", ), AWSError)
