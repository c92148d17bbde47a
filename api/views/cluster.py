"""/cluster: the resources of the whole cluster."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.resources import RESOURCE_TYPES, cluster_resources

from ..responses import data


class ClusterResourcesView(APIView):
    """GET /cluster/resources[?type=node|vm|storage], like Proxmox's."""

    def get(self, request: Request) -> Response:
        kind = request.query_params.get("type")
        if kind is not None and kind not in RESOURCE_TYPES:
            raise ValidationError({"type": "one of node, vm, storage"})
        return data(cluster_resources(request.user, kind))
