"""Submitting and cancelling tasks (web side). The web process only writes rows and queues messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from access import permissions
from access.audit import audited
from access.identity import userid_of
from panel.errors import Conflict, Forbidden

from . import events
from .choices import ACTIVE_STATUSES, TaskStatus
from .models import Task
from .registry import get_task_type
from .upid import new_upid

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
    vmid = vmid if vmid is not None else (guest.vmid if guest else None)
    user_name = userid_of(user)
    try:
        with transaction.atomic():
            task = Task.objects.create(
                upid=new_upid(node.name, type_, str(vmid or ""), user_name),
                node=node,
                user=user,
                type=type_,
                guest=guest,
                vmid=vmid,
                params=params or {},
            )
    except IntegrityError as exc:
        busy = Task.objects.filter(guest=guest, status__in=ACTIVE_STATUSES).first() if guest else None
        if busy is None:
            raise
        raise Conflict(
            f"{guest} is busy with task {busy.type} ({busy.get_status_display()}); "
            "wait for it to finish"
        ) from exc
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
