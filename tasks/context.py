"""What a task's operation gets from the worker: its task, the node's drivers and one way to write the log."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection
from django.db.models import Max
from django.utils import timezone

from drivers.base import GuestDriver
from drivers.registry import shared_driver

from . import events
from .models import Task, TaskLogLine

if TYPE_CHECKING:
    from guests.models import Guest


class TaskCancelled(Exception):
    """Raised inside an operation at a point where it noticed that someone cancelled it."""


class TaskContext:
    """What an operation gets: its task, the node's drivers and one way to write the log."""

    def __init__(self, task: Task, run_child: Callable[[Task], object] | None = None, new: bool = False) -> None:
        """``run_child`` runs a child task in the calling thread (the worker's ``run``); ``new``: the task was
        just recorded by this process, its log is empty (no need to ask where it ends)."""
        self.task = task
        self._run_child = run_child
        self.node = task.node
        self.guest = task.guest
        self.params = task.params
        self._log_lock = threading.Lock()  # bulk tasks log from several threads
        self._next_line = 1 if new else self._last_number() + 1

    def log(self, text: str) -> None:
        """Append lines to the task's log (each line of ``text``, in one statement): stored first, then
        published to its watchers."""
        with self._log_lock:
            for line in self._store(str(text).splitlines() or [""]):
                events.publish_line(self.task, line)

    def _store(self, texts: list[str]) -> list[TaskLogLine]:
        """The next numbered lines. Another process may have written one (a recovery that gave up on this
        task, a second message for it): then number after the last."""
        try:
            return self._insert(texts)
        except IntegrityError:
            if connection.in_atomic_block:
                raise
            self._next_line = self._last_number() + 1
            return self._insert(texts)

    def _insert(self, texts: list[str]) -> list[TaskLogLine]:
        at = timezone.now()
        lines = [TaskLogLine(task=self.task, number=self._next_line + i, at=at, text=text)
                 for i, text in enumerate(texts)]
        TaskLogLine.objects.bulk_create(lines)
        self._next_line += len(lines)
        return lines

    def _last_number(self) -> int:
        return self.task.log_lines.aggregate(n=Max("number"))["n"] or 0

    def allow_cancel(self, allowed: bool = True) -> None:
        """From now on this operation stops when cancelled (it checks ``raise_if_cancelled``), or no longer does:
        a running task refuses a cancel unless it allows one."""
        self.task.cancellable = allowed
        Task.objects.filter(pk=self.task.pk).update(cancellable=allowed)

    def driver(self, kind: str) -> GuestDriver:
        """The driver of this node's engine, shared by every task of the worker (drivers/registry.py)."""
        return shared_driver(self.node.endpoints, kind)

    def cancelled(self) -> bool:
        return Task.objects.filter(pk=self.task.pk, cancel_requested=True).exists()

    def raise_if_cancelled(self, message: str = "cancelled by request") -> None:
        if self.cancelled():
            raise TaskCancelled(message)

    def run_child(self, type_: str, guest: Guest, params: dict | None = None) -> Task:
        """Run one step of a bulk task as a child task with its own log, in the calling thread. The child is
        recorded running in this process: nothing else may claim it, so it needs no claim."""
        if self._run_child is None:
            raise RuntimeError("this context cannot run child tasks")
        child = Task.objects.record(self.node, type_, self.task.user, guest=guest, params=params, parent=self.task,
                                    running=True)
        self._run_child(child)
        return child
