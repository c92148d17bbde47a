"""Every route of the panel with the requests the permission matrix makes to it, and for each request what a
subject must get: written from Proxmox's rules (tests/access/reference.py) over the world of
tests/access/matrix_world.py, with the privilege each route needs stated here (``Needs``), never read from the
panel's code.

An expectation is a function of the subject returning an ``Outcome``: allowed (with what the response must
show and what the request must have done), or the refusal it must get: a 404 of a restricted lookup, a 403
with the service's reason, a refusal the page shows beside the object, a form error, the login page...
Strings in outcomes may name the world's objects as ``{placeholders}`` (see ``World.values``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from .matrix_world import (
    FAR,
    GUESTS,
    LOOSE,
    NODE_A,
    NODE_B,
    NODE_FIGURES,
    POOL,
    POOL2,
    SNAPSHOT,
    TARGET,
    TASK,
    GuestSpec,
    may_place_on,
    on_node,
    sees_guest,
    sees_task,
    visible_guests,
    visible_nodes,
    visible_tasks,
)
from .proxmox_roles import VM_USER
from .reference import Subject

OK, NOT_FOUND, FORBIDDEN, REFUSED, INVALID, CONFLICT = "ok", "not found", "forbidden", "refused", "invalid", "409"
LOGIN, UNAUTHORIZED, NOT_ALLOWED, ADMIN_LOGIN = "login page", "401", "405", "admin login"
SAFE_METHODS = ("get", "head", "options")
Check = Callable[["Context"], list[str]]


@dataclass(frozen=True)
class Outcome:
    kind: str
    reason: str = ""  # the refusal's message (or part of it)
    audit: tuple[tuple[str, str], ...] = ()  # the (action, result) rows the request adds to the audit log
    back: str = ""  # REFUSED: the page it goes back to
    check: Check | None = None  # OK: what the response shows and the request did
    absent: tuple[str, ...] = ()  # what the response must not contain besides the world's markers


@dataclass
class Context:
    """What a check reads: the response, its body, the world, the rows before, the subject's user."""

    response: object
    body: str
    values: dict[str, object]
    before: dict[str, object]  # the snapshot of tests/access/matrix_world.py
    user: object
    api: bool

    def fmt(self, text: str) -> str:
        return text.format(**self.values)


def ok(check: Check | None = None, audit: tuple[tuple[str, str], ...] = ()) -> Outcome:
    return Outcome(OK, check=check, audit=audit)


def not_found(what: str) -> Outcome:
    """A restricted lookup: the object is not there for this subject (get_object_or_404's message)."""
    return Outcome(NOT_FOUND, reason=f"No {what} matches the given query.")


def forbidden(reason: str, action: str = "") -> Outcome:
    return Outcome(FORBIDDEN, reason=reason, audit=((action, "denied"),) if action else ())


def refused(reason: str, back: str, action: str) -> Outcome:
    return Outcome(REFUSED, reason=reason, back=back, audit=((action, "failed"),))


def invalid(reason: str, absent: tuple[str, ...] = ()) -> Outcome:
    return Outcome(INVALID, reason=reason, absent=absent)


# -- checks of allowed requests --------------------------------------------------------------------------------

def shows(*texts: str, absent: tuple[str, ...] = (), status: int = 200) -> Check:
    def check(ctx: Context) -> list[str]:
        problems = [] if ctx.response.status_code == status else [f"status {ctx.response.status_code}"]
        problems += [f"does not show {ctx.fmt(t)!r}" for t in texts if ctx.fmt(t) not in ctx.body]
        return problems + [f"shows {ctx.fmt(t)!r}" for t in absent if ctx.fmt(t) in ctx.body]
    return check


def data_is(expected: Callable[[Context, object], list[str]]) -> Check:
    def check(ctx: Context) -> list[str]:
        if ctx.response.status_code != 200:
            return [f"status {ctx.response.status_code}"]
        return expected(ctx, json.loads(ctx.body)["data"])
    return check


def same(what: str, got: object, wanted: object) -> list[str]:
    return [] if got == wanted else [f"{what}: {got!r}, expected {wanted!r}"]


def new_rows(ctx: Context, model, table: str) -> list:
    return list(model.objects.filter(pk__gt=ctx.before[table].last_pk))


def new_tasks(type_: str, guest: GuestSpec | None = None, per_node: dict[str, list[int]] | None = None,
              redirect: str | None = None) -> Check:
    """The request queued exactly the tasks expected (one, or one per node with its guests), as the subject,
    and answers with the task (the page: a redirect to it; the API: its UPID)."""
    def check(ctx: Context) -> list[str]:
        from tasks.models import Task

        tasks = sorted(new_rows(ctx, Task, "tasks"), key=lambda t: t.node.name)
        problems = same("types of the queued tasks", [t.type for t in tasks], [type_] * len(per_node or {"": 0}))
        if problems:
            return [*problems, f"status {ctx.response.status_code} {ctx.response.get('Location', '')}",
                    ctx.body[-600:]]
        for task in tasks:
            problems += same(f"user of {task.upid}", task.user_id, ctx.user.pk)
            if guest is not None:
                problems += same(f"guest of {task.upid}", task.vmid, guest.vmid)
            if per_node is not None:
                problems += same(f"guests of {task.upid}", task.params.get("vms"), per_node.get(task.node.name))
        if ctx.api:
            return problems + same("answer", json.loads(ctx.body)["data"], tasks[0].upid)
        location = redirect or tasks[0].get_absolute_url()
        return problems + same("redirect", (ctx.response.status_code, ctx.response.get("Location")), (302, location))
    return check


def redirects(to: str, effect: Callable[[Context], list[str]] | None = None) -> Check:
    def check(ctx: Context) -> list[str]:
        problems = same("redirect", (ctx.response.status_code, ctx.response.get("Location")), (302, ctx.fmt(to)))
        return problems + (effect(ctx) if effect else [])
    return check


def exists(model_path: str, **lookup: object) -> Callable[[Context], list[str]]:
    def effect(ctx: Context) -> list[str]:
        model = _model(model_path)
        values = {k: ctx.fmt(v) if isinstance(v, str) else v for k, v in lookup.items()}
        return [] if model.objects.filter(**values).exists() else [f"no {model_path} {values}"]
    return effect


def gone(model_path: str, **lookup: object) -> Callable[[Context], list[str]]:
    def effect(ctx: Context) -> list[str]:
        model = _model(model_path)
        values = {k: ctx.fmt(v) if isinstance(v, str) else v for k, v in lookup.items()}
        return [f"{model_path} {values} still there"] if model.objects.filter(**values).exists() else []
    return effect


def _model(path: str):
    from django.apps import apps

    if path == "user":
        from django.contrib.auth import get_user_model

        return get_user_model()
    return apps.get_model(path)


# -- who needs what: pages of guests, nodes and tasks ----------------------------------------------------------

def describe(guest: GuestSpec) -> str:
    return f"{guest.kind.upper()} {guest.vmid} ({guest.name})"


# The privilege each guest action needs on the guest (Proxmox: qemu-server's and pve-container's checks).
GUEST_ACTION_NEEDS = {"start": "VM.PowerMgmt", "delete": "VM.Allocate", "migrate": "VM.Migrate",
                      "pool": "VM.Allocate"}
BULK_LABEL = {"startall": "start all", "stopall": "stop all", "migrateall": "migrate all"}


def guest_page(guest: GuestSpec) -> Callable[[Subject], Outcome]:
    """The guest and its tasks the subject may see (the world's are another user's: seen with the guest)."""
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        return ok(shows(guest.name, *[f"{{{t.label}}}" for t in visible_tasks(s) if t.guest == guest]))
    return expect


def guest_action(guest: GuestSpec, action: str, method: str = "post"):
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, GUEST_ACTION_NEEDS[action]):
            return forbidden(f"you may not {action} {describe(guest)}", "" if method == "get" else f"guest.{action}")
        if method == "get":
            return ok(shows(guest.name, f"{action.capitalize()}"))
        return ok(new_tasks(action, guest), audit=((f"guest.{action}", "ok"),))
    return expect


