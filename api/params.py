"""Parameters of /api2/json requests, as Proxmox reads them: bounded ASCII decimals, 0/1 booleans, and the
objects a path names, restricted to what the user may see (a 404 otherwise)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request

from guests.choices import GuestKind
from guests.models import Guest, resource_path
from nodes.models import Node
from panel.errors import InvalidRequest
from panel.parsing import decimal
from tasks.models import Task

MAX_OFFSET = 10**12  # a start far beyond any log or list, still within SQL's integers
# Proxmox's guest paths: /nodes/{node}/qemu/{vmid} for VMs, /nodes/{node}/lxc/{vmid} for containers.
KIND_OF_PATH = {resource_path(kind): kind for kind in GuestKind}


def number(value: object, name: str, maximum: int, minimum: int = 0) -> int:
    """A parameter as a bounded ASCII decimal; a parameter error (Proxmox's ``errors: {name: message}``)."""
    try:
        return decimal(value, name, maximum=maximum, minimum=minimum)
    except InvalidRequest as exc:
        raise ValidationError({name: exc.message}) from None


def query_number(request: Request, name: str, default: int, maximum: int) -> int:
    return number(request.query_params.get(name, str(default)), name, maximum)


def seconds(request: Request, name: str) -> int:
    """A number of seconds; its bound is the service's to check (tasks.services.check_timeout)."""
    return number(request.data[name], name, MAX_OFFSET)


def flag(request: Request, name: str) -> bool:
    """Proxmox's booleans: 1/0, and true/false as some clients send them; absent is false."""
    return str(request.data.get(name, "0")).lower() in ("1", "true")


def node_named(request: Request, name: str) -> Node:
    return get_object_or_404(Node.objects.visible_to(request.user), name=name)


def task_named(request: Request, node: str, upid: str) -> Task:
    queryset = Task.objects.select_related("node", "user", "parent").visible_to(request.user)
    return get_object_or_404(queryset, node__name=node, upid=upid)


def guest_named(request: Request, node: str, kind: str, vmid: int) -> Guest:
    """The guest of a path /nodes/{node}/{qemu|lxc}/{vmid}: one the user may not see is no guest (a 404)."""
    if kind not in KIND_OF_PATH:
        raise NotFound("no such endpoint")
    queryset = Guest.objects.select_related("node", "pool").visible_to(request.user)
    return get_object_or_404(queryset, vmid=vmid, node__name=node, kind=KIND_OF_PATH[kind])


def body(request: Request) -> dict:
    """The parameters of a form or a JSON object; a JSON body of another shape is a 400."""
    if not hasattr(request.data, "items"):
        raise ValidationError({"body": "parameters are a form or a JSON object"})
    return request.data


def text_params(request: Request, *skip: str) -> dict[str, str]:
    """Every parameter of a form or JSON body as text, but ``skip`` (the path's, and those read apart)."""
    return {key: str(value) for key, value in body(request).items() if key not in skip}


def text_param(request: Request, name: str) -> str | None:
    """One parameter as text, None when absent."""
    value = body(request).get(name)
    return None if value is None else str(value)
