"""Password logins, throttled (access/throttle.py): the one backend every way in goes through."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from . import audit, throttle
from .identity import userid


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: object):
        name = str(username or kwargs.get("email") or "")[:150]
        address = throttle.client_address(request)
        refused = throttle.refusal(name, address) if name else None
        if refused is not None:
            audit.record(None, "login", userid(name), audit.AuditEntry.Result.DENIED,
                         f"throttled: {refused.reason}", username=userid(name), address=address)
            if request is not None:
                request.panel_throttled = True  # not a failed password: access/signals.py records none
            # Stops every backend; Django's authenticate() then reports a failed login.
            raise PermissionDenied(f"{refused.reason}: try again in {refused.retry_after} s")
        return super().authenticate(request, username=username, password=password, **kwargs)
