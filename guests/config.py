"""A guest's configuration in Proxmox's terms (``/config``, ``/pending``, the Hardware and Options tabs) and the
one way to change it, for the API and the pages alike.

Settings the panel alone keeps (notes, tags, start at boot, startup order) change at once. Settings of the
engine (name, memory, cores) are first written to the guest's pending changes, as Proxmox writes its pending
section, and a task on the guest's node applies them: a stopped guest takes them all, a running one what its
engine changes live (a container's limits through ``docker update``, a VM's memory through its balloon and its
vCPUs through hotplug where libvirt can); what is left stays pending and is applied before its next start.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from access import permissions
from access.audit import audited
from cluster.events import publish_guest_changed
from drivers.limits import DOCKER_MIN_MEMORY_MIB, ISO_NAME, MAX_DISK_GIB, MAX_MEMORY_MIB, MAX_VCPUS
from nodes.models import LOCAL_STORAGE, Node
from nodes.validators import validate_guest_name
from panel.errors import Conflict, Forbidden, InvalidRequest
from panel.parsing import boolean, decimal, disk_size, format_startup, startup_spec, tag_list
from tasks.models import Task
from tasks.services import submit

from .choices import GuestKind
from .models import Guest, GuestTemplate

MIN_MEMORY_MIB = 16  # Proxmox's least memory of a VM or a container
MAX_DESCRIPTION = 8192  # Proxmox's bound on a guest's notes
DIGEST = re.compile(r"[0-9a-f]{1,40}")

# Proxmox's name of each setting the engine holds, and the field of the guest (and of drivers' ConfigChange).
ENGINE_KEYS = {"name": "name", "hostname": "name", "memory": "memory_mib", "cores": "vcpus"}
PANEL_KEYS = ("onboot", "startup", "description", "tags")
# The setting that names the guest: qemu's name, lxc's hostname.
NAME_KEY = {GuestKind.VM: "name", GuestKind.CT: "hostname"}
# The settings that may be deleted (back to unset); the engine's cannot: Docker's update takes no "no CPU limit"
# back, and Proxmox's defaults for the others are not the engines' own.
DELETABLE = ("onboot", "startup", "description", "tags")

# The privilege each setting needs on the guest (qemu-server's check_vm_modify_config_perm, pve-container's
# check_ct_modify_config_perm). A VM's startup also needs Sys.Modify on / (it changes how the host boots).
PRIVILEGE = {
    GuestKind.VM: {"name": "VM.Config.Options", "memory": "VM.Config.Memory", "cores": "VM.Config.CPU",
                   "onboot": "VM.Config.Options", "startup": "VM.Config.Options",
                   "description": "VM.Config.Options", "tags": "VM.Config.Options"},
    GuestKind.CT: {"hostname": "VM.Config.Network", "memory": "VM.Config.Memory", "cores": "VM.Config.CPU",
                   "onboot": "VM.Config.Options", "startup": "VM.Config.Options",
                   "description": "VM.Config.Options", "tags": "VM.Config.Options"},
}
CONFIG_PRIVILEGES = ("VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options",
                     "VM.Config.Disk")
UNKNOWN = "property is not defined in schema and the schema does not allow additional properties"


class ParameterErrors(InvalidRequest):
    """Proxmox's parameter errors: ``{"errors": {param: message}}`` with a 400."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


def settable_keys(kind: str) -> tuple[str, ...]:
    return (NAME_KEY[GuestKind(kind)], "memory", "cores", *PANEL_KEYS)


# -- reading ---------------------------------------------------------------------------------------------------

def disk_volume(guest: Guest) -> str:
    """The volume id of a VM's first disk in Proxmox's form for directory storage."""
    return f"{LOCAL_STORAGE}:{guest.vmid}/vm-{guest.vmid}-disk-0.qcow2"


def format_size(size_bytes: int) -> str:
    """A size as Proxmox prints it in a disk's ``size=``: the largest binary unit that divides it."""
    for unit, scale in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size_bytes and size_bytes % scale == 0:
            return f"{size_bytes // scale}{unit}"
    return str(size_bytes)