def migrate(guest: GuestSpec):
    target = NODE_B if guest.node == NODE_A else NODE_A

    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, "VM.Migrate"):
            return forbidden(f"you may not migrate {describe(guest)}", "guest.migrate")
        if not on_node(s, "Sys.Audit", target):
            return refused(f"there is no node named '{target}'", f"/guests/{guest.vmid}/", "guest.migrate")
        if not may_place_on(s, target):
            return forbidden(f"you may not put guests on node {target}", "guest.migrate")
        return ok(new_tasks("migrate", guest), audit=(("guest.migrate", "ok"),))
    return expect


def move_to_pool(guest: GuestSpec, pool: str | None):
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, "VM.Allocate") or (pool and not s.has("VM.Allocate", f"/pool/{pool}")):
            return forbidden(f"you may not move {describe(guest)} to pool {pool or '(none)'}", "guest.pool")

        def moved(ctx: Context) -> list[str]:
            from guests.models import Guest

            now = Guest.objects.filter(vmid=guest.vmid).values_list("pool__name", flat=True).get()
            return same(f"pool of {guest.name}", now, pool)
        return ok(redirects(f"/guests/{guest.vmid}/", moved), audit=(("guest.pool", "ok"),))
    return expect


def console_page(guest: GuestSpec):
    """A guest's console (Proxmox's vncproxy/termproxy): VM.Console on the guest; who holds neither it nor
    VM.Audit is not told the guest exists."""
    def expect(s: Subject) -> Outcome:
        if not (sees_guest(s, guest) or sees_guest(s, guest, "VM.Console")):
            return Outcome(NOT_FOUND, reason=f"guest {guest.vmid} does not exist")
        if not sees_guest(s, guest, "VM.Console"):
            return forbidden(f"you may not use the console of {describe(guest)}", "guest.console")
        return ok(shows(f'data-socket="/ws/guests/{guest.vmid}/console/"'))
    return expect


def console_tab(guest: GuestSpec):
    """The guest's Console tab: absent without VM.Console; a VM's shows its display, a container's its shell."""
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, "VM.Console"):
            return Outcome(NOT_FOUND, reason="no tab 'console' here")
        socket = "vnc" if guest.kind == "vm" else "console"
        return ok(shows(guest.name, f'data-socket="/ws/guests/{guest.vmid}/{socket}/"'))
    return expect


def display_page(guest: GuestSpec):
    """A VM's display (noVNC): VM.Console as for its console; a container has none."""
    console = console_page(guest)

    def expect(s: Subject) -> Outcome:
        outcome = console(s)
        if outcome.kind == FORBIDDEN:
            return forbidden(outcome.reason, "guest.vnc")
        if outcome.kind != OK:
            return outcome
        if guest.kind != "vm":
            return Outcome(CONFLICT, reason=f"{describe(guest)} has no display")
        return ok(shows(f'data-socket="/ws/guests/{guest.vmid}/vnc/"'))
    return expect


def can_create(s: Subject) -> bool:
    return s.has("VM.Allocate", "/vms") or any(s.has("VM.Allocate", f"/pool/{p}") for p in (POOL, POOL2))


def create_form(s: Subject) -> Outcome:
    if not can_create(s):
        return forbidden("you may not create guests")
    offered = [f'value="{n}"' for n in (NODE_A, NODE_B) if may_place_on(s, n)]
    hidden = [f'value="{n}"' for n in (NODE_A, NODE_B) if not may_place_on(s, n)]
    return ok(shows(*offered, absent=tuple(hidden)))


NEW_GUEST = f"{settings.PANEL_GUEST_NAME_PREFIX}mxnew-ct"  # the panel's guests carry the run's prefix
# A node's figures, which a form or its errors must never tell who may not audit the node.
NODE_A_FIGURES = (f"{NODE_FIGURES['memory_total'] // 1024**2} MiB", f"{NODE_FIGURES['cpus']} CPUs")


def create(pool: str | None):
    """Creating a container on node A (in ``pool``, or in none): VM.Allocate where it lands, Sys.Audit on the
    node and Datastore.AllocateSpace on its storage."""
    def expect(s: Subject) -> Outcome:
        if not can_create(s):
            return forbidden("you may not create guests", "guest.create")
        if not may_place_on(s, NODE_A):
            return invalid("Select a valid choice", absent=NODE_A_FIGURES)
        pools = [p for p in (POOL, POOL2) if s.has("VM.Allocate", f"/pool/{p}")]
        anywhere = s.has("VM.Allocate", "/vms")
        if pool and pools and pool not in pools:
            return invalid("Select a valid choice")
        if pool is None and pools and not anywhere:
            return invalid("This field is required")
        lands_in = pool if pools else None  # with no pool to choose the form has no pool field

        def created(ctx: Context) -> list[str]:
            from guests.models import Guest

            rows = list(Guest.objects.filter(name=NEW_GUEST).values_list("pool__name", "owner_id", "node__name"))
            return same("the new guest (pool, owner, node)", rows, [(lands_in, ctx.user.pk, NODE_A)])

        def check(ctx: Context) -> list[str]:
            return new_tasks("create")(ctx) + created(ctx)
        return ok(check, audit=(("guest.create", "ok"),))
    return expect


def shell_tab(node: str):
    """The node's Shell tab: absent without Sys.Console."""
    def expect(s: Subject) -> Outcome:
        if not on_node(s, "Sys.Audit", node):
            return not_found("Node")
        if not on_node(s, "Sys.Console", node):
            return Outcome(NOT_FOUND, reason="no tab 'shell' here")
        return ok(shows(node, f'data-socket="/ws/nodes/{node}/shell/"'))
    return expect


def node_page(node: str, guests: bool = False, tasks: bool = True):
    """A node's summary (its tasks), or its Guests or Task History tab."""
    def expect(s: Subject) -> Outcome:
        if not on_node(s, "Sys.Audit", node):
            return not_found("Node")
        return ok(shows(node, *[g.name for g in visible_guests(s, node) if guests],
                        *[f"{{{t.label}}}" for t in visible_tasks(s, node) if tasks]))
    return expect


def shell_page(node: str):
    """A node's shell: Sys.Console on the node."""
    def expect(s: Subject) -> Outcome:
        if not (on_node(s, "Sys.Audit", node) or on_node(s, "Sys.Console", node)):
            return Outcome(NOT_FOUND, reason=f"node {node} does not exist")
        if not on_node(s, "Sys.Console", node):
            return forbidden(f"you may not use the shell of node {node}", "node.shell")
        return ok(shows(f'data-socket="/ws/nodes/{node}/shell/"'))
    return expect


def bulk_page(node: str, action: str):
    def expect(s: Subject) -> Outcome:
        if not on_node(s, "Sys.Audit", node):
            return not_found("Node")
        if not on_node(s, "Sys.PowerMgmt", node):
            return forbidden(f"you may not {BULK_LABEL[action]} on node {node}")
        return ok(shows(BULK_LABEL[action].capitalize(), node))
    return expect


def bulk_guests(s: Subject, node: str, action: str, vms: list[int] | None) -> list[int] | Outcome:
    """The guests of ``node`` a bulk action acts on: those of ``vms`` (each the subject's), or all those the
    subject holds the privilege on ("start at boot" ones for start-all); a refusal when there are none."""
    privilege = "VM.Migrate" if action == "migrateall" else "VM.PowerMgmt"
    audit = f"node.{action}"
    if vms:
        for vmid in vms:
            guest = next(g for g in GUESTS if g.vmid == vmid)
            if not sees_guest(s, guest, privilege):
                return forbidden(f"you may not act on VMID {vmid} ({privilege})", audit)
        return [g.vmid for g in GUESTS if g.vmid in vms and g.node == node]
    chosen = [g.vmid for g in GUESTS if g.node == node and sees_guest(s, g, privilege)
              and (action != "startall" or g.onboot)]
    if not chosen and not s.has(privilege, "/vms"):
        return forbidden(f"you may not act on any guest of node {node} ({privilege})", audit)
    return chosen


def bulk(node: str, action: str, vms: list[int] | None = None):
    """Start-all / stop-all of a node: seeing it (Sys.Audit), Sys.PowerMgmt on it, VM.PowerMgmt on its guests."""
    def expect(s: Subject) -> Outcome:
        if not on_node(s, "Sys.Audit", node):
            return not_found("Node")
        if not on_node(s, "Sys.PowerMgmt", node):
            return forbidden(f"you may not {BULK_LABEL[action]} on node {node}", f"node.{action}")
        chosen = bulk_guests(s, node, action, vms)
        if isinstance(chosen, Outcome):
            return chosen
        return ok(new_tasks(action, per_node={node: chosen}), audit=((f"node.{action}", "ok"),))
    return expect


