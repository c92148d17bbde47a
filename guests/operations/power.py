"""Power task types: start, shutdown, stop, reboot, pause and resume, each one driver call on the guest,
followed by reading its state back."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from drivers.base import GuestDriver
from tasks.context import TaskContext
from tasks.registry import Operation, register

from .common import refresh, target
from .config import apply_pending


@register("start", "Start", ("qmstart", "vzstart"))
def start(context: TaskContext) -> str:
    guest, driver = target(context)
    context.log(f"starting {guest}")
    try:
        apply_pending(context, guest, driver)
        driver.start(guest.backend_id)
    finally:
        refresh(context, guest, driver)
    return "OK"


@register("shutdown", "Shutdown", ("qmshutdown", "vzshutdown"))
def shutdown(context: TaskContext) -> str:
    """Ask the guest to power off, wait up to the timeout (a cancel ends the wait and leaves the guest as it
    is), then stop it if ``force_stop``, or fail."""
    guest, driver = target(context)
    timeout = _timeout(context)
    context.log(f"shutting down {guest} (timeout {timeout:g} s)")
    try:
        context.allow_cancel()  # while it waits for the guest: a cancel leaves the guest as it is
        driver.power_off(guest.backend_id, timeout, force=bool(context.params.get("force_stop")),
                         progress=context.log, interrupt=lambda: context.raise_if_cancelled(
                             f"cancelled while waiting for {guest} to shut down; it was left as it is"))
    finally:
        refresh(context, guest, driver)
    return "OK"


def _timeout(context: TaskContext) -> float:
    return float(context.params.get("timeout", settings.PANEL_SHUTDOWN_TIMEOUT))


def _power(verb: str, label: str, act: Callable[[GuestDriver, str, TaskContext], None]) -> Operation:
    """A task type that is one driver call on the guest, followed by reading its state back; Proxmox names it
    qm<verb> for a VM and vz<verb> for a container."""

    @register(verb, label, (f"qm{verb}", f"vz{verb}"))
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
reset = _power("reset", "Reset", lambda driver, backend_id, _: driver.reset(backend_id))
