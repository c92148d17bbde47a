"""A guest's endpoints: /nodes/{node}/{qemu|lxc}/{vmid}/..."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guests.choices import VM_ONLY_ACTIONS, GuestAction, GuestKind, GuestState
from guests.config import ParameterErrors
from guests.services import request_action, request_migrate
from guests.status import guest_status

from ..params import body, flag, guest_named, seconds, text_param
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
        body(request)
        params = {}
        if action == "shutdown":
            if "timeout" in request.data:
                params["timeout"] = seconds(request, "timeout")
            params["force_stop"] = flag(request, "forceStop")
        return data(request_action(request.user, guest, action, **params).upid)


class GuestMigrateView(APIView):
    """POST .../migrate: ``target``; a running VM moves only ``online`` (live), a running container only with
    ``restart`` (stopped, moved, started again; ``timeout`` for its shutdown), as in Proxmox."""

    def post(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_named(request, node, kind, vmid)
        target = (text_param(request, "target") or "").strip()
        if not target:
            raise ParameterErrors({"target": "property is missing and it is not optional"})
        online, restart = flag(request, "online"), flag(request, "restart")
        running = guest.state in (GuestState.RUNNING, GuestState.PAUSED)
        if guest.kind == GuestKind.CT:
            if online:
                raise ParameterErrors({"online": "lxc live migration is currently not implemented"})
            if running and not restart:
                raise ParameterErrors({"restart": "the container is running: migrate it with restart=1 (it is "
                                                  "shut down, moved and started again)"})
        elif running and not online:
            raise ParameterErrors({"online": "can't migrate running VM without --online"})
        timeout = seconds(request, "timeout") if "timeout" in request.data else None
        return data(request_migrate(request.user, guest, target, online=online, timeout=timeout).upid)