def selection(guest: GuestSpec, method: str):
    """Guests chosen in a grid, started together: seeing them, then the node's start-all over exactly them."""
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return Outcome(NOT_FOUND, reason=f"there is no guest {guest.vmid}")
        if method == "get":
            if not on_node(s, "Sys.PowerMgmt", guest.node):
                return forbidden("you may not start these guests together")
            return ok(shows(guest.name, "Start 1 guests"))
        if not on_node(s, "Sys.PowerMgmt", guest.node):
            return forbidden(f"you may not start all on node {guest.node}", "node.startall")
        chosen = bulk_guests(s, guest.node, "startall", [guest.vmid])
        if isinstance(chosen, Outcome):
            return chosen
        return ok(new_tasks("startall", per_node={guest.node: chosen}), audit=(("node.startall", "ok"),))
    return expect


def migrate_all(s: Subject) -> Outcome:
    """Every guest of node A to node B: Sys.Modify on A, placing on B, VM.Migrate on the guests."""
    if not on_node(s, "Sys.Audit", NODE_A):
        return not_found("Node")
    if not on_node(s, "Sys.Modify", NODE_A):
        return forbidden(f"you may not migrate all on node {NODE_A}", "node.migrateall")
    if not on_node(s, "Sys.Audit", NODE_B):
        return refused(f"there is no node named '{NODE_B}'", f"/nodes/{NODE_A}/", "node.migrateall")
    if not may_place_on(s, NODE_B):
        return forbidden(f"you may not put guests on node {NODE_B}", "node.migrateall")
    chosen = bulk_guests(s, NODE_A, "migrateall", None)
    if isinstance(chosen, Outcome):
        return chosen
    return ok(new_tasks("migrateall", per_node={NODE_A: chosen}), audit=(("node.migrateall", "ok"),))


def migrate_all_page(s: Subject) -> Outcome:
    """The picker of migrate-all: the node's guests the subject may migrate."""
    if not on_node(s, "Sys.Audit", NODE_A):
        return not_found("Node")
    if not on_node(s, "Sys.Modify", NODE_A):
        return forbidden(f"you may not migrate all on node {NODE_A}")
    return ok(shows("Migrate all", *[g.name for g in visible_guests(s, NODE_A) if sees_guest(s, g, "VM.Migrate")]))


def datacenter_page(s: Subject) -> Outcome:
    return ok(shows("Stop all")) if s.has("Sys.Audit", "/nodes") else Outcome(NOT_FOUND, reason="no such node")


def datacenter_bulk(action: str):
    """Start-all / stop-all of every online node: all of them, or none."""
    def expect(s: Subject) -> Outcome:
        if not s.has("Sys.Audit", "/nodes"):
            return Outcome(NOT_FOUND, reason="no such node")
        rows: list[tuple[str, str]] = []
        for node in (NODE_A, NODE_B):
            if not on_node(s, "Sys.PowerMgmt", node):
                return Outcome(FORBIDDEN, reason=f"you may not {BULK_LABEL[action]} on node {node}",
                               audit=(*rows, (f"datacenter.{action}", "denied")))
            rows.append((f"datacenter.{action}", "ok"))
        per_node = {}
        for node in (NODE_A, NODE_B):
            chosen = bulk_guests(s, node, action, None)
            assert not isinstance(chosen, Outcome), "no subject of the matrix is refused on one node only"
            per_node[node] = chosen
            rows.append((f"node.{action}", "ok"))
        return ok(new_tasks(action, per_node=per_node, redirect="/tasks/"), audit=tuple(rows))
    return expect


def task_page(label: str):
    def expect(s: Subject) -> Outcome:
        return ok(shows(f"{{{label}}}", TASK[label].line)) if sees_task(s, TASK[label]) else not_found("Task")
    return expect


def cancel(label: str, api: bool = False):
    """Cancelling: the task's user, or Sys.Modify on its node (the world's tasks are another user's)."""
    task = TASK[label]

    def expect(s: Subject) -> Outcome:
        if not sees_task(s, task):
            return not_found("Task")
        if not on_node(s, "Sys.Modify", task.node):
            return forbidden(f"you may not cancel task {{{label}}}", "task.cancel")
        if task.status != "queued":
            if api:
                return Outcome(CONFLICT, reason=f"task {{{label}}} has already ended",
                               audit=(("task.cancel", "failed"),))
            return refused(f"task {{{label}}} has already ended", f"/tasks/{{{label}}}/", "task.cancel")

        def cancelled(ctx: Context) -> list[str]:
            from tasks.models import Task

            return same("status", Task.objects.get(upid=ctx.fmt(f"{{{label}}}")).status, "cancelled")
        check = data_is(lambda ctx, data: same("answer", data, None) + cancelled(ctx)) if api else \
            redirects(f"/tasks/{{{label}}}/", cancelled)
        return ok(check, audit=(("task.cancel", "ok"),))
    return expect


def logged_in(check: Check | None = None) -> Callable[[Subject], Outcome]:
    return lambda s: ok(check)


def datacenter(s: Subject) -> Outcome:
    """The summary counts what the subject may see: their nodes (all online), their guests (all stopped)."""
    nodes, guests = visible_nodes(s), visible_guests(s)
    counts = {kind: len([g for g in guests if g.kind == kind]) for kind in ("vm", "ct")}
    return ok(shows(*nodes, f'"online">{len(nodes)}</strong> of <span data-summary="total">{len(nodes)}<',
                    *[f'data-summary="{k}">0 running, {n} stopped ({n} in all)<' for k, n in counts.items()],
                    f"of {NODE_FIGURES['cpus'] * len(nodes)} CPUs"))


def lists(s: Subject, what: str) -> Check:
    """A list page (guests, tasks): everything of ``what`` the subject may see (the rest is caught by the
    markers)."""
    if what == "guests":
        return shows(*[g.name for g in visible_guests(s)])
    return shows(*[f"{{{t.label}}}" for t in visible_tasks(s)])


# -- the API ---------------------------------------------------------------------------------------------------

def resource_ids(s: Subject) -> set[str]:
    nodes = visible_nodes(s)
    ids = {f"node/{n}" for n in nodes} | {f"{g.api_kind}/{g.vmid}" for g in visible_guests(s)}
    if s.has("Datastore.Audit", "/storage/local"):
        ids |= {f"storage/{n}/local" for n in nodes}
    return ids


def api_resource_ids(s: Subject) -> set[str]:
    """The API's list has the pools the subject may audit too (the live pages' socket has no use for them)."""
    return resource_ids(s) | {f"/pool/{p}" for p in (POOL, POOL2) if s.has("Pool.Audit", f"/pool/{p}")}


def api_node_status(node: str):
    def expect(s: Subject) -> Outcome:
        if not on_node(s, "Sys.Audit", node):
            return not_found("Node")
        f = NODE_FIGURES

        def figures(ctx: Context, data: dict) -> list[str]:
            return same("figures", {k: data[k] for k in ("cpu", "cpuinfo", "loadavg", "memory", "swap", "rootfs",
                                                          "uptime", "kversion", "status")}, {
                "cpu": f["cpu_usage"], "loadavg": ["0.50", "0.75", "1.25"],
                # The world's nodes never reported a processor: Proxmox's fields with what is known.
                "cpuinfo": {"model": "unknown", "cores": f["cpus"], "sockets": 1, "mhz": "0", "cpus": f["cpus"]},
                "memory": {"total": f["memory_total"], "used": f["memory_used"],
                           "free": f["memory_total"] - f["memory_used"],
                           "available": f["memory_total"] - f["memory_used"]},
                "swap": {"total": f["swap_total"], "used": f["swap_used"], "free": f["swap_total"] - f["swap_used"]},
                "rootfs": {"total": f["root_total"], "used": f["root_used"], "free": f["root_total"] - f["root_used"],
                           "avail": f["root_total"] - f["root_used"]},
                "uptime": f["uptime"], "kversion": f["kernel"], "status": "online"})
        return ok(data_is(figures))
    return expect


def api_visible(check_visible: Callable[[Subject], bool], what: str, check: Check | None = None):
    def expect(s: Subject) -> Outcome:
        return ok(check or data_is(lambda ctx, data: [])) if check_visible(s) else not_found(what)
    return expect


