"""Proxmox's authentication ticket and CSRF prevention token.

A ticket is ``PVE:<userid>:<hex time>::<signature>`` and travels in the ``PVEAuthCookie`` cookie; it is valid
for two hours (from 5 minutes before its time, for clocks that differ) and a client renews it by posting it as
the password to /access/ticket. A write with a ticket also needs the ``CSRFPreventionToken`` header,
``<hex time>:<signature>`` of the same user. Proxmox signs tickets with RSA so that every node can check
them; the panel's nodes share the secret key, so an HMAC of it does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from django.conf import settings
from django.http import HttpRequest

LIFETIME = 2 * 3600
GRACE = 5 * 60
TICKET = re.compile(r"^PVE:(?P<userid>[^:\s]{1,200}):(?P<time>[0-9A-F]{8})::(?P<sig>[A-Za-z0-9+/=_-]{20,128})$")
CSRF = re.compile(r"^(?P<time>[0-9A-F]{8}):(?P<sig>[A-Za-z0-9+/=_-]{20,128})$")


def _sign(purpose: str, text: str) -> str:
    key = hashlib.sha256(f"panel.tickets.{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def _fresh(hex_time: str, now: float | None) -> bool:
    age = (time.time() if now is None else now) - int(hex_time, 16)
    return -GRACE <= age <= LIFETIME


def make_ticket(userid: str, now: float | None = None) -> str:
    plain = f"PVE:{userid}:{int(time.time() if now is None else now):08X}"
    return f"{plain}::{_sign('ticket', plain)}"


def ticket_user(ticket: str, now: float | None = None) -> str | None:
    """The user id a valid, unexpired ticket was made for; None for any other string."""
    match = TICKET.match(ticket or "")
    if match is None or not _fresh(match["time"], now):
        return None
    plain = f"PVE:{match['userid']}:{match['time']}"
    return match["userid"] if hmac.compare_digest(_sign("ticket", plain), match["sig"]) else None


def make_csrf_token(userid: str, now: float | None = None) -> str:
    stamp = f"{int(time.time() if now is None else now):08X}"
    return f"{stamp}:{_sign('csrf', f'{stamp}:{userid}')}"


def csrf_token_valid(userid: str, token: str, now: float | None = None) -> bool:
    match = CSRF.match(token or "")
    if match is None or not _fresh(match["time"], now):
        return False
    return hmac.compare_digest(_sign("csrf", f"{match['time']}:{userid}"), match["sig"])


def login(request: HttpRequest, username: str, password: str, realm: str | None = None):
    """POST /access/ticket: the active user of ``username`` (``name@realm``, or ``name`` and ``realm``), or None.

    ``password`` is the user's password, checked by the throttled backend (access/backends.py, which audits a
    failure), or a valid ticket of the same user, which renews it without a password."""
    from django.contrib.auth import authenticate, get_user_model

    from . import audit
    from .identity import username_of

    full_id = f"{username}@{realm}" if realm and not str(username).endswith(f"@{realm}") else str(username)
    try:
        name = username_of(full_id)
    except ValueError:
        audit.record(None, "login", full_id[:150], audit.AuditEntry.Result.FAILED, "no such realm or user id",
                     username=full_id[:150])
        return None
    if ticket_user(password) == full_id:
        user = get_user_model().objects.filter(username=name, is_active=True).first()
    else:
        user = authenticate(request, username=name, password=password)
        if user is not None:
            audit.record(user, "login", full_id, detail="API ticket")
    return user if user is not None and user.is_active else None
