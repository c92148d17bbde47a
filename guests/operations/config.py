"""The config task type: apply a guest's pending engine settings, live where its engine can; and the same before
a start, for what had to wait."""

from __future__ import annotations

from django.db import transaction

from drivers.base import GuestDriver
from drivers.types import ConfigChange
from tasks.context import TaskContext
from tasks.registry import register

from ..config import ENGINE_KEYS, engine_change
from ..models import Guest
from .common import refresh, target


def _settle(guest: Guest, keys: set[str], requested: dict[str, object]) -> None:
    """Take ``keys`` out of the guest's pending changes where they still hold what was applied (a newer change
    of the same setting stays)."""
    with transaction.atomic():
        row = Guest.objects.select_for_update().get(pk=guest.pk)
        pending = dict(row.pending)
        for key in keys:
            if key in pending and pending[key] == requested.get(key):
                del pending[key]
        Guest.objects.filter(pk=row.pk).update(pending=pending)
        guest.pending = pending


def apply(context: TaskContext, guest: Guest, driver: GuestDriver, changes: dict[str, object]) -> set[str]:
    """Apply ``changes`` (Proxmox's keys) to the guest on its engine; returns the keys left pending."""
    fields = engine_change(changes)
    left_fields = driver.update_config(guest.backend_id, ConfigChange(**fields))
    left = {key for key in changes if ENGINE_KEYS[key] in left_fields}
    done = set(changes) - left
    for key in sorted(done):
        context.log(f"{key}: {changes[key] if changes[key] is not None else '(deleted)'}")
    for key in sorted(left):
        context.log(f"{key}: {changes[key]} cannot change while {guest} runs: pending until its next start")
    _settle(guest, done, changes)
    return left


@register("config", "Configure", ("qmconfig", "vzconfig"))
def configure(context: TaskContext) -> str:
    guest, driver = target(context)
    changes = dict(context.params.get("changes") or {})
    context.log(f"update {guest}: " + (" ".join(f"-{k} {v}" for k, v in sorted(changes.items(), key=str))
                                       or "(settings of the panel only)"))
    try:
        if changes:
            apply(context, guest, driver, changes)
    except Exception:
        _settle(guest, set(changes), changes)  # nothing of it was applied: it is not pending either
        raise
    finally:
        refresh(context, guest, driver)
    return "OK"


def apply_pending(context: TaskContext, guest: Guest, driver: GuestDriver) -> None:
    """Before a start: what waited for the guest to be stopped (Proxmox's vmconfig_apply_pending)."""
    guest.refresh_from_db(fields=["pending"])
    changes = {key: value for key, value in guest.pending.items() if key in ENGINE_KEYS}
    if changes:
        context.log("applying pending changes: " + ", ".join(f"{k}={v}" for k, v in sorted(changes.items())))
        apply(context, guest, driver, changes)


@register("resize", "Resize disk", "resize")
def resize(context: TaskContext) -> str:
    guest, driver = target(context)
    size = int(context.params["size_bytes"])
    context.log(f"resizing disk {context.params.get('disk', 0)} of {guest} to {size} bytes")
    try:
        now = driver.resize_disk(guest.backend_id, int(context.params.get("disk", 0)), size)
    finally:
        refresh(context, guest, driver)
    context.log(f"the disk has {now} bytes")
    return "OK"
