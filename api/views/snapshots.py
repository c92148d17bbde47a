"""A guest's snapshots, clones and template flag: /nodes/{node}/{qemu|lxc}/{vmid}/snapshot..., /clone, /template.

Shapes as Proxmox's qemu-server (``PVE/API2/Qemu.pm``) and pve-container (``PVE/API2/LXC/Snapshot.pm``): the list
ends with the ``current`` pseudo-entry ("You are here!", its ``parent`` the snapshot the present state follows);
VMs' entries carry ``vmstate`` 0/1, containers' do not; mutations answer the task's UPID.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Pool
from guests import snapshots
from guests.choices import VMID_MAX, VMID_MIN, GuestKind, GuestState
from guests.clone import request_clone, request_template
from guests.models import Guest, Snapshot
from nodes.models import LOCAL_STORAGE
from panel.errors import InvalidRequest

from ..params import KIND_OF_PATH, flag, number
from ..responses import data


def guest_at(request: Request, node: str, kind: str, vmid: int) -> Guest:
    """The guest a path names, among those the user may see (a 404 otherwise, as for a guest that is not)."""
    if kind not in KIND_OF_PATH:
        raise NotFound("no such endpoint")
    queryset = Guest.objects.select_related("node", "pool").visible_to(request.user)
    return get_object_or_404(queryset, vmid=vmid, node__name=node, kind=KIND_OF_PATH[kind])


def text(request: Request, name: str, default: str = "") -> str:
    value = request.data.get(name, default)
    if not isinstance(value, str):
        raise ValidationError({name: "type check ('string') failed"})
    return value


def snapshot_name(value: object, field: str = "snapname") -> str:
    """A snapshot name as Proxmox's pve-configid, a parameter error otherwise."""
    try:
        return snapshots.check_name(value if isinstance(value, str) else "")
    except InvalidRequest as exc:
        raise ValidationError({field: exc.message}) from None


def entry(snapshot: Snapshot, kind: str) -> dict:
    item = {"name": snapshot.name, "snaptime": int(snapshot.taken_at.timestamp()),
            "description": snapshot.description}
    if kind == GuestKind.VM:
        item["vmstate"] = int(snapshot.vmstate)
    if snapshot.parent is not None:
        item["parent"] = snapshot.parent.name
    return item


class SnapshotListView(APIView):
    """GET (list, with ``current``) and POST (take: snapname, description, vmstate for VMs)."""

    def get(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_at(request, node, kind, vmid)
        taken = snapshots.snapshots_of(request.user, guest)
        items = [entry(s, guest.kind) for s in taken]
        current = {"name": "current", "description": "You are here!",
                   "running": int(guest.state in (GuestState.RUNNING, GuestState.PAUSED))}
        parent = snapshots.current_parent(guest, taken)
        if parent is not None:
            current["parent"] = parent.name
        return data([*items, current])

    def post(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_at(request, node, kind, vmid)
        if "snapname" not in request.data:
            raise ValidationError({"snapname": "property is missing and it is not optional"})
        if guest.kind != GuestKind.VM and "vmstate" in request.data:
            raise ValidationError({"vmstate": "property is not defined in schema and the schema does not allow "
                                              "additional properties"})
        name = snapshot_name(request.data["snapname"])
        task = snapshots.request_snapshot(request.user, guest, name, text(request, "description"),
                                          vmstate=flag(request, "vmstate"))
        return data(task.upid)


class SnapshotView(APIView):
    """GET (the snapshot's links, as Proxmox) and DELETE (optional ``force``)."""

    def get(self, request: Request, node: str, kind: str, vmid: int, snapname: str) -> Response:
        guest = guest_at(request, node, kind, vmid)
        snapshots.snapshot_named(request.user, guest, snapshot_name(snapname))
        return data([{"cmd": "rollback"}, {"cmd": "config"}])

    def delete(self, request: Request, node: str, kind: str, vmid: int, snapname: str) -> Response:
        guest = guest_at(request, node, kind, vmid)
        force = str(request.query_params.get("force", request.data.get("force", "0"))).lower() in ("1", "true")
        return data(snapshots.request_delete(request.user, guest, snapshot_name(snapname), force=force).upid)


class SnapshotConfigView(APIView):
    """GET (the snapshot's own keys: description, snaptime, parent, vmstate for VMs; not the guest's configuration
    at the time, which the panel does not keep) and PUT (``description``)."""

    def get(self, request: Request, node: str, kind: str, vmid: int, snapname: str) -> Response:
        guest = guest_at(request, node, kind, vmid)
        snapshot = snapshots.snapshot_named(request.user, guest, snapshot_name(snapname))
        config = entry(snapshot, guest.kind)
        del config["name"]  # Proxmox's snapshot config holds its own keys, not its name
        return data(config)

    def put(self, request: Request, node: str, kind: str, vmid: int, snapname: str) -> Response:
        guest = guest_at(request, node, kind, vmid)
        snapshots.update_description(request.user, guest, snapshot_name(snapname), text(request, "description"))
        return data(None)


class SnapshotRollbackView(APIView):
    """POST (optional ``start``)."""

    def post(self, request: Request, node: str, kind: str, vmid: int, snapname: str) -> Response:
        guest = guest_at(request, node, kind, vmid)
        task = snapshots.request_rollback(request.user, guest, snapshot_name(snapname), start=flag(request, "start"))
        return data(task.upid)


class CloneView(APIView):
    """POST /nodes/{node}/{qemu|lxc}/{vmid}/clone: newid, name (VMs) or hostname (containers), target, full,
    pool, description. Always a full copy on the guest's own node (its storage is local)."""

    def post(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_at(request, node, kind, vmid)
        if "newid" not in request.data:
            raise ValidationError({"newid": "property is missing and it is not optional"})
        newid = number(request.data["newid"], "newid", maximum=VMID_MAX, minimum=VMID_MIN)
        if request.data.get("snapname"):
            raise ValidationError({"snapname": "cloning from a snapshot is not supported: clone the present state"})
        storage = request.data.get("storage")
        if storage not in (None, "", LOCAL_STORAGE):
            raise ValidationError({"storage": f"storage '{storage}' does not exist: the panel's is "
                                              f"'{LOCAL_STORAGE}'"})
        name_field = "name" if guest.kind == GuestKind.VM else "hostname"
        pool = None
        if pool_name := request.data.get("pool"):
            pool = Pool.objects.filter(name=pool_name).first()
            if pool is None:
                raise ValidationError({"pool": f"pool '{pool_name}' does not exist"})
        full = "full" not in request.data or flag(request, "full")
        task = request_clone(request.user, guest, newid, text(request, name_field), text(request, "target"),
                             pool, text(request, "description"), full=full)
        return data(task.upid)


class TemplateView(APIView):
    """POST /nodes/{node}/{qemu|lxc}/{vmid}/template: the task's UPID for a VM, null for a container (as
    Proxmox answers each)."""

    def post(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_at(request, node, kind, vmid)
        task = request_template(request.user, guest)
        return data(task.upid if guest.kind == GuestKind.VM else None)