def api_task_list(node: str):
    def expect(s: Subject) -> Outcome:
        # Proxmox's default source is the archive: the tasks that ended.
        wanted = sorted(f"{{{t.label}}}" for t in visible_tasks(s, node) if t.status != "queued")
        return ok(data_is(lambda ctx, data: same("tasks", sorted(t["upid"] for t in data),
                                                 sorted(ctx.fmt(w) for w in wanted))))
    return expect


def api_task(label: str, part: str):
    def listed(ctx: Context, data: object) -> list[str]:
        if part == "log":
            return same("log", data, [{"n": 1, "t": TASK[label].line}])
        return same("upid", data["upid"], ctx.fmt(f"{{{label}}}"))
    return api_visible(lambda s: sees_task(s, TASK[label]), "Task", data_is(listed))


def config_change(guest: GuestSpec, method: str):
    """Changing a guest's notes: seeing it, VM.Config.Options on it; PUT answers null, POST (VMs) the task."""
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, "VM.Config.Options"):
            return forbidden(f"Permission check failed (/vms/{guest.vmid}, VM.Config.Options)", "guest.config")

        def noted(ctx: Context) -> list[str]:
            from guests.models import Guest

            return same("notes", Guest.objects.get(vmid=guest.vmid).description, "mx-notes")
        if method == "post":
            return ok(lambda ctx: new_tasks("config", guest)(ctx) + noted(ctx), audit=(("guest.config", "ok"),))
        return ok(data_is(lambda ctx, data: same("answer", data, None) + noted(ctx)), audit=(("guest.config", "ok"),))
    return expect


def api_create(s: Subject) -> Outcome:
    """POST /nodes/{node}/lxc outside any pool: VM.Allocate on /vms, then placing on the node (the service's
    order: where the guest lands first)."""
    if not can_create(s):
        return forbidden("you may not create guests", "guest.create")
    if not s.has("VM.Allocate", "/vms"):
        return forbidden("you may not create guests outside a pool: choose a pool", "guest.create")
    if not may_place_on(s, NODE_A):
        return forbidden(f"you may not put guests on node {NODE_A}", "guest.create")

    def created(ctx: Context) -> list[str]:
        from guests.models import Guest

        rows = list(Guest.objects.filter(name=NEW_GUEST).values_list("pool__name", "owner_id", "node__name"))
        return new_tasks("create")(ctx) + same("the new guest", rows, [(None, ctx.user.pk, NODE_A)])
    return ok(created, audit=(("guest.create", "ok"),))


def api_guest_list(node: str, kind: str):
    def expect(s: Subject) -> Outcome:
        wanted = sorted(g.vmid for g in visible_guests(s, node) if g.api_kind == kind)
        return ok(data_is(lambda ctx, data: same("guests", sorted(g["vmid"] for g in data), wanted)))
    return expect


def api_resize(guest: GuestSpec):
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, "VM.Config.Disk"):
            return forbidden(f"Permission check failed (/vms/{guest.vmid}, VM.Config.Disk)", "guest.resize")
        return ok(new_tasks("resize", guest), audit=(("guest.resize", "ok"),))
    return expect


def api_migrate(guest: GuestSpec):
    """The page's rules (``migrate``), with the API's answer to a target the subject may not see: a 400."""
    def expect(s: Subject) -> Outcome:
        page = migrate(guest)(s)
        if page.kind == REFUSED:
            return Outcome(INVALID, reason=page.reason, audit=page.audit)
        return page
    return expect


CONFIG_PRIVILEGES = ("VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options",
                     "VM.Config.Disk")


def config_tab(guest: GuestSpec):
    def expect(s: Subject) -> Outcome:
        return ok(shows(guest.name)) if sees_guest(s, guest) else not_found("Guest")
    return expect


def config_page_change(guest: GuestSpec, privilege: str, effect: Callable[[Context], list[str]] | None = None,
                       task: bool = False, back: str = ""):
    """A tab's form: seeing the guest, any VM.Config privilege to post at all, then the setting's own; back to
    the tab (``back``: its path under the guest's), on to the task where the engine has something to do."""
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not any(sees_guest(s, guest, p) for p in CONFIG_PRIVILEGES):
            return forbidden(f"you may not change {describe(guest)}", "guest.config")
        if not sees_guest(s, guest, privilege):  # its field is disabled: nothing to change
            return ok(redirects(f"/guests/{guest.vmid}/{back}"))
        if task:
            return ok(new_tasks("config", guest), audit=(("guest.config", "ok"),))
        return ok(redirects(f"/guests/{guest.vmid}/{back}", effect), audit=(("guest.config", "ok"),))
    return expect


def notes_are(text: str) -> Callable[[Context], list[str]]:
    def effect(ctx: Context) -> list[str]:
        from guests.models import Guest

        return same("notes", Guest.objects.get(vmid=TARGET.vmid).description, text)
    return effect


@dataclass(frozen=True)
class Case:
    method: str
    url: str  # with {placeholders} of the world
    expect: Callable[[Subject], Outcome]
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """The requests made to one route. ``kind``: page (needs a login), api, public, admin (Django's own).
    ``guard``: the refusal a page gives before looking at the method (its dispatch), given the method."""

    kind: str
    cases: tuple[Case, ...]
    guard: Callable[[Subject, str], Outcome | None] | None = None


def page(*cases: Case, guard=None) -> Route:
    return Route("page", cases, guard)


def api(*cases: Case) -> Route:
    return Route("api", cases)


def get(url: str, expect, **data: object) -> Case:
    return Case("get", url, expect, data)


def post(url: str, expect, **data: object) -> Case:
    return Case("post", url, expect, data)


# -- the access pages ------------------------------------------------------------------------------------------

# What each management page needs, and where (Proxmox's paths for users, groups, roles, ACLs, pools, the log).
MANAGE = {"users": ("User.Modify", "/access/groups"), "groups": ("Group.Allocate", "/access/groups"),
          "roles": ("Sys.Modify", "/access"), "acl": ("Permissions.Modify", "/"), "pools": ("Pool.Allocate", "/pool"),
          "audit": ("Sys.Audit", "/")}


def manages(s: Subject, what: str) -> bool:
    privilege, path = MANAGE[what]
    return s.has(privilege, path)


def manage_guard(what: str, action: str = ""):
    """A management page refuses who may not manage ``what`` before anything else; a refused change (an
    unsafe method on a page that changes something) is audited as ``action``."""
    def guard(s: Subject, method: str) -> Outcome | None:
        if manages(s, what):
            return None
        return forbidden(f"you may not manage {what}", action if method not in SAFE_METHODS else "")
    return guard


def managed(what: str, outcome: Callable[[Subject], Outcome] | Outcome, action: str = ""):
    def expect(s: Subject) -> Outcome:
        refused_here = manage_guard(what, action)(s, "post" if action else "get")
        if refused_here is not None:
            return refused_here
        return outcome(s) if callable(outcome) else outcome
    return expect


def superuser_change(action: str, effect):
    """Only root changes a superuser, whatever the role (Proxmox: only root@pam modifies root@pam)."""
    def expect(s: Subject) -> Outcome:
        if not s.root:
            return forbidden("only a superuser may change a superuser", action)
        return ok(redirects("/access/users/", effect), audit=((action, "ok"),))
    return expect


def acl_change(path: str, privileges: frozenset[str], action: str, effect):
    """An ACL change needs Permissions.Modify on the path, and gives nobody more than the changer holds."""
    def expect(s: Subject) -> Outcome:
        pool = TARGET.pool if path == TARGET.path else None
        if not s.has("Permissions.Modify", path, pool):
            return forbidden(f"you may not change the permissions on {path}", action)
        if not privileges <= s.privileges(path, pool):
            return forbidden("which you do not hold", action)
        return ok(redirects("/access/acls/", effect), audit=((action, "ok"),))
    return expect


def changed(prefix: str, action: str, effect) -> Outcome:
    return ok(redirects(f"/access/{prefix}s/", effect), audit=((action, "ok"),))


Expect = Callable[[Subject], Outcome]


