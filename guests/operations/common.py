"""What every guest task type does around its engine call: find its guest and driver, read the state back."""

from __future__ import annotations

from drivers.base import GuestDriver
from tasks.context import TaskContext

from ..inventory import refresh_guest
from ..models import Guest


def target(context: TaskContext) -> tuple[Guest, GuestDriver]:
    guest = context.guest
    if guest is None:
        raise LookupError(f"task {context.task.upid} has no guest")
    return guest, context.driver(guest.kind)


def refresh(context: TaskContext, guest: Guest, driver: GuestDriver) -> None:
    """The state right after the action; usage comes with the next poll."""
    info = driver.get_guest(guest.backend_id, with_usage=False)
    refresh_guest(guest, info, context.node.cpus, usage=False)
