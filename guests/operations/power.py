"""Power task types: start, shutdown, stop, reboot, pause and resume, each one driver call on the guest,
followed by reading its state back."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings

from drivers.base import GuestDriver
from drivers.errors import OperationTimeout
from drivers.types import PowerState
from tasks.context import TaskContext
from tasks.registry import Operation, register

from ..models import Guest
from .common import refresh, target

SHUTDOWN_POLL = 0.5  # seconds between two looks at a guest asked to shut down


@register("start", "Start")
def start(context: TaskContext) -> str:
    guest, driver = target(context)
    context.log(f"starting {guest}")
    try:
        driver.start(guest.backend_id)
    finally:
        refresh(context, guest, driver)
    return "OK"


@register("shutdown", "Shutdown")
def shutdown(context: TaskContext) -> str:
    """Ask the guest to power off, wait up to the timeout (a cancel ends the wait and leaves the guest as it
    is), then stop it if ``force_stop``, or fail."""
    guest, driver = target(context)
    timeout = _timeout(context)
    context.log(f"shutting down {guest} (timeout {timeout:g} s)")
    try:
        if not _shut_down(context, guest, driver, timeout):
            message = f"{guest} did not shut down within {timeout:g} s"
            if not context.params.get("force_stop"):
                raise OperationTimeout(message)
            context.log(f"{message}; stopping it")
            driver.stop(guest.backend_id)
    finally:
        refresh(context, guest, driver)
    return "OK"


def _shut_down(context: TaskContext, guest: Guest, driver: GuestDriver, timeout: float) -> bool:
    """Send the shutdown request, then wait for the guest to be off; False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    try:
        driver.shutdown(guest.backend_id, 0)  # sends the request (ACPI button, SIGTERM), waits for nothing
        return True
    except OperationTimeout:
        pass  # still running: wait below
    context.allow_cancel()
    try:
        while time.monotonic() < deadline:
            context.raise_if_cancelled(f"cancelled while waiting for {guest} to shut down; it was left as it is")
            time.sleep(SHUTDOWN_POLL)
            if driver.get_guest(guest.backend_id, with_usage=False).state is not PowerState.RUNNING:
                return True
    finally:
        context.allow_cancel(False)
    return False


def _timeout(context: TaskContext) -> float:
    return float(context.params.get("timeout", settings.PANEL_SHUTDOWN_TIMEOUT))


def _power(verb: str, label: str, act: Callable[[GuestDriver, str, TaskContext], None]) -> Operation:
    """A task type that is one driver call on the guest, followed by reading its state back."""

    @register(verb, label)
    def run(context: TaskContext) -> str:
        guest, driver = target(context)
        context.log(f"{label.lower()} {guest}")
        try:
            act(driver, guest.backend_id, context)
        finally:
            refresh(context, guest, driver)
        return "OK"

    return run


stop = _power("stop", "Stop", lambda driver, backend_id, _: driver.stop(backend_id))
reboot = _power("reboot", "Reboot", lambda driver, backend_id, c: driver.reboot(backend_id, _timeout(c)))
suspend = _power("suspend", "Pause", lambda driver, backend_id, _: driver.suspend(backend_id))
resume = _power("resume", "Resume", lambda driver, backend_id, _: driver.resume(backend_id))
