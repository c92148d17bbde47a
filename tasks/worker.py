"""Running tasks (node side): fetch the row, run its operation, record the outcome and log."""

from __future__ import annotations

import logging
import traceback

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from drivers.base import GuestDriver
from drivers.errors import DriverError
from drivers.registry import driver_for
from panel.errors import PanelError

from .choices import TaskStatus
from .models import Task, TaskLogLine
from .registry import get_task_type

logger = logging.getLogger(__name__)


class TaskContext:
    """What an operation gets: its task, the node's drivers and one way to write the log."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.node = task.node
        self.guest = task.guest
        self.params = task.params
        self._drivers: dict[str, GuestDriver] = {}
        self._next_line = (task.log_lines.aggregate(n=Max("number"))["n"] or 0) + 1

    def log(self, text: str) -> None:
        """Append one line to the task's log, durably."""
        for line in str(text).splitlines() or [""]:
            TaskLogLine.objects.create(task=self.task, number=self._next_line, at=timezone.now(), text=line)
            self._next_line += 1

    def driver(self, kind: str) -> GuestDriver:
        if kind not in self._drivers:
            self._drivers[kind] = driver_for(self.node.endpoints, kind)
        return self._drivers[kind]

    def close(self) -> None:
        for driver in self._drivers.values():
            driver.close()


def execute(task_id: int) -> None:
    with transaction.atomic():
        task = Task.objects.select_for_update(of=("self",)).select_related("node", "guest").filter(pk=task_id).first()
        if task is None:
            logger.warning("task %s vanished before it ran", task_id)
            return
        if task.status == TaskStatus.RUNNING:
            # Redelivered after its worker died (acks_late): its effect is unknown, so do not rerun it.
            _finish(task, TaskStatus.ERROR, "the worker running this task was lost; check the guest's state")
            return
        if task.status != TaskStatus.QUEUED:
            return
        if task.node.name != settings.PANEL_NODE_NAME:
            _finish(task, TaskStatus.ERROR, f"task for node {task.node.name} reached the worker of "
                                            f"{settings.PANEL_NODE_NAME}")
            return
        task.status = TaskStatus.RUNNING
        task.started_at = timezone.now()
        task.save(update_fields=["status", "started_at"])

    task_type = get_task_type(task.type)
    context = TaskContext(task)
    context.log(f"task {task_type.label} started")
    try:
        message = task_type.run(context) or "OK"
    except (DriverError, PanelError) as exc:
        context.log(f"TASK ERROR: {exc.message}")
        _finish(task, TaskStatus.ERROR, exc.message)
    except Exception as exc:
        logger.exception("task %s failed", task.upid)
        for line in traceback.format_exception_only(exc):
            context.log(line.rstrip())
        _finish(task, TaskStatus.ERROR, f"internal error: {exc.__class__.__name__}: {exc}")
    else:
        context.log(f"TASK {message}")
        _finish(task, TaskStatus.OK, message)
    finally:
        context.close()


def _finish(task: Task, status: str, message: str) -> None:
    # update(), not save(): the operation may have deleted the guest the task object still points to.
    task.status, task.exit_message, task.ended_at = status, message, timezone.now()
    Task.objects.filter(pk=task.pk).update(status=status, exit_message=message, ended_at=task.ended_at)
