"""/nodes and a node's own endpoints: its status and its bulk actions."""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.resources import node_resource
from guests.bulk import BULK_ACTIONS, request_bulk
from guests.choices import VMID_MAX, VMID_MIN
from nodes.choices import NodeStatus
from nodes.models import Node
from panel.errors import InvalidRequest
from panel.parsing import decimal

from ..params import flag, node_named, seconds
from ..responses import data


class NodeListView(APIView):
    def get(self, request: Request) -> Response:
        nodes = Node.objects.visible_to(request.user)
        return data([node_resource(n) for n in nodes])  # the same entries as /cluster/resources


class NodeStatusView(APIView):
    """GET /nodes/{node}/status: the node's own figures, shaped like Proxmox's (plus its engines)."""

    def get(self, request: Request, node: str) -> Response:
        n = node_named(request, node)
        online = n.status == NodeStatus.ONLINE
        return data({
            "status": n.status,
            "cpu": n.cpu_usage if online else 0,
            "cpuinfo": {"cpus": n.cpus},
            "loadavg": [f"{value:.2f}" for value in (n.load_average, n.load_average_5, n.load_average_15)],
            "memory": {"total": n.memory_total, "used": n.memory_used, "free": n.memory_total - n.memory_used},
            "swap": {"total": n.swap_total, "used": n.swap_used, "free": n.swap_total - n.swap_used},
            "rootfs": {"total": n.root_total, "used": n.root_used, "free": n.root_total - n.root_used,
                       "avail": n.root_total - n.root_used},
            "uptime": n.uptime if online else 0,
            "kversion": n.kernel,
            "engines": n.engines,
            "last_seen": int(n.last_seen.timestamp()) if n.last_seen else None,
        })


class NodeBulkView(APIView):
    def post(self, request: Request, node: str, action: str) -> Response:
        if action not in BULK_ACTIONS:
            raise NotFound(f"no action {action}")
        params = {}
        vms = request.data.get("vms")
        if vms:
            try:
                params["vms"] = [decimal(v, "vms", maximum=VMID_MAX, minimum=VMID_MIN)
                                 for v in str(vms).replace(",", " ").split()]
            except InvalidRequest as exc:
                raise ValidationError({"vms": f"a list of VMIDs separated by commas ({exc.message})"}) from None
        if "force" in request.data:  # startall: also guests not marked "start at boot"
            params["force"] = flag(request, "force")
        if "forceStop" in request.data:  # stopall: stop what did not shut down in time (default yes)
            params["force_stop"] = flag(request, "forceStop")
        if "timeout" in request.data:
            params["timeout"] = seconds(request, "timeout")
        return data(request_bulk(request.user, node_named(request, node), action, **params).upid)
