"""Parameters of /api2/json requests, as Proxmox reads them: bounded ASCII decimals, 0/1 booleans, and the
objects a path names, restricted to what the user may see (a 404 otherwise)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.parsers import JSONParser
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
    return number(params_of(request)[name], name, MAX_OFFSET)


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def params_of(request: Request):
    """Where a method's parameters are: the query string of a GET or DELETE, the body of a POST or PUT."""
    return request.query_params if request.method in ("GET", "HEAD", "DELETE") else request.data


def flag(request: Request, name: str, default: bool = False) -> bool:
    """Proxmox's booleans: 1/0, true/false, yes/no, on/off; absent is ``default``; anything else a parameter error."""
    value = params_of(request).get(name)
    if value is None or value == "":
        return default
    word = str(value).lower()
    if word not in TRUE + FALSE:
        raise ValidationError({name: f"type check ('boolean') failed - got '{str(value)[:40]}'"})
    return word in TRUE


def text(request: Request, name: str, max_length: int = 255, required: bool = False, default: str = "") -> str:
    """A string parameter within ``max_length`` characters; missing and required is a parameter error."""
    value = params_of(request).get(name)
    if value is None:
        if required:
            raise ValidationError({name: "property is missing and it is not optional"})
        return default
    value = str(value)
    if len(value) > max_length:
        raise ValidationError({name: f"value may only be {max_length} characters long"})
    return value


def choice(request: Request, name: str, choices: tuple[str, ...] | list[str], default: str | None = None):
    value = params_of(request).get(name, default)
    if value is not None and value not in choices:
        raise ValidationError({name: f"value '{str(value)[:40]}' does not have a value in the enumeration "
                                     f"'{', '.join(choices)}'"})
    return value


def optional_number(request: Request, name: str, maximum: int, minimum: int = 0) -> int | None:
    value = params_of(request).get(name)
    return None if value is None or value == "" else number(value, name, maximum, minimum)


def vmid_list(request: Request, name: str = "vms") -> list[int] | None:
    """Proxmox's pve-vmid-list: VMIDs separated by commas, blanks or semicolons; absent or empty is None."""
    from guests.choices import VMID_MAX, VMID_MIN

    value = params_of(request).get(name)
    if not value:
        return None
    try:
        return [decimal(v, name, maximum=VMID_MAX, minimum=VMID_MIN)
                for v in str(value).replace(",", " ").replace(";", " ").split()]
    except InvalidRequest as exc:
        raise ValidationError({name: f"a list of VMIDs separated by commas ({exc.message})"}) from None


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


class ObjectJSONParser(JSONParser):
    """JSON bodies, as an object of parameters only (Proxmox's form fields): ``[1]`` or ``3`` is refused."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        if not isinstance(parsed, dict):
            raise ParseError("the parameters must be a JSON object (or a form)")
        return parsed
