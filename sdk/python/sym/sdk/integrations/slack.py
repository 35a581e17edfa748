"""Sym's `slack` integration, in SymTUI's terms.

`user(...)`, `group(...)`, `channel(...)` and `fallback(...)` make destinations, as in Sym. As the answer of
`get_approvers`, a user or a group of users means "these users may approve" (SymTUI shows the request in their
consoles). `send_message` sends through SymTUI's notifications: to a user, on the flow's notification channels (each
channel's own route to that person: their terminals, their address, the shared webhook naming them); to a
channel, on the `notifications.channels` entry of that name (a leading "#" is dropped). The daemon queues the
messages when the handler's answer is recorded, and an unknown channel fails the handler step. A channel names no
approvers, so it is no answer of get_approvers. Every other call has no local meaning.
"""

import symtui_sdk
from sym.sdk.exceptions import SlackError, SymException
from sym.sdk.integrations._unsupported import install
from sym.sdk.user import username_of

__all__ = ["user", "group", "channel", "fallback", "send_message", "mention"]

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
            raise SlackError("slack.channel(%r) names no approvers in SymTUI (a channel is a notification channel "
                             "here): answer slack.user(...) or slack.group(...)" % self.channel)
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
    """A Slack channel; locally, the notification channel of that name (`#ops` → `ops`)."""
    if not isinstance(name, str) or not name:
        raise SymException("slack.channel needs a channel name")
    return SlackDestination("channel", channel=name, allow_self=allow_self, timeout=timeout)


def fallback(*destinations, **options):
    """Try destinations in order; locally the first with a local meaning decides."""
    return SlackFallback(destinations)


def mention(identifier):
    """How to name a person in a message: their user name."""
    return "@" + username_of(identifier, "slack.mention")


def _channel_name(name):
    return name[1:] if name.startswith("#") else name


def _targets(destination):
    """(name, is_channel) pairs a destination sends to; a fallback sends to its first destination."""
    if isinstance(destination, SlackFallback):
        if not destination.destinations:
            raise SlackError("slack.fallback() needs at least one destination")
        return _targets(destination.destinations[0])
    if isinstance(destination, SlackDestination):
        if destination.kind == "channel":
            return [(_channel_name(destination.channel), True)]
        return [(u, False) for u in destination.users]
    if isinstance(destination, str) and destination.startswith("#"):
        return [(_channel_name(destination), True)]
    return [(username_of(destination, "slack.send_message"), False)]


def send_message(destination, message):
    """Sends `message` to a user (on the flow's notification channels) or to a channel (the notification channel of
    that name); a group sends to each of its users. Queued when the handler's answer is recorded."""
    if not isinstance(message, str):
        raise SlackError("slack.send_message: the message must be a string (Slack blocks have no local meaning), not %s"
                         % type(message).__name__)
    targets = _targets(destination)
    if not targets or any(not name for name, _ in targets):
        raise SlackError("slack.send_message: %r names no user or channel" % (destination,))
    for name, is_channel in targets:
        try:
            symtui_sdk.send_message(name, message, channel=is_channel)
        except ValueError as error:
            raise SlackError("slack.%s" % error)


install(__name__, "slack", (), SlackError)
__all__ = ["user", "group", "channel", "fallback", "send_message", "mention"]