def current_config(guest: Guest) -> dict[str, object]:
    """The settings in effect (what the engine last reported and what the panel keeps), Proxmox's keys; unset
    ones are left out, as Proxmox leaves them out."""
    kind = GuestKind(guest.kind)
    config: dict[str, object] = {NAME_KEY[kind]: guest.name}
    if kind is GuestKind.VM:
        config |= {"memory": str(guest.memory_mib), "cores": int(guest.vcpus or 1), "sockets": 1, "ostype": "l26",
                   "virtio0": f"{disk_volume(guest)},size={format_size(guest.disk_bytes)}",
                   "net0": "model=virtio" + (f",bridge={guest.node.vm_bridge}" if guest.node.vm_bridge else ""),
                   "boot": "order=virtio0"}
    else:
        if guest.memory_mib:
            config["memory"] = guest.memory_mib
        if guest.vcpus:
            config["cores"] = int(guest.vcpus)
        config |= {"arch": "amd64", "ostype": "unmanaged", "rootfs": f"{LOCAL_STORAGE}:subvol-{guest.vmid}-disk-0",
                   "net0": "name=eth0,bridge=docker0,ip=dhcp"}
    if guest.onboot:
        config["onboot"] = 1
    startup = format_startup(guest.startup_order, guest.startup_up, guest.startup_down)
    if startup:
        config["startup"] = startup
    if guest.description:
        config["description"] = guest.description
    if guest.tags:
        config["tags"] = guest.tags
    if guest.is_template:
        config["template"] = 1
    return config


