"""Keep Guest rows in step with what the engines report (node side)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

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
    offered = {t.name for t in templates}
    gone = [row.pk for name, row in known.items() if name not in offered]
    if gone:
        GuestTemplate.objects.filter(pk__in=gone).delete()
    for template in templates:
        values = {"description": template.description, "min_memory_mib": template.min_memory_mib}
        row = known.get(template.name)
        if row is None:
            GuestTemplate.objects.create(node=node, kind=kind, name=template.name, **values)
        elif any(getattr(row, field) != value for field, value in values.items()):
            GuestTemplate.objects.filter(pk=row.pk).update(**values)


def sync_guests(node: Node, kind: str, infos: list[GuestInfo]) -> dict[str, Guest]:
    """Reconcile one engine's full inventory with the rows of ``node``: update, discover, forget.

    Returns the rows of the guests the engine reported, by backend id."""
    now = timezone.now()
    rows = {g.backend_id: g for g in Guest.objects.filter(node=node, kind=kind).exclude(backend_id="")}
    being_created = set(
        Guest.objects.filter(node=node, kind=kind, backend_id="").values_list("vmid", flat=True)
    )
    # A guest arriving by migration shows up on the target before its row moves there: not a new guest.
    being_created |= set(
        Task.objects.filter(type="migrate", status__in=ACTIVE_STATUSES).values_list("vmid", flat=True)
    )
    changed, reported = [], {}
    for info in infos:
        guest = rows.pop(info.backend_id, None)
        if guest is not None:
            apply_info(guest, info, now, node.cpus)
            changed.append(guest)
        elif info.vmid not in being_created or info.vmid is None:
            guest = _discover(node, kind, info, now)
        if guest is not None:
            reported[info.backend_id] = guest
    Guest.objects.bulk_update(changed, USAGE_FIELDS)
    # Gone from the engine and not being worked on by a task: deleted outside the panel.
    busy = Task.objects.filter(status__in=ACTIVE_STATUSES, guest__in=rows.values())
    for gone in Guest.objects.filter(pk__in=[g.pk for g in rows.values()]).exclude(pk__in=busy.values("guest_id")):
        purge(gone)
    return reported


def _discover(node: Node, kind: str, info: GuestInfo, now: datetime) -> Guest | None:
    """A guest the panel did not know: keep the VMID it carries when free, else give it one.

    None when another poll saved it first."""
    for attempt in range(5):
        vmid = info.vmid if attempt == 0 and info.vmid else next_vmid()
        guest = Guest(vmid=vmid, kind=kind, node=node, backend_id=info.backend_id, template=info.template)
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


def refresh_guest(guest: Guest, info: GuestInfo, host_cpus: int, usage: bool = True) -> None:
    """Save an engine reading; ``usage=False`` keeps the usage figures of the last poll."""
    if usage:
        apply_info(guest, info, timezone.now(), host_cpus)
        guest.save(update_fields=USAGE_FIELDS)
        return
    kept = {f: getattr(guest, f) for f in USAGE_FIELDS if f not in STATE_FIELDS}
    apply_info(guest, info, timezone.now(), host_cpus)
    if info.state in (PowerState.RUNNING, PowerState.PAUSED):
        for field, value in kept.items():
            setattr(guest, field, value)
    guest.save(update_fields=USAGE_FIELDS)
