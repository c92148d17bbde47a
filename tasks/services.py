"""Submitting and cancelling tasks (web side). The web process only writes rows and queues messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from access import permissions
from access.audit import audited
from panel.errors import Conflict, Forbidden

from . import events
from .choices import TaskStatus
from .models import Task
from .registry import get_task_type

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from guests.models import Guest
    from nodes.models import Node


def submit(
    node: Node,
    type_: str,
    user: AbstractBaseUser | None,
    guest: Guest | None = None,
    params: dict | None = None,
    vmid: int | None = None,
) -> Task:
    """Record a task and queue it on the node's own queue once the transaction commits."""
    get_task_type(type_)  # fail here, not on the worker, for a type nobody registered
    task = Task.objects.record(node, type_, user, guest=guest, params=params, vmid=vmid)
    transaction.on_commit(lambda: enqueue(task))
    return task


def enqueue(task: Task) -> None:
    from .tasks import run_task

    run_task.apply_async(args=[task.pk], queue=task.node.queue)
    events.publish_status(task)


def cancel(user: AbstractBaseUser, task: Task) -> Task:
    """A queued task is cancelled at once; a running one stops at its next step (between guests)."""
    with audited(user, "task.cancel", task.upid):
        return _cancel(user, task)


def _cancel(user: AbstractBaseUser, task: Task) -> Task:
    if not permissions.can_cancel_task(user, task):
        raise Forbidden(f"you may not cancel task {task.upid}")
    if Task.objects.filter(pk=task.pk, status=TaskStatus.QUEUED).update(
        status=TaskStatus.CANCELLED, cancel_requested=True, exit_message="cancelled before it started"
    ):
        task.refresh_from_db()
        events.publish_status(task)
        return task
    if not Task.objects.filter(pk=task.pk, status=TaskStatus.RUNNING).update(cancel_requested=True):
        raise Conflict(f"task {task.upid} has already ended")
    # Children of a bulk task have no steps of their own to stop at: the parent stops between them.
    Task.objects.filter(parent=task, status=TaskStatus.QUEUED).update(cancel_requested=True)
    task.refresh_from_db()
    return task
