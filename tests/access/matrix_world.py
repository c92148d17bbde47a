"""The world of the permission matrix: two nodes, three guests (one in a pool), their tasks and log lines, the
users and objects the access pages change; every name is recognisable, so that a response naming something
outside a subject's grant is caught; and the snapshot of what a denied request must leave as it was.

Everything is written here as plain constants first (``GUESTS``, ``TASKS``...): the expected answers are
computed from these and from tests/access/reference.py, never from the panel's own code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from access.models import AclEntry, ApiToken, AuditEntry, Pool, Role
from guests.models import Guest, GuestTemplate, Snapshot
from nodes.models import Node
from tasks.models import Task, TaskLogLine
from tasks.upid import new_upid
from tests.factories import AdminFactory, UserFactory, grant

from .reference import Acl, Subject

User = get_user_model()

NODE_A, NODE_B = "mxnodea", "mxnodeb"
POOL, POOL2 = "mxpool", "mxpool2"  # POOL holds the target guest; POOL2 is empty
GIB = 1024**3
NODE_FIGURES = {"cpus": 6, "cpu_usage": 0.25, "load_average": 0.5, "load_average_5": 0.75, "load_average_15": 1.25,
                "memory_total": 11 * GIB, "memory_used": 3 * GIB, "swap_total": 2 * GIB, "swap_used": GIB // 2,
                "disk_total": 300 * GIB, "disk_used": 40 * GIB, "root_total": 50 * GIB, "root_used": 20 * GIB,
                "uptime": 86400, "kernel": "6.1.0-mx"}
# The privileges of the test's own role (a custom role): power over nodes and guests, seeing both, nothing else.
CUSTOM_ROLE = "MxOperator"
CUSTOM_PRIVILEGES = frozenset({"Sys.Audit", "Sys.PowerMgmt", "VM.Audit", "VM.PowerMgmt"})
CUSTOM = ((CUSTOM_ROLE, CUSTOM_PRIVILEGES),)


@dataclass(frozen=True)
class GuestSpec:
    vmid: int
    name: str
    kind: str
    node: str
    pool: str | None
    onboot: bool = True

    @property
    def path(self) -> str:
        return f"/vms/{self.vmid}"

    @property
    def api_kind(self) -> str:
        return "qemu" if self.kind == "vm" else "lxc"


@dataclass(frozen=True)
class TaskSpec:
    label: str
    node: str
    type: str
    guest: GuestSpec | None
    status: str
    line: str  # its one log line, a marker of its own


TARGET = GuestSpec(48101, "mxg-target", "ct", NODE_A, POOL)
LOOSE = GuestSpec(48202, "mxg-loose", "vm", NODE_A, None)
FAR = GuestSpec(48303, "mxg-far", "ct", NODE_B, None)
GUESTS = (TARGET, LOOSE, FAR)
SNAPSHOT = "mxsnap"  # LOOSE's one snapshot, which "current" follows (LOOSE is never migrated)
TASKS = (
    TaskSpec("t_target", NODE_A, "stop", TARGET, "ok", "mxlog-of-target"),
    TaskSpec("t_loose", NODE_A, "stop", LOOSE, "ok", "mxlog-of-loose"),
    TaskSpec("t_far", NODE_B, "stop", FAR, "ok", "mxlog-of-far"),
    TaskSpec("t_nodea", NODE_A, "startall", None, "queued", "mxlog-of-nodea"),
    TaskSpec("t_nodeb", NODE_B, "startall", None, "queued", "mxlog-of-nodeb"),
)
TASK = {t.label: t for t in TASKS}
SPARE_ACL_PATHS = {LOOSE.path}  # the world's ACL entry of another user (build_world)
OTHER_TOKEN = "mxothertoken"  # another user's token: only its user (and root, and ACL managers) may read its name
SUBJECT_USER = "mxsubject"


# -- what a subject may see, by Proxmox's rules ---------------------------------------------------------------

def sees_guest(s: Subject, guest: GuestSpec, privilege: str = "VM.Audit") -> bool:
    return s.has(privilege, guest.path, guest.pool)


def on_node(s: Subject, privilege: str, node: str) -> bool:
    return s.has(privilege, f"/nodes/{node}")


def sees_task(s: Subject, task: TaskSpec) -> bool:
    """Tasks of the world are root's: seen by who may audit their guest, or their node for node tasks."""
    return sees_guest(s, task.guest) if task.guest else on_node(s, "Sys.Audit", task.node)


def visible_guests(s: Subject, node: str | None = None) -> list[GuestSpec]:
    return [g for g in GUESTS if sees_guest(s, g) and node in (None, g.node)]