def digest(guest: Guest) -> str:
    """SHA1 of the settings and the pending changes, as Proxmox's digest of a guest's configuration file."""
    text = json.dumps({"config": current_config(guest), "pending": guest.pending}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


def guest_config(guest: Guest, current: bool = False) -> dict[str, object]:
    """GET .../config: the settings with the pending changes applied (``current``: without them), and the
    digest a change may name."""
    config = current_config(guest)
    if not current:
        for key, value in guest.pending.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
    return {**config, "digest": digest(guest)}


def pending_entries(guest: Guest) -> list[dict[str, object]]:
    """GET .../pending: every setting with its value, and its pending value or deletion."""
    config = current_config(guest)
    entries = []
    for key in sorted(set(config) | set(guest.pending)):
        entry: dict[str, object] = {"key": key}
        if key in config:
            entry["value"] = config[key]
        if key in guest.pending:
            if guest.pending[key] is None:
                entry["delete"] = 1
            else:
                entry["pending"] = guest.pending[key]
        entries.append(entry)
    return entries


# -- the rules of values ---------------------------------------------------------------------------------------

def iso_problem(node: Node, name: str) -> str | None:
    """Why a VM cannot boot ISO image ``name`` of ``node`` (None: it can). The create form and the API ask here;
    only the node this process runs on has its images read here, a far node's driver checks its own."""
    if not ISO_NAME.match(name):
        return f"'{name[:60]}' is not the name of an ISO image (NAME.iso or NAME.img)"
    if node.name == settings.PANEL_NODE_NAME and name not in {e.name for e in node.iso_images()}:
        return f"ISO image '{name}' does not exist: it is not in the storage of node {node.name}"
    return None


def memory_problem(node: Node, kind: str, template: str, memory_mib: int) -> str | None:
    """Why ``memory_mib`` does not fit a guest of ``template`` on ``node`` (None: it fits). The create form and
    every change ask here."""
    found = GuestTemplate.objects.filter(node=node, kind=kind, name=template).first() if template else None
    least = max(found.min_memory_mib if found else 0, DOCKER_MIN_MEMORY_MIB if kind == GuestKind.CT else 0)
    if least and memory_mib < least:
        return f"template '{template}' needs at least {least} MiB"
    if node.memory_total and memory_mib * 1024 * 1024 > node.memory_total:
        return f"node {node.name} has only {node.memory_total // 1024 // 1024} MiB of memory"
    return None


def vcpus_problem(node: Node, vcpus: int) -> str | None:
    if node.cpus and vcpus > node.cpus:
        return f"node {node.name} has only {node.cpus} CPUs"
    return None


def name_problem(guest_or_node: Guest | Node, kind: str, name: str) -> str | None:
    """Why ``name`` cannot name a guest of ``kind`` on a node (None: it can)."""
    try:
        validate_guest_name(name)
    except ValidationError as exc:
        return " ".join(exc.messages)
    node = guest_or_node.node if isinstance(guest_or_node, Guest) else guest_or_node
    others = Guest.objects.filter(node=node, kind=kind, name=name)
    if isinstance(guest_or_node, Guest):
        others = others.exclude(pk=guest_or_node.pk)
    if others.exists():
        return f"a {GuestKind(kind).label.lower()} named '{name}' already exists on {node.name}"
    return None


@dataclass
class Change:
    """A parsed change: Proxmox's keys with their normalised values, the deletions and reverts."""

    values: dict[str, object] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    revert: list[str] = field(default_factory=list)


def _key_list(text: str) -> list[str]:
    return [key for key in re.split(r"[,; ]+", text.strip()) if key]


def parse_change(guest: Guest, values: dict[str, str], delete: str = "", revert: str = "",
                 given_digest: str | None = None) -> Change:
    """Check every value against its rule, and name every bad one (ParameterErrors)."""
    kind = GuestKind(guest.kind)
    errors: dict[str, str] = {}
    values = _sockets_as_cores(guest, kind, dict(values), errors)
    _same_nic(guest, values, errors)
    if given_digest and not DIGEST.fullmatch(given_digest):
        errors["digest"] = "a SHA1 digest of the configuration (40 hex digits) is needed"
    change = Change()
    settable = settable_keys(kind)
    for key, raw in values.items():
        if key not in settable:
            errors[key] = UNKNOWN
            continue
        try:
            value = _parse_value(guest, kind, key, str(raw))
        except InvalidRequest as exc:
            errors[key] = exc.message.removeprefix(f"{key}: ")
            continue
        change.values[key] = value
    for name, text, allowed in (("delete", delete, DELETABLE), ("revert", revert, settable)):
        for key in _key_list(text):
            if key in values:
                errors[name] = f"you can't use '-{key}' and '-{name} {key}' at the same time"
            elif key not in settable:
                errors[name] = f"unknown option '{key}'"
            elif key not in allowed:
                errors[name] = f"'{key}' cannot be deleted: give it a value instead"
            else:
                getattr(change, name).append(key)
    both = set(change.delete) & set(change.revert)
    if both:
        errors["revert"] = f"you can't use '-delete {min(both)}' and '-revert {min(both)}' at the same time"
    if errors:
        raise ParameterErrors(errors)
    if not (change.values or change.delete or change.revert):
        raise InvalidRequest("no options specified")
    return change


def _sockets_as_cores(guest: Guest, kind: GuestKind, values: dict[str, str], errors: dict[str, str]
                      ) -> dict[str, str]:
    """A VM's ``sockets`` (as clients send back the config they read): its vCPUs are sockets times cores, kept as
    cores of one socket."""
    if kind is not GuestKind.VM or "sockets" not in values:
        return values
    raw = str(values.pop("sockets"))
    try:
        sockets = decimal(raw, "sockets", minimum=1, maximum=MAX_VCPUS)
    except InvalidRequest as exc:
        errors["sockets"] = exc.message.removeprefix("sockets: ")
        return values
    if sockets != 1:
        cores = values.get("cores", str(int(guest.pending.get("cores") or guest.vcpus or 1)))
        values["cores"] = str(int(cores) * sockets) if str(cores).isdigit() else str(cores)
    return values


def _same_nic(guest: Guest, values: dict[str, str], errors: dict[str, str]) -> None:
    """``net0`` as the config reads it is taken (clients send back what they read) and changes nothing; any other
    is refused by name: a guest's NIC is its node's network (a VM's bridge, Docker's for a container)."""
    if "net0" not in values:
        return
    given, present = str(values.pop("net0")).strip(), str(current_config(guest)["net0"])
    if given != present:
        errors["net0"] = f"a guest's network is its node's and cannot be changed here; it is '{present}'"


def _parse_value(guest: Guest, kind: GuestKind, key: str, raw: str) -> object:
    if "\x00" in raw:
        raise InvalidRequest("no NUL characters")
    if key in ("name", "hostname"):
        problem = name_problem(guest, kind, raw.strip())
        if problem:
            raise InvalidRequest(problem)
        return raw.strip()
    if key == "memory":
        text = raw.strip().removeprefix("current=")  # qemu's memory is a property string: [current=]N
        memory = decimal(text, key, minimum=MIN_MEMORY_MIB, maximum=MAX_MEMORY_MIB)
        problem = memory_problem(guest.node, kind, guest.template, memory)
        if problem:
            raise InvalidRequest(problem)
        return str(memory) if kind is GuestKind.VM else memory
    if key == "cores":
        cores = decimal(raw, key, minimum=1, maximum=MAX_VCPUS)
        problem = vcpus_problem(guest.node, cores)
        if problem:
            raise InvalidRequest(problem)
        return cores
    if key == "onboot":
        return 1 if boolean(raw, key) else 0
    if key == "startup":
        spec = parse_startup(raw)
        return format_startup(spec.get("order"), spec.get("up"), spec.get("down"))
    if key == "description":
        if len(raw) > MAX_DESCRIPTION:
            raise InvalidRequest(f"at most {MAX_DESCRIPTION} characters, not {len(raw)}")
        return raw
    if key == "tags":
        return ";".join(tag_list(raw, key))
    raise InvalidRequest(UNKNOWN)


MAX_STARTUP_NUMBER = 999_999  # an order, or seconds: within the columns, more than any boot needs


def parse_startup(raw: str) -> dict[str, int]:
    """A startup spec (``order=1,up=30,down=60``) within the bounds the panel keeps."""
    spec = startup_spec(raw, "startup")
    for part, number in spec.items():
        if number > MAX_STARTUP_NUMBER:
            raise InvalidRequest(f"startup: {part} is at most {MAX_STARTUP_NUMBER}")
    return spec


# -- changing --------------------------------------------------------------------------------------------------

def may_configure(user: AbstractBaseUser, guest: Guest) -> bool:
    """Whether ``user`` may change anything of ``guest`` (the pages show their forms only then)."""
    return any(permissions.has_guest_privilege(user, p, guest) for p in CONFIG_PRIVILEGES)


def may_change(user: AbstractBaseUser, guest: Guest, key: str) -> bool:
    privilege = PRIVILEGE[GuestKind(guest.kind)][key]
    if not permissions.has_guest_privilege(user, privilege, guest):
        return False
    return not (key == "startup" and guest.kind == GuestKind.VM
                and not permissions.has_privilege(user, "Sys.Modify", "/"))


def may_resize(user: AbstractBaseUser, guest: Guest) -> bool:
    return permissions.has_guest_privilege(user, "VM.Config.Disk", guest)


def check_may_change(user: AbstractBaseUser, guest: Guest, keys: list[str]) -> None:
    """Proxmox's refusal: ``Permission check failed (/vms/100, VM.Config.Memory)``."""
    for key in sorted(keys):
        if not may_change(user, guest, key):
            privilege = PRIVILEGE[GuestKind(guest.kind)][key]
            if permissions.has_guest_privilege(user, privilege, guest):  # a VM's startup: Sys.Modify on /
                raise Forbidden("Permission check failed (/, Sys.Modify)")
            raise Forbidden(f"Permission check failed (/vms/{guest.vmid}, {privilege})")


def check_digest(guest: Guest, given: str | None) -> None:
    if given and given != digest(guest):
        raise Conflict("checksum mismatch (file change by other user?)")


def request_config(user: AbstractBaseUser, guest: Guest, values: dict[str, str], *, delete: str = "",
                   revert: str = "", given_digest: str | None = None, background: bool = False) -> Task | None:
    """Change ``guest``'s settings (Proxmox's keys and values, as text): check every value and privilege, the
    digest, then write what the panel keeps and queue the engine's part as a task. Returns that task, or None
    when nothing was left for the engine (and ``background`` is false: Proxmox's async API always has one)."""
    with audited(user, "guest.config", guest) as outcome:
        change = parse_change(guest, values, delete, revert, given_digest)
        check_may_change(user, guest, [*change.values, *change.delete, *change.revert])
        check_digest(guest, given_digest)
        task = _apply(user, guest, change, given_digest, background)
        outcome.detail = task.upid if task is not None else ", ".join(
            sorted([*change.values, *(f"-{k}" for k in change.delete)]))
    return task


def _apply(user: AbstractBaseUser, guest: Guest, change: Change, given_digest: str | None,
           background: bool) -> Task | None:
    from .services import check_node_ready

    with transaction.atomic():
        locked = Guest.objects.select_related("node", "pool").select_for_update(of=("self",)).get(pk=guest.pk)
        check_digest(locked, given_digest)  # again, under the lock: another change may have come in between
        pending = dict(locked.pending)
        for key in change.revert:
            pending.pop(key, None)
        panel_values = {k: v for k, v in change.values.items() if k in PANEL_KEYS}
        panel_values |= {k: None for k in change.delete if k in PANEL_KEYS}
        _set_panel_values(locked, panel_values)
        current = current_config(locked)
        for key, value in change.values.items():
            if key in ENGINE_KEYS:
                if current.get(key) == value:
                    pending.pop(key, None)  # back to what it is: nothing to do
                else:
                    pending[key] = value
        engine = {key: pending[key] for key in pending if key in {*change.values, *change.delete}}
        locked.pending = pending
        locked.save(update_fields=["pending", "onboot", "startup_order", "startup_up", "startup_down",
                                   "description", "tags"])
        task = None
        if engine or background:
            check_node_ready(locked.node, locked.kind)
            task = submit(locked.node, "config", user, guest=locked, params={"changes": engine})
        publish_guest_changed(locked.node.name, locked.vmid)
    guest.refresh_from_db()
    return task


def _set_panel_values(guest: Guest, values: dict[str, object]) -> None:
    """Write the settings only the panel keeps (None: back to unset)."""
    for key, value in values.items():
        if key == "onboot":
            guest.onboot = bool(value)
        elif key == "startup":
            spec = startup_spec(value or "")
            guest.startup_order, guest.startup_up, guest.startup_down = (spec.get("order"), spec.get("up"),
                                                                         spec.get("down"))
        elif key == "description":
            guest.description = str(value or "")
        elif key == "tags":
            guest.tags = str(value or "")


def engine_change(changes: dict[str, object]) -> dict[str, object]:
    """Pending engine settings (Proxmox's keys) as the fields of drivers' ConfigChange."""
    return {ENGINE_KEYS[key]: str(value) if ENGINE_KEYS[key] == "name" else int(value)
            for key, value in changes.items()}


# -- disks -----------------------------------------------------------------------------------------------------

DISK_KEY = {GuestKind.VM: "virtio0", GuestKind.CT: "rootfs"}


def request_resize(user: AbstractBaseUser, guest: Guest, disk: str, size: str,
                   given_digest: str | None = None) -> Task:
    """Grow a guest's disk to ``size`` (Proxmox's ``+2G`` to add, ``10G`` for the new size): VM.Config.Disk on
    it; a ``resize`` task grows it, live when the guest runs. Disks only grow, as Proxmox's."""
    from .services import check_node_ready

    with audited(user, "guest.resize", guest) as outcome:
        if given_digest and not DIGEST.fullmatch(given_digest):
            raise ParameterErrors({"digest": "a SHA1 digest of the configuration (40 hex digits) is needed"})
        if not may_resize(user, guest):
            raise Forbidden(f"Permission check failed (/vms/{guest.vmid}, VM.Config.Disk)")
        kind = GuestKind(guest.kind)
        if disk != DISK_KEY[kind]:
            raise ParameterErrors({"disk": f"{guest} has no disk '{disk[:40]}': its disk is {DISK_KEY[kind]}"})
        if kind is GuestKind.CT:
            raise ParameterErrors({"disk": "a container's root file system is a layer of the Docker engine's "
                                           "storage: it has no size to grow"})
        try:
            relative, wanted = disk_size(size, "size", maximum=MAX_DISK_GIB * 1024**3)
        except InvalidRequest as exc:
            raise ParameterErrors({"size": exc.message.removeprefix("size: ")}) from None
        new_size = guest.disk_bytes + wanted if relative else wanted
        if new_size < guest.disk_bytes:
            raise ParameterErrors({"size": "shrinking disks is not supported"})
        if new_size > MAX_DISK_GIB * 1024**3:
            raise ParameterErrors({"size": f"a disk is at most {MAX_DISK_GIB} GiB"})
        check_digest(guest, given_digest)
        check_node_ready(guest.node, guest.kind)
        task = submit(guest.node, "resize", user, guest=guest, params={"disk": 0, "size_bytes": new_size})
        outcome.detail = task.upid
    return task
