"""start-all and stop-all of a node, with Proxmox's semantics.

Guests are grouped by startup order: ascending to start (unordered guests last), descending to stop
(unordered guests first). Groups run one after the other; the guests of a group run in parallel, at
most PANEL_BULK_WORKERS at once, each as a child task with its own log. One failure does not stop the
others; the bulk task ends in error naming the guests that failed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby

from django.conf import settings
from django.db import close_old_connections, connection

from panel.errors import PanelError
from tasks.choices import TaskStatus
from tasks.context import TaskContext
from tasks.registry import register

from ..choices import GuestState
from ..models import Guest

UNORDERED = 10**9  # after every ordered guest, like Proxmox's "any"


def startup_groups(guests: Iterable[Guest], descending: bool) -> list[list[Guest]]:
    def key(guest: Guest) -> int:
        return guest.startup_order if guest.startup_order is not None else UNORDERED

    ordered = sorted(guests, key=lambda g: (key(g), g.vmid), reverse=descending)
    return [list(group) for _, group in groupby(ordered, key=key)]


class BulkRun:
    """Counts and reports the per-guest steps of one bulk task."""

    def __init__(self, context: TaskContext, verb: str, total: int) -> None:
        self.context, self.verb, self.total = context, verb, total
        self._lock = threading.Lock()  # steps end in several pool threads
        self.done = 0
        self.failed: list[str] = []
        context.allow_cancel()  # it stops between guests

    def step(self, guest: Guest, action: str, params: dict, after: Callable[[], None] | None = None) -> None:
        """Run one guest's child task in a pool thread; the thread's DB connection is closed after."""
        try:
            self.context.raise_if_cancelled()
            child = self.context.run_child(action, guest, params)
            ok = child.status == TaskStatus.OK
            outcome = "OK" if ok else f"ERROR: {child.exit_message}"
            if ok and after:
                after()
        except PanelError as exc:
            ok, outcome = False, f"ERROR: {exc.message}"
        except Exception as exc:  # a cancel or a database error: report it for this guest and go on
            ok, outcome = False, f"ERROR: {exc}"
        finally:
            close_old_connections()  # drops a broken or expired connection, keeps a good one for the next step
        with self._lock:
            self.done += 1
            if not ok:
                self.failed.append(str(guest))
            done = self.done
        self.context.log(f"{self.verb} {guest}... {outcome}\nprogress {done}/{self.total}")

    def run_groups(self, groups: list[list[Guest]], plan: Callable[[Guest], tuple[str, dict]],
                   after: Callable[[Guest], Callable[[], None] | None] = lambda g: None) -> None:
        """``plan`` gives each guest's task type and parameters; ``after`` what to do once it succeeded."""
        workers = settings.PANEL_BULK_WORKERS
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bulk") as pool:
            try:
                for group in groups:
                    self.context.raise_if_cancelled()
                    futures = [pool.submit(self.step, g, *plan(g), after(g)) for g in group]
                    for future in futures:
                        future.result()
            finally:
                # Each pool thread opened its own database connection; close them before the threads end.
                barrier = threading.Barrier(workers, timeout=5)
                list(pool.map(lambda _: _close_connection(barrier), range(workers)))

    def summary(self) -> str:
        self.context.log(f"{self.total - len(self.failed)} of {self.total} guests {self.verb} OK")
        if self.failed:
            return f"{len(self.failed)} of {self.total} guests failed: {', '.join(self.failed)}"
        return "OK"


def _close_connection(barrier: threading.Barrier) -> None:
    """Run once in every pool thread: the barrier keeps one thread from taking two of these calls."""
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    connection.close()


def _selected(context: TaskContext) -> list[Guest]:
    """The guests chosen when the task was submitted (guests/bulk.py), still on this node."""
    guests = Guest.objects.select_related("node").filter(node=context.node).exclude(backend_id="")
    return list(guests.filter(vmid__in=context.params.get("vms") or []))


@register("startall", "Start all", "startall")
def start_all(context: TaskContext) -> str:
    guests = [g for g in _selected(context) if g.state == GuestState.STOPPED and not g.is_template]
    context.log(f"starting {len(guests)} guests of node {context.node.name}")
    run = BulkRun(context, "starting", len(guests))

    def up_delay(guest: Guest) -> Callable[[], None] | None:
        return (lambda: time.sleep(guest.startup_up)) if guest.startup_up else None

    run.run_groups(startup_groups(guests, descending=False), lambda g: ("start", {}), up_delay)
    return run.summary()


@register("stopall", "Stop all", "stopall")
def stop_all(context: TaskContext) -> str:
    guests = [g for g in _selected(context)
              if g.state in (GuestState.RUNNING, GuestState.PAUSED)]
    default_timeout = int(context.params.get("timeout", settings.PANEL_SHUTDOWN_TIMEOUT))
    force_stop = context.params.get("force_stop", True)
    if context.params.get("hard"):
        context.log(f"stopping {len(guests)} guests of node {context.node.name}")
    else:
        context.log(f"shutting down {len(guests)} guests of node {context.node.name} "
                    f"(timeout {default_timeout} s{', then stop' if force_stop else ''})")
    run = BulkRun(context, "stopping" if context.params.get("hard") else "shutting down", len(guests))

    hard = bool(context.params.get("hard"))  # a selection's "Stop" (guests/bulk.py): no shutdown asked first

    def plan(guest: Guest) -> tuple[str, dict]:
        if hard or guest.state == GuestState.PAUSED:
            return "stop", {}  # a frozen guest cannot answer a shutdown request
        return "shutdown", {"timeout": guest.startup_down or default_timeout, "force_stop": force_stop}

    run.run_groups(startup_groups(guests, descending=True), plan)
    return run.summary()
