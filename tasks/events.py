"""Task events on the Channels layer: log lines to the task's group, status changes to the task list.

Publishing is best effort: every line and status is in the database first, and a websocket client
that misses a message fills the gap from there (see consumers.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

if TYPE_CHECKING:
    from .models import Task, TaskLogLine

logger = logging.getLogger(__name__)

TASK_LIST_GROUP = "tasks"


def task_group(task_id: int) -> str:
    return f"task-{task_id}"


def line_message(line: TaskLogLine) -> dict:
    return {"n": line.number, "t": line.text, "at": line.at.isoformat()}


def task_summary(task: Task) -> dict:
    """The fields of a task list row, as Proxmox's /nodes/{node}/tasks gives them, plus ours."""
    return {
        "upid": task.upid,
        "node": task.node.name,
        "type": task.proxmox_type,
        "id": str(task.vmid or ""),
        "user": task.user_name,
        "status": task.status,
        "exitstatus": task.exit_message,
        "starttime": int(task.created_at.timestamp()),
        "endtime": int(task.ended_at.timestamp()) if task.ended_at else None,
        "parent": task.parent.upid if task.parent_id else None,
        "url": task.get_absolute_url(),
    }


def publish_line(task: Task, line: TaskLogLine) -> None:
    _send(task_group(task.pk), {"type": "task.line", "line": line_message(line)})


def publish_status(task: Task) -> None:
    summary = task_summary(task)
    _send(task_group(task.pk), {"type": "task.status", "task": summary})
    _send(TASK_LIST_GROUP, {"type": "task.changed", "task_id": task.pk, "task": summary})


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # the row is stored; a watcher catches up from the database
        logger.warning("could not publish to %s", group, exc_info=True)
