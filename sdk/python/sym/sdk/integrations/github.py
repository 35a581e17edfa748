"""Sym's `github` integration: it has no local meaning in SymTUI; every call raises SymException (fail closed).

Grant such access with a `command` or `http` strategy, or call the service from a handler yourself.
"""

from sym.sdk.exceptions import GitHubError
from sym.sdk.integrations._unsupported import install

install(__name__, "github", ("get_repo_collaborators", "is_user_in_team", "add_user_to_team", "remove_user_from_team", ), GitHubError)
