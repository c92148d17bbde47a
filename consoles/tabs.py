"""The Console tab of a guest and the Shell tab of a node (guests/tabs.py, nodes/tabs.py): shown to who may
use them. A VM's tab shows its display (noVNC), or its serial line with ``?view=serial``, as Proxmox's console
offers noVNC and xterm.js; a container's shows its shell."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.urls import reverse

from guests.choices import GuestKind
from guests.models import Guest
from nodes.models import Node

from . import services

SERIAL, DISPLAY = "serial", "display"


def may_use_guest_console(user: AbstractBaseUser, guest: Guest) -> bool:
    return services.may_use_console(user, guest)


def may_use_node_shell(user: AbstractBaseUser, node: Node) -> bool:
    return services.may_use_shell(user, node)


def guest_console(request: HttpRequest, guest: Guest) -> dict:
    view = DISPLAY if guest.kind == GuestKind.VM and request.GET.get("view") != SERIAL else SERIAL
    if view == DISPLAY:
        socket, title, window = f"/ws/guests/{guest.vmid}/vnc/", f"Display of {guest}", "guest_display"
    else:
        what = "Shell" if guest.kind == GuestKind.CT else "Serial console"
        socket, title, window = f"/ws/guests/{guest.vmid}/console/", f"{what} of {guest}", "guest_console"
    return {"console_view": view, "console_socket": socket, "console_title": title,
            "console_window": reverse(window, args=[guest.vmid])}


def node_shell(request: HttpRequest, node: Node) -> dict:
    return {"console_socket": f"/ws/nodes/{node.name}/shell/", "console_title": f"Shell of node {node.name}",
            "console_window": reverse("node_shell", args=[node.name])}
