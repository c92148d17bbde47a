"""Submitting and cancelling tasks (web side). The web process only writes rows and queues messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from access import permissions
from access.audit import audited
from panel.errors import Conflict, Forbidden, InvalidRequest

from . import events
from .choices import MAX_TIMEOUT, TaskStatus
from .delivery import deliver
from .models import Task
from .registry import get_task_type

# The longest wait a user may ask of a task: two hours, like Proxmox's stop-all timeout.

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
    transaction.on_commit(lambda: deliver(task))  # the row is the record: a broker that is down loses nothing
    return task


def check_timeout(seconds: int | None, what: str = "timeout") -> int | None:
    """A user-given wait (a shutdown's, stop-all's per guest, a migration's), within MAX_TIMEOUT s."""
    if seconds is not None and not 0 <= seconds <= MAX_TIMEOUT:
        raise InvalidRequest(f"{what} must be between 0 and {MAX_TIMEOUT} seconds, not {seconds}")
    return seconds


def cancel(user: AbstractBaseUser, task: Task) -> Task:
    """A queued task is cancelled at once; a running one stops at its next step if it has one (a bulk task
    between guests, a shutdown while it waits), and the cancel is refused if it has none."""
    with audited(user, "task.cancel", task.upid):
        return _cancel(user, task)


def _cancel(user: AbstractBaseUser, task: Task) -> Task:
    if not permissions.can_cancel_task(user, task):
        raise Forbidden(f"you may not cancel task {task.upid}")
    if Task.objects.filter(pk=task.pk, status=TaskStatus.QUEUED).update(
        status=TaskStatus.CANCELLED, cancel_requested=True, exit_message="cancelled before it started",
        ended_at=timezone.now(),
    ):
        task.refresh_from_db()
        events.publish_status(task)
        return task
    if not Task.objects.filter(pk=task.pk, status=TaskStatus.RUNNING, cancellable=True).update(
            cancel_requested=True):
        task.refresh_from_db()
        if task.status == TaskStatus.RUNNING:
            raise Conflict(f"{get_task_type(task.type).label} of {task.target} cannot be cancelled while it runs: "
                           "it has no point to stop at and ends by itself")
        raise Conflict(f"task {task.upid} has already ended")
    # A bulk task stops between guests: the steps it queued are cancelled, the ones under way end.
    Task.objects.filter(parent=task, status=TaskStatus.QUEUED).update(cancel_requested=True)
    task.refresh_from_db()
    return task
