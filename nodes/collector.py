"""The node's collector: a thread of the node's worker that polls the node every PANEL_POLL_INTERVAL s.

Polls used to be Celery tasks on the node's queue, queued by beat: long tasks filled the worker, the polls
waited behind them and expired, and the node went offline while it worked. The collector needs neither the
worker's task slots nor the broker nor beat, so the heartbeat never waits behind tasks, and it says what
matters: the node's worker lives. Each cycle polls (heartbeat, figures, inventory, then the recovery of tasks
whose worker is gone) and hands over what the broker has not taken (tasks/delivery.py).

It is a thread of the worker's one process (the worker runs its tasks in threads, ``--pool threads``: engine
calls wait on I/O, and nothing forks, so libvirt and the database drivers never see a fork). A thread lives
and dies with its process: a collector that reports proves that the process running the node's tasks lives,
and a dead worker reports nothing. A cycle that fails is logged and the next one tries again; the thread has
its own database connection, closed when it stops.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection, connections

from tasks.delivery import resend_queued

from .models import Node
from .poll import collect

logger = logging.getLogger(__name__)


def run(node_name: str, room: int, stop: threading.Event) -> None:
    """Poll ``node_name`` until ``stop`` is set. ``room``: how many tasks the node's worker runs at once."""
    try:
        while not stop.is_set():
            started = time.monotonic()
            cycle(node_name, room)
            stop.wait(max(settings.PANEL_POLL_INTERVAL - (time.monotonic() - started), 0))
    finally:
        connection.close()


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


class CollectorThread:
    """The collector of this worker's node, started and stopped with the worker."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, room: int) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=run, args=(settings.PANEL_NODE_NAME, room, self._stop),
                                        name="collector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Stop after the cycle under way (given ``timeout`` s; the thread is a daemon, it cannot hold the
        process)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
