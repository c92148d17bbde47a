"""Start-all, stop-all and migrate-all of a node (or of the datacenter), as the web process asks for them.

The guests a bulk task acts on are decided when it is submitted: the node's guests on which the user holds
the privilege (all of them, or those of ``vms``), stored on the task as ``vms``. The worker acts on exactly
those, so a task never touches, nor names, a guest its user may not.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from access import permissions
from access.audit import audited
from nodes.choices import NodeStatus
from nodes.models import Node
from panel.errors import Forbidden, InvalidRequest, NodeUnavailable, NotFound
from tasks.models import Task
from tasks.services import check_timeout, submit

from .models import Guest
from .services import check_may_place_on, check_migration_target, target_node

BULK_ACTIONS = {"startall": "Start all", "stopall": "Stop all"}
# The privilege on each guest, and on the node, that each bulk action needs.
GUEST_PRIVILEGE = {"startall": "VM.PowerMgmt", "stopall": "VM.PowerMgmt", "migrateall": "VM.Migrate"}
NODE_PRIVILEGE = {"startall": "Sys.PowerMgmt", "stopall": "Sys.PowerMgmt", "migrateall": "Sys.Modify"}


def may_act_on_node(user: AbstractBaseUser, node: Node, action: str) -> bool:
    """The node's own privilege for a bulk action (the guests' are checked when the set is resolved)."""
    return permissions.has_privilege(user, NODE_PRIVILEGE[action], f"/nodes/{node.name}")


def check_may_power(user: AbstractBaseUser, node: Node, action: str) -> None:
    if not may_act_on_node(user, node, action):
        label = BULK_ACTIONS.get(action, "migrate all").lower()
        raise Forbidden(f"you may not {label} on node {node.name}")


def resolve_guests(user: AbstractBaseUser, node: Node, action: str, vms: list[int] | None,
                   onboot_only: bool = False) -> list[int]:
    """The VMIDs of the node's guests the task will act on: those of ``vms`` (each must be the user's to act
    on), or every guest the user holds the privilege on (only "start at boot" ones if ``onboot_only``)."""
    privilege = GUEST_PRIVILEGE[action]
    guests = Guest.objects.filter(node=node).exclude(backend_id="")
    if action == "startall":
        guests = guests.exclude(is_template=True)  # templates are never started, as in Proxmox
    allowed = guests.visible_to(user, privilege)
    if vms:
        chosen = set(allowed.filter(vmid__in=vms).values_list("vmid", flat=True))
        others = {g.vmid: g for g in Guest.objects.select_related("pool").filter(vmid__in=set(vms) - chosen)}
        for vmid in sorted(set(vms) - chosen):
            guest = others.get(vmid)
            may = (permissions.has_guest_privilege(user, privilege, guest) if guest is not None
                   else permissions.has_privilege(user, privilege, f"/vms/{vmid}"))
            if not may:  # the same answer whether it exists or not
                raise Forbidden(f"you may not act on VMID {vmid} ({privilege})")
        return sorted(chosen)  # those of another node are not this node's to act on
    if onboot_only:
        allowed = allowed.filter(onboot=True)
    chosen = sorted(allowed.values_list("vmid", flat=True))
    if not chosen and not permissions.has_privilege(user, privilege, "/vms"):
        raise Forbidden(f"you may not act on any guest of node {node.name} ({privilege})")
    return chosen


def request_bulk(user: AbstractBaseUser, node: Node, action: str, **params: object) -> Task:
    """start-all or stop-all of one node; optional ``vms`` (a list of VMIDs), ``force``, ``timeout``."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"unknown bulk action {action!r}")
    with audited(user, f"node.{action}", node.name) as outcome:
        check_may_power(user, node, action)
        check_timeout(params.get("timeout"))
        if node.status != NodeStatus.ONLINE:
            raise NodeUnavailable(f"node {node.name} is {node.status}: its worker has not reported recently")
        onboot_only = action == "startall" and not params.get("force")
        params["vms"] = resolve_guests(user, node, action, params.get("vms"), onboot_only=onboot_only)
        task = submit(node, action, user, params=params)
        outcome.detail = task.upid
    return task


