"""Snapshots of guests as the web process asks for them: check, audit, then hand a task to the node's worker.

The privileges are Proxmox's: VM.Snapshot to take, describe and delete a snapshot, VM.Snapshot or
VM.Snapshot.Rollback to roll back (and VM.PowerMgmt to start the guest afterwards), VM.Audit (seeing the guest)
to list them, and any of the three to read one's config. The tree lives in ``guests.models.Snapshot``, written
by the tasks (``guests/operations/snapshots.py``) once the engine did its part.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from access import permissions
from access.audit import audited
from drivers.errors import InvalidSpec
from drivers.limits import check_snapshot_description, check_snapshot_name
from panel.errors import Conflict, Forbidden, InvalidRequest, NotFound
from tasks.models import Task
from tasks.services import submit

from .choices import GuestKind, GuestState
from .models import Guest, Snapshot
from .services import check_node_ready

# The states in which a guest's snapshots may be taken, rolled back or deleted (not while it is being created,
# nor while its node cannot tell its state).
SNAPSHOT_STATES = {GuestState.RUNNING, GuestState.STOPPED, GuestState.PAUSED}
# drivers.limits.SNAPSHOT_NAME for a form's pattern attribute (the browser's hint; the service decides).
SNAPSHOT_NAME_PATTERN = "[A-Za-z][A-Za-z0-9_\\-]{0,39}"


def may_snapshot(user: AbstractBaseUser, guest: Guest) -> bool:
    return permissions.has_guest_privilege(user, "VM.Snapshot", guest)


def may_rollback(user: AbstractBaseUser, guest: Guest) -> bool:
    return (permissions.has_guest_privilege(user, "VM.Snapshot", guest)
            or permissions.has_guest_privilege(user, "VM.Snapshot.Rollback", guest))


def may_read(user: AbstractBaseUser, guest: Guest) -> bool:
    return may_rollback(user, guest) or permissions.has_guest_privilege(user, "VM.Audit", guest)


def check_name(name: str) -> str:
    """A snapshot name as Proxmox's pve-configid, or InvalidRequest saying what is wrong."""
    try:
        check_snapshot_name(name)
    except InvalidSpec as exc:
        raise InvalidRequest(exc.message) from None
    return name


def check_description(description: str) -> str:
    try:
        check_snapshot_description(description)
    except InvalidSpec as exc:
        raise InvalidRequest(exc.message) from None
    return description


def snapshots_of(user: AbstractBaseUser, guest: Guest) -> list[Snapshot]:
    """The guest's snapshots, oldest first (each with its parent's name at hand)."""
    if not may_read(user, guest):
        raise Forbidden(f"you may not see the snapshots of {guest}")
    return list(guest.snapshots.select_related("parent"))


def snapshot_named(user: AbstractBaseUser, guest: Guest, name: str) -> Snapshot:
    if not may_read(user, guest):
        raise Forbidden(f"you may not see the snapshots of {guest}")
    snapshot = guest.snapshots.select_related("parent").filter(name=name).first()
    if snapshot is None:
        raise NotFound(f"snapshot '{name}' does not exist")
    return snapshot


def _check_can_change(guest: Guest, verb: str) -> None:
    if guest.state not in SNAPSHOT_STATES:
        raise Conflict(f"cannot {verb} {guest}: it is {guest.get_state_display()}")
    check_node_ready(guest.node, guest.kind)


def request_snapshot(user: AbstractBaseUser, guest: Guest, name: str, description: str = "",
                     vmstate: bool = False) -> Task:
    """Take a snapshot named ``name``; ``vmstate``: with the VM's RAM (a running VM's)."""
    with audited(user, "guest.snapshot", f"{guest} {name}"[:255]) as outcome:
        if not may_snapshot(user, guest):
            raise Forbidden(f"you may not take snapshots of {guest}")
        check_name(name)
        check_description(description)
        if vmstate and guest.kind != GuestKind.VM:
            raise InvalidRequest("a container's snapshot holds no RAM: vmstate is for VMs")
        if guest.is_template:
            raise Conflict(f"cannot take a snapshot of {guest}: it is a template")
        if guest.snapshots.filter(name=name).exists():
            raise Conflict(f"snapshot name '{name}' already used")
        _check_can_change(guest, "take a snapshot of")
        task = submit(guest.node, "snapshot", user, guest=guest,
                      params={"name": name, "description": description, "vmstate": bool(vmstate)})
        outcome.detail = task.upid
    return task


def request_rollback(user: AbstractBaseUser, guest: Guest, name: str, start: bool = False) -> Task:
    """Roll the guest back to snapshot ``name`` (its present state is dropped); ``start`` it afterwards."""
    with audited(user, "guest.rollback", f"{guest} {name}"[:255]) as outcome:
        if not may_rollback(user, guest):
            raise Forbidden(f"you may not roll back {guest}")
        if start and not permissions.has_guest_privilege(user, "VM.PowerMgmt", guest):
            raise Forbidden(f"you may not start {guest}")
        check_name(name)
        if guest.is_template:
            raise Conflict(f"cannot roll back {guest}: it is a template")
        if not guest.snapshots.filter(name=name).exists():
            raise NotFound(f"snapshot '{name}' does not exist")
        _check_can_change(guest, "roll back")
        task = submit(guest.node, "rollback", user, guest=guest, params={"name": name, "start": bool(start)})
        outcome.detail = task.upid
    return task


def request_delete(user: AbstractBaseUser, guest: Guest, name: str, force: bool = False) -> Task:
    """Delete snapshot ``name``; ``force``: drop it from the tree even if the engine cannot remove its data."""
    with audited(user, "guest.delsnapshot", f"{guest} {name}"[:255]) as outcome:
        if not may_snapshot(user, guest):
            raise Forbidden(f"you may not delete snapshots of {guest}")
        check_name(name)
        if not guest.snapshots.filter(name=name).exists():
            raise NotFound(f"snapshot '{name}' does not exist")
        _check_can_change(guest, "delete a snapshot of")
        task = submit(guest.node, "delsnapshot", user, guest=guest, params={"name": name, "force": bool(force)})
        outcome.detail = task.upid
    return task


def update_description(user: AbstractBaseUser, guest: Guest, name: str, description: str) -> Snapshot:
    """Change a snapshot's description: the panel keeps it, no engine is asked (as Proxmox's config file)."""
    with audited(user, "guest.snapshot.config", f"{guest} {name}"[:255]):
        if not may_snapshot(user, guest):
            raise Forbidden(f"you may not change the snapshots of {guest}")
        check_name(name)
        check_description(description)
        with transaction.atomic():
            snapshot = guest.snapshots.select_for_update().filter(name=name).first()
            if snapshot is None:
                raise NotFound(f"snapshot '{name}' does not exist")
            snapshot.description = description
            snapshot.save(update_fields=["description"])
    return snapshot


def current_parent(guest: Guest, snapshots: list[Snapshot]) -> Snapshot | None:
    """The snapshot the guest's present state follows (Proxmox's parent of "current")."""
    return next((s for s in snapshots if s.current), None)
