"""A guest's endpoints: /nodes/{node}/{qemu|lxc}/{vmid}/..."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guests.choices import VM_ONLY_ACTIONS, GuestAction
from guests.services import request_action
from guests.status import guest_status

from ..params import flag, guest_named, seconds
from ..responses import data

POWER_ACTIONS = {a.value for a in GuestAction} - {GuestAction.DELETE}


class GuestStatusView(APIView):
    """GET .../status/current; POST .../status/{start|stop|shutdown|reboot|suspend|resume|reset} (reset: VMs)."""

    def get(self, request: Request, node: str, kind: str, vmid: int, action: str) -> Response:
        if action != "current":
            raise NotFound("no such endpoint")
        return data(guest_status(guest_named(request, node, kind, vmid)))

    def post(self, request: Request, node: str, kind: str, vmid: int, action: str) -> Response:
        if action not in POWER_ACTIONS or (action in VM_ONLY_ACTIONS and kind != "qemu"):
            raise NotFound("no such endpoint")
        guest = guest_named(request, node, kind, vmid)
        params = {}
        if action == "shutdown":
            if "timeout" in request.data:
                params["timeout"] = seconds(request, "timeout")
            params["force_stop"] = flag(request, "forceStop")
        return data(request_action(request.user, guest, action, **params).upid)
