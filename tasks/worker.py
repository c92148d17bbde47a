"""Running tasks (node side): claim the row, run its operation, record the outcome and log.

The row, not the broker's message, is the record of a task: a message only says "look at task N". Claiming
is a compare-and-set from queued to running under a row lock, so a second message for the same task (sent
again by tasks/delivery.py, or redelivered by the broker) finds it taken and changes nothing.
"""

from __future__ import annotations

import logging
import traceback

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from drivers.errors import DriverError
from panel.errors import PanelError

from . import events, lease
from .choices import TaskStatus
from .context import TaskCancelled, TaskContext
from .models import Task
from .registry import get_task_type

logger = logging.getLogger(__name__)


def execute(task_id: int) -> None:
    """Entry point of the Celery task: claim the row, then run it."""
    task = claim(task_id)
    if task is not None:
        run_claimed(task)


def claim(task_id: int) -> Task | None:
    """The task, now running in this process; None when there is nothing to run (taken, ended, vanished)."""
    with transaction.atomic():
        task = (
            Task.objects.select_for_update(of=("self",))
            .select_related("node", "guest", "user", "parent")
            .filter(pk=task_id)
            .first()
        )
        if task is None:
            logger.warning("task %s vanished before it ran", task_id)
            return None
        found = task.status
        if found == TaskStatus.QUEUED:
            if task.node.name != settings.PANEL_NODE_NAME:
                finish(task, TaskStatus.ERROR, f"task for node {task.node.name} reached the worker of "
                                               f"{settings.PANEL_NODE_NAME}")
                return None
            if task.cancel_requested:
                finish(task, TaskStatus.CANCELLED, "cancelled before it started")
                return None
            task.status, task.started_at = TaskStatus.RUNNING, timezone.now()
            task.worker_host, task.worker_pid = lease.this_process()
            Task.objects.filter(pk=task.pk).update(status=task.status, started_at=task.started_at,
                                                   worker_host=task.worker_host, worker_pid=task.worker_pid,
                                                   lease_renewed_at=Now())
    if found == TaskStatus.RUNNING:  # whether it still runs is its lease's to tell, not this message's
        TaskContext(task).log("another message for this task arrived while it ran: ignored")
    if found != TaskStatus.QUEUED:
        return None
    lease.keep_renewing()
    events.publish_status(task)
    return task


def run(task: Task) -> str:
    """Run in this thread a child task this process recorded as running (a bulk task's step, see
    ``TaskContext.run_child``); returns its final status."""
    lease.keep_renewing()
    events.publish_status(task)
    return run_claimed(task, new=True)


def run_claimed(task: Task, new: bool = False) -> str:
    """Run a task this process claimed and record how it ended; returns the final status. ``new``: recorded by
    this process a moment ago, its log is empty."""
    task_type = get_task_type(task.type)
    context = TaskContext(task, run_child=run, new=new)
    try:
        context.log(f"task {task_type.label} started")
        message = task_type.run(context) or "OK"
    except TaskCancelled as exc:
        context.log(f"TASK CANCELLED: {exc}")
        return finish(task, TaskStatus.CANCELLED, str(exc))
    except (DriverError, PanelError) as exc:
        context.log(f"TASK ERROR: {exc.message}")
        return finish(task, TaskStatus.ERROR, exc.message)
    except Exception as exc:
        logger.exception("task %s failed", task.upid)
        for line in traceback.format_exception_only(exc):
            context.log(line.rstrip())
        return finish(task, TaskStatus.ERROR, f"internal error: {exc.__class__.__name__}: {exc}")
    else:
        context.log(f"TASK {message}")
        return finish(task, TaskStatus.OK if message == "OK" else TaskStatus.ERROR, message)


def finish(task: Task, status: str, message: str) -> str:
    """Record how a task ended. The real outcome of a run wins, even over a recovery that gave up on it
    meanwhile (its log says both)."""
    # update(), not save(): the operation may have deleted the guest the task object still points to.
    task.status, task.exit_message, task.ended_at = status, message, timezone.now()
    Task.objects.filter(pk=task.pk).update(status=status, exit_message=message, ended_at=task.ended_at)
    events.publish_status(task)
    return status


def give_up(task: Task, reason: str, still: Q) -> bool:
    """Fail a task that nobody will finish (its worker is gone, or it never reached one) if ``still`` holds,
    checked in the same UPDATE so that a renewal, a claim or an end in between wins. Its queued children,
    which nobody will run now, go with it. True when it was failed."""
    ended_at = timezone.now()
    if not Task.objects.filter(still, pk=task.pk).update(status=TaskStatus.ERROR, exit_message=reason,
                                                         ended_at=ended_at):
        return False
    task.status, task.exit_message, task.ended_at = TaskStatus.ERROR, reason, ended_at
    TaskContext(task).log(f"TASK ERROR: {reason}")
    events.publish_status(task)
    for child in task.children.select_related("node", "user", "parent").filter(status=TaskStatus.QUEUED):
        finish(child, TaskStatus.ERROR, "its parent task was lost before this step ran")
    return True
