"""Proxmox's envelope: every answer is ``{"data": ...}``; errors carry ``errors`` and a message."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from panel.errors import PanelError


def data(value: object, status: int = 200, **extra: object) -> Response:
    return Response({"data": value, **extra}, status=status)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, PanelError):
        errors = getattr(exc, "errors", None) or {exc.code: exc.message}  # parameter errors name their parameters
        return Response({"data": None, "errors": errors, "message": exc.message},
                        status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"data": None, "errors": detail, "message": str(detail)}
    return response
