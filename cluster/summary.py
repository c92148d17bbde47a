"""Summaries of the cluster: the public status (aggregates only) and the datacenter summary of what a user
may see, each in a few queries whatever the cluster's size."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from guests.models import Guest
from nodes.choices import NodeStatus
from nodes.models import Node


def cluster_status() -> dict:
    """What /status shows: aggregates over the whole cluster, no names."""
    nodes = list(Node.objects.only("name", "last_seen", "cpus", "cpu_usage", "memory_total", "memory_used",
                                   "disk_total", "disk_used", "engines"))
    total = totals(nodes)
    online = {n.pk for n in nodes if n.status == NodeStatus.ONLINE}
    guests: dict[str, dict[str, int]] = {"vm": {}, "ct": {}}
    for row in Guest.objects.values("kind", "state", "node_id").annotate(n=Count("pk")).order_by():
        # The last state of a guest whose node stopped reporting is not known.
        state = row["state"] if row["node_id"] in online else "unknown"
        counts = guests.setdefault(row["kind"], {})
        counts[state] = counts.get(state, 0) + row["n"]
    return {
        "time": timezone.now().isoformat(timespec="seconds"),
        "health": total["health"],
        "nodes": {"online": total["online"], "total": total["total"]},
        "cpu": total["cpu"], "memory": total["memory"], "storage": total["storage"],
        "guests": {kind: {"total": sum(states.values()), **states} for kind, states in guests.items()},
    }


def totals(nodes: list[Node]) -> dict:
    """Health (nodes online of total) and the resources of the online nodes."""
    online = [n for n in nodes if n.status == NodeStatus.ONLINE]
    cpus = sum(n.cpus for n in online)
    return {
        "health": "ok" if nodes and len(online) == len(nodes) else ("degraded" if online else "down"),
        "online": len(online),
        "total": len(nodes),
        "cpu": {"cores": cpus, "usage": (sum(n.cpu_usage * n.cpus for n in online) / cpus) if cpus else 0.0},
        "memory": {"used": sum(n.memory_used for n in online), "total": sum(n.memory_total for n in online)},
        "storage": {"used": sum(n.disk_used for n in online), "total": sum(n.disk_total for n in online)},
    }


def datacenter_summary(user) -> dict:
    """Proxmox's datacenter summary over what ``user`` may see, in three queries whatever the cluster size:
    health (nodes online of total), guest counts by kind and state, resources of the online nodes."""
    nodes = list(Node.objects.visible_to(user))
    offline_ids = {n.pk for n in nodes if n.status != NodeStatus.ONLINE}
    guests = {"vm": {"running": 0, "stopped": 0, "other": 0, "total": 0},
              "ct": {"running": 0, "stopped": 0, "other": 0, "total": 0}}
    rows = (Guest.objects.visible_to(user)
            .values("kind", "state", "node_id").annotate(n=Count("pk")).order_by())
    for row in rows:
        counts = guests.setdefault(row["kind"], {"running": 0, "stopped": 0, "other": 0, "total": 0})
        state = "other" if row["node_id"] in offline_ids else row["state"]
        counts[state if state in ("running", "stopped") else "other"] += row["n"]
        counts["total"] += row["n"]
    return {"nodes": nodes, "guests": guests, **totals(nodes)}


CLUSTER_NAME = "panel"


def cluster_members(user) -> list[dict]:
    """Proxmox's /cluster/status: the cluster (quorate while a node reports) and each node; Sys.Audit on /."""
    from access import permissions
    from panel.errors import Forbidden

    if not permissions.has_privilege(user, "Sys.Audit", "/"):
        raise Forbidden("Permission check failed (/, Sys.Audit)")
    nodes = list(Node.objects.only("name", "address", "last_seen").order_by("pk"))
    online = [n for n in nodes if n.status == NodeStatus.ONLINE]
    entries = [{"type": "cluster", "id": "cluster", "name": CLUSTER_NAME, "nodes": len(nodes),
                "quorate": int(bool(online)), "version": len(nodes)}]
    for number, node in enumerate(nodes, start=1):
        entries.append({"type": "node", "id": f"node/{node.name}", "name": node.name, "nodeid": number,
                        "ip": node.address, "online": int(node.status == NodeStatus.ONLINE), "level": "",
                        "local": int(node.name == settings.PANEL_NODE_NAME)})
    return entries