def section(prefix: str, what: str, add: tuple[dict, Expect | Outcome], edit: tuple[str, dict, Expect | Outcome],
            delete: tuple[str, Expect | Outcome], extra: dict[str, list[Case]] | None = None) -> dict[str, Route]:
    """The four routes of a managed kind of object: its list, add, edit and delete pages. ``add``: the form's
    data and the outcome for who may manage ``what``; ``edit`` and ``delete`` name the object's placeholder."""
    base = f"/access/{prefix}s/"
    extra = extra or {}
    (add_data, add_outcome), (edit_pk, edit_data, edit_outcome), (delete_pk, delete_outcome) = add, edit, delete
    return {
        f"access/{prefix}s/": page(get(base, managed(what, ok(shows("<table")))), guard=manage_guard(what)),
        f"access/{prefix}s/add/": page(
            get(f"{base}add/", managed(what, ok(shows("<form")))),
            post(f"{base}add/", managed(what, add_outcome, f"{prefix}.create"), **add_data),
            guard=manage_guard(what, f"{prefix}.create")),
        f"access/{prefix}s/<id:pk>/": page(
            get(f"{base}{{{edit_pk}}}/", managed(what, ok(shows("<form")))),
            post(f"{base}{{{edit_pk}}}/", managed(what, edit_outcome, f"{prefix}.update"), **edit_data),
            *extra.get("edit", []),
            guard=manage_guard(what, f"{prefix}.update")),
        f"access/{prefix}s/<id:pk>/delete/": page(
            get(f"{base}{{{delete_pk}}}/delete/", managed(what, ok(shows("<form")))),
            post(f"{base}{{{delete_pk}}}/delete/", managed(what, delete_outcome, f"{prefix}.delete")),
            *extra.get("delete", []),
            guard=manage_guard(what, f"{prefix}.delete")),
    }


ACCESS: dict[str, Route] = {
    **section(
        "user", "users",
        add=({"username": "mxnewuser", "password": "mx-new-pass-1", "is_active": "on"},
             changed("user", "user.create", exists("user", username="mxnewuser"))),
        edit=("victim", {"username": "mxvictim", "email": "victim@example.org", "is_active": "on"},
              changed("user", "user.update", exists("user", username="mxvictim", email="victim@example.org"))),
        delete=("victim", changed("user", "user.delete", gone("user", username="mxvictim"))),
        extra={
            "edit": [get("/access/users/{superuser}/", managed("users", ok(shows("mxsuper")))),
                     post("/access/users/{superuser}/",
                          managed("users", superuser_change("user.update", lambda ctx: []), "user.update"),
                          username="mxsuper", is_active="on", password="taken-over-123"),
                     post("/access/users/{superuser}/",
                          managed("users", superuser_change("user.update", exists(
                              "user", username="mxsuper", is_active=False)), "user.update"), username="mxsuper")],
            "delete": [post("/access/users/{superuser}/delete/",
                            managed("users", superuser_change("user.delete", gone("user", username="mxsuper")),
                                    "user.delete"))],
        }),
    **section(
        "group", "groups",
        add=({"name": "mxnewgroup"}, changed("group", "group.create", exists("auth.Group", name="mxnewgroup"))),
        edit=("spare_group", {"name": "mxspare-renamed"},
              changed("group", "group.update", exists("auth.Group", name="mxspare-renamed"))),
        delete=("spare_group", changed("group", "group.delete", gone("auth.Group", name="mxspare")))),
    **section(
        "role", "roles",
        add=({"name": "MxNewRole", "privileges": ["VM.Audit"]},
             changed("role", "role.create", exists("access.Role", name="MxNewRole"))),
        edit=("spare_role", {"name": "MxSpare", "privileges": ["VM.Audit", "VM.Console"]},
              changed("role", "role.update", exists("access.Role", name="MxSpare",
                                                    privileges=["VM.Audit", "VM.Console"]))),
        delete=("spare_role", changed("role", "role.delete", gone("access.Role", name="MxSpare"))),
        extra={"delete": [post("/access/roles/{auditor_role}/delete/",
                               managed("roles", forbidden("built-in roles cannot be changed", "role.delete"),
                                       "role.delete"))]}),
    **section(
        "acl", "acl",
        add=({"path": TARGET.path, "user": "{victim}", "role": "{vmuser_role}", "propagate": "on"},
             acl_change(TARGET.path, frozenset(VM_USER), "acl.create",
                        exists("access.AclEntry", path=TARGET.path, user__username="mxvictim"))),
        edit=("spare_acl", {"path": LOOSE.path, "user": "{victim}", "role": "{auditor_role}"},
              acl_change(LOOSE.path, frozenset(), "acl.update",
                         exists("access.AclEntry", path=LOOSE.path, propagate=False))),
        delete=("spare_acl", acl_change(LOOSE.path, frozenset(), "acl.delete",
                                        gone("access.AclEntry", path=LOOSE.path)))),
    **section(
        "pool", "pools",
        add=({"name": "mxnewpool"}, changed("pool", "pool.create", exists("access.Pool", name="mxnewpool"))),
        edit=("pool2", {"name": POOL2, "comment": "mx-changed"},
              changed("pool", "pool.update", exists("access.Pool", name=POOL2, comment="mx-changed"))),
        delete=("pool2", changed("pool", "pool.delete", gone("access.Pool", name=POOL2))),
        extra={"delete": [post("/access/pools/{pool}/delete/",
                               managed("pools", refused(f"pool {POOL} is not empty", "/access/pools/", "pool.delete"),
                                       "pool.delete"))]}),
}


def create_guard(s: Subject, method: str) -> Outcome | None:
    if can_create(s):
        return None
    return forbidden("you may not create guests", "guest.create" if method not in SAFE_METHODS else "")


def own_token_deleted(ctx: Context) -> list[str]:
    return gone("access.ApiToken", tokenid="mxmine", user=ctx.user)(ctx)


def token_made(ctx: Context) -> list[str]:
    from access.models import ApiToken

    problems = shows('id="token-secret"')(ctx)
    return problems + ([] if ApiToken.objects.filter(user=ctx.user, tokenid="mxnewtok").exists() else ["no token"])


A, T, L, F = NODE_A, TARGET.vmid, LOOSE.vmid, FAR.vmid
API = "api2/json/"


# -- snapshots, clones, templates (guests/snapshots.py, guests/clone.py) ----------------------------------------

def _snapshot_refusal(s: Subject, guest: GuestSpec, verb: str, action: str) -> Outcome | None:
    """Seeing the guest (a 404 otherwise), then the privilege of ``verb`` (Proxmox: VM.Snapshot to take, change
    and delete; VM.Snapshot or VM.Snapshot.Rollback to roll back)."""
    if not sees_guest(s, guest):
        return not_found("Guest")
    may = sees_guest(s, guest, "VM.Snapshot") or (verb == "roll back" and sees_guest(s, guest,
                                                                                     "VM.Snapshot.Rollback"))
    if may:
        return None
    reason = {"take": f"you may not take snapshots of {describe(guest)}",
              "roll back": f"you may not roll back {describe(guest)}",
              "delete": f"you may not delete snapshots of {describe(guest)}",
              "change": f"you may not change the snapshots of {describe(guest)}"}[verb]
    return forbidden(reason, action)


def snapshots_tab(guest: GuestSpec):
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        names = (SNAPSHOT,) if guest == LOOSE else ()
        take = ("Take snapshot",)
        if sees_guest(s, guest, "VM.Snapshot"):
            return ok(shows(guest.name, "You are here!", *names, *take))
        return ok(shows(guest.name, "You are here!", *names, absent=take))
    return expect


def snapshot_task(guest: GuestSpec, verb: str, type_: str, action: str):
    def expect(s: Subject) -> Outcome:
        refusal = _snapshot_refusal(s, guest, verb, action)
        return refusal or ok(new_tasks(type_, guest), audit=((action, "ok"),))
    return expect


def snapshot_confirm(guest: GuestSpec, verb: str):
    def expect(s: Subject) -> Outcome:
        return _snapshot_refusal(s, guest, verb, "") or ok(shows(SNAPSHOT, "Cancel"))
    return expect


