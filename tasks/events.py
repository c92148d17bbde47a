"""Task events on the Channels layer: log lines to the task's group, status changes to the task list.

Publishing is best effort: every line and status is in the database first, and a websocket client
that misses a message fills the gap from there (see consumers.py). Lines and list changes are batch items
(panel/events.py): a burst reaches a socket as one ``task.lines`` or ``tasks.changed`` message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from panel.events import publish

if TYPE_CHECKING:
    from .models import Task, TaskLogLine

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


def task_row(task: Task) -> dict:
    """A task as the pages' sockets send it: Proxmox's fields, and what the pages' task lists show."""
    return {**task_summary(task), "description": task.description, "vmid": task.vmid,
            "parent_id": task.parent_id}


def publish_line(task: Task, line: TaskLogLine) -> None:
    publish(task_group(task.pk), line_message(line), batch="task.lines")


def publish_status(task: Task) -> None:
    summary = task_row(task)
    publish(task_group(task.pk), {"type": "task.status", "task": summary})
    publish(TASK_LIST_GROUP, {"task_id": task.pk, "task": summary}, batch="tasks.changed")
