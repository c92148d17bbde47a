"""Guest actions as the web process asks for them: check, then hand a task to the node's worker."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from access import permissions
from nodes.choices import NodeStatus
from nodes.models import Node
from panel.errors import Conflict, Forbidden, NodeUnavailable
from tasks.models import Task
from tasks.services import submit

from .choices import ALLOWED_STATES, GuestAction, GuestKind, GuestState
from .inventory import next_vmid
from .models import Guest

ENGINE_OF_KIND = {GuestKind.VM: "libvirt", GuestKind.CT: "docker"}


def check_node_ready(node: Node, kind: str) -> None:
    """Refuse at once, with a reason, what the node cannot do now."""
    if node.status != NodeStatus.ONLINE:
        raise NodeUnavailable(f"node {node.name} is {node.status}: its worker has not reported recently")
    engine = ENGINE_OF_KIND[GuestKind(kind)]
    if not node.engine_ok(engine):
        reason = node.engine_error(engine) or "it has not been reached yet"
        raise NodeUnavailable(f"the {engine} engine of node {node.name} is unavailable: {reason}")


def request_action(user: AbstractBaseUser, guest: Guest, action: str, **params: object) -> Task:
    action = GuestAction(action)
    if not permissions.can_act_on_guest(user, guest, action):
        raise Forbidden(f"you may not {action.label.lower()} {guest}")
    if guest.state not in ALLOWED_STATES[action]:
        raise Conflict(f"cannot {action.label.lower()} {guest}: it is {guest.get_state_display()}")
    check_node_ready(guest.node, guest.kind)
    return submit(guest.node, action.value, user, guest=guest, params=params)


@dataclass(frozen=True)
class CreateRequest:
    node: Node
    kind: str
    name: str
    template: str
    vcpus: int
    memory_mib: int
    disk_gib: int = 0
    vmid: int | None = None
    onboot: bool = False
    startup_order: int | None = None
    start: bool = False


def request_create(user: AbstractBaseUser, request: CreateRequest) -> Task:
    """Reserve the VMID with a placeholder row and queue the create task, in one transaction."""
    if not permissions.can_create_guests(user):
        raise Forbidden("you may not create guests")
    check_node_ready(request.node, request.kind)
    for _attempt in range(5):
        vmid = request.vmid or next_vmid()
        try:
            with transaction.atomic():
                guest = Guest.objects.create(
                    vmid=vmid,
                    kind=request.kind,
                    node=request.node,
                    name=request.name,
                    state=GuestState.CREATING,
                    template=request.template,
                    vcpus=request.vcpus,
                    memory_mib=request.memory_mib,
                    disk_bytes=request.disk_gib * 1024**3,
                    onboot=request.onboot,
                    startup_order=request.startup_order,
                    owner=user,
                )
                return submit(
                    request.node,
                    "create",
                    user,
                    guest=guest,
                    params={
                        "template": request.template,
                        "vcpus": request.vcpus,
                        "memory_mib": request.memory_mib,
                        "disk_gib": request.disk_gib,
                        "start": request.start,
                    },
                )
        except IntegrityError:
            if request.vmid:
                raise Conflict(f"VMID {request.vmid} is already in use") from None
    raise Conflict("could not allocate a free VMID; try again")


def check_migration_target(source: Node, target: Node, kinds: set[str]) -> None:
    """Refuse a migration the two nodes cannot do now: same node, or an engine that is not up."""
    if target.pk == source.pk:
        raise Conflict(f"the guest is already on node {target.name}: choose another node")
    if target.status != NodeStatus.ONLINE:
        raise NodeUnavailable(f"node {target.name} is {target.status}: its worker has not reported recently")
    for kind in sorted(kinds):
        check_node_ready(source, kind)
        check_node_ready(target, kind)


def request_migrate(user: AbstractBaseUser, guest: Guest, target_node: Node, online: bool = False) -> Task:
    """Queue the migration of ``guest`` to ``target_node`` on the worker of the node that holds it."""
    if not permissions.is_admin(user):
        raise Forbidden(f"you may not migrate {guest}")
    if guest.state not in (GuestState.RUNNING, GuestState.STOPPED):
        raise Conflict(f"cannot migrate {guest}: it is {guest.get_state_display()}")
    if online and guest.kind == GuestKind.CT:
        raise Conflict(f"cannot migrate {guest} online: containers are migrated offline (stopped, moved, "
                       "started again)")
    if online and guest.state != GuestState.RUNNING:
        raise Conflict(f"cannot migrate {guest} online: it is not running")
    check_migration_target(guest.node, target_node, {guest.kind})
    return submit(guest.node, "migrate", user, guest=guest,
                  params={"target": target_node.name, "online": bool(online)})


def request_migrate_all(user: AbstractBaseUser, node: Node, target_node: Node) -> Task:
    """Queue the migration of every guest of ``node`` to ``target_node``, one child task per guest."""
    if not permissions.is_admin(user):
        raise Forbidden(f"you may not migrate the guests of node {node.name}")
    kinds = set(Guest.objects.filter(node=node).exclude(backend_id="").values_list("kind", flat=True))
    check_migration_target(node, target_node, kinds)
    return submit(node, "migrateall", user, params={"target": target_node.name})
