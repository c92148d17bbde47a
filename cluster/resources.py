"""/cluster/resources as Proxmox has it: every node, guest and storage a user may see, in a constant number of
queries whatever the cluster's size. The API, the live socket and the pages all read it from here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from access import permissions
from guests.models import Guest, resource_path, uptime_since
from nodes.choices import NodeStatus
from nodes.models import LOCAL_STORAGE, Node

RESOURCE_TYPES = {"node", "vm", "storage"}


# What a guest resource is made of: read as plain values, since a cluster has thousands of guests.
GUEST_RESOURCE_FIELDS = ("vmid", "kind", "name", "state", "cpu_usage", "vcpus", "memory_used", "memory_mib",
                         "disk_used", "disk_bytes", "running_since", "node_id", "pool__name")


@dataclass(frozen=True)
class _NodeFacts:
    """What each guest resource needs of its node, worked out once per node."""

    name: str
    online: bool
    cpus: int
    memory_total: int


def _guest_resource(guest: dict, node: _NodeFacts, now: datetime) -> dict:
    running = node.online and guest["state"] == "running"
    path = resource_path(guest["kind"])
    return {
        "id": f"{path}/{guest['vmid']}", "type": path, "node": node.name, "vmid": guest["vmid"],
        "name": guest["name"], "status": guest["state"] if node.online else "unknown",
        "cpu": guest["cpu_usage"] if running else 0, "maxcpu": guest["vcpus"] or node.cpus,
        "mem": guest["memory_used"] if running else 0,
        "maxmem": guest["memory_mib"] * 1024 * 1024 or node.memory_total,
        "disk": guest["disk_used"] or 0, "maxdisk": guest["disk_bytes"],
        "uptime": uptime_since(guest["running_since"], now) if running else 0, "pool": guest["pool__name"],
        "template": 0,
    }


def node_resource(node: Node) -> dict:
    """A node as /cluster/resources and /nodes list it."""
    online = node.status == NodeStatus.ONLINE
    return {
        "id": f"node/{node.name}", "type": "node", "node": node.name, "name": node.name,
        "status": "online" if online else "offline", "cpu": node.cpu_usage if online else 0, "maxcpu": node.cpus,
        "mem": node.memory_used if online else 0, "maxmem": node.memory_total,
        "disk": node.disk_used, "maxdisk": node.disk_total, "uptime": node.uptime if online else 0,
        "level": "", "template": 0,
    }


def _storage_resource(node: Node) -> dict:
    return {
        "id": f"storage/{node.name}/{LOCAL_STORAGE}", "type": "storage", "node": node.name,
        "storage": LOCAL_STORAGE, "name": LOCAL_STORAGE, "path": node.storage_dir,
        "status": "available" if node.status == NodeStatus.ONLINE else "unknown",
        "disk": node.disk_used, "maxdisk": node.disk_total, "content": "images,rootdir", "shared": 0,
    }


def cluster_resources(user, kind: str | None = None, node: str | None = None,
                      vmids: list[int] | None = None, nodes: list[str] | None = None) -> list[dict]:
    """Every node, guest and storage ``user`` may see (of ``node`` or ``nodes`` only, of the guests ``vmids`` only,
    if given), in a constant number of queries."""
    resources = []
    node_rows, guest_rows = Node.objects.all(), Guest.objects.all()
    if node is not None:
        node_rows, guest_rows = node_rows.filter(name=node), guest_rows.filter(node__name=node)
    if nodes is not None:
        node_rows, guest_rows = node_rows.filter(name__in=nodes), guest_rows.filter(node__name__in=nodes)
    if vmids is not None:
        guest_rows = guest_rows.filter(vmid__in=vmids)
    nodes = list(node_rows.visible_to(user)) if kind in (None, "node", "storage") else []
    if kind in (None, "node"):
        resources += [node_resource(n) for n in nodes]
    if kind in (None, "vm"):
        # Every node a visible guest may be on, including nodes the user may not see.
        facts = {n.pk: _NodeFacts(n.name, n.status == NodeStatus.ONLINE, n.cpus, n.memory_total)
                 for n in node_rows.only("name", "last_seen", "cpus", "memory_total")}
        guests = guest_rows.visible_to(user).values(*GUEST_RESOURCE_FIELDS)
        now = timezone.now()
        resources += [_guest_resource(g, facts[g["node_id"]], now) for g in guests]
    if kind in (None, "storage") and permissions.has_privilege(
        user, "Datastore.Audit", f"/storage/{LOCAL_STORAGE}"
    ):
        resources += [_storage_resource(n) for n in nodes]
    return resources


def first_visible(user, fold_at: int) -> tuple[list[dict], dict[str, int]]:
    """What a page shows first: every node and storage ``user`` may see, and the guests of each node holding at
    most ``fold_at`` of them that the user may see; the other nodes by name with their guest counts (folded).
    A constant number of queries; the guests read are at most ``fold_at`` per node."""
    from django.db.models import Count

    counts = dict(Guest.objects.visible_to(user).values_list("node__name").order_by().annotate(n=Count("pk")))
    folded = {name: n for name, n in counts.items() if n > fold_at}
    resources = cluster_resources(user, kind="node") + cluster_resources(user, kind="storage")
    shown = [name for name in counts if name not in folded]
    if shown:
        resources += cluster_resources(user, kind="vm", nodes=shown)
    return resources, folded
