"""Proxmox-style identities: a user is ``name@realm`` and an API token ``name@realm!tokenid``.

The panel's users are Django's users, in two realms as on a fresh Proxmox install: ``pam`` (the user name as
it is, ``alice`` is alice@pam) and ``pve`` (the user name carries the realm, ``bob@pve``). Work the system does
on its own runs as root@pam, as in Proxmox.
"""

from __future__ import annotations

import re

REALM = "pam"
REALMS = {"pam": "Linux PAM standard authentication", "pve": "Proxmox VE authentication server"}
SYSTEM_USERID = f"root@{REALM}"
# Proxmox's user name (no '@', ':', '/' or blanks) and token id (pve-access-control's regexes).
USER_NAME = re.compile(r"[^\s:/@]{1,60}")
TOKEN_ID = re.compile(r"[A-Za-z][A-Za-z0-9.\-_]*")
USERID = re.compile(rf"^({USER_NAME.pattern})@({'|'.join(REALMS)})$")
TOKEN_FULL_ID = re.compile(rf"^({USER_NAME.pattern})@({'|'.join(REALMS)})!({TOKEN_ID.pattern})$")


def userid(username: str) -> str:
    """``alice`` -> ``alice@pam``; ``bob@pve`` stays ``bob@pve``."""
    return username if username.endswith("@pve") else f"{username}@{REALM}"


def username_of(full_id: str) -> str:
    """The Django user name of ``name@realm`` (``alice@pam`` -> ``alice``, ``bob@pve`` -> ``bob@pve``);
    ValueError for anything that is not a user id of a known realm."""
    match = USERID.match(str(full_id))
    if match is None:
        raise ValueError(f"invalid user id '{full_id}': name@pam or name@pve")
    name, realm = match.groups()
    return name if realm == REALM else f"{name}@{realm}"


def userid_of(user: object | None) -> str:
    """The id of a user object (root@pam for None: the system), with ``!tokenid`` when it acts through a token."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_USERID if user is None else ""
    token = getattr(user, "panel_api_token", None)
    name = userid(user.get_username())
    return f"{name}!{token.tokenid}" if token is not None else name
