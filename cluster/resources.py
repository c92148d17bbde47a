"""/cluster/resources as Proxmox has it: every node, guest and storage a user may see, in a constant number of
queries whatever the cluster's size. The API, the live socket and the pages all read it from here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from access import permissions
from access.models import Pool
from guests.models import Guest, resource_path, uptime_since
from metrics.models import Counters
from nodes.choices import NodeStatus
from nodes.models import LOCAL_STORAGE, STORAGE_CONTENT, Node
from tasks.choices import ACTIVE_STATUSES
from tasks.models import Task

RESOURCE_TYPES = {"node", "vm", "storage", "pool"}
COUNTER_FIELDS = ("netin", "netout", "diskread", "diskwrite")
# Proxmox's lock of a guest while one of these tasks is queued or running on it (its config's "lock").
LOCKS = {"create": "create", "migrate": "migrate", "clone": "clone", "snapshot": "snapshot",
         "rollback": "rollback", "delsnapshot": "snapshot-delete"}
NO_COUNTERS = dict.fromkeys(COUNTER_FIELDS, 0)


# What a guest resource is made of: read as plain values, since a cluster has thousands of guests.
GUEST_RESOURCE_FIELDS = ("vmid", "kind", "name", "state", "cpu_usage", "vcpus", "memory_used", "memory_mib",
                         "disk_used", "disk_bytes", "running_since", "node_id", "pool__name", "is_template", "tags")


@dataclass(frozen=True)
class _NodeFacts:
    """What each guest resource needs of its node, worked out once per node."""

    name: str
    online: bool
    cpus: int
    memory_total: int


def _guest_resource(guest: dict, node: _NodeFacts, now: datetime, counters: dict) -> dict:
    """Proxmox's fields of a guest; ``netin``... are the engine's counters since the guest started, as the
    last poll read them. A field Proxmox leaves out when it has no value (pool, tags) is left out."""
    running = node.online and guest["state"] == "running"
    path = resource_path(guest["kind"])
    resource = {
        "id": f"{path}/{guest['vmid']}", "type": path, "node": node.name, "vmid": guest["vmid"],
        "name": guest["name"], "status": guest["state"] if node.online else "unknown",
        "cpu": guest["cpu_usage"] if running else 0, "maxcpu": math.ceil(guest["vcpus"]) or node.cpus,
        "mem": guest["memory_used"] if running else 0,
        "maxmem": guest["memory_mib"] * 1024 * 1024 or node.memory_total,
        "disk": guest["disk_used"] or 0, "maxdisk": guest["disk_bytes"],
        "uptime": uptime_since(guest["running_since"], now) if running else 0,
        "template": int(guest["is_template"]),
        **(counters if running else NO_COUNTERS),
    }
    if guest["pool__name"]:
        resource["pool"] = guest["pool__name"]
    if guest["tags"]:
        resource["tags"] = guest["tags"]
    return resource


def node_resource(node: Node) -> dict:
    """A node as /cluster/resources and /nodes list it."""
    online = node.status == NodeStatus.ONLINE
    return {
        "id": f"node/{node.name}", "type": "node", "node": node.name, "name": node.name,
        "status": "online" if online else "offline", "cpu": node.cpu_usage if online else 0, "maxcpu": node.cpus,
        "mem": node.memory_used if online else 0, "maxmem": node.memory_total,
        "disk": node.disk_used, "maxdisk": node.disk_total, "uptime": node.uptime if online else 0,
        "level": "",
    }


def _storage_resource(node: Node) -> dict:
    return {
        "id": f"storage/{node.name}/{LOCAL_STORAGE}", "type": "storage", "node": node.name,
        "storage": LOCAL_STORAGE, "name": LOCAL_STORAGE, "path": node.storage_dir,
        "status": "available" if node.status == NodeStatus.ONLINE else "unknown",
        "disk": node.disk_used, "maxdisk": node.disk_total, "content": STORAGE_CONTENT, "shared": 0,
        "plugintype": "dir",
    }


def _pool_resource(pool: str) -> dict:
    return {"id": f"/pool/{pool}", "type": "pool", "pool": pool, "name": pool}


def _counters(vmids: list[int] | None) -> dict[str, dict]:
    """The last counters of every guest (of ``vmids``), in one query."""
    rows = Counters.objects.filter(kind="guest")
    if vmids is not None:
        rows = rows.filter(key__in=[str(v) for v in vmids])
    return {row["key"]: row for row in rows.values("key", *COUNTER_FIELDS)}


def cluster_resources(user, kind: str | None = None, node: str | None = None,
                      vmids: list[int] | None = None, pools: bool = False,
                      nodes: list[str] | None = None) -> list[dict]:
    """Every node, guest and storage ``user`` may see (of ``node`` or ``nodes`` only, of the guests ``vmids`` only,
    if given), in a constant number of queries; the pools the user may audit too with ``kind="pool"``, or
    ``pools`` (the API's unfiltered list: the live pages have no use for them)."""
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
        counters, locks = _counters(vmids), _locks(vmids)
        for g in guests:
            resource = _guest_resource(g, facts[g["node_id"]], now, _counter_fields(counters.get(str(g["vmid"]))))
            if g["vmid"] in locks:
                resource["lock"] = locks[g["vmid"]]
            resources.append(resource)
    if kind in (None, "storage") and permissions.has_privilege(
        user, "Datastore.Audit", f"/storage/{LOCAL_STORAGE}"
    ):
        resources += [_storage_resource(n) for n in nodes]
    if kind == "pool" or (kind is None and pools):
        resources += [_pool_resource(name) for name in Pool.objects.values_list("name", flat=True)
                      if permissions.has_privilege(user, "Pool.Audit", f"/pool/{name}")]
    return resources


def _locks(vmids: list[int] | None) -> dict[int, str]:
    """The lock of every guest (of ``vmids``) busy with a task that locks it, in one query."""
    active = Task.objects.filter(status__in=ACTIVE_STATUSES, guest__isnull=False, type__in=list(LOCKS))
    if vmids is not None:
        active = active.filter(vmid__in=vmids)
    return {vmid: LOCKS[type_] for vmid, type_ in active.values_list("vmid", "type")}


def _counter_fields(row: dict | None) -> dict:
    return {name: row[name] for name in COUNTER_FIELDS} if row else NO_COUNTERS


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
