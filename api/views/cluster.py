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
from .tasks import CLUSTER_TASKS, task_row


class ClusterStatusView(APIView):
    """GET /cluster/status: the cluster and its nodes (Sys.Audit on /)."""

    def get(self, request: Request) -> Response:
        return data(cluster_members(request.user))


class ClusterResourcesView(APIView):
    """GET /cluster/resources[?type=vm|node|storage|pool], like Proxmox's."""

    def get(self, request: Request) -> Response:
        kind = choice(request, "type", sorted(RESOURCE_TYPES))
        return data(cluster_resources(request.user, kind, pools=True))


class NextIdView(APIView):
    """GET /cluster/nextid[?vmid=N]: the lowest free VMID, or N if it is free. Proxmox answers a string."""

    def get(self, request: Request) -> Response:
        vmid = optional_number(request, "vmid", VMID_MAX, VMID_MIN)
        if vmid is None:
            return data(str(next_vmid()))
        if Guest.objects.filter(vmid=vmid).exists():
            raise ValidationError({"vmid": f"VM {vmid} already exists"})
        return data(str(vmid))


class ClusterTasksView(APIView):
    """GET /cluster/tasks: the recent tasks of every node the user may see, running ones first."""

    def get(self, request: Request) -> Response:
        tasks = Task.objects.select_related("node", "user").visible_to(request.user)
        return data([task_row(t) for t in tasks[:CLUSTER_TASKS]])
