"""The one place where the service layer's refusals become pages (the API maps them in api/responses.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .errors import Forbidden, NotFound, PanelError

TEMPLATES = {Forbidden: "403.html", NotFound: "404.html"}


class ServiceErrorMiddleware:
    """A Forbidden raised by a service is the 403 page with its reason, a NotFound the 404 page; any other
    PanelError that a view did not handle itself is an error page with the error's status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, PanelError):
            return None
        template = next((t for kind, t in TEMPLATES.items() if isinstance(exception, kind)), "error.html")
        return render(request, template, {"exception": exception.message, "status": exception.status},
                      status=exception.status)


class RefuseNulMiddleware:
    """No NUL character reaches a view: PostgreSQL refuses it in text, which made a 500 of any field or path
    holding one. The refusal is a 400 naming the cause, as a page or as the API's envelope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            message = "the request holds a NUL character, which no field or path may contain"
            if request.path.startswith("/api2/"):
                return JsonResponse({"data": None, "message": message, "errors": {"request": message}}, status=400,
                                    reason=message)
            return render(request, "error.html", {"exception": message, "status": 400}, status=400)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    """In the path, a query's or a form's names and values, or a JSON body (files uploaded are not looked at)."""
    def in_fields(fields) -> bool:
        return any("\x00" in key or any("\x00" in v for v in values) for key, values in fields.lists())

    if "\x00" in request.path or in_fields(request.GET):
        return True
    content_type = request.content_type or ""
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return in_fields(request.POST)
    return content_type == "application/json" and (b"\x00" in request.body or b"\\u0000" in request.body)
