"""Running tasks (node side): fetch the row, run its operation, record the outcome and log."""

from __future__ import annotations

import logging
import os
import socket
import traceback

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from drivers.errors import DriverError
from panel.errors import PanelError

from . import events
from .choices import ACTIVE_STATUSES, TaskStatus
from .context import TaskCancelled, TaskContext
from .models import Task
from .registry import get_task_type

logger = logging.getLogger(__name__)


def execute(task_id: int) -> None:
    """Entry point of the Celery task: claim the row, then run it."""
    with transaction.atomic():
        task = (
            Task.objects.select_for_update(of=("self",))
            .select_related("node", "guest", "user", "parent")
            .filter(pk=task_id)
            .first()
        )
        if task is None:
            logger.warning("task %s vanished before it ran", task_id)
            return
        if task.status == TaskStatus.RUNNING:
            # Redelivered after its worker died (acks_late): its effect is unknown, so do not rerun it.
            finish(task, TaskStatus.ERROR, "the worker running this task was lost; check the guest's state")
            return
        if task.status != TaskStatus.QUEUED:
            return  # cancelled while queued: already recorded
        if task.node.name != settings.PANEL_NODE_NAME:
            finish(task, TaskStatus.ERROR,
                   f"task for node {task.node.name} reached the worker of {settings.PANEL_NODE_NAME}")
            return
        if task.cancel_requested:
            finish(task, TaskStatus.CANCELLED, "cancelled before it started")
            return
    run(task)


def run(task: Task) -> str:
    """Run a claimed task in this thread and record how it ended; returns the final status."""
    task.status, task.started_at = TaskStatus.RUNNING, timezone.now()
    task.worker_host, task.worker_pid = socket.gethostname(), os.getpid()
    Task.objects.filter(pk=task.pk).update(
        status=task.status, started_at=task.started_at, worker_host=task.worker_host, worker_pid=task.worker_pid
    )
    events.publish_status(task)
    task_type = get_task_type(task.type)
    context = TaskContext(task, run_child=run)
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
    finally:
        context.close()


def finish(task: Task, status: str, message: str) -> str:
    # update(), not save(): the operation may have deleted the guest the task object still points to.
    task.status, task.exit_message, task.ended_at = status, message, timezone.now()
    Task.objects.filter(pk=task.pk).update(status=status, exit_message=message, ended_at=task.ended_at)
    events.publish_status(task)
    return status


def fail_lost_tasks(tasks: list[Task], reason: str) -> int:
    """Mark tasks whose worker is gone as failed, so that none stays 'running' forever."""
    for task in tasks:
        if task.status in ACTIVE_STATUSES:
            TaskContext(task).log(f"TASK ERROR: {reason}")
            finish(task, TaskStatus.ERROR, reason)
    return len(tasks)
