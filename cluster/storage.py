"""Each node's storage ``local``, as Proxmox's storage API shows it: its configuration, its status (the file
system of the node's storage directory, as the node's last poll read it) and its content: container templates
(``vztmpl``, the node's template images), VM disks (``images``), container root file systems (``rootdir``) and
ISO images (``iso``, files in ``<storage dir>/template/iso`` of the node this web server runs on).

Seeing it needs Datastore.Audit or Datastore.AllocateSpace on /storage/local, as in Proxmox; the guests'
volumes are those of the guests the user may see.
"""

from __future__ import annotations

from django.conf import settings

from access import permissions
from guests.models import Guest, GuestTemplate
from nodes.choices import NodeStatus
from nodes.models import LOCAL_STORAGE, STORAGE_CONTENT, Node
from panel.errors import Forbidden, NotFound

CONTENT_TYPES = tuple(STORAGE_CONTENT.split(","))
SEE = {"Datastore.Audit", "Datastore.AllocateSpace"}


def may_see(user) -> bool:
    return bool(permissions.privileges(user, f"/storage/{LOCAL_STORAGE}") & SEE)


def check_storage(user, storage: str) -> None:
    """``local`` is the one storage; another id is not found, ``local`` without the privilege forbidden."""
    if storage != LOCAL_STORAGE:
        raise NotFound(f"storage '{storage}' does not exist")
    if not may_see(user):
        raise Forbidden(f"Permission check failed (/storage/{storage}, Datastore.Audit|Datastore.AllocateSpace)")


def config() -> dict:
    return {"storage": LOCAL_STORAGE, "type": "dir", "content": STORAGE_CONTENT, "shared": 0,
            "path": settings.PANEL_STORAGE_DIR, "digest": "0" * 40}


def status(node: Node) -> dict:
    online = node.status == NodeStatus.ONLINE
    total, used = node.disk_total, node.disk_used
    return {"storage": LOCAL_STORAGE, "type": "dir", "content": STORAGE_CONTENT, "shared": 0, "enabled": 1,
            "active": int(online), "total": total, "used": used, "avail": max(total - used, 0),
            "used_fraction": used / total if total else 0.0}


def _isos(node: Node) -> list[dict]:
    volumes = []
    for entry in node.iso_images():
        info = entry.stat(follow_symlinks=False)
        volumes.append({"volid": f"{LOCAL_STORAGE}:iso/{entry.name}", "content": "iso", "format": "iso",
                        "size": info.st_size, "ctime": int(info.st_mtime)})
    return volumes


def content(user, node: Node, kind: str | None = None, vmid: int | None = None) -> list[dict]:
    """The volumes of the node's ``local`` (of one content type, of one guest)."""
    volumes: list[dict] = []
    if kind in (None, "vztmpl") and vmid is None:
        for name in GuestTemplate.objects.filter(node=node, kind="ct").values_list("name", flat=True):
            volumes.append({"volid": f"{LOCAL_STORAGE}:vztmpl/{name}", "content": "vztmpl", "format": "tzst",
                            "size": 0})
    if kind in (None, "images", "rootdir"):
        guests = Guest.objects.filter(node=node).exclude(backend_id="").visible_to(user)
        if vmid is not None:
            guests = guests.filter(vmid=vmid)
        for guest in guests.values("vmid", "kind", "disk_bytes", "disk_used"):
            if guest["kind"] == "vm" and kind in (None, "images"):
                volumes.append({"volid": f"{LOCAL_STORAGE}:{guest['vmid']}/vm-{guest['vmid']}-disk-0.qcow2",
                                "content": "images", "format": "qcow2", "size": guest["disk_bytes"],
                                "used": guest["disk_used"] or 0, "vmid": guest["vmid"]})
            elif guest["kind"] == "ct" and kind in (None, "rootdir"):
                volumes.append({"volid": f"{LOCAL_STORAGE}:{guest['vmid']}/subvol-{guest['vmid']}-disk-0.subvol",
                                "content": "rootdir", "format": "subvol", "size": guest["disk_bytes"],
                                "used": guest["disk_used"] or 0, "vmid": guest["vmid"]})
    if kind in (None, "iso") and vmid is None:
        volumes += _isos(node)
    return volumes
