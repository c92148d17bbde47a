"""The one place where the service layer's refusals become pages (the API maps them in api/responses.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
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
