"""/status: the read-only cluster status, public when PANEL_PUBLIC_STATUS is on (the default).

Only aggregates: nodes online of total, usage totals, guest counts by kind and state. Never a guest's
name, a node's or guest's address, or anything that acts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from guests.models import Guest

from .choices import NodeStatus
from .models import Node


def cluster_status() -> dict:
    nodes = list(Node.objects.only("name", "last_seen", "cpus", "cpu_usage", "memory_total", "memory_used",
                                   "disk_total", "disk_used", "engines"))
    totals = _totals(nodes)
    guests: dict[str, dict[str, int]] = {"vm": {}, "ct": {}}
    for row in Guest.objects.values("kind", "state").annotate(n=Count("pk")).order_by():
        guests.setdefault(row["kind"], {})[row["state"]] = row["n"]
    return {
        "time": timezone.now().isoformat(timespec="seconds"),
        "health": totals["health"],
        "nodes": {"online": totals["online"], "total": totals["total"]},
        "cpu": totals["cpu"], "memory": totals["memory"], "storage": totals["storage"],
        "guests": {kind: {"total": sum(states.values()), **states} for kind, states in guests.items()},
    }


def _totals(nodes: list[Node]) -> dict:
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


class StatusAccessMixin:
    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not settings.PANEL_PUBLIC_STATUS and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)


class StatusView(StatusAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "status/status.html", {"status": cluster_status()})


class StatusJsonView(StatusAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse({"data": cluster_status()})


def datacenter_summary(user) -> dict:
    """Proxmox's datacenter summary over what ``user`` may see, in three queries whatever the cluster size:
    health (nodes online of total), guest counts by kind and state, resources of the online nodes."""
    from access import permissions

    nodes = list(permissions.visible_nodes(user, Node.objects.all()))
    offline_ids = {n.pk for n in nodes if n.status != NodeStatus.ONLINE}
    guests = {"vm": {"running": 0, "stopped": 0, "other": 0, "total": 0},
              "ct": {"running": 0, "stopped": 0, "other": 0, "total": 0}}
    rows = (permissions.visible_guests(user, Guest.objects.all())
            .values("kind", "state", "node_id").annotate(n=Count("pk")).order_by())
    for row in rows:
        counts = guests.setdefault(row["kind"], {"running": 0, "stopped": 0, "other": 0, "total": 0})
        state = "other" if row["node_id"] in offline_ids else row["state"]
        counts[state if state in ("running", "stopped") else "other"] += row["n"]
        counts["total"] += row["n"]
    return {"nodes": nodes, "guests": guests, **_totals(nodes)}