def visible_nodes(s: Subject) -> list[str]:
    return [n for n in (NODE_A, NODE_B) if on_node(s, "Sys.Audit", n)]


def visible_tasks(s: Subject, node: str | None = None) -> list[TaskSpec]:
    return [t for t in TASKS if sees_task(s, t) and node in (None, t.node)]


def may_place_on(s: Subject, node: str) -> bool:
    return on_node(s, "Sys.Audit", node) and s.has("Datastore.AllocateSpace", "/storage/local")


@dataclass(frozen=True)
class Marker:
    what: str
    pattern: re.Pattern
    allowed: bool


def word(text: str) -> re.Pattern:
    """``text`` not inside a longer name or number (a VMID in a CSRF token's letters is no VMID)."""
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(text)}(?![0-9A-Za-z])")


def reads_acl(s: Subject, guest: GuestSpec) -> bool:
    """The ACL page (Permissions.Modify on /) lists an entry on a guest's path to who may read it there:
    Proxmox's GET /access/acl shows it with Sys.Audit on /access, or the right to change it."""
    return s.has("Permissions.Modify", "/") and (s.has("Sys.Audit", "/access")
                                                 or s.has("Permissions.Modify", guest.path, guest.pool))


def markers(s: Subject, upids: dict[str, str]) -> list[Marker]:
    """Every recognisable thing of the world, and whether ``s`` may read it anywhere."""
    tasks = visible_tasks(s)
    found = []
    for guest in GUESTS:
        named = sees_guest(s, guest) or any(t.guest == guest for t in tasks)
        in_acls = guest.path in SPARE_ACL_PATHS and reads_acl(s, guest)
        found += [Marker(f"guest {guest.name}", word(guest.name), named),
                  Marker(f"VMID {guest.vmid}", word(str(guest.vmid)), named or in_acls)]
    for node in (NODE_A, NODE_B):
        named = (on_node(s, "Sys.Audit", node) or any(g.node == node for g in visible_guests(s))
                 or any(t.node == node for t in tasks))
        found.append(Marker(f"node {node}", word(node), named))
    for task in TASKS:
        seen = task in tasks
        found += [Marker(f"task {task.label}", re.compile(re.escape(upids[task.label])), seen),
                  Marker(f"log line of {task.label}", word(task.line), seen)]
    reads_tokens = s.root or s.has("Permissions.Modify", "/")  # the ACL form offers every token
    found.append(Marker("another user's token", word(OTHER_TOKEN), reads_tokens))
    return found


# -- the rows --------------------------------------------------------------------------------------------------

@dataclass
class World:
    """The rows of the world, by name; ``user`` is the subject's own (None: anonymous)."""

    nodes: dict[str, Node]
    guests: dict[int, Guest]
    tasks: dict[str, Task]
    pools: dict[str, Pool]
    root: object
    superuser: object
    victim: object
    user: object | None
    group: Group
    spare_group: Group
    spare_role: Role
    spare_acl: AclEntry
    own_token: ApiToken | None
    other_token: ApiToken
    api_secret: str | None = None  # the token subjects' token
    api_token: ApiToken | None = None
    values: dict[str, object] = field(default_factory=dict)  # the placeholders of tests/access/matrix_routes.py
    markers: list[Marker] = field(default_factory=list)

    @property
    def upids(self) -> dict[str, str]:
        return {label: task.upid for label, task in self.tasks.items()}


