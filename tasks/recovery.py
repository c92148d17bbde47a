"""Running tasks whose worker is gone, failed on evidence only; run by every node's poll.

Two kinds of evidence, nothing else (a node that stops reporting, a worker restarting or a second message
for a task prove nothing: the task may still run):
- its process is dead: the tasks run by processes of this host (worker_host), checked by pid;
- its lease is expired: the process running it stopped renewing it (dead, frozen, or its node is gone).
"""

from __future__ import annotations

import socket
from pathlib import Path

from django.conf import settings
from django.db.models import Q

from . import lease
from .choices import TaskStatus
from .models import Task
from .worker import give_up


def recover_lost_tasks() -> int:
    return fail_tasks_of_dead_processes() + fail_tasks_with_expired_leases()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs; a killed child stays a zombie until reaped: dead too."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def fail_tasks_of_dead_processes() -> int:
    """Running tasks whose worker process on this host no longer exists (SIGKILL, a cold restart, a crash)."""
    host = socket.gethostname()
    running = Task.objects.select_related("node", "user", "parent").filter(status=TaskStatus.RUNNING,
                                                                             worker_host=host)
    reason = "the worker process running this task died; the guest's state was re-read"
    return sum(give_up(task, reason, Q(status=TaskStatus.RUNNING, worker_host=host, worker_pid=task.worker_pid))
               for task in running if task.worker_pid and not process_alive(task.worker_pid))


def fail_tasks_with_expired_leases() -> int:
    """Running tasks, of any node, whose worker stopped renewing their lease: it is gone."""
    expired = lease.expired()
    reason = (f"the worker running this task stopped renewing its lease for {settings.PANEL_TASK_LEASE} s: "
              "its process or its node is gone; check the guest's state")
    return sum(give_up(task, reason, expired)
               for task in Task.objects.select_related("node", "user", "parent").filter(expired))
