"""Proxmox's envelope: every answer is ``{"data": ...}``; an error has ``data: null``, a ``message``, and for bad
parameters ``errors: {param: message}``. As pveproxy does, the message is also the reason phrase of the status
line (``HTTP/1.1 401 Authentication failed!``), which is what clients such as proxmoxer show."""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from panel.errors import PanelError

# The ASGI protocol has no reason phrase: the server (panel/server.py) takes it from this header and drops it.
REASON_HEADER = "X-Panel-Reason"
PARAMETER_ERROR = "Parameter verification failed."
MAX_REASON = 400


def data(value: object, status: int = 200, **extra: object) -> Response:
    return Response({"data": value, **extra}, status=status)


def reason(message: str) -> str:
    """A message as a reason phrase: its first line, in printable ASCII."""
    line = str(message).strip().splitlines()[0] if str(message).strip() else ""
    return "".join(c if " " <= c <= "~" else "?" for c in line)[:MAX_REASON]


def error(status: int, message: str, errors: dict | None = None) -> Response:
    body: dict = {"data": None, "message": message}
    if errors:
        body["errors"] = errors
    response = Response(body, status=status)
    phrase = reason(message)
    if phrase:
        response.reason_phrase = phrase
        response[REASON_HEADER] = phrase
    return response


def _flat(detail: object) -> str:
    if isinstance(detail, list | tuple):
        return "; ".join(_flat(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in detail.items())
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, PanelError):
        return error(exc.status, exc.message, getattr(exc, "errors", None))  # parameter errors name theirs
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"data": exc.detail}
        return error(400, PARAMETER_ERROR, {str(k): _flat(v) for k, v in detail.items()})
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # Always a 401, as Proxmox: DRF would make it a 403 for a view that takes no credentials (the ticket's)
        message = "No ticket" if isinstance(exc, exceptions.NotAuthenticated) else _flat(exc.detail)
        response = error(401, message)
        response["WWW-Authenticate"] = "PVEAPIToken"
        return response
    if isinstance(exc, Http404):
        return error(404, str(exc) or "no such object")
    if isinstance(exc, exceptions.APIException):
        response = error(exc.status_code, _flat(exc.detail))
        base = drf_exception_handler(exc, context)
        for name in ("WWW-Authenticate", "Allow", "Retry-After"):
            if base is not None and name in base:
                response[name] = base[name]
        return response
    return None
