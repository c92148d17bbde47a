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

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from panel.errors import Forbidden, PanelError

from . import throttle
from .identity import userid_of
from .models import AuditEntry

_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("panel_client_address", default=None)

ANONYMOUS_PRUNE_EVERY = 100  # rows between two prunings of the anonymous ones


class AuditAddressMiddleware:
    """Remembers the client address of the request for the audit entries the service layer writes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _address.set(throttle.client_address(request))
        try:
            return self.get_response(request)
        finally:
            _address.reset(token)


@contextmanager
def at_address(address: str | None) -> Iterator[None]:
    """The client address of what the block records, where no request passed the middleware (a websocket)."""
    token = _address.set(address)
    try:
        yield
    finally:
        _address.reset(token)


def record(user: object, action: str, obj: object = "", result: str = AuditEntry.Result.OK, detail: str = "",
           username: str | None = None, address: str | None = None) -> AuditEntry:
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    entry = AuditEntry.objects.create(
        user=user if authenticated else None,
        username=username if username is not None else (userid_of(user) if authenticated else ""),
        action=action,
        object=str(obj)[:255],
        address=address or _address.get(),
        result=result,
        detail=str(detail)[:500],
    )
    if not authenticated and entry.pk % ANONYMOUS_PRUNE_EVERY == 0:
        AuditEntry.objects.prune_anonymous(settings.PANEL_AUDIT_ANONYMOUS_ROWS)
    return entry


def denied(user: object, action: str, obj: object, detail: str = "") -> AuditEntry:
    return record(user, action, obj, AuditEntry.Result.DENIED, detail)


@dataclass
class Outcome:
    """What an audited block says of its success: ``detail`` (e.g. a task's UPID)."""

    detail: str = ""


@contextmanager
def denials(user: object, action: str, obj: object) -> Iterator[None]:
    """Record a Forbidden the block raises, and nothing else: a page's own check before it calls the audited
    service (which records the outcome of what gets that far)."""
    try:
        yield
    except Forbidden as exc:
        denied(user, action, obj, exc.message)
        raise


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
