"""Proxmox's synchronous writes (``PUT .../config``) over a task: the view queues the task, and the answer waits
for its end here, in the event loop, without holding the one thread that runs the process's synchronous views."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from tasks.choices import ACTIVE_STATUSES, TaskStatus
from tasks.models import Task

SYNC_WAIT = 60.0  # s a synchronous call waits for its task; then it answers the task's UPID, as the async API
POLL_INTERVAL = 0.05


def answer_after(response: HttpResponse, task: Task | None) -> HttpResponse:
    """Mark a view's answer as standing for ``task``'s outcome (None: nothing to wait for)."""
    response.panel_task_id = task.pk if task is not None else None
    return response


def _state(task_id: int) -> tuple[str, str, str]:
    return Task.objects.filter(pk=task_id).values_list("status", "exit_message", "upid").get()


async def outcome(task_id: int, timeout: float = SYNC_WAIT) -> tuple[str, str, str]:
    """(status, exit message, UPID) once the task has ended, or as it is after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        state = await sync_to_async(_state)(task_id)
        if state[0] not in ACTIVE_STATUSES or time.monotonic() >= deadline:
            return state
        await asyncio.sleep(POLL_INTERVAL)


def waits_for_task(view: Callable[..., HttpResponse]) -> Callable[..., object]:
    """``view`` (a DRF view) runs as usual; an answer marked by ``answer_after`` is given once its task ended:
    null when it succeeded, its error as a 409 when it failed, its UPID when it takes longer than SYNC_WAIT."""

    async def waiting(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = await sync_to_async(view)(request, *args, **kwargs)
        task_id = getattr(response, "panel_task_id", None)
        if task_id is None:
            return response
        status, message, upid = await outcome(task_id)
        if status == TaskStatus.OK:
            return JsonResponse({"data": None})
        if status in ACTIVE_STATUSES:
            return JsonResponse({"data": upid})
        return JsonResponse({"data": None, "errors": {"task": message}, "message": message}, status=409)

    waiting.csrf_exempt = True  # DRF's authentication checks CSRF for session users itself
    for attribute in ("cls", "initkwargs", "view_class", "view_initkwargs"):
        if hasattr(view, attribute):
            setattr(waiting, attribute, getattr(view, attribute))
    return waiting
