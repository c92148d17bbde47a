"""Small shared view helpers."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from .errors import Refused

# What a page answers: forms are POSTed. Django's generic views also have put() (a form's post) and delete()
# (DeleteView deletes the object itself, past the service layer and its checks): never routed.
PAGE_METHODS = ["get", "post", "head", "options"]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # request.method of those that change nothing


class PanelPageMixin(LoginRequiredMixin):
    """Every page of the panel needs a login; the public status page comes with access control."""

    http_method_names = PAGE_METHODS


def queue_task(request: HttpRequest, submit: Callable[[], Model], back: Model | str,
               done: Callable[[Model], str]) -> HttpResponse:
    """Run ``submit`` (a service that queues or cancels a task and returns it) for a page: on to the task
    with ``done(task)`` as the message, back to ``back`` with the reason when refused (a Forbidden goes on to
    panel/middleware.py)."""
    try:
        task = submit()
    except Refused as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, done(task))
    return redirect(task)