def request_bulk_everywhere(user: AbstractBaseUser, action: str, **params: object) -> list[Task]:
    """The datacenter's start-all / stop-all: one task per online node."""
    nodes = [node for node in Node.objects.all() if node.status == NodeStatus.ONLINE]
    for node in nodes:  # all or nothing: refuse before queuing anything
        with audited(user, f"datacenter.{action}", node.name):
            check_may_power(user, node, action)
    return [request_bulk(user, node, action, **dict(params)) for node in nodes]


def request_migrate_all(user: AbstractBaseUser, node: Node, target: str, vms: list[int] | None = None) -> Task:
    """Queue the migration of the node's guests (those the user may migrate) to the node named ``target``."""
    with audited(user, "node.migrateall", f"{node.name} -> {target}") as outcome:
        check_may_power(user, node, "migrateall")
        to = target_node(user, target)
        check_may_place_on(user, to)
        chosen = resolve_guests(user, node, "migrateall", vms)
        kinds = set(Guest.objects.filter(vmid__in=chosen).values_list("kind", flat=True))
        check_migration_target(node, to, kinds)
        task = submit(node, "migrateall", user, params={"target": to.name, "vms": chosen})
        outcome.detail = task.upid
    return task


# What a selection of guests in a grid may do together: each is the node's bulk task over the chosen guests.
SELECTION_ACTIONS = {"start": "Start", "shutdown": "Shutdown", "stop": "Stop", "migrate": "Migrate"}
_SELECTION_TASK = {"start": ("startall", {"force": True}), "shutdown": ("stopall", {}),
                   "stop": ("stopall", {"hard": True}), "migrate": ("migrateall", {})}


def selection_actions(user: AbstractBaseUser, nodes) -> list[tuple[str, str]]:
    """The selection actions the user may take on the guests of at least one of ``nodes``."""
    return [(action, label) for action, label in SELECTION_ACTIONS.items()
            if any(may_act_on_node(user, node, _SELECTION_TASK[action][0]) for node in nodes)]


def selected_guests(user: AbstractBaseUser, vmids: list[int]) -> list[Guest]:
    """The chosen guests the user may see, by VMID; one they may not see is refused like one that is not there."""
    guests = list(Guest.objects.select_related("node").visible_to(user).filter(vmid__in=vmids).order_by("vmid"))
    missing = sorted(set(vmids) - {g.vmid for g in guests})
    if missing:
        raise NotFound(f"there is no guest {missing[0]}")
    return guests


def request_selection(user: AbstractBaseUser, action: str, vmids: list[int], target: str = "") -> list[Task]:
    """Start, shut down, stop or migrate the chosen guests together: one bulk task per node holding some of them
    (start-all, stop-all or migrate-all over exactly those), refused as a whole before any is queued."""
    if action not in SELECTION_ACTIONS:
        raise InvalidRequest(f"no action {action!r} for a selection of guests")
    if not vmids:
        raise InvalidRequest("choose at least one guest")
    guests = selected_guests(user, vmids)
    bulk_action, params = _SELECTION_TASK[action]
    by_node: dict[int, tuple[Node, list[int]]] = {}
    for guest in guests:
        by_node.setdefault(guest.node_id, (guest.node, []))[1].append(guest.vmid)
    # All or nothing: a node the user may not act on is refused (and audited, by its own request) before any
    # other node's task is queued.
    groups = sorted(by_node.values(), key=lambda group: may_act_on_node(user, group[0], bulk_action))
    if bulk_action == "migrateall":
        return [request_migrate_all(user, node, target, vms=vms) for node, vms in groups]
    return [request_bulk(user, node, bulk_action, vms=vms, **params) for node, vms in groups]
