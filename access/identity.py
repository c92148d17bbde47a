"""Proxmox-style identities: a user is ``name@realm`` and an API token ``name@realm!tokenid``.

The panel's users live in one realm, ``pam`` (they are Django's users); work the system does on its own runs
as root@pam, as in Proxmox.
"""

from __future__ import annotations

REALM = "pam"
SYSTEM_USERID = f"root@{REALM}"


def userid(username: str) -> str:
    """``alice`` -> ``alice@pam``."""
    return f"{username}@{REALM}"


def userid_of(user: object | None) -> str:
    """The id of a user object (root@pam for None: the system), with ``!tokenid`` when it acts through a token."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_USERID if user is None else ""
    token = getattr(user, "panel_api_token", None)
    name = userid(user.get_username())
    return f"{name}!{token.tokenid}" if token is not None else name