def snapshot_description(api: bool):
    def expect(s: Subject) -> Outcome:
        refusal = _snapshot_refusal(s, LOOSE, "change", "guest.snapshot.config")
        if refusal:
            return refusal

        def changed(ctx: Context) -> list[str]:
            from guests.models import Snapshot

            return same("description", Snapshot.objects.get(name=SNAPSHOT).description, "mx-changed" if not api
                        else "")
        check = data_is(lambda ctx, data: same("answer", data, None) + changed(ctx)) if api else \
            redirects(f"/guests/{LOOSE.vmid}/tab/snapshots/", changed)
        return ok(check, audit=(("guest.snapshot.config", "ok"),))
    return expect


def api_snapshots(guest: GuestSpec):
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        wanted = [SNAPSHOT, "current"] if guest == LOOSE else ["current"]
        return ok(data_is(lambda ctx, data: same("snapshots", [e["name"] for e in data], wanted)))
    return expect


CLONE_ID = 48999


def clone(guest: GuestSpec):
    """VM.Clone on the source, VM.Allocate on the new VMID, placing on the source's node."""
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, "VM.Clone"):
            return forbidden(f"you may not clone {describe(guest)}", "guest.clone")
        if not s.has("VM.Allocate", f"/vms/{CLONE_ID}"):
            return forbidden(f"you may not create VMID {CLONE_ID}", "guest.clone")
        if not may_place_on(s, guest.node):
            return forbidden(f"you may not put guests on node {guest.node}", "guest.clone")
        return ok(new_tasks("clone", guest), audit=(("guest.clone", "ok"),))
    return expect


def template(guest: GuestSpec):
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, guest):
            return not_found("Guest")
        if not sees_guest(s, guest, "VM.Allocate"):
            return forbidden(f"you may not make {describe(guest)} a template", "guest.template")
        return ok(new_tasks("template", guest), audit=(("guest.template", "ok"),))
    return expect


def _snapshot_routes() -> dict[str, Route]:
    t, at = LOOSE.vmid, f"/api2/json/nodes/{LOOSE.node}/{LOOSE.api_kind}/{LOOSE.vmid}"
    on = f"/guests/{t}/snapshots/{SNAPSHOT}"
    guest_api = API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/"
    return {
        "guests/<vmid:vmid>/snapshots/take/": page(*[
            post(f"/guests/{g.vmid}/snapshots/take/", snapshot_task(g, "take", "snapshot", "guest.snapshot"),
                 snapname="mxnew", description="") for g in GUESTS]),
        "guests/<vmid:vmid>/snapshots/<str:snapname>/description/": page(
            post(f"{on}/description/", snapshot_description(api=False), description="mx-changed")),
        "guests/<vmid:vmid>/snapshots/<str:snapname>/<str:action>/": page(
            get(f"{on}/rollback/", snapshot_confirm(LOOSE, "roll back")),
            get(f"{on}/delete/", snapshot_confirm(LOOSE, "delete")),
            post(f"{on}/rollback/", snapshot_task(LOOSE, "roll back", "rollback", "guest.rollback"),
                 confirm=SNAPSHOT),
            post(f"{on}/delete/", snapshot_task(LOOSE, "delete", "delsnapshot", "guest.delsnapshot"),
                 confirm=SNAPSHOT)),
        guest_api + "snapshot": api(
            *[get(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}/snapshot", api_snapshots(g)) for g in GUESTS],
            *[post(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}/snapshot",
                   snapshot_task(g, "take", "snapshot", "guest.snapshot"), snapname="mxnew") for g in GUESTS]),
        guest_api + "snapshot/<str:snapname>": api(
            get(f"{at}/snapshot/{SNAPSHOT}", snapshot_confirm_api()),
            Case("delete", f"{at}/snapshot/{SNAPSHOT}",
                 snapshot_task(LOOSE, "delete", "delsnapshot", "guest.delsnapshot"))),
        guest_api + "snapshot/<str:snapname>/config": api(
            get(f"{at}/snapshot/{SNAPSHOT}/config", lambda s: ok(data_is(lambda ctx, data: same(
                "description", data["description"], "mx-snapshot-note"))) if sees_guest(s, LOOSE)
                else not_found("Guest")),
            Case("put", f"{at}/snapshot/{SNAPSHOT}/config", snapshot_description(api=True))),
        guest_api + "snapshot/<str:snapname>/rollback": api(
            post(f"{at}/snapshot/{SNAPSHOT}/rollback",
                 snapshot_task(LOOSE, "roll back", "rollback", "guest.rollback"))),
        guest_api + "clone": api(post(f"/api2/json/nodes/{TARGET.node}/{TARGET.api_kind}/{TARGET.vmid}/clone",
                                      clone(TARGET), newid=str(CLONE_ID), hostname="mxclone")),
        guest_api + "template": api(post(f"/api2/json/nodes/{LOOSE.node}/{LOOSE.api_kind}/{LOOSE.vmid}/template",
                                         template(LOOSE))),
    }


def snapshot_confirm_api():
    def expect(s: Subject) -> Outcome:
        if not sees_guest(s, LOOSE):
            return not_found("Guest")
        return ok(data_is(lambda ctx, data: same("links", data, [{"cmd": "rollback"}, {"cmd": "config"}])))
    return expect

# -- the rest of Proxmox's API: reads as their rules say, changes refused by their parameters (the rules of the
# changes themselves are the access pages' above, through the same services, and tests/api/'s) ----------------

def anyone(check: Check | None = None) -> Callable[[Subject], Outcome]:
    return lambda s: ok(check)


def bad_parameter(s: Subject) -> Outcome:
    return invalid("Parameter verification failed.")


def missing(reason: str) -> Callable[[Subject], Outcome]:
    return lambda s: Outcome(NOT_FOUND, reason=reason)


def on_visible_node(node: str, then: Callable[[Subject], Outcome]) -> Callable[[Subject], Outcome]:
    return lambda s: then(s) if on_node(s, "Sys.Audit", node) else not_found("Node")


def sees_storage(s: Subject) -> bool:
    return s.has("Datastore.Audit", "/storage/local") or s.has("Datastore.AllocateSpace", "/storage/local")


def cluster_tasks(s: Subject) -> Outcome:
    wanted = sorted(f"{{{t.label}}}" for t in visible_tasks(s))
    return ok(data_is(lambda ctx, data: same("tasks", sorted(t["upid"] for t in data),
                                             sorted(ctx.fmt(w) for w in wanted))))


def cluster_status(s: Subject) -> Outcome:
    if not s.has("Sys.Audit", "/"):
        return Outcome(FORBIDDEN, reason="Permission check failed (/, Sys.Audit)")
    return ok(data_is(lambda ctx, data: same("members", sorted(m["name"] for m in data),
                                             sorted(["panel", NODE_A, NODE_B]))))


def storages(s: Subject) -> Outcome:
    return ok(data_is(lambda ctx, data: same("storages", [d["storage"] for d in data],
                                             ["local"] if sees_storage(s) else [])))


def pools_listed(s: Subject) -> Outcome:
    held = {p for p in (POOL, POOL2) if s.has("Pool.Audit", f"/pool/{p}") or s.has("Pool.Allocate", f"/pool/{p}")}
    return ok(data_is(lambda ctx, data: same("pools", sorted(p["poolid"] for p in data), sorted(held))))


def case(method: str, url: str, expect, **data: object) -> Case:
    return Case(method, url, expect, data)


def schema_document(ctx: Context) -> list[str]:
    return same("paths", "/api2/json/cluster/resources" in json.loads(ctx.body)["paths"], True)


