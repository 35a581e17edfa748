"""Sym's `User`: in SymTUI a user is a Unix user name (a str with `.username` and `.email`)."""

from symtui_sdk import User

from sym.sdk.exceptions import SymException

__all__ = ["User", "user_ids", "username_of"]


def username_of(value, where):
    """The Unix user name `value` stands for: a User, a plain name or "@name". Addresses are refused."""
    if isinstance(value, str):
        name = str(value)
        if name.startswith("@"):
            name = name[1:]
        if "@" in name:
            raise SymException("%s(%r): SymTUI identifies people by their Unix user name, not by address; "
                               "pass the user name" % (where, name))
        if name:
            return name
    raise SymException("%s: expected a user name or a User, not %r" % (where, value))


def user_ids(users):
    """Sym turns Users into ids for RequestPermission; in SymTUI the id of a user is its name."""
    return [username_of(u, "user_ids") for u in users]
