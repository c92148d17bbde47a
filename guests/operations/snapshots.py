"""Snapshot task types: take, roll back and delete, each an engine call followed by the panel's tree of snapshots
(``guests.models.Snapshot``) put in step with it, as Proxmox writes a guest's config after its storage acted."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from drivers.errors import SnapshotNotFound
from drivers.types import PowerState
from tasks.context import TaskContext
from tasks.registry import register

from ..inventory import refresh_guest
from ..models import Guest, Snapshot
from .common import refresh, target


@register("snapshot", "Snapshot", ("qmsnapshot", "vzsnapshot"))
def take(context: TaskContext) -> str:
    guest, driver = target(context)
    params = context.params
    name, vmstate = params["name"], bool(params.get("vmstate"))
    context.log(f"taking snapshot {name} of {guest}{' with its RAM' if vmstate else ''}")
    try:
        info = driver.create_snapshot(guest.backend_id, name, params.get("description", ""), vmstate,
                                      progress=context.log)
    finally:
        refresh(context, guest, driver)
    with transaction.atomic():
        parent = Snapshot.objects.select_for_update().filter(guest=guest, current=True).first()
        if parent is not None:
            Snapshot.objects.filter(pk=parent.pk).update(current=False)
        taken_at = (datetime.datetime.fromtimestamp(info.created, datetime.UTC) if info.created
                    else timezone.now())
        Snapshot.objects.create(guest=guest, name=name, description=params.get("description", ""), parent=parent,
                                taken_at=taken_at, vmstate=info.vmstate, current=True)
    context.log(f"snapshot {name} taken")
    return "OK"


@register("rollback", "Rollback", ("qmrollback", "vzrollback"))
def rollback(context: TaskContext) -> str:
    guest, driver = target(context)
    name = context.params["name"]
    context.log(f"rolling {guest} back to snapshot {name}")
    try:
        backend_id = driver.rollback_snapshot(guest.backend_id, name, progress=context.log)
    except BaseException:
        refresh(context, guest, driver)
        raise
    if backend_id != guest.backend_id:  # a container is made again: the row follows it, newer than any poll
        with transaction.atomic():
            guest = Guest.objects.select_for_update().select_related("node").get(pk=guest.pk)
            guest.backend_id = backend_id
            refresh_guest(guest, driver.get_guest(backend_id, with_usage=False), context.node.cpus,
                          usage=False, also=("backend_id",))
        context.log(f"{guest} is now {backend_id[:12]}")
    with transaction.atomic():
        Snapshot.objects.filter(guest=guest, current=True).update(current=False)
        Snapshot.objects.filter(guest=guest, name=name).update(current=True)
    if context.params.get("start") and driver.power_state(backend_id) is PowerState.STOPPED:
        context.log(f"starting {guest}")
        driver.start(backend_id)
    refresh(context, guest, driver)
    context.log(f"{guest} rolled back to snapshot {name}")
    return "OK"


@register("delsnapshot", "Delete snapshot", ("qmdelsnapshot", "vzdelsnapshot"))
def delete(context: TaskContext) -> str:
    guest, driver = target(context)
    name, force = context.params["name"], bool(context.params.get("force"))
    context.log(f"deleting snapshot {name} of {guest}")
    try:
        driver.delete_snapshot(guest.backend_id, name, progress=context.log)
    except SnapshotNotFound as exc:
        context.log(f"{exc.message}: removing it from the snapshot tree")  # gone from the engine already
    except Exception as exc:
        if not force:
            raise
        context.log(f"{exc}; removing it from the snapshot tree all the same (force)")
    with transaction.atomic():
        snapshot = Snapshot.objects.select_for_update().filter(guest=guest, name=name).first()
        if snapshot is not None:
            # Its children, and the present state if it followed it, follow its parent (as Proxmox does).
            Snapshot.objects.filter(parent=snapshot).update(parent=snapshot.parent)
            was_current, parent = snapshot.current, snapshot.parent
            snapshot.delete()
            if was_current and parent is not None:
                Snapshot.objects.filter(pk=parent.pk).update(current=True)
    context.log(f"snapshot {name} deleted")
    return "OK"
