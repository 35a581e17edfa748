"""Sym's `slack` integration, in SymTUI's terms.

`user(...)`, `group(...)`, `channel(...)` and `fallback(...)` make destinations, as in Sym. As the answer of
`get_approvers`, a user or a group of users means "these users may approve" (SymTUI shows the request in their
consoles). A channel's local meaning is a notification channel, and so is `send_message`'s: this SymTUI has no
notification channels yet, so those raise SymException (fail closed) until they land. Every other call has no
local meaning.
"""

from sym.sdk.exceptions import SlackError, SymException, not_configured_yet
from sym.sdk.integrations._unsupported import install
from sym.sdk.user import username_of

__all__ = ["user", "group", "channel", "fallback", "send_message", "mention"]

WHAT = "notification channels"


class SlackDestination(object):
    """Where Sym would send a request: users (local meaning: approvers) or a channel (a notification channel)."""

    def __init__(self, kind, users=(), channel=None, allow_self=False, timeout=None):
        self.kind = kind
        self.users = list(users)
        self.channel = channel
        self.allow_self = bool(allow_self)
        self.timeout = timeout

    def _symtui_answer(self, handler):
        if handler != "get_approvers":
            raise SymException("slack.%s(...) is an answer of get_approvers, not of %s" % (self.kind, handler))
        if self.kind == "channel":
            raise not_configured_yet("slack.channel(%r) as get_approvers' answer" % self.channel, WHAT, SlackError)
        return {"users": self.users, "groups": []}

    def __repr__(self):
        return "slack.%s(%r)" % (self.kind, self.channel if self.kind == "channel" else self.users)


class SlackFallback(object):
    """Sym's fallback: the first destination that can be delivered. Here: the first one with a local meaning."""

    def __init__(self, destinations):
        self.destinations = list(destinations)

    def _symtui_answer(self, handler):
        first_error = None
        for destination in self.destinations:
            try:
                return destination._symtui_answer(handler)
            except SymException as error:
                first_error = first_error or error
        raise first_error or SymException("slack.fallback() needs at least one destination")


def user(identifier, allow_self=False, timeout=None):
    """A person, by Unix user name (or a User, or "@name"): as get_approvers' answer, they may approve."""
    return SlackDestination("user", [username_of(identifier, "slack.user")], allow_self=allow_self, timeout=timeout)


def group(users, allow_self=False, timeout=None):
    """Several people (Sym's group DM): as get_approvers' answer, each of them may approve."""
    if isinstance(users, str):
        raise SymException("slack.group needs a list of users, not one string")
    return SlackDestination("group", [username_of(u, "slack.group") for u in users], allow_self=allow_self,
                            timeout=timeout)


def channel(name, allow_self=False, timeout=None):
    """A Slack channel; locally, a notification channel (not available yet: answering it raises SymException)."""
    if not isinstance(name, str) or not name:
        raise SymException("slack.channel needs a channel name")
    return SlackDestination("channel", channel=name, allow_self=allow_self, timeout=timeout)


def fallback(*destinations, **options):
    """Try destinations in order; locally the first with a local meaning decides."""
    return SlackFallback(destinations)


def mention(identifier):
    """How to name a person in a message: their user name."""
    return "@" + username_of(identifier, "slack.mention")


def send_message(destination, message):
    """Send `message` to a user or channel: a notification, which this SymTUI cannot send yet (raises)."""
    raise not_configured_yet("slack.send_message", WHAT, SlackError)


install(__name__, "slack", (), SlackError)
__all__ = ["user", "group", "channel", "fallback", "send_message", "mention"]