NFS = "storage 'nfs' does not exist"
NOBODY = "/api2/json/access/users/mxnobody@pam"
API_ROUTES: dict[str, Route] = {
    "api2/openapi.json": Route("public", (get("/api2/openapi.json", anyone(schema_document)),)),
    "api2/openapi.yaml": Route("public", (get("/api2/openapi.yaml", anyone(shows("openapi: 3"))),)),
    "api2/docs/": Route("public", (get("/api2/docs/", anyone(shows("swagger-ui", "/api2/openapi.json"))),)),
    "api2/redoc/": Route("public", (get("/api2/redoc/", anyone(shows("redoc", "/api2/openapi.json"))),)),
    API + "version": api(get("/api2/json/version", anyone(data_is(
        lambda ctx, data: same("release", data["release"], "9.1"))))),
    API + "access/ticket": Route("public", (
        get("/api2/json/access/ticket", anyone()),
        post("/api2/json/access/ticket", lambda s: Outcome(UNAUTHORIZED, reason="authentication failure",
                                                           audit=(("login", "failed"),)),
             username="mxnobody@pam", password="wrong"))),
    API + "access/domains": Route("public", (get("/api2/json/access/domains", anyone(data_is(
        lambda ctx, data: same("realms", [d["realm"] for d in data], ["pam", "pve"])))),)),
    API + "access/users": api(get("/api2/json/access/users", anyone()),
                              post("/api2/json/access/users", bad_parameter, userid="not a user id")),
    API + "access/users/<str:userid>": api(*[case(m, NOBODY, missing("no such user"))
                                             for m in ("get", "put", "delete")]),
    API + "access/users/<str:userid>/token": api(get(f"{NOBODY}/token", missing("no such user"))),
    API + "access/users/<str:userid>/token/<str:tokenid>": api(*[
        case(m, f"{NOBODY}/token/mxt", missing("no such user")) for m in ("get", "post", "put", "delete")]),
    API + "access/groups": api(get("/api2/json/access/groups", anyone()),
                               post("/api2/json/access/groups", bad_parameter, groupid="not a group!")),
    API + "access/groups/<str:groupid>": api(*[
        case(m, "/api2/json/access/groups/mxnogroup", missing("group 'mxnogroup' does not exist"))
        for m in ("get", "delete")]),
    API + "access/roles": api(get("/api2/json/access/roles", anyone()),
                              post("/api2/json/access/roles", bad_parameter, roleid="9role")),
    API + "access/roles/<str:roleid>": api(
        get("/api2/json/access/roles/PVEAuditor", anyone(data_is(
            lambda ctx, data: same("privileges", sorted(data), sorted(["Datastore.Audit", "Mapping.Audit",
                                                                      "Pool.Audit", "SDN.Audit", "Sys.Audit",
                                                                      "VM.Audit", "VM.GuestAgent.Audit"]))))),
        *[case(m, "/api2/json/access/roles/MxNoRole", missing("role 'MxNoRole' does not exist"))
          for m in ("put", "delete")]),
    API + "access/acl": api(get("/api2/json/access/acl", anyone()),
                            case("put", "/api2/json/access/acl", bad_parameter)),
    API + "access/permissions": api(get("/api2/json/access/permissions", anyone())),
    API + "pools": api(get("/api2/json/pools", pools_listed), post("/api2/json/pools", bad_parameter, poolid="../x"),
                       case("put", "/api2/json/pools", bad_parameter),
                       case("delete", "/api2/json/pools", bad_parameter)),
    API + "pools/<str:poolid>": api(*[case(m, "/api2/json/pools/mxnopool", missing("pool 'mxnopool' does not exist"))
                                      for m in ("get", "put", "delete")]),
    API + "cluster/status": api(get("/api2/json/cluster/status", cluster_status)),
    API + "cluster/nextid": api(get("/api2/json/cluster/nextid", anyone(data_is(
        lambda ctx, data: same("nextid", data, "100"))))),
    API + "cluster/tasks": api(get("/api2/json/cluster/tasks", cluster_tasks)),
    API + "storage": api(get("/api2/json/storage", storages)),
    API + "storage/<str:storage>": api(get("/api2/json/storage/nfs", missing(NFS))),
    API + "nodes/<str:node>": api(get(f"/api2/json/nodes/{A}", on_visible_node(A, anyone()))),
    API + "nodes/<str:node>/storage": api(get(f"/api2/json/nodes/{A}/storage", on_visible_node(A, storages))),
    **{API + f"nodes/<str:node>/storage/<str:storage>{tail}": api(get(f"/api2/json/nodes/{A}/storage/nfs{tail}",
                                                                      on_visible_node(A, missing(NFS))))
       for tail in ("", "/status", "/content")},
    API + "nodes/<str:node>/storage/<str:storage>/upload": api(post(f"/api2/json/nodes/{A}/storage/local/upload",
                                                                     on_visible_node(A, bad_parameter))),
}
ROUTES: dict[str, Route] = {
    "": page(get("/", datacenter)),
    "status": Route("public", (get("/status", lambda s: ok(shows("Nodes online", "2 of 2"))),)),
    "status.json": Route("public", (get("/status.json", lambda s: ok(data_is(lambda ctx, data: same(
        "status", (data["nodes"], data["guests"]["ct"]["total"], data["guests"]["vm"]["total"]),
        ({"online": 2, "total": 2}, 2, 1))))),)),
    "nodes/<str:name>/": page(get(f"/nodes/{A}/", node_page(A)), get(f"/nodes/{NODE_B}/", node_page(NODE_B))),
    "nodes/<str:name>/tab/<slug:tab>/": page(
        get(f"/nodes/{A}/tab/guests/", node_page(A, guests=True, tasks=False)),
        get(f"/nodes/{NODE_B}/tab/guests/", node_page(NODE_B, guests=True, tasks=False)),
        get(f"/nodes/{A}/tab/tasks/", node_page(A)),
        get(f"/nodes/{A}/tab/shell/", shell_tab(A))),
    "nodes/<str:name>/shell/": page(get(f"/nodes/{A}/shell/", shell_page(A)),
                                    get(f"/nodes/{NODE_B}/shell/", shell_page(NODE_B))),
    "nodes/<str:name>/migrateall/": page(get(f"/nodes/{A}/migrateall/", migrate_all_page),
                                         post(f"/nodes/{A}/migrateall/", migrate_all, target=NODE_B)),
    "nodes/<str:name>/<str:action>/": page(get(f"/nodes/{A}/startall/", bulk_page(A, "startall")),
                                           post(f"/nodes/{A}/startall/", bulk(A, "startall")),
                                           post(f"/nodes/{A}/stopall/", bulk(A, "stopall"))),
    "datacenter/tab/<slug:tab>/": page(get("/datacenter/tab/search/", lambda s: ok(shows(
                                           *visible_nodes(s), *[g.name for g in visible_guests(s)]))),
                                       get("/datacenter/tab/tasks/", lambda s: ok(lists(s, "tasks")))),
    "datacenter/<str:action>/": page(get("/datacenter/stopall/", datacenter_page),
                                     post("/datacenter/startall/", datacenter_bulk("startall"))),
    "guests/": page(get("/guests/", lambda s: ok(lists(s, "guests")))),
    "guests/bulk/": page(get(f"/guests/bulk/?action=start&vms={T}", selection(TARGET, "get")),
                         post("/guests/bulk/", selection(TARGET, "post"), action="start", vms=str(T))),
    "guests/create/<str:kind>/": page(
        get("/guests/create/ct/", create_form),
        post("/guests/create/ct/", create(POOL), node=A, template="busybox", name=NEW_GUEST, vcpus=1,
             memory_mib=64, pool=POOL),
        post("/guests/create/ct/", create(None), node=A, template="busybox", name=NEW_GUEST, vcpus=1,
             memory_mib=64),
        guard=create_guard),
    "guests/<vmid:vmid>/": page(*[get(f"/guests/{g.vmid}/", guest_page(g)) for g in GUESTS]),
    "guests/<vmid:vmid>/tab/<slug:tab>/": page(*[get(f"/guests/{g.vmid}/tab/tasks/", guest_page(g)) for g in GUESTS],
                                               *[get(f"/guests/{g.vmid}/tab/hardware/", config_tab(g)) for g in GUESTS],
                                               get(f"/guests/{T}/tab/options/", config_tab(TARGET)),
                                               *[get(f"/guests/{g.vmid}/tab/snapshots/", snapshots_tab(g))
                                                 for g in GUESTS],
                                               *[get(f"/guests/{g.vmid}/tab/console/", console_tab(g))
                                                 for g in GUESTS]),
    "guests/<vmid:vmid>/console/": page(*[get(f"/guests/{g.vmid}/console/", console_page(g)) for g in GUESTS]),
    "guests/<vmid:vmid>/vnc/": page(*[get(f"/guests/{g.vmid}/vnc/", display_page(g)) for g in GUESTS]),
    "guests/<vmid:vmid>/migrate/": page(post(f"/guests/{T}/migrate/", migrate(TARGET), target=NODE_B),
                                        post(f"/guests/{F}/migrate/", migrate(FAR), target=A)),
    "guests/<vmid:vmid>/pool/": page(post(f"/guests/{T}/pool/", move_to_pool(TARGET, POOL2), pool=POOL2),
                                     post(f"/guests/{T}/pool/", move_to_pool(TARGET, None), pool=""),
                                     post(f"/guests/{L}/pool/", move_to_pool(LOOSE, POOL), pool=POOL)),
    "guests/<vmid:vmid>/hardware/": page(
        post(f"/guests/{T}/hardware/", config_page_change(TARGET, "VM.Config.Memory", task=True, back="tab/hardware/"),
             memory=96, cores=1)),
    "guests/<vmid:vmid>/options/": page(
        post(f"/guests/{T}/options/", config_page_change(TARGET, "VM.Config.Options", notes_are("mx-options"),
                                                         back="tab/options/"),
             name=TARGET.name, onboot="on", description="mx-options")),
    "guests/<vmid:vmid>/notes/": page(
        post(f"/guests/{T}/notes/", config_page_change(TARGET, "VM.Config.Options", notes_are("mx-notes")),
             description="mx-notes")),
    "guests/<vmid:vmid>/<str:action>/": page(
        get(f"/guests/{T}/start/", guest_action(TARGET, "start", "get")),
        post(f"/guests/{T}/start/", guest_action(TARGET, "start")),
        post(f"/guests/{T}/delete/", guest_action(TARGET, "delete"), confirm=str(T)),
        post(f"/guests/{L}/start/", guest_action(LOOSE, "start")),
        post(f"/guests/{F}/start/", guest_action(FAR, "start"))),
    **_snapshot_routes(),
    "tasks/": page(get("/tasks/", lambda s: ok(lists(s, "tasks")))),
    "tasks/<str:upid>/": page(*[get(f"/tasks/{{{label}}}/", task_page(label)) for label in TASK]),
    "tasks/<str:upid>/cancel/": page(post("/tasks/{t_nodea}/cancel/", cancel("t_nodea")),
                                     post("/tasks/{t_nodeb}/cancel/", cancel("t_nodeb")),
                                     post("/tasks/{t_target}/cancel/", cancel("t_target"))),
    API + "nodes": api(get("/api2/json/nodes", lambda s: ok(data_is(
        lambda ctx, data: same("nodes", sorted(n["node"] for n in data), visible_nodes(s)))))),
    API + "cluster/resources": api(get("/api2/json/cluster/resources", lambda s: ok(data_is(
        lambda ctx, data: same("resources", {r["id"] for r in data}, api_resource_ids(s)))))),
    API + "nodes/<str:node>/status": api(get(f"/api2/json/nodes/{A}/status", api_node_status(A)),
                                         get(f"/api2/json/nodes/{NODE_B}/status", api_node_status(NODE_B))),
    API + "nodes/<str:node>/rrddata": api(*[get(f"/api2/json/nodes/{n}/rrddata", api_visible(
        lambda s, n=n: on_node(s, "Sys.Audit", n), "Node")) for n in (A, NODE_B)]),
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/rrddata": api(*[
        get(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}/rrddata",
            api_visible(lambda s, g=g: sees_guest(s, g), "Guest")) for g in GUESTS]),
    API + "nodes/<str:node>/tasks": api(get(f"/api2/json/nodes/{A}/tasks", api_task_list(A)),
                                        get(f"/api2/json/nodes/{NODE_B}/tasks", api_task_list(NODE_B))),
    API + "nodes/<str:node>/tasks/<str:upid>": api(
        get(f"/api2/json/nodes/{A}/tasks/{{t_nodea}}", api_visible(lambda s: sees_task(s, TASK["t_nodea"]), "Task")),
        Case("delete", f"/api2/json/nodes/{A}/tasks/{{t_nodea}}", cancel("t_nodea", api=True)),
        Case("delete", f"/api2/json/nodes/{A}/tasks/{{t_target}}", cancel("t_target", api=True))),
    API + "nodes/<str:node>/tasks/<str:upid>/status": api(*[
        get(f"/api2/json/nodes/{TASK[label].node}/tasks/{{{label}}}/status", api_task(label, "status"))
        for label in ("t_target", "t_far", "t_nodea")]),
    API + "nodes/<str:node>/tasks/<str:upid>/log": api(*[
        get(f"/api2/json/nodes/{TASK[label].node}/tasks/{{{label}}}/log", api_task(label, "log"))
        for label in ("t_loose", "t_nodeb")]),
    API + "nodes/<str:node>/<str:action>": api(post(f"/api2/json/nodes/{A}/startall", bulk(A, "startall")),
                                               post(f"/api2/json/nodes/{A}/stopall", bulk(A, "stopall")),
                                               post(f"/api2/json/nodes/{A}/stopall", bulk(A, "stopall", [L]),
                                                    vms=str(L))),
    API + "nodes/<str:node>/<guestkind:kind>": api(
        *[get(f"/api2/json/nodes/{n}/{k}", api_guest_list(n, k)) for n in (A, NODE_B) for k in ("lxc", "qemu")],
        post(f"/api2/json/nodes/{A}/lxc", api_create, hostname=NEW_GUEST, ostemplate="local:vztmpl/busybox",
             memory=64)),
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>": api(
        *[get(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}", api_visible(lambda s, g=g: sees_guest(s, g),
                                                                                "Guest")) for g in GUESTS],
        Case("delete", f"/api2/json/nodes/{A}/lxc/{T}", guest_action(TARGET, "delete"))),
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/config": api(
        *[get(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}/config",
              api_visible(lambda s, g=g: sees_guest(s, g), "Guest")) for g in GUESTS],
        Case("put", f"/api2/json/nodes/{A}/lxc/{T}/config", config_change(TARGET, "put"), {"description": "mx-notes"}),
        post(f"/api2/json/nodes/{A}/qemu/{L}/config", config_change(LOOSE, "post"), description="mx-notes")),
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/resize": api(
        Case("put", f"/api2/json/nodes/{A}/qemu/{L}/resize", api_resize(LOOSE), {"disk": "virtio0", "size": "+1G"})),
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/migrate": api(
        post(f"/api2/json/nodes/{A}/lxc/{T}/migrate", api_migrate(TARGET), target=NODE_B),
        post(f"/api2/json/nodes/{NODE_B}/lxc/{F}/migrate", api_migrate(FAR), target=A)),
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/pending": api(*[
        get(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}/pending",
            api_visible(lambda s, g=g: sees_guest(s, g), "Guest")) for g in GUESTS]),
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/status/<str:action>": api(*[
        post(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}/status/start", guest_action(g, "start"))
        for g in GUESTS], *[
        get(f"/api2/json/nodes/{g.node}/{g.api_kind}/{g.vmid}/status/current",
            api_visible(lambda s, g=g: sees_guest(s, g), "Guest", data_is(
                lambda ctx, data, g=g: same("status", (data["vmid"], data["status"]), (g.vmid, "stopped")))))
        for g in GUESTS]),
    **API_ROUTES,
    "login/": Route("public", (
        get("/login/", lambda s: ok(shows('name="username"'))),
        post("/login/", lambda s: ok(shows("Please enter a correct"), audit=(("login", "failed"),)),
             username="mxnobody", password="wrong"))),
    "logout/": Route("public", (post("/logout/", lambda s: ok(redirects("/login/"))),)),
    "access/": page(get("/access/", logged_in(shows("Permissions")))),
    **ACCESS,
    "access/audit/": page(get("/access/audit/", managed("audit", ok(shows("Audit log")))), guard=manage_guard("audit")),
    "access/tokens/": page(get("/access/tokens/", logged_in(shows("mxmine")))),
    "access/tokens/add/": page(get("/access/tokens/add/", logged_in(shows("<form"))),
                               post("/access/tokens/add/", lambda s: ok(token_made, audit=(("token.create", "ok"),)),
                                    tokenid="mxnewtok", privsep="on")),
    "access/tokens/<id:pk>/delete/": page(
        get("/access/tokens/{own_token}/delete/", logged_in(shows("<form"))),
        post("/access/tokens/{own_token}/delete/", lambda s: ok(redirects("/access/tokens/", own_token_deleted),
                                                                audit=(("token.delete", "ok"),))),
        post("/access/tokens/{other_token}/delete/", lambda s: Outcome(
            NOT_FOUND, reason="No api token found matching the query"))),
    "admin/": Route("admin", (get("/admin/", lambda s: ok(shows("Site administration"))),
                              get("/admin/auth/user/", lambda s: ok(shows("mxsuper"))))),
}
