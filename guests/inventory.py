"""Keep Guest rows in step with what the engines report (node side)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cluster.events import publish_guest_changed
from drivers.types import GuestInfo, PowerState, TemplateInfo
from nodes.models import Node
from tasks.choices import ACTIVE_STATUSES
from tasks.models import Task

from .choices import VMID_MIN, GuestState
from .models import Guest, GuestTemplate
from .purge import purge

USAGE_FIELDS = ["state", "name", "vcpus", "memory_mib", "disk_bytes", "cpu_usage", "cpu_time_ns",
                "memory_used", "disk_used", "running_since", "usage_at"]


def next_vmid() -> int:
    """The lowest free VMID, as Proxmox's /cluster/nextid gives."""
    used = Guest.objects.filter(vmid__gte=VMID_MIN).order_by("vmid").values_list("vmid", flat=True)
    candidate = VMID_MIN
    for vmid in used.iterator():
        if vmid != candidate:
            break
        candidate += 1
    return candidate


def apply_info(guest: Guest, info: GuestInfo, now: datetime, host_cpus: int) -> None:
    """Copy an engine reading onto the row; CPU usage is the rate between two readings."""
    usage = info.usage
    cpus = info.vcpus or host_cpus or 1
    if guest.usage_at and info.state == GuestState.RUNNING and usage.cpu_time_ns >= guest.cpu_time_ns > 0:
        elapsed_ns = (now - guest.usage_at).total_seconds() * 1e9
        guest.cpu_usage = min((usage.cpu_time_ns - guest.cpu_time_ns) / elapsed_ns / cpus, 1.0) if elapsed_ns else 0
    else:
        guest.cpu_usage = 0.0
    was_up = guest.state in (GuestState.RUNNING, GuestState.PAUSED)
    guest.state = info.state.value
    guest.name = info.name
    guest.vcpus = info.vcpus
    guest.memory_mib = info.memory_mib
    guest.disk_bytes = info.disk_bytes or guest.disk_bytes
    guest.cpu_time_ns = usage.cpu_time_ns
    guest.memory_used = usage.memory_used
    guest.disk_used = usage.disk_used
    if info.state in (PowerState.RUNNING, PowerState.PAUSED):
        if usage.uptime:
            guest.running_since = now - timedelta(seconds=usage.uptime)
        elif guest.running_since is None or not was_up:
            guest.running_since = now
    else:
        guest.running_since = None
    guest.usage_at = now


def sync_templates(node: Node, kind: str, templates: list[TemplateInfo]) -> None:
    """Make the node's template rows what the engine offers, writing only what changed (usually nothing)."""
    known = {t.name: t for t in GuestTemplate.objects.filter(node=node, kind=kind)}
    # One row per name: an image committed from a guest keeps its template's labels, and would be a second one.
    templates = list({t.name: t for t in reversed(templates)}.values())[::-1]
    offered = {t.name for t in templates}
    gone = [row.pk for name, row in known.items() if name not in offered]
    if gone:
        GuestTemplate.objects.filter(pk__in=gone).delete()
    new = []
    for template in templates:
        values = {"description": template.description, "min_memory_mib": template.min_memory_mib}
        row = known.get(template.name)
        if row is None:
            new.append(GuestTemplate(node=node, kind=kind, name=template.name, **values))
        elif any(getattr(row, field) != value for field, value in values.items()):
            GuestTemplate.objects.filter(pk=row.pk).update(**values)
    # Two polls of a node may overlap (a worker restarting while the old one finishes its tasks): the one that
    # inserts a template second finds it there, which is what it wanted.
    GuestTemplate.objects.bulk_create(new, ignore_conflicts=True)


# What a poll read of one engine's rows before listing the engine: pk -> (backend id, revision).
Snapshot = dict[int, tuple[str, int]]


def snapshot(node: Node, kind: str) -> Snapshot:
    """The rows of ``node``'s guests of ``kind`` as they are before the engine is listed (see sync_guests)."""
    rows = Guest.objects.filter(node=node, kind=kind).values_list("pk", "backend_id", "revision")
    return {pk: (backend_id, revision) for pk, backend_id, revision in rows}


