"""Leases of running tasks: the worker process running a task renews it; one that stops renewing is gone.

One daemon thread per process renews, every PANEL_TASK_LEASE / 4 s, the leases of all the tasks that this
process runs (a bulk task and its children included). Times are the database's, so that the clocks of the
nodes need not agree. A process that dies, freezes or loses its node stops renewing: after PANEL_TASK_LEASE s
any node's collector fails its tasks (tasks/recovery.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.db.models.functions import Now

from .choices import TaskStatus
from .models import Task

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_renewer: tuple[int, threading.Thread] | None = None  # (pid, thread): a forked child starts its own


def this_process() -> tuple[str, int]:
    """How a task row names the process running it."""
    return socket.gethostname(), os.getpid()


def keep_renewing() -> None:
    """Make sure this process renews the leases of the tasks it runs (call when it starts running one)."""
    global _renewer
    with _lock:
        if _renewer is not None and _renewer[0] == os.getpid() and _renewer[1].is_alive():
            return
        thread = threading.Thread(target=_renew_forever, name="task-leases", daemon=True)
        thread.start()
        _renewer = (os.getpid(), thread)


def renew() -> int:
    host, pid = this_process()
    return Task.objects.filter(status=TaskStatus.RUNNING, worker_host=host, worker_pid=pid).update(
        lease_renewed_at=Now())


def expired() -> Q:
    """Running tasks whose lease was not renewed for PANEL_TASK_LEASE s (or never: a worker older than leases)."""
    limit = Now() - timedelta(seconds=settings.PANEL_TASK_LEASE)
    return Q(status=TaskStatus.RUNNING) & (Q(lease_renewed_at__lt=limit) | Q(lease_renewed_at__isnull=True))


def _renew_forever() -> None:
    while True:
        time.sleep(settings.PANEL_TASK_LEASE / 4)
        try:
            renew()
        except DatabaseError:
            logger.warning("could not renew the leases of this process's tasks", exc_info=True)
            connection.close()  # a new connection next time
