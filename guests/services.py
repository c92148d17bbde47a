"""Guest actions as the web process asks for them: check, then hand a task to the node's worker."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet, Sum

from access import permissions
from access.audit import audited
from access.events import access_changed
from access.models import Pool
from cluster.events import publish_guest_changed
from drivers.types import ContainerOptions
from drivers.types import GuestKind as DriverGuestKind
from nodes.choices import NodeStatus
from nodes.models import LOCAL_STORAGE, Node
from panel.errors import Conflict, Forbidden, InvalidRequest, NodeUnavailable
from tasks.models import Task
from tasks.services import check_timeout, submit

from .choices import ALLOWED_STATES, VM_ONLY_ACTIONS, GuestAction, GuestKind, GuestState
from .container_options import as_params
from .inventory import next_vmid
from .models import Guest


def check_node_ready(node: Node, kind: str) -> None:
    """Refuse at once, with a reason, what the node cannot do now."""
    if node.status != NodeStatus.ONLINE:
        raise NodeUnavailable(f"node {node.name} is {node.status}: its worker has not reported recently")
    engine = DriverGuestKind(kind).engine
    if not node.engine_ok(engine):
        reason = node.engine_error(engine) or "it has not been reached yet"
        raise NodeUnavailable(f"the {engine} engine of node {node.name} is unavailable: {reason}")


def check_may_act(user: AbstractBaseUser, guest: Guest, action: str) -> None:
    """Refuse an action (a GuestAction, or migrate) on ``guest`` that ``user`` holds no privilege for."""
    if not permissions.can_act_on_guest(user, guest, action):
        label = GuestAction(action).label.lower() if action in GuestAction.values else action
        raise Forbidden(f"you may not {label} {guest}")


def request_action(user: AbstractBaseUser, guest: Guest, action: str, **params: object) -> Task:
    action = GuestAction(action)
    with audited(user, f"guest.{action.value}", guest) as outcome:
        check_may_act(user, guest, action)
        check_timeout(params.get("timeout"))
        if action in VM_ONLY_ACTIONS and guest.kind != GuestKind.VM:
            raise Conflict(f"cannot {action.label.lower()} {guest}: only VMs can be {action.label.lower()}")
        if guest.state not in ALLOWED_STATES[action]:
            raise Conflict(f"cannot {action.label.lower()} {guest}: it is {guest.get_state_display()}")
        if action is GuestAction.START and guest.is_template:
            raise Conflict(f"cannot start {guest}: it is a template (clone it, and start the clone)")
        check_node_ready(guest.node, guest.kind)
        task = submit(guest.node, action.value, user, guest=guest, params=params)
        outcome.detail = task.upid
    return task


def check_pool_quota(pool: Pool, vcpus: float, memory_mib: int, disk_gib: float, guests: int = 1,
                     moving: Guest | None = None) -> None:
    """Refuse, naming the limit, what would take ``pool`` over one of its quotas (call inside a transaction)."""
    Pool.objects.select_for_update().filter(pk=pool.pk).first()  # one check at a time per pool
    members = Guest.objects.filter(pool=pool)
    if moving is not None:
        members = members.exclude(pk=moving.pk)
    used = members.aggregate(n=Count("pk"), vcpus=Sum("vcpus"), memory=Sum("memory_mib"), disk=Sum("disk_bytes"))
    checks = [
        ("guests", pool.max_guests, used["n"] + guests, ""),
        ("vCPUs", pool.max_vcpus, (used["vcpus"] or 0) + vcpus, ""),
        ("memory", pool.max_memory_mib, (used["memory"] or 0) + memory_mib, " MiB"),
        ("disk", pool.max_disk_gib, (used["disk"] or 0) / 1024**3 + disk_gib, " GiB"),
    ]
    for what, limit, wanted, unit in checks:
        if limit is not None and wanted > limit:
            raise Conflict(f"pool {pool.name} quota exceeded: {what} limit is {limit}{unit}, "
                           f"this would make {wanted:g}{unit}")


def move_to_pool(user: AbstractBaseUser, guest: Guest, pool: Pool | None) -> Guest:
    """Put ``guest`` in ``pool`` (None: out of any): VM.Allocate on the guest and on the pool, within quota."""
    with audited(user, "guest.pool", f"{guest} -> {pool or '(none)'}"):
        if not permissions.can_act_on_guest(user, guest, "delete") or (
                pool is not None and not permissions.can_create_guests(user, pool.name)):
            raise Forbidden(f"you may not move {guest} to pool {pool or '(none)'}")
        with transaction.atomic():
            if pool is not None:
                check_pool_quota(pool, guest.vcpus, guest.memory_mib, guest.disk_bytes / 1024**3, moving=guest)
            Guest.objects.filter(pk=guest.pk).update(pool=pool)
            access_changed()  # who may see and do what on the guest follows its pool: sockets check again
            publish_guest_changed(guest.node.name, guest.vmid)
    guest.pool = pool
    return guest


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
    pool: Pool | None = None
    startup_up: int | None = None
    startup_down: int | None = None
    description: str = ""
    tags: str = ""
    container: ContainerOptions | None = None  # a container's command, environment, ports, volumes, restart
    iso: str = ""  # a VM's ISO image to boot from, instead of a template
    network: str = ""  # a VM's network (drivers.limits.VM_NETWORKS): "" the node's


# The privilege each of a container's own settings needs, as Proxmox asks for the settings it stands for at a
# create (pve-container's check_ct_modify_config_perm): ports are its network, volumes its disks.
CONTAINER_OPTION_PRIVILEGES = {"ports": "VM.Config.Network", "volumes": "VM.Config.Disk",
                               "command": "VM.Config.Options", "environment": "VM.Config.Options"}


def check_may_set_container_options(user: AbstractBaseUser, options: ContainerOptions | None, path: str) -> None:
    for name, privilege in CONTAINER_OPTION_PRIVILEGES.items():
        if options is not None and getattr(options, name) and not permissions.has_privilege(user, privilege, path):
            raise Forbidden(f"you may not give a new container {name}: that needs {privilege}")


def may_place_on(user: AbstractBaseUser, node: Node) -> bool:
    """Putting a guest on a node (creating, or migrating there) needs to see the node (Sys.Audit) and to use
    its storage (Datastore.AllocateSpace on Proxmox's "local")."""
    return (permissions.has_privilege(user, "Sys.Audit", f"/nodes/{node.name}")
            and permissions.has_privilege(user, "Datastore.AllocateSpace", f"/storage/{LOCAL_STORAGE}"))


def placeable_nodes(user: AbstractBaseUser) -> QuerySet[Node]:
    """The nodes ``user`` may put guests on (for the forms: no other node is named to them)."""
    if not permissions.has_privilege(user, "Datastore.AllocateSpace", f"/storage/{LOCAL_STORAGE}"):
        return Node.objects.none()
    return Node.objects.visible_to(user, "Sys.Audit")


def check_may_place_on(user: AbstractBaseUser, node: Node) -> None:
    if not may_place_on(user, node):
        raise Forbidden(f"you may not put guests on node {node.name}")


def check_may_create(user: AbstractBaseUser) -> None:
    """Refuse the create form to who may create guests nowhere."""
    if not permissions.can_create_guests(user):
        raise Forbidden("you may not create guests")


def request_create(user: AbstractBaseUser, request: CreateRequest) -> Task:
    """Reserve the VMID with a placeholder row and queue the create task, in one transaction."""
    described = f"{request.kind.upper()} {request.vmid} ({request.name})" if request.vmid else \
        f"{request.kind.upper()} ({request.name})"
    with audited(user, "guest.create", described) as outcome:
        task = _create(user, request)
        outcome.detail = task.upid
    return task


def _create(user: AbstractBaseUser, request: CreateRequest) -> Task:
    pool = request.pool
    if pool is not None:
        if not permissions.can_create_guests(user, pool.name):
            raise Forbidden(f"you may not create guests in pool {pool.name}")
    elif not permissions.has_privilege(user, "VM.Allocate", "/vms"):
        raise Forbidden("you may not create guests" if not permissions.can_create_guests(user)
                        else "you may not create guests outside a pool: choose a pool")
    check_may_place_on(user, request.node)
    if request.start and not permissions.has_privilege(user, "VM.PowerMgmt", pool.path if pool else "/vms"):
        raise Forbidden("you may not start the guests you create")
    check_may_set_container_options(user, request.container, pool.path if pool else "/vms")
    check_node_ready(request.node, request.kind)
    for _attempt in range(5):
        vmid = request.vmid or next_vmid()
        try:
            with transaction.atomic():
                if pool is not None:
                    check_pool_quota(pool, request.vcpus, request.memory_mib, request.disk_gib)
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
                    startup_up=request.startup_up,
                    startup_down=request.startup_down,
                    description=request.description,
                    tags=request.tags,
                    owner=user,
                    pool=pool,
                )
                publish_guest_changed(request.node.name, vmid)
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
                        **({"container": as_params(request.container)} if request.container else {}),
                        **({"iso": request.iso} if request.iso else {}),
                        **({"network": request.network} if request.network else {}),
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


