"""A node's guests: GET and POST /nodes/{node}/qemu and /nodes/{node}/lxc, and GET and DELETE of one guest."""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Pool
from drivers.limits import MAX_DISK_GIB, MAX_MEMORY_MIB, MAX_VCPUS
from guests.choices import VMID_MAX, VMID_MIN, GuestAction, GuestKind
from guests.config import (
    MIN_MEMORY_MIB,
    UNKNOWN,
    ParameterErrors,
    iso_problem,
    memory_problem,
    name_problem,
    parse_startup,
    vcpus_problem,
)
from guests.models import Guest, GuestTemplate
from guests.services import CreateRequest, request_action, request_create
from guests.status import guest_statuses
from nodes.models import LOCAL_STORAGE, Node
from panel.errors import InvalidRequest
from panel.parsing import boolean, decimal, tag_list

from ..params import KIND_OF_PATH, body, guest_named
from ..responses import data

DEFAULT_MEMORY_MIB = 512  # Proxmox's default for both kinds
# Proxmox's disk keys a VM is created with (its first disk), and a container's root file system.
VM_DISKS = ("scsi0", "virtio0", "sata0", "ide0")
# Options Proxmox clients send that mean nothing to these engines and change nothing: accepted, not kept.
IGNORED = {GuestKind.CT: {"arch", "ostype", "unprivileged", "swap", "cmode", "console", "tty", "features"},
           GuestKind.VM: {"ostype", "sockets", "scsihw", "agent", "boot", "bootdisk", "cpu", "numa", "kvm", "acpi",
                          "vga", "serial0", "balloon", "bios"}}
ARCHIVE = re.compile(r"\.(tar\.(gz|xz|zst)|tgz)\Z")
# storage:size, Proxmox's way of asking for a new volume (size in GiB), with options after a comma.
NEW_VOLUME = re.compile(r"(?P<storage>[a-z][a-z0-9._-]*):(?P<size>[0-9]{1,6}(\.[0-9]{1,3})?)(,.*)?\Z",
                        re.IGNORECASE)


def _kind(kind: str) -> GuestKind:
    if kind not in KIND_OF_PATH:
        raise NotFound("no such endpoint")
    return GuestKind(KIND_OF_PATH[kind])


def _node(name: str) -> Node:
    node = Node.objects.filter(name=name).first()
    if node is None:
        raise NotFound(f"no such node '{name}'")
    return node


class GuestListView(APIView):
    """GET: the guests of the node the user may audit (Proxmox: VM.Audit on /vms/<vmid>). POST: create one."""

    def get(self, request: Request, node: str, kind: str) -> Response:
        guest_kind = _kind(kind)
        _node(node)
        guests = (Guest.objects.select_related("node", "pool").visible_to(request.user)
                  .filter(node__name=node, kind=guest_kind).order_by("vmid"))
        return data(guest_statuses(list(guests)))

    def post(self, request: Request, node: str, kind: str) -> Response:
        guest_kind = _kind(kind)
        create = create_request(body(request), _node(node), guest_kind)
        return data(request_create(request.user, create).upid)


def _text(values: dict, key: str, default: str = "") -> str:
    value = str(values.get(key, default))
    if "\x00" in value:
        raise ParameterErrors({key: "no NUL characters"})
    return value


