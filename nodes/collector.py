"""The node's collector: a process beside the node's worker that polls the node every PANEL_POLL_INTERVAL s.

Polls used to be Celery tasks on the node's queue, queued by beat: long tasks filled the worker, the polls
waited behind them and expired, and the node went offline while it worked. The collector needs neither the
worker's pool nor the broker nor beat, so the heartbeat never waits behind tasks, and it says what matters:
the node's worker lives. Each cycle polls (heartbeat, figures, inventory, then the recovery of tasks whose
worker is gone) and hands over what the broker has not taken (tasks/delivery.py).

It is a process, not a thread of the worker: the worker forks its pool's processes, and a fork while a thread
is inside libvirt or a database driver leaves the child holding locks that nobody releases. The worker starts
it (``CollectorProcess``, from nodes/signals.py), starts it again if it dies, and stops it at shutdown; the
collector exits by itself when the worker dies, because the pipe it holds from the worker closes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections

from tasks.delivery import resend_queued

from .models import Node
from .poll import collect

logger = logging.getLogger(__name__)


def run(node_name: str, room: int, worker_pipe: int | None = None) -> None:
    """Poll ``node_name`` until the worker holding the other end of ``worker_pipe`` is gone (forever if None).
    ``room``: how many tasks the node's worker runs at once."""
    while True:
        started = time.monotonic()
        cycle(node_name, room)
        wait = max(settings.PANEL_POLL_INTERVAL - (time.monotonic() - started), 0)
        if worker_pipe is None:
            time.sleep(wait)
        elif select.select([worker_pipe], [], [], wait)[0] and not os.read(worker_pipe, 1):
            logger.info("the worker of node %s is gone: its collector stops", node_name)
            return


def cycle(node_name: str, room: int) -> None:
    """One poll of the node, then the tasks to hand over; an error is logged and the next cycle tries again."""
    close_old_connections()
    try:
        node = Node.objects.filter(name=node_name).first()
        if node is None:
            logger.warning("node %s is not registered yet: run `manage.py register_node`", node_name)
            return
        collect(node)
        resend_queued(node_name, room)
    except Exception:
        logger.exception("the poll of node %s failed", node_name)
        connections.close_all()  # a broken connection is opened again next cycle


class CollectorProcess:
    """The collector of this worker's node, kept running by the worker (its main process)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._pipe: int | None = None  # our end: the collector sees it close when this process dies
        self._stopping = threading.Event()
        # The pool's processes are forked from this one: they must not hold our end open after we die.
        os.register_at_fork(after_in_child=self._forget_in_child)

    def _forget_in_child(self) -> None:
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.close(self._pipe)
            self._pipe = None
        self._process = None

    def start(self, room: int) -> None:
        self._stopping.clear()
        self._spawn(room)
        threading.Thread(target=self._keep_running, args=(room,), name="collector-watch", daemon=True).start()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        process = self._process
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None

    def _spawn(self, room: int) -> None:
        """A fresh interpreter (fork and exec), so that it inherits no thread, lock or connection."""
        theirs, ours = os.pipe()
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "nodecollector",
                   "--room", str(room), "--worker-pipe", str(theirs)]
        # A session of its own: a terminal's Ctrl+C or a signal to the worker's group is the worker's to handle;
        # the collector ends when the worker stops it or dies (its pipe closes).
        self._process = subprocess.Popen(command, pass_fds=(theirs,), start_new_session=True)
        os.close(theirs)
        if self._pipe is not None:
            os.close(self._pipe)
        self._pipe = ours

    def _keep_running(self, room: int) -> None:
        while True:
            code = self._process.wait()
            if self._stopping.is_set():
                return
            logger.error("the collector of node %s exited with %s; starting it again", settings.PANEL_NODE_NAME,
                         code)
            if self._stopping.wait(min(settings.PANEL_POLL_INTERVAL, 5)):
                return
            self._spawn(room)
