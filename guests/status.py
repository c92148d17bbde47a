"""A guest's status as Proxmox's ``.../status/current`` gives it: its state, figures and cumulative counters."""

from __future__ import annotations

from metrics.models import Counters
from nodes.choices import NodeStatus
from tasks.choices import ACTIVE_STATUSES
from tasks.models import Task

from .choices import GuestKind, GuestState
from .models import Guest

# The lock Proxmox shows while a task holds the guest's configuration.
LOCKS = {"create": "create", "migrate": "migrate", "delete": "destroyed"}
COUNTERS = ("netin", "netout", "diskread", "diskwrite")


def guest_statuses(guests: list[Guest]) -> list[dict[str, object]]:
    """The status of each of ``guests`` (their nodes selected with them), in two more queries in all."""
    vmids = [g.vmid for g in guests]
    counters = {int(row.pop("key")): row for row in Counters.objects.filter(
        kind="guest", key__in=[str(v) for v in vmids]).values("key", *COUNTERS)}
    busy = dict(Task.objects.filter(status__in=ACTIVE_STATUSES, type__in=LOCKS, guest__vmid__in=vmids)
                .values_list("guest__vmid", "type"))
    return [_status(g, counters.get(g.vmid), busy.get(g.vmid)) for g in guests]


def guest_status(guest: Guest) -> dict[str, object]:
    """``status`` is running or stopped (a paused VM runs, its ``qmpstatus`` says paused; unknown while its
    node is silent); figures are the last poll's, counters the bytes moved since the guest started."""
    return guest_statuses([guest])[0]


def _status(guest: Guest, counters: dict | None, busy: str | None) -> dict[str, object]:
    online = guest.node.status == NodeStatus.ONLINE
    state = guest.state if online else GuestState.UNKNOWN
    up = state in (GuestState.RUNNING, GuestState.PAUSED)
    status = "running" if up else "unknown" if state == GuestState.UNKNOWN else "stopped"
    counters = counters if up else None
    result: dict[str, object] = {
        "vmid": guest.vmid, "name": guest.name, "status": status,
        "uptime": guest.uptime if up else 0,
        "cpu": guest.cpu_usage if state == GuestState.RUNNING else 0,
        "cpus": guest.vcpus or guest.node.cpus,
        "mem": guest.memory_used if up else 0,
        "maxmem": guest.memory_bytes or guest.node.memory_total,
        "disk": guest.disk_used or 0, "maxdisk": guest.disk_bytes,
        **(counters or dict.fromkeys(COUNTERS, 0)),
        "ha": {"managed": 0},
    }
    if guest.kind == GuestKind.VM:
        result["qmpstatus"] = state if up else "stopped"
    else:
        result |= {"type": "lxc", "swap": 0, "maxswap": 0}
    if guest.tags:
        result["tags"] = guest.tags
    result["template"] = int(guest.is_template)
    if state == GuestState.CREATING or busy:
        result["lock"] = LOCKS[busy] if busy else "create"
    return result