def build_world(subject: Subject, username: str = SUBJECT_USER) -> World:
    engines = {"docker": {"ok": True, "version": "27.5"}, "libvirt": {"ok": True, "version": "9.0"}}
    nodes = {name: Node.objects.create(name=name, address="192.0.2.10", last_seen=timezone.now(), engines=engines,
                                       **NODE_FIGURES)
             for name in (NODE_A, NODE_B)}
    for node in nodes.values():
        GuestTemplate.objects.create(node=node, kind="ct", name="busybox")
    pools = {name: Pool.objects.create(name=name) for name in (POOL, POOL2)}
    guests = {g.vmid: Guest.objects.create(vmid=g.vmid, name=g.name, kind=g.kind, node=nodes[g.node],
                                           pool=pools.get(g.pool), state="stopped", onboot=g.onboot,
                                           backend_id=f"mx-{g.vmid}", vcpus=1, memory_mib=64)
              for g in GUESTS}
    Snapshot.objects.create(guest=guests[LOOSE.vmid], name=SNAPSHOT, description="mx-snapshot-note",
                            taken_at=timezone.now(), current=True)
    root = AdminFactory(username="mxroot")
    superuser = AdminFactory(username="mxsuper")
    tasks = {}
    for spec in TASKS:
        task = Task.objects.create(
            upid=new_upid(spec.node, spec.type, str(spec.guest.vmid) if spec.guest else "", "mxsuper@pam"),
            node=nodes[spec.node], user=superuser, type=spec.type, status=spec.status,
            guest=guests[spec.guest.vmid] if spec.guest else None, vmid=spec.guest.vmid if spec.guest else None,
            ended_at=timezone.now() if spec.status == "ok" else None, exit_message="OK" if spec.status == "ok" else "")
        TaskLogLine.objects.create(task=task, number=1, at=timezone.now(), text=spec.line)
        tasks[spec.label] = task
    victim = UserFactory(username="mxvictim")
    other = UserFactory(username="mxother")
    other_token = ApiToken(user=other, tokenid=OTHER_TOKEN)
    other_token.set_new_secret()
    other_token.save()
    Role.objects.create(name=CUSTOM_ROLE, privileges=sorted(CUSTOM_PRIVILEGES))
    spare_role = Role.objects.create(name="MxSpare", privileges=["VM.Audit"])
    group = Group.objects.create(name="mxgroup")
    spare_group = Group.objects.create(name="mxspare")
    (spare_path,) = SPARE_ACL_PATHS
    spare_acl = grant(victim, "PVEAuditor", spare_path)
    world = World(nodes=nodes, guests=guests, tasks=tasks, pools=pools, root=root, superuser=superuser,
                  victim=victim, user=None, group=group, spare_group=spare_group, spare_role=spare_role,
                  spare_acl=spare_acl, own_token=None, other_token=other_token)
    give(world, subject, username)
    return world


def give(world: World, subject: Subject, username: str) -> None:
    """The subject's user (root's own for the root subject) with its entries, its group's and its token's."""
    if subject.anonymous:
        return
    if subject.root:
        world.user = world.root
    else:
        world.user = UserFactory(username=username)
        if any(a.subject == "group" for a in subject.user_acls):
            group = world.group if username == SUBJECT_USER else Group.objects.create(name=f"{username}-group")
            world.user.groups.add(group)
        for acl in subject.user_acls:
            target = world.user if acl.subject == "user" else world.user.groups.get()
            grant(target, acl.role, acl.path, propagate=acl.propagate)
    world.own_token = ApiToken(user=world.user, tokenid="mxmine")
    world.own_token.set_new_secret()
    world.own_token.save()
    if subject.token_acls is not None:
        token = ApiToken(user=world.user, tokenid="mxapi", privsep=True)
        world.api_secret = token.set_new_secret()
        token.save()
        world.api_token = token
        for acl in subject.token_acls:
            grant(token, acl.role, acl.path, propagate=acl.propagate)


def subject_acls(kind: str, role: str, path: str) -> tuple[tuple[Acl, ...], tuple[Acl, ...] | None]:
    """The entries of a one-grant subject. A token's user holds Administrator on / (so that only the token's
    own entry limits it: a token acting with its user's rights would be caught)."""
    if kind == "token":
        return (Acl("/", "Administrator", "user"),), (Acl(path, role, "token"),)
    return (Acl(path, role, kind),), None


# -- what a denied request must leave as it was ----------------------------------------------------------------

@dataclass(frozen=True)
class TableState:
    rows: int
    last_pk: int
    digest: str  # of every row, every column, in primary-key order


def _tables() -> dict[str, str]:
    return {"guests": Guest._meta.db_table, "tasks": Task._meta.db_table, "log lines": TaskLogLine._meta.db_table,
            "acl": AclEntry._meta.db_table, "pools": Pool._meta.db_table, "roles": Role._meta.db_table,
            "groups": Group._meta.db_table, "memberships": User.groups.through._meta.db_table,
            "users": User._meta.db_table, "tokens": ApiToken._meta.db_table, "nodes": Node._meta.db_table,
            "audit": AuditEntry._meta.db_table}


def snapshot() -> dict[str, TableState]:
    """Every row a request could change (guests, tasks and their log lines, ACL entries, pools, roles, groups,
    memberships, users with their flags and passwords, tokens, nodes, the audit log), as one digest per table
    read in one query; the audit log is compared apart (a refused change adds its row)."""
    from django.db import connection

    selects = [f"SELECT %s, count(*), coalesce(max(id), 0), md5(coalesce(string_agg(t::text, '|' ORDER BY id), ''))"
               f" FROM {connection.ops.quote_name(table)} t" for table in _tables().values()]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), list(_tables()))
        return {name: TableState(rows, last, digest) for name, rows, last, digest in cursor.fetchall()}
