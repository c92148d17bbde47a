"""The login throttle, applied by the authentication backend to every way in (the login page, Django's admin,
the API's ticket and tokens): an increasing delay per user name, and a limit per client address.

Failures are the audit log's rows (result "failed" of action "login" or "api.token"), so every process sees
the same counts. A refusal by the throttle checks no password and does not count as a failure: the delay
grows only with passwords tried.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max
from django.http import HttpRequest
from django.utils import timezone

from .identity import userid
from .models import AuditEntry

FAILURE_ACTIONS = ("login", "api.token")


def client_address(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or behind a proxy listed in PANEL_TRUSTED_PROXIES the last address
    of X-Forwarded-For that is not one of those proxies."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = settings.PANEL_TRUSTED_PROXIES
    if remote is None or remote not in trusted:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    for address in reversed(forwarded):
        if address not in trusted:
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return remote  # a forged or broken header: the proxy's own address
    return remote


@dataclass(frozen=True)
class Refusal:
    reason: str
    retry_after: int  # seconds


def _failures(**match: object):
    since = timezone.now() - timedelta(seconds=settings.PANEL_LOGIN_WINDOW)
    return AuditEntry.objects.filter(action__in=FAILURE_ACTIONS, result=AuditEntry.Result.FAILED, at__gte=since,
                                     **match)


def refusal(name: str, address: str | None) -> Refusal | None:
    """Why a try for ``name`` (a user name, or a token id) from ``address`` is refused now, or None."""
    if address is not None:
        count = _failures(address=address).count()
        if count >= settings.PANEL_LOGIN_ADDRESS_LIMIT:
            return Refusal("too many failed logins from this address", settings.PANEL_LOGIN_WINDOW)
    audited_as = name if "@" in name else userid(name)  # a token's id carries its user's realm already
    rows = _failures(username=audited_as).aggregate(n=Count("pk"), last=Max("at"))
    excess = (rows["n"] or 0) - settings.PANEL_LOGIN_FREE_TRIES
    if excess < 0 or rows["last"] is None:
        return None
    delay = min(settings.PANEL_LOGIN_DELAY * 2 ** excess, settings.PANEL_LOGIN_MAX_DELAY)
    waited = (timezone.now() - rows["last"]).total_seconds()
    if waited >= delay:
        return None
    return Refusal(f"too many failed logins for {name}", math.ceil(delay - waited))
