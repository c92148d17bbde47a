"""The audit log: the service layer records every action here, with the address of the request.

A service runs its checks and its work inside ``audited``, which writes one row for the outcome: ok (with
the detail the block set, e.g. the task's UPID), denied (it raised Forbidden) or failed (another PanelError).
Pages and the API therefore leave the same rows, whoever refuses the request.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from panel.errors import Forbidden, PanelError

from .identity import userid, userid_of
from .models import AuditEntry

_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("panel_client_address", default=None)

LOGIN_FAILURES_ALLOWED = 5
LOGIN_FAILURE_WINDOW = timedelta(minutes=5)


def client_address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class AuditAddressMiddleware:
    """Remembers the client address of the request for the audit entries the service layer writes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _address.set(client_address(request))
        try:
            return self.get_response(request)
        finally:
            _address.reset(token)


def record(user: object, action: str, obj: object = "", result: str = AuditEntry.Result.OK, detail: str = "",
           username: str | None = None, address: str | None = None) -> AuditEntry:
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return AuditEntry.objects.create(
        user=user if authenticated else None,
        username=username if username is not None else (userid_of(user) if authenticated else ""),
        action=action,
        object=str(obj)[:255],
        address=address or _address.get(),
        result=result,
        detail=str(detail)[:500],
    )


def denied(user: object, action: str, obj: object, detail: str = "") -> AuditEntry:
    return record(user, action, obj, AuditEntry.Result.DENIED, detail)


@dataclass
class Outcome:
    """What an audited block says of its success: ``detail`` (e.g. a task's UPID)."""

    detail: str = ""


@contextmanager
def audited(user: object, action: str, obj: object) -> Iterator[Outcome]:
    """Run the block and record its outcome: ok, denied (Forbidden) or failed (any other PanelError)."""
    outcome = Outcome()
    try:
        yield outcome
    except Forbidden as exc:
        denied(user, action, obj, exc.message)
        raise
    except PanelError as exc:
        record(user, action, obj, AuditEntry.Result.FAILED, exc.message)
        raise
    record(user, action, obj, detail=outcome.detail)


def recent_login_failures(username: str, address: str | None) -> int:
    since = timezone.now() - LOGIN_FAILURE_WINDOW
    return AuditEntry.objects.filter(action="login", result=AuditEntry.Result.FAILED, username=userid(username),
                                     address=address, at__gte=since).count()
