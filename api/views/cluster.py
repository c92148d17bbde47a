"""/cluster: its status, the resources of the whole cluster, the next free VMID and the recent tasks."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.resources import RESOURCE_TYPES, cluster_resources
from cluster.summary import cluster_members
from guests.choices import VMID_MAX, VMID_MIN
from guests.inventory import next_vmid
from guests.models import Guest
from tasks.models import Task

from ..params import choice, optional_number
from ..responses import data
from ..schema import BOOLEAN, INTEGER, RESOURCE, STRING, TASK_ROW, arr, doc, obj, param
from .tasks import CLUSTER_TASKS, task_row


class ClusterStatusView(APIView):
    """GET /cluster/status: the cluster and its nodes (Sys.Audit on /)."""

    @doc(
        "The cluster and its nodes",
        arr(
            obj(
                ("type", "id", "name"),
                type={"type": "string", "enum": ["cluster", "node"]},
                id=STRING,
                name=STRING,
                nodes=INTEGER,
                quorate=BOOLEAN,
                version=INTEGER,
                nodeid=INTEGER,
                ip=STRING,
                online=BOOLEAN,
                local=BOOLEAN,
                level=STRING,
            )
        ),
    )
    def get(self, request: Request) -> Response:
        return data(cluster_members(request.user))


class ClusterResourcesView(APIView):
    """GET /cluster/resources[?type=vm|node|storage|pool], like Proxmox's."""

    @doc(
        "Every node, guest, storage and pool the user may see",
        arr(RESOURCE),
        query=(param("type", {"type": "string", "enum": ["vm", "node", "storage", "pool"]}),),
    )
    def get(self, request: Request) -> Response:
        kind = choice(request, "type", sorted(RESOURCE_TYPES))
        return data(cluster_resources(request.user, kind, pools=True))


class NextIdView(APIView):
    """GET /cluster/nextid[?vmid=N]: the lowest free VMID, or N if it is free. Proxmox answers a string."""

    @doc(
        "The next free VMID (a string of digits, as Proxmox answers it)",
        {"type": "string", "pattern": "^[0-9]+$"},
        query=(param("vmid", {"type": "integer", "minimum": 100, "maximum": 999999999}),),
    )
    def get(self, request: Request) -> Response:
        vmid = optional_number(request, "vmid", VMID_MAX, VMID_MIN)
        if vmid is None:
            return data(str(next_vmid()))
        if Guest.objects.filter(vmid=vmid).exists():
            raise ValidationError({"vmid": f"VM {vmid} already exists"})
        return data(str(vmid))


class ClusterTasksView(APIView):
    """GET /cluster/tasks: the recent tasks of every node the user may see, running ones first."""

    @doc("Recent tasks of the cluster", arr(TASK_ROW))
    def get(self, request: Request) -> Response:
        tasks = Task.objects.select_related("node", "user").visible_to(request.user)
        return data([task_row(t) for t in tasks[:CLUSTER_TASKS]])
