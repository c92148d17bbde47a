"""Handing tasks to their node's worker through the broker (Redis).

The task row is the durable record; the broker's message is only a doorbell ("run task N"), so a lost
message loses nothing and a second one does no harm (the worker claims a row once, tasks/worker.py):
- a submission the broker cannot take (it is down) stays queued, says so in its log, and is handed over by
  its node's collector once the broker is back; failed, and its guest freed, after PANEL_TASK_SEND_TIMEOUT s;
- a message lost after it was sent (a broker restarted without its data, a worker killed before it claimed
  the task) is sent again when the task is still queued a lease later while its worker had room for it.
Messages are acknowledged when the worker starts them (acks_late off): the broker never hands a running
task's message to anyone again, whatever the task's length and Redis' visibility timeout.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now

from . import events
from .choices import TaskStatus
from .context import TaskContext
from .models import Task

logger = logging.getLogger(__name__)

# A submission's own send happens right after its transaction commits: the collector leaves it that long.
SEND_GRACE = timedelta(seconds=5)


def send(task: Task) -> bool:
    """Put the task's message on its node's queue; False (logged) when the broker does not take it."""
    from .tasks import run_task

    try:
        run_task.apply_async(args=[task.pk], queue=task.node.queue)
    except Exception as exc:  # kombu and redis-py raise their own errors for a broker that is down
        logger.warning("the broker did not take task %s: %s", task.upid, exc)
        return False
    Task.objects.filter(pk=task.pk, status=TaskStatus.QUEUED).update(sent_at=Now())
    return True


def deliver(task: Task) -> None:
    """A new submission's send (web side): a broker that is down leaves it queued for the node's collector."""
    if not send(task):
        TaskContext(task).log(
            f"the task queue (Redis) is unreachable: this task waits and is handed to the worker of node "
            f"{task.node.name} once the queue is back (it fails if that takes over "
            f"{settings.PANEL_TASK_SEND_TIMEOUT} s)")
    events.publish_status(task)


def resend_queued(node_name: str, room: int) -> int:
    """The collector's part (node side): send what never reached the broker, or whose message was lost;
    fail what could not be sent in time. ``room``: how many tasks the node's worker may run at once."""
    queued = Task.objects.select_related("node", "user", "parent").filter(
        node__name=node_name, status=TaskStatus.QUEUED, parent=None)  # children run in their parent's thread
    sent = 0
    for task in queued.filter(sent_at=None, created_at__lt=Now() - SEND_GRACE):
        if send(task):
            sent += 1
        else:
            _fail_if_too_old(task)
    running = Task.objects.filter(node__name=node_name, status=TaskStatus.RUNNING, parent=None).count()
    if running < room:  # a free worker takes a message at once: one still waiting after a lease was lost
        lost = queued.filter(sent_at__lt=Now() - timedelta(seconds=settings.PANEL_TASK_LEASE))
        for task in lost[:room - running]:
            sent += send(task)
    return sent


def _fail_if_too_old(task: Task) -> None:
    from .worker import give_up

    timeout = settings.PANEL_TASK_SEND_TIMEOUT
    give_up(task, f"the task queue (Redis) was unreachable for {timeout} s: the task never reached the worker "
                  "of its node, nothing was done",
            Q(status=TaskStatus.QUEUED, sent_at=None, created_at__lt=Now() - timedelta(seconds=timeout)))
