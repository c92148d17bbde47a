"""rrddata: the history of a node or a guest, in Proxmox's timeframes."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guests.models import Guest
from metrics.store import TIMEFRAMES, history

from ..params import KIND_OF_PATH, node_named
from ..responses import data


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
        found = node_named(request, node)
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
