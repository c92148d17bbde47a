"""A guest's endpoints: /nodes/{node}/{qemu|lxc}/{vmid}/..."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guests.choices import GuestAction
from guests.models import Guest
from guests.services import request_action

from ..params import KIND_OF_PATH, flag, seconds
from ..responses import data


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
                params["timeout"] = seconds(request, "timeout")
            params["force_stop"] = flag(request, "forceStop")
        return data(request_action(request.user, guest, action, **params).upid)