def target_node(user: AbstractBaseUser, name: str) -> Node:
    """The node named ``name``, to move guests to; one ``user`` may not see is no node to them."""
    node = Node.objects.visible_to(user).filter(name=name).first() if name else None
    if node is None:
        raise InvalidRequest(f"choose a target node: there is no node named '{name}'" if name else
                             "choose a target node")
    return node


def request_migrate(user: AbstractBaseUser, guest: Guest, target: str, online: bool = False,
                    timeout: int | None = None) -> Task:
    """Queue the migration of ``guest`` to the node named ``target`` on the worker of the node that holds it;
    ``timeout``: how long a running guest may take to shut down (offline migration) before it is stopped."""
    with audited(user, "guest.migrate", f"{guest} -> {target}") as outcome:
        check_may_act(user, guest, "migrate")
        check_timeout(timeout)
        destination = target_node(user, target)
        check_may_place_on(user, destination)
        if guest.state not in (GuestState.RUNNING, GuestState.STOPPED):
            raise Conflict(f"cannot migrate {guest}: it is {guest.get_state_display()}")
        if online and guest.kind == GuestKind.CT:
            raise Conflict(f"cannot migrate {guest} online: containers are migrated offline (stopped, moved, "
                           "started again)")
        if online and guest.state != GuestState.RUNNING:
            raise Conflict(f"cannot migrate {guest} online: it is not running")
        if guest.snapshots.exists():
            raise Conflict(f"cannot migrate {guest}: it has snapshots, kept on node {guest.node.name}'s storage. "
                           "Delete them first")
        check_migration_target(guest.node, destination, {guest.kind})
        params = {"target": destination.name, "online": bool(online)}
        if timeout is not None:
            params["timeout"] = timeout
        task = submit(guest.node, "migrate", user, guest=guest, params=params)
        outcome.detail = task.upid
    return task
