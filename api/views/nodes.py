"""/nodes and a node's own endpoints: its status and its bulk actions."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.resources import node_resource
from guests.bulk import BULK_ACTIONS, request_bulk, request_migrate_all
from nodes.choices import NodeStatus
from nodes.models import Node
from tasks.choices import MAX_TIMEOUT

from ..params import flag, node_named, optional_number, params_of, text, vmid_list
from ..responses import data
from ..schema import BOOLEAN, INTEGER, NUMBER, STRING, arr, doc, obj
from ..version import pveversion

NODE_ENDPOINTS = ("status", "tasks", "rrddata", "qemu", "lxc", "storage", "startall", "stopall", "migrateall")


class NodeListView(APIView):
    @doc(
        "The nodes",
        arr(
            obj(
                ("node", "status"),
                node=STRING,
                status={"type": "string", "enum": ["online", "offline", "unknown"]},
                cpu=NUMBER,
                maxcpu=INTEGER,
                mem=INTEGER,
                maxmem=INTEGER,
                uptime=INTEGER,
                level=STRING,
                id=STRING,
                type=STRING,
            )
        ),
    )
    def get(self, request: Request) -> Response:
        nodes = Node.objects.visible_to(request.user)
        return data([node_resource(n) for n in nodes])  # the same entries as /cluster/resources


class NodeView(APIView):
    @doc("A node's endpoints", arr(obj(name=STRING)))
    def get(self, request: Request, node: str) -> Response:
        node_named(request, node)
        return data([{"name": name} for name in NODE_ENDPOINTS])


def _kernel(kversion: str) -> dict:
    sysname, _, rest = kversion.partition(" ")
    release, _, version = rest.partition(" ")
    return {"sysname": sysname, "release": release, "version": version, "machine": "x86_64"}


class NodeStatusView(APIView):
    """GET /nodes/{node}/status: the node's own figures, shaped like Proxmox's (plus its engines)."""

    @doc(
        "A node's figures",
        obj(
            ("pveversion", "cpuinfo", "memory", "loadavg", "uptime", "kversion"),
            pveversion=STRING,
            cpu=NUMBER,
            cpuinfo=obj(("cpus",), model=STRING, cores=INTEGER, sockets=INTEGER, cpus=INTEGER, mhz=STRING),
            memory=obj(
                ("total", "used", "free", "available"), total=INTEGER, used=INTEGER, free=INTEGER, available=INTEGER
            ),
            loadavg=arr(STRING),
            uptime=INTEGER,
            kversion=STRING,
            rootfs=obj(total=INTEGER, used=INTEGER, free=INTEGER, avail=INTEGER),
            swap=obj(total=INTEGER, used=INTEGER, free=INTEGER),
        ),
    )
    def get(self, request: Request, node: str) -> Response:
        n = node_named(request, node)
        online = n.status == NodeStatus.ONLINE
        cpuinfo = {"model": "unknown", "cores": n.cpus, "sockets": 1, "mhz": "0", **n.cpuinfo, "cpus": n.cpus}
        available = n.memory_available or max(n.memory_total - n.memory_used, 0)
        return data({
            "status": n.status,
            "pveversion": pveversion(),
            "cpu": n.cpu_usage if online else 0,
            "wait": 0,
            "idle": 0,
            "cpuinfo": cpuinfo,
            "loadavg": [f"{value:.2f}" for value in (n.load_average, n.load_average_5, n.load_average_15)],
            "memory": {"total": n.memory_total, "used": n.memory_used, "free": n.memory_total - n.memory_used,
                       "available": available},
            "swap": {"total": n.swap_total, "used": n.swap_used, "free": n.swap_total - n.swap_used},
            "rootfs": {"total": n.root_total, "used": n.root_used, "free": n.root_total - n.root_used,
                       "avail": n.root_total - n.root_used},
            "uptime": n.uptime if online else 0,
            "kversion": n.kernel,
            "current-kernel": _kernel(n.kernel),
            "boot-info": {"mode": "legacy"},
            "ksm": {"shared": 0},
            "engines": n.engines,
            "last_seen": int(n.last_seen.timestamp()) if n.last_seen else None,
        })


class NodeBulkView(APIView):
    """POST /nodes/{node}/startall (force, vms), stopall (vms, timeout, force-stop) and migrateall (target, vms):
    the task's UPID."""

    @doc(
        "startall (force, vms), stopall (vms, timeout, force-stop) or migrateall (target, vms): the UPID",
        STRING,
        body=obj(
            force=BOOLEAN,
            vms=STRING,
            timeout={"type": "integer", "minimum": 0, "maximum": 7200},
            force__stop=BOOLEAN,
            target=STRING,
        ),
    )
    def post(self, request: Request, node: str, action: str) -> Response:
        if action not in {*BULK_ACTIONS, "migrateall"}:
            raise NotFound(f"no action {action}")
        found = node_named(request, node)
        vms = vmid_list(request)
        if action == "migrateall":
            target = text(request, "target", 63, required=True)
            return data(request_migrate_all(request.user, found, target, vms).upid)
        params: dict = {"vms": vms} if vms else {}
        if action == "startall":
            if "force" in params_of(request):  # also guests not marked "start at boot"
                params["force"] = flag(request, "force")
        else:
            names = [name for name in ("force-stop", "forceStop") if name in params_of(request)]
            if names:  # stop what did not shut down in time (default yes)
                params["force_stop"] = flag(request, names[0], default=True)
            timeout = optional_number(request, "timeout", MAX_TIMEOUT * 10**6)
            if timeout is not None:
                params["timeout"] = timeout  # its bound is the service's (tasks.services.check_timeout)
        return data(request_bulk(request.user, found, action, **params).upid)

