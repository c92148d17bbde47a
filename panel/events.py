"""Publishing on the Channels layer from synchronous code: node workers, collectors, views.

``async_to_sync(layer.group_send)`` starts a thread, an event loop and a Redis connection for every message,
milliseconds of CPU each. Instead each process has one publisher thread with one event loop and the layer's
connections on it: ``publish`` queues the message and returns at once, and the thread sends whatever is queued
as soon as it can, so a burst costs a few round trips. Items published with a ``batch`` type travel together:
the consecutive items of one group become one message ``{"type": batch, "id": ..., "items": [...]}`` (a burst
of log lines, the changes of a bulk task's children); its id lets the sockets of a web process share the work
of answering it. Messages of one group keep their order.

Best effort, like the layer itself: what is published is in the database first, and a socket that misses a
message catches up from there. ``flush`` waits for the queue to drain (tests, a process about to exit).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from channels.layers import DEFAULT_CHANNEL_LAYER, BaseChannelLayer, channel_layers

logger = logging.getLogger(__name__)

FLUSH_TIMEOUT = 5.0  # s a process waits at exit for what it published


@dataclass
class _Outgoing:
    group: str
    message: dict
    batch: str | None = None
    items: list[dict] = field(default_factory=list)


class Publisher:
    """One per process (a forked child starts its own): a daemon thread sending queued messages."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, dict, str | None] | threading.Event] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="channels-publisher", daemon=True)
        self._thread.start()

    def publish(self, group: str, message: dict, batch: str | None = None) -> None:
        self._queue.put((group, message, batch))

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> bool:
        """Wait until everything published before this call was handed to the layer."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        # A layer of its own: the process's shared one may be bound to another event loop (daphne's, a test's).
        configured = DEFAULT_CHANNEL_LAYER in channel_layers.configs
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER) if configured else None
        while True:
            drained = [self._queue.get()]  # wait for the first, then take whatever else is there
            while True:
                try:
                    drained.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            marks = [item for item in drained if isinstance(item, threading.Event)]
            outgoing = merge([item for item in drained if not isinstance(item, threading.Event)])
            if outgoing and layer is not None:
                loop.run_until_complete(_send_all(layer, outgoing))
            for mark in marks:
                mark.set()


def merge(published: list[tuple[str, dict, str | None]]) -> list[_Outgoing]:
    """Group by group, in order; runs of items of one batch type within a group become one message."""
    by_group: dict[str, list[_Outgoing]] = defaultdict(list)
    for group, message, batch in published:
        runs = by_group[group]
        if batch is not None and runs and runs[-1].batch == batch:
            runs[-1].items.append(message)
        elif batch is not None:
            runs.append(_Outgoing(group, {}, batch, [message]))
        else:
            runs.append(_Outgoing(group, message))
    return [run for runs in by_group.values() for run in runs]


async def _send_all(layer: BaseChannelLayer, outgoing: list[_Outgoing]) -> None:
    async def send_group(runs: list[_Outgoing]) -> None:
        for run in runs:
            message = {"type": run.batch, "id": uuid.uuid4().hex, "items": run.items} if run.batch else run.message
            try:
                await layer.group_send(run.group, message)
            except Exception:  # the database has it; a watcher catches up from there
                logger.warning("could not publish to %s", run.group, exc_info=True)

    by_group: dict[str, list[_Outgoing]] = defaultdict(list)
    for run in outgoing:
        by_group[run.group].append(run)
    await asyncio.gather(*(send_group(runs) for runs in by_group.values()))


_lock = threading.Lock()
_publisher: tuple[int, Publisher] | None = None


def publisher() -> Publisher:
    global _publisher
    with _lock:
        if _publisher is None or _publisher[0] != os.getpid():
            _publisher = (os.getpid(), Publisher())
        return _publisher[1]


def publish(group: str, message: dict, batch: str | None = None) -> None:
    """Queue ``message`` for ``group`` (an item of a ``batch`` message if given); returns at once."""
    publisher().publish(group, message, batch)


def flush(timeout: float = FLUSH_TIMEOUT) -> bool:
    """Wait until what this process published was handed to the layer; False if it took longer than timeout."""
    with _lock:
        current = _publisher[1] if _publisher is not None and _publisher[0] == os.getpid() else None
    return current.flush(timeout) if current is not None else True


atexit.register(flush)
