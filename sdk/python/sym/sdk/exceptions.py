"""Sym's exceptions. `SymException` is also what every Sym call without a local meaning raises."""

__all__ = ["SymException", "SymIntegrationError", "SlackError", "PagerDutyError", "OktaError", "AWSError",
           "AWSLambdaError", "GitHubError", "GoogleError", "no_local_meaning", "not_configured"]


class SymException(Exception):
    """An error a handler can raise or catch, as in Sym; `.message` is its text."""

    # The runner prints these with their message as the last line of stderr, which the audit event keeps.
    symtui_fail_closed = True

    def __init__(self, message="", error_type=None):
        Exception.__init__(self, message)
        self.message = message
        self.error_type = error_type or type(self).__name__


class SymIntegrationError(SymException):
    """An integration call failed or has no meaning here."""


class SlackError(SymIntegrationError):
    pass


class PagerDutyError(SymIntegrationError):
    pass


class OktaError(SymIntegrationError):
    pass


class AWSError(SymIntegrationError):
    pass


class AWSLambdaError(AWSError):
    pass


class GitHubError(SymIntegrationError):
    pass


class GoogleError(SymIntegrationError):
    pass


def no_local_meaning(name, error=SymIntegrationError):
    """The exception for a Sym name that SymTUI will not emulate (a third-party API call)."""
    return error("%s has no local meaning in SymTUI: use a command strategy or a handler" % name)


def not_configured(name, what, error=SymIntegrationError):
    """The exception for a Sym name whose local meaning (`what`) is not configured on this SymTUI."""
    return error("%s: no %s are configured in this SymTUI (the config's oncall key), so this call has no answer here" % (name, what))
