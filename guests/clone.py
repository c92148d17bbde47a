"""Clones and templates as the web process asks for them, with Proxmox's privileges: VM.Clone on the source and
VM.Allocate on the new VMID (or on the pool it goes to) to clone, VM.Allocate to make a guest a template.

A clone is a full copy made by the worker of the source's node (``guests/operations/clone.py``); like a creation,
its VMID is reserved at once by a placeholder row. A template is a guest marked so (Proxmox's ``template: 1``):
it cannot be started, start-all passes it by, and it is what clones are made from.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from access import permissions
from access.audit import audited
from access.models import Pool
from cluster.events import publish_guest_changed
from drivers.errors import InvalidSpec
from drivers.limits import check_guest_name
from panel.errors import Conflict, Forbidden, InvalidRequest
from tasks.models import Task
from tasks.services import submit

from .choices import GuestKind, GuestState
from .inventory import next_vmid
from .models import Guest
from .services import check_may_place_on, check_node_ready, check_pool_quota


def may_clone(user: AbstractBaseUser, guest: Guest) -> bool:
    return permissions.has_guest_privilege(user, "VM.Clone", guest)


def may_make_template(user: AbstractBaseUser, guest: Guest) -> bool:
    return permissions.has_guest_privilege(user, "VM.Allocate", guest)


def default_clone_name(guest: Guest) -> str:
    """Proxmox's default name of a copy, kept a valid host name."""
    return f"copy-of-{guest.name}"[:63].rstrip("-.")


def request_clone(user: AbstractBaseUser, guest: Guest, newid: int | None = None, name: str = "",
                  target: str = "", pool: Pool | None = None, description: str = "", full: bool = True) -> Task:
    """Queue a full copy of ``guest`` as a new stopped guest ``newid`` (the next free VMID when None) named
    ``name`` on the same node (``target``, if given, must be that node: the panel's storage is local, as
    Proxmox allows another target only from shared storage). ``full=False`` (a linked clone) is refused."""
    name = name or default_clone_name(guest)
    with audited(user, "guest.clone", f"{guest} -> {newid or 'next VMID'} ({name})"[:255]) as outcome:
        if not may_clone(user, guest):
            raise Forbidden(f"you may not clone {guest}")
        if pool is not None:
            if not permissions.has_privilege(user, "VM.Allocate", pool.path):
                raise Forbidden(f"you may not create guests in pool {pool.name}")
        elif not permissions.has_privilege(user, "VM.Allocate", f"/vms/{newid}" if newid else "/vms"):
            raise Forbidden(f"you may not create VMID {newid}" if newid else "you may not create guests outside a "
                            "pool: choose a pool")
        check_may_place_on(user, guest.node)
        try:
            check_guest_name(name, "VM" if guest.kind == GuestKind.VM else "container")
        except InvalidSpec as exc:
            raise InvalidRequest(exc.message) from None
        if target and target != guest.node.name:
            raise InvalidRequest(f"cannot clone to node {target}: the disks of {guest} are on node "
                                 f"{guest.node.name}'s own storage. Clone it there, then migrate the copy")
        if not full:
            raise InvalidRequest("linked clones are not supported: clone with full=1")
        if guest.state not in (GuestState.RUNNING, GuestState.STOPPED, GuestState.PAUSED):
            raise Conflict(f"cannot clone {guest}: it is {guest.get_state_display()}")
        if guest.kind == GuestKind.VM and guest.state != GuestState.STOPPED:
            raise Conflict(f"cannot clone {guest} while it runs: stop it first, or clone a template")
        check_node_ready(guest.node, guest.kind)
        task = _reserve_and_submit(user, guest, newid, name, pool, description)
        outcome.detail = task.upid
    return task


def _reserve_and_submit(user: AbstractBaseUser, guest: Guest, newid: int | None, name: str, pool: Pool | None,
                        description: str) -> Task:
    for _attempt in range(5):
        vmid = newid or next_vmid()
        try:
            with transaction.atomic():
                if pool is not None:
                    check_pool_quota(pool, guest.vcpus, guest.memory_mib, guest.disk_bytes / 1024**3)
                copy = Guest.objects.create(
                    vmid=vmid, kind=guest.kind, node=guest.node, name=name, state=GuestState.CREATING,
                    template=guest.template, vcpus=guest.vcpus, memory_mib=guest.memory_mib,
                    disk_bytes=guest.disk_bytes, owner=user, pool=pool, description=description or guest.description,
                    tags=guest.tags,
                )
                publish_guest_changed(guest.node.name, vmid)
                # The task is the source's (Proxmox's qmclone:<source VMID>): no other task runs on it meanwhile.
                return submit(guest.node, "clone", user, guest=guest, params={"newid": copy.vmid, "name": name})
        except IntegrityError:
            if newid:
                raise Conflict(f"VMID {newid} is already in use") from None
    raise Conflict("could not allocate a free VMID; try again")


def request_template(user: AbstractBaseUser, guest: Guest) -> Task:
    """Make ``guest`` a template (it must be stopped); it stays one (Proxmox has no way back either)."""
    with audited(user, "guest.template", str(guest)) as outcome:
        if not may_make_template(user, guest):
            raise Forbidden(f"you may not make {guest} a template")
        if guest.is_template:
            raise Conflict(f"{guest} is already a template")
        if guest.state != GuestState.STOPPED:
            raise Conflict(f"cannot make {guest} a template: it is {guest.get_state_display()}, stop it first")
        check_node_ready(guest.node, guest.kind)
        task = submit(guest.node, "template", user, guest=guest)
        outcome.detail = task.upid
    return task
