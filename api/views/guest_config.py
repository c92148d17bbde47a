"""A guest's settings: /nodes/{node}/{qemu|lxc}/{vmid}/config and .../pending."""

from __future__ import annotations

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guests.config import ParameterErrors, guest_config, pending_entries, request_config, request_resize

from ..params import guest_named, text_param, text_params
from ..responses import data
from ..waiting import answer_after

# Read apart from the settings: what the change is checked against or how it is made.
CONTROL = ("delete", "revert", "digest", "background_delay", "skiplock", "force")


def _change(request: Request, node: str, kind: str, vmid: int, background: bool):
    guest = guest_named(request, node, kind, vmid)
    return request_config(
        request.user, guest, text_params(request, *CONTROL), delete=text_param(request, "delete") or "",
        revert=text_param(request, "revert") or "", given_digest=text_param(request, "digest"), background=background)


class GuestConfigView(APIView):
    """GET the settings (with pending changes, unless ``current=1``) and their digest; PUT changes them and
    answers when done (Proxmox's synchronous API); POST (VMs) answers the task's UPID at once."""

    def get(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_named(request, node, kind, vmid)
        return data(guest_config(guest, current=str(request.query_params.get("current", "0")).lower()
                                 in ("1", "true")))

    def put(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        return answer_after(data(None), _change(request, node, kind, vmid, background=False))

    def post(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest_named(request, node, kind, vmid)  # a guest the user may not see is a 404 first
        if kind != "qemu":  # containers have only the synchronous PUT, as in Proxmox
            raise MethodNotAllowed("POST", "containers are configured with PUT")
        task = _change(request, node, kind, vmid, background=True)
        return data(task.upid if task is not None else None)


class GuestPendingView(APIView):
    """GET every setting with its current value and its pending value or deletion."""

    def get(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        return data(pending_entries(guest_named(request, node, kind, vmid)))


class GuestResizeView(APIView):
    """PUT .../resize: disk, size (``+2G`` or ``10G``), digest; answers the resize task's UPID."""

    def put(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_named(request, node, kind, vmid)
        disk, size = text_param(request, "disk"), text_param(request, "size")
        missing = {key: "property is missing and it is not optional" for key, value in (("disk", disk),
                                                                                        ("size", size)) if not value}
        if missing:
            raise ParameterErrors(missing)
        task = request_resize(request.user, guest, disk, size, text_param(request, "digest"))
        return data(task.upid)
