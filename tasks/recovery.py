"""Tasks whose worker died: found by the node's own worker, and by any worker for offline nodes."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from nodes.models import Node

from .choices import TaskStatus
from .models import Task
from .worker import fail_lost_tasks


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed child stays a zombie until its parent reaps it: dead all the same.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def fail_tasks_of_dead_processes(node: Node) -> int:
    """Running tasks of ``node`` whose worker process on this host no longer exists (e.g. SIGKILL)."""
    running = Task.objects.select_related("node", "user", "parent").filter(
        node=node, status=TaskStatus.RUNNING, worker_host=socket.gethostname()
    )
    lost = [t for t in running if t.worker_pid and not _process_alive(t.worker_pid)]
    return fail_lost_tasks(lost, "the worker process running this task died; the guest's state was re-read")


def fail_tasks_of_restarted_worker(node: Node) -> int:
    """At worker start nothing of this node can still be running: whatever is marked so was lost."""
    running = Task.objects.select_related("node", "user", "parent").filter(node=node, status=TaskStatus.RUNNING)
    return fail_lost_tasks(list(running), "the node's worker restarted while this task ran")


def fail_tasks_of_offline_nodes() -> int:
    """Running tasks of nodes that stopped reporting: their worker is gone, whoever notices first says so."""
    limit = timezone.now() - timedelta(seconds=settings.PANEL_NODE_OFFLINE_AFTER)
    running = Task.objects.select_related("node", "user", "parent").filter(
        status=TaskStatus.RUNNING, node__last_seen__lt=limit
    )
    return fail_lost_tasks(list(running), "the node stopped reporting while this task ran")
