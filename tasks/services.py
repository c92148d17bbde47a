"""Submitting tasks (web side). The web process only writes a row and queues a message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from panel.errors import Conflict

from .choices import ACTIVE_STATUSES
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
    user_name = f"{user.get_username()}@pam" if user is not None else "root@pam"
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
