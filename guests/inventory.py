"""Keep Guest rows in step with what the engines report (node side)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from drivers.types import GuestInfo, PowerState
from nodes.models import Node
from tasks.choices import ACTIVE_STATUSES
from tasks.models import Task

from .choices import VMID_MIN, GuestState
from .models import Guest

USAGE_FIELDS = ["state", "name", "vcpus", "memory_mib", "disk_bytes", "cpu_usage", "cpu_time_ns",
                "memory_used", "disk_used", "uptime", "running_since", "usage_at"]


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
    guest.uptime = int((now - guest.running_since).total_seconds()) if guest.running_since else 0
    guest.usage_at = now


def sync_guests(node: Node, kind: str, infos: list[GuestInfo]) -> None:
    """Reconcile one engine's full inventory with the rows of ``node``: update, discover, forget."""
    now = timezone.now()
    rows = {g.backend_id: g for g in Guest.objects.filter(node=node, kind=kind).exclude(backend_id="")}
    being_created = set(
        Guest.objects.filter(node=node, kind=kind, backend_id="").values_list("vmid", flat=True)
    )
    # A guest arriving by migration shows up on the target before its row moves there: not a new guest.
    being_created |= set(
        Task.objects.filter(type="migrate", status__in=ACTIVE_STATUSES).values_list("vmid", flat=True)
    )
    changed = []
    for info in infos:
        guest = rows.pop(info.backend_id, None)
        if guest is not None:
            apply_info(guest, info, now, node.cpus)
            changed.append(guest)
        elif info.vmid not in being_created or info.vmid is None:
            _discover(node, kind, info, now)
    Guest.objects.bulk_update(changed, USAGE_FIELDS)
    # Gone from the engine and not being worked on by a task: deleted outside the panel.
    busy = Task.objects.filter(status__in=ACTIVE_STATUSES, guest__in=rows.values())
    Guest.objects.filter(pk__in=[g.pk for g in rows.values()]).exclude(
        pk__in=busy.values("guest_id")
    ).delete()


def _discover(node: Node, kind: str, info: GuestInfo, now: datetime) -> None:
    """A guest the panel did not know: keep the VMID it carries when free, else give it one."""
    for attempt in range(5):
        vmid = info.vmid if attempt == 0 and info.vmid else next_vmid()
        guest = Guest(vmid=vmid, kind=kind, node=node, backend_id=info.backend_id, template=info.template)
        apply_info(guest, info, now, node.cpus)
        try:
            with transaction.atomic():
                guest.save()
            return
        except IntegrityError:
            if Guest.objects.filter(node=node, kind=kind, backend_id=info.backend_id).exists():
                return  # another poll got there first
    raise RuntimeError(f"could not allocate a VMID for {info.name}")


STATE_FIELDS = ["state", "name", "vcpus", "memory_mib", "disk_bytes", "running_since", "uptime"]


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