def create_request(values: dict, node: Node, kind: GuestKind) -> CreateRequest:
    """Proxmox's create parameters as the service's request; every bad one named (a 400)."""
    errors: dict[str, str] = {}
    name_key = "name" if kind is GuestKind.VM else "hostname"
    disk_keys = VM_DISKS if kind is GuestKind.VM else ("rootfs",)
    known = {"vmid", name_key, "memory", "cores", "net0", "onboot", "startup", "pool", "start", "description",
             "tags", *disk_keys, *IGNORED[kind]} | ({"ostemplate"} if kind is GuestKind.CT else {"ide2", "cdrom"})
    for key in values:
        if key not in known:
            errors[key] = UNKNOWN

    def read(key: str, parse, default=None):
        if key not in values or str(values[key]) == "":
            return default
        try:
            return parse(_text(values, key))
        except InvalidRequest as exc:
            errors[key] = exc.message.removeprefix(f"{key}: ")
        except ParameterErrors as exc:
            errors.update(exc.errors)
        return default

    vmid = read("vmid", lambda v: decimal(v, "vmid", minimum=VMID_MIN, maximum=VMID_MAX))
    if vmid is not None and Guest.objects.filter(vmid=vmid).exists():
        errors["vmid"] = f"VM {vmid} already exists"
    cdrom = [key for key in ("ide2", "cdrom") if kind is GuestKind.VM and key in values]
    iso = read(cdrom[0], lambda v: _iso(v, node), "") if cdrom else ""
    template = read("ostemplate", _ostemplate) if kind is GuestKind.CT else ("" if iso else _vm_template(node))
    if kind is GuestKind.CT and "ostemplate" not in values:
        errors["ostemplate"] = "property is missing and it is not optional"
    if kind is GuestKind.VM and not template and not iso and not cdrom:
        errors["node"] = f"node {node.name} has no VM template to make a VM from"
    if template and not GuestTemplate.objects.filter(node=node, kind=kind, name=template).exists():
        errors["ostemplate" if kind is GuestKind.CT else "template"] = (
            f"template '{template}' does not exist on node {node.name}")
    name = read(name_key, lambda v: v.strip()) or f"{_default_name(kind)}{vmid or ''}"
    if problem := name_problem(node, kind, name):
        errors[name_key] = problem
    memory = read("memory", lambda v: decimal(v.removeprefix("current="), "memory", minimum=MIN_MEMORY_MIB,
                                             maximum=MAX_MEMORY_MIB), DEFAULT_MEMORY_MIB)
    if "memory" not in errors and (problem := memory_problem(node, kind, template or "", memory)):
        errors["memory"] = problem
    cores = read("cores", lambda v: decimal(v, "cores", minimum=1, maximum=MAX_VCPUS), 1)
    if kind is GuestKind.VM:  # a VM's vCPUs are its sockets' cores
        cores *= read("sockets", lambda v: decimal(v, "sockets", minimum=1, maximum=MAX_VCPUS), 1) or 1
        if cores > MAX_VCPUS:
            errors["sockets"] = f"at most {MAX_VCPUS} vCPUs in all (sockets times cores)"
    if "cores" not in errors and "sockets" not in errors and (problem := vcpus_problem(node, cores)):
        errors["cores"] = problem
    disk_gib = 0
    given = [key for key in disk_keys if key in values]
    if len(given) > 1:
        errors[given[1]] = f"give one disk: {', '.join(given)} were given"
    for key in given[:1]:
        disk_gib = read(key, _new_volume, 0) or 0
    if kind is GuestKind.VM and not given:
        errors[VM_DISKS[0]] = "give the VM a disk, e.g. scsi0=local:8 (GiB)"
    if kind is GuestKind.CT:
        disk_gib = 0  # a container's root file system is a layer of the engine's storage: it has no size
    read("net0", _net)
    spec = read("startup", parse_startup, {})
    pool_name = read("pool", lambda v: v.strip())
    pool = Pool.objects.filter(name=pool_name).first() if pool_name else None
    if pool_name and pool is None:
        errors["pool"] = f"pool '{pool_name}' does not exist"
    tags = read("tags", lambda v: ";".join(tag_list(v)), "")
    description = read("description", lambda v: v, "")
    onboot = read("onboot", lambda v: boolean(v, "onboot"), False)
    start = read("start", lambda v: boolean(v, "start"), False)
    if errors:
        raise ParameterErrors(errors)
    return CreateRequest(node=node, kind=kind, name=name, template=template, vcpus=cores, memory_mib=memory,
                         disk_gib=disk_gib, vmid=vmid, onboot=onboot, startup_order=spec.get("order"), start=start,
                         pool=pool, startup_up=spec.get("up"), startup_down=spec.get("down"),
                         description=description, tags=tags, iso=iso)


def _default_name(kind: GuestKind) -> str:
    return f"{settings.PANEL_GUEST_NAME_PREFIX}{'vm' if kind is GuestKind.VM else 'ct'}"