def sync_guests(node: Node, kind: str, before: Snapshot, infos: list[GuestInfo]) -> dict[str, Guest]:
    """Reconcile one engine's listing with the rows of ``node``: update, discover, forget.

    ``before`` was read before the listing. A row that a task changed since (a creation, a migration, a state
    read back after an action) or made since is newer than the listing: this poll neither writes nor removes it.
    A guest is known by its engine id; a guest the panel made carries its VMID on the engine (Docker label,
    libvirt metadata), so one seen again keeps it, and a copy of another guest never takes that guest's VMID.
    Call inside a transaction. Returns the rows of the guests the engine reported, by backend id."""
    now = timezone.now()
    # Locked until the poll commits: a task's write of its newer reading waits, then replaces the poll's.
    current = Guest.objects.select_for_update().filter(node=node, kind=kind)
    unchanged = {}
    # The engine ids rows had at the snapshot or have now. A listed guest among them whose row is not unchanged
    # was changed, made, moved away or deleted by a task since the listing: what the listing says is older.
    known = {backend_id for backend_id, _ in before.values()}
    for guest in current:
        if before.get(guest.pk) == (guest.backend_id, guest.revision):
            unchanged[guest.backend_id] = guest
        known.add(guest.backend_id)
    unchanged.pop("", None)  # placeholders of guests being created have nothing to update
    held = _vmids_held([info.vmid for info in infos if info.vmid is not None and info.backend_id not in unchanged])
    changed, reported, discovered = [], {}, []
    for info in infos:
        guest = unchanged.pop(info.backend_id, None)
        if guest is not None:
            apply_info(guest, info, now, node.cpus)
            guest.revision = F("revision") + 1  # a poll still holding an older snapshot leaves it alone too
            changed.append(guest)
            reported[info.backend_id] = guest
        elif info.backend_id in known:
            continue  # a task wrote or removed this row after the listing: it knows better
        elif info.vmid in held:
            if held[info.vmid]:
                continue  # its guest is being created or migrated: the task puts the row in place
            discovered.append((info, None))  # a copy of another guest: a guest of its own, with a VMID of its own
        else:
            discovered.append((info, info.vmid))
    Guest.objects.bulk_update(changed, [*USAGE_FIELDS, "revision"])
    # Unchanged since the snapshot, missing from the listing, no task at work on it: deleted outside the panel.
    gone = [g.pk for g in unchanged.values()]
    busy = Task.objects.filter(status__in=ACTIVE_STATUSES, guest_id__in=gone).values("guest_id")
    for forgotten in Guest.objects.filter(pk__in=gone).exclude(pk__in=busy):
        purge(forgotten)  # its ACL entries and history go too: its VMID may be given to a new guest
    for info, vmid in discovered:
        guest = _discover(node, kind, info, vmid, now)
        if guest is not None:
            reported[info.backend_id] = guest
    return reported


def _vmids_held(vmids: list[int]) -> dict[int, bool]:
    """Which of ``vmids`` a row holds; True where a task is about to move that row (creation, migration)."""
    if not vmids:
        return {}
    rows = Guest.objects.filter(vmid__in=vmids).values_list("vmid", "backend_id")
    # A migration moves the row to another engine id; so does a container's rollback (it is made again).
    moving = set(Task.objects.filter(type__in=("migrate", "rollback"), status__in=ACTIVE_STATUSES, vmid__in=vmids)
                 .values_list("vmid", flat=True))
    return {vmid: backend_id == "" or vmid in moving for vmid, backend_id in rows}


def _discover(node: Node, kind: str, info: GuestInfo, vmid: int | None, now: datetime) -> Guest | None:
    """A guest the panel did not know: ``vmid`` (the one it carries) when free, else the next free one.

    None when another poll saved it first."""
    for attempt in range(5):
        guest = Guest(vmid=vmid if attempt == 0 and vmid else next_vmid(), kind=kind, node=node,
                      backend_id=info.backend_id, template=info.template)
        apply_info(guest, info, now, node.cpus)
        try:
            with transaction.atomic():
                guest.save()
            return guest
        except IntegrityError:
            if Guest.objects.filter(node=node, kind=kind, backend_id=info.backend_id).exists():
                return None  # another poll got there first
    raise RuntimeError(f"could not allocate a VMID for {info.name}")


STATE_FIELDS = ["state", "name", "vcpus", "memory_mib", "disk_bytes", "running_since"]


def refresh_guest(guest: Guest, info: GuestInfo, host_cpus: int, usage: bool = True,
                  also: tuple[str, ...] = ()) -> None:
    """Save an engine reading made outside a poll (``also``: more fields the caller set), as newer than any poll
    under way; ``usage=False`` keeps the usage figures of the last poll."""
    kept = {f: getattr(guest, f) for f in USAGE_FIELDS if f not in STATE_FIELDS}
    apply_info(guest, info, timezone.now(), host_cpus)
    if not usage and info.state in (PowerState.RUNNING, PowerState.PAUSED):
        for field, value in kept.items():
            setattr(guest, field, value)
    values = {field: getattr(guest, field) for field in (*USAGE_FIELDS, *also)}
    Guest.objects.filter(pk=guest.pk).update(**values, revision=F("revision") + 1)
    publish_guest_changed(guest.node.name, guest.vmid)
