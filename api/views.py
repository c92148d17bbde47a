"""Endpoints of /api2/json. Each view checks access through access.permissions, like the pages."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.resources import RESOURCE_TYPES, cluster_resources, node_resource
from guests.bulk import BULK_ACTIONS, request_bulk
from guests.choices import VMID_MAX, VMID_MIN, GuestAction, GuestKind
from guests.models import Guest, resource_path
from guests.services import request_action
from metrics.store import TIMEFRAMES, history
from nodes.choices import NodeStatus
from nodes.models import Node
from panel.errors import InvalidRequest
from panel.parsing import decimal
from tasks.choices import LOG_PAGE_MAX, TASK_PAGE_MAX
from tasks.events import task_summary
from tasks.models import Task
from tasks.services import cancel

from .responses import data

LOG_LIMIT_DEFAULT = 50
MAX_OFFSET = 10**12  # a start far beyond any log or list, still within SQL's integers
# Proxmox's guest paths: /nodes/{node}/qemu/{vmid} for VMs, /nodes/{node}/lxc/{vmid} for containers.
KIND_OF_PATH = {resource_path(kind): kind for kind in GuestKind}


def _number(value: object, name: str, maximum: int, minimum: int = 0) -> int:
    """A parameter as a bounded ASCII decimal; a parameter error (Proxmox's ``errors: {name: message}``)."""
    try:
        return decimal(value, name, maximum=maximum, minimum=minimum)
    except InvalidRequest as exc:
        raise ValidationError({name: exc.message}) from None


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    return _number(request.query_params.get(name, str(default)), name, maximum)


def _seconds(request: Request, name: str) -> int:
    """A number of seconds; its bound is the service's to check (tasks.services.check_timeout)."""
    return _number(request.data[name], name, MAX_OFFSET)


def _flag(request: Request, name: str) -> bool:
    """Proxmox's booleans: 1/0, and true/false as some clients send them; absent is false."""
    return str(request.data.get(name, "0")).lower() in ("1", "true")


def _node(request: Request, name: str) -> Node:
    return get_object_or_404(Node.objects.visible_to(request.user), name=name)


def _task(request: Request, node: str, upid: str) -> Task:
    queryset = Task.objects.select_related("node", "user", "parent").visible_to(request.user)
    return get_object_or_404(queryset, node__name=node, upid=upid)


class NodeListView(APIView):
    def get(self, request: Request) -> Response:
        nodes = Node.objects.visible_to(request.user)
        return data([node_resource(n) for n in nodes])  # the same entries as /cluster/resources


class NodeStatusView(APIView):
    """GET /nodes/{node}/status: the node's own figures, shaped like Proxmox's (plus its engines)."""

    def get(self, request: Request, node: str) -> Response:
        n = _node(request, node)
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


class NodeTaskListView(APIView):
    def get(self, request: Request, node: str) -> Response:
        start = _int_param(request, "start", 0, MAX_OFFSET)
        limit = _int_param(request, "limit", 50, TASK_PAGE_MAX)
        tasks = Task.objects.select_related("node", "user", "parent").filter(node__name=node).visible_to(request.user)
        if "vmid" in request.query_params:
            tasks = tasks.filter(vmid=_int_param(request, "vmid", 0, VMID_MAX))
        return data([task_summary(t) for t in tasks[start:start + limit]], total=tasks.count())


class TaskStatusView(APIView):
    def get(self, request: Request, node: str, upid: str) -> Response:
        task = _task(request, node, upid)
        summary = task_summary(task)
        # Proxmox says "running" or "stopped"; exitstatus tells how it ended.
        summary["status"] = "running" if task.is_active else "stopped"
        summary["panel_status"] = task.status
        return data(summary)


class TaskLogView(APIView):
    def get(self, request: Request, node: str, upid: str) -> Response:
        """Lines from ``start`` (0: the first), at most ``limit``, as [{"n": 1, "t": "..."}, ...]."""
        task = _task(request, node, upid)
        start = _int_param(request, "start", 0, MAX_OFFSET)
        limit = _int_param(request, "limit", LOG_LIMIT_DEFAULT, LOG_PAGE_MAX)
        lines = task.log_lines.filter(number__gt=start).order_by("number")[:limit]
        return data([{"n": line.number, "t": line.text} for line in lines], total=task.log_lines.count())


class TaskView(APIView):
    def delete(self, request: Request, node: str, upid: str) -> Response:
        """Stop a task: queued ones at once, running ones at their next step."""
        cancel(request.user, _task(request, node, upid))
        return data(None)


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
            params["force"] = _flag(request, "force")
        if "forceStop" in request.data:  # stopall: stop what did not shut down in time (default yes)
            params["force_stop"] = _flag(request, "forceStop")
        if "timeout" in request.data:
            params["timeout"] = _seconds(request, "timeout")
        return data(request_bulk(request.user, _node(request, node), action, **params).upid)


class GuestStatusView(APIView):
    """POST /nodes/{node}/{qemu|lxc}/{vmid}/status/{start|stop|shutdown|reboot|suspend|resume}."""

    def post(self, request: Request, node: str, kind: str, vmid: int, action: str) -> Response:
        if kind not in KIND_OF_PATH or action not in {a.value for a in GuestAction} - {"delete"}:
            raise NotFound("no such endpoint")
        queryset = Guest.objects.select_related("node").visible_to(request.user)
        guest = get_object_or_404(queryset, vmid=vmid, node__name=node, kind=KIND_OF_PATH[kind])
        params = {}
        if action == "shutdown":
            if "timeout" in request.data:
                params["timeout"] = _seconds(request, "timeout")
            params["force_stop"] = _flag(request, "forceStop")
        return data(request_action(request.user, guest, action, **params).upid)


class ClusterResourcesView(APIView):
    """GET /cluster/resources[?type=node|vm|storage], like Proxmox's."""

    def get(self, request: Request) -> Response:
        kind = request.query_params.get("type")
        if kind is not None and kind not in RESOURCE_TYPES:
            raise ValidationError({"type": "one of node, vm, storage"})
        return data(cluster_resources(request.user, kind))


def _timeframe(request: Request) -> tuple[str, str]:
    timeframe = request.query_params.get("timeframe", "hour")
    cf = request.query_params.get("cf", "AVERAGE").upper()
    if timeframe not in TIMEFRAMES:
        raise ValidationError({"timeframe": "one of " + ", ".join(TIMEFRAMES)})
    if cf not in ("AVERAGE", "MAX"):
        raise ValidationError({"cf": "AVERAGE or MAX"})
    return timeframe, cf


class NodeRrdDataView(APIView):
    """GET /nodes/{node}/rrddata?timeframe=hour|day|week|month|year&cf=AVERAGE|MAX."""

    def get(self, request: Request, node: str) -> Response:
        timeframe, cf = _timeframe(request)
        found = _node(request, node)
        points = history("node", found.name, timeframe, cf)
        for point in points:
            point["maxcpu"], point["maxmem"] = found.cpus, found.memory_total
        return data(points)


class GuestRrdDataView(APIView):
    """GET /nodes/{node}/{qemu|lxc}/{vmid}/rrddata?timeframe=...&cf=..."""

    def get(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        if kind not in KIND_OF_PATH:
            raise NotFound("no such endpoint")
        timeframe, cf = _timeframe(request)
        queryset = Guest.objects.select_related("node").visible_to(request.user)
        guest = get_object_or_404(queryset, vmid=vmid, node__name=node, kind=KIND_OF_PATH[kind])
        points = history("guest", guest.vmid, timeframe, cf)
        maxmem = guest.memory_bytes or guest.node.memory_total
        for point in points:
            point["maxcpu"], point["maxmem"] = guest.vcpus or guest.node.cpus, maxmem
        return data(points)