def _ostemplate(value: str) -> str:
    """``local:vztmpl/busybox`` (an archive's suffix, as Proxmox's templates have, is taken off)."""
    storage, _, volume = value.strip().partition(":")
    kind, _, name = volume.partition("/")
    if storage != LOCAL_STORAGE or kind != "vztmpl" or not name:
        raise InvalidRequest(f"a container template of storage '{LOCAL_STORAGE}' is needed, such as "
                             f"{LOCAL_STORAGE}:vztmpl/busybox, not {value[:60]!r}")
    return ARCHIVE.sub("", name)


def _iso(value: str, node: Node) -> str:
    """``local:iso/NAME.iso[,media=cdrom]``: the VM boots that image of the node's storage onto its empty disk
    (no CD, ``none`` or ``cdrom``, is no image: the VM is made from the node's template)."""
    volume, _, options = value.strip().partition(",")
    if options and options != "media=cdrom":
        raise InvalidRequest(f"only media=cdrom is taken with a CD image, not {options[:40]!r}")
    if volume in ("none", "cdrom"):
        return ""
    storage, _, path = volume.partition(":")
    content, _, name = path.partition("/")
    if storage != LOCAL_STORAGE or content != "iso" or not name:
        raise InvalidRequest(f"an ISO image of storage '{LOCAL_STORAGE}' is needed, such as "
                             f"{LOCAL_STORAGE}:iso/NAME.iso,media=cdrom, not {value[:60]!r}")
    if problem := iso_problem(node, name):
        raise InvalidRequest(problem)
    return name


def _vm_template(node: Node) -> str:
    """A VM is made from the node's VM template (Proxmox makes an empty disk; a panel VM needs a kernel)."""
    names = sorted(GuestTemplate.objects.filter(node=node, kind=GuestKind.VM).values_list("name", flat=True))
    return names[0] if names else ""


def _new_volume(value: str) -> int:
    match = NEW_VOLUME.fullmatch(value.strip())
    if match is None or match.group("storage") != LOCAL_STORAGE:
        raise InvalidRequest(f"a new volume is asked as {LOCAL_STORAGE}:SIZE (GiB), such as {LOCAL_STORAGE}:8, "
                             f"not {value[:60]!r}")
    size = float(match.group("size"))
    if not 1 <= size <= MAX_DISK_GIB or size != int(size):
        raise InvalidRequest(f"a whole number of GiB from 1 to {MAX_DISK_GIB} is needed, not {match.group('size')}")
    return int(size)


_NET_PART = re.compile(r"[a-z0-9_-]+(=[^,=]*)?", re.IGNORECASE)


def _net(value: str) -> str:
    """Checked for its form (key=value parts); the NIC itself is the node's: its bridge (VMs) or network."""
    if not all(_NET_PART.fullmatch(part) for part in value.split(",")):
        raise InvalidRequest(f"a network device such as virtio,bridge=vmbr0 is needed, not {value[:60]!r}")
    return value


class GuestView(APIView):
    """GET: the guest's directory, as Proxmox lists it. DELETE: destroy it (a qmdestroy or vzdestroy task)."""

    SUBDIRS = ("config", "pending", "status", "resize", "migrate", "rrddata")

    def get(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest_named(request, node, kind, vmid)
        return data([{"subdir": name} for name in self.SUBDIRS])

    def delete(self, request: Request, node: str, kind: str, vmid: int) -> Response:
        guest = guest_named(request, node, kind, vmid)
        for key in ("purge", "destroy-unreferenced-disks", "force", "skiplock"):
            if key in request.query_params:  # Proxmox's clients send DELETE's parameters in the query
                try:
                    boolean(request.query_params[key], key)
                except InvalidRequest as exc:
                    raise ParameterErrors({key: exc.message.removeprefix(f"{key}: ")}) from None
        # The guest goes with its ACL entries, pool membership and history whether or not ``purge`` is asked
        # (guests/purge.py): its VMID may be given to the next guest, which must inherit nothing of it.
        return data(request_action(request.user, guest, GuestAction.DELETE).upid)
