"""What a node's poll writes to the history: its own figures and those of every guest, in bulk."""

from __future__ import annotations

import time

from drivers.types import GuestInfo, PowerState

from .store import Reading, ingest, rates


def guest_counters(info: GuestInfo) -> dict[str, int]:
    usage = info.usage
    return {"netin": usage.net_in, "netout": usage.net_out,
            "diskread": usage.disk_read, "diskwrite": usage.disk_write}


def record_poll(node, host_counters: dict[str, int], guests: list) -> None:
    """``guests``: (Guest row, GuestInfo) pairs of the running guests just read. A handful of queries:
    the previous counters, their upsert, the history upsert and the pruning."""
    now = time.time()
    node_rates = rates("node", {node.name: host_counters}, now)[node.name]
    readings = [Reading("node", node.name, now, {"cpu": node.cpu_usage, "mem": node.memory_used, **node_rates})]
    running = [(g, i) for g, i in guests if i.state in (PowerState.RUNNING, PowerState.PAUSED)]
    guest_rates = rates("guest", {str(g.vmid): guest_counters(i) for g, i in running}, now) if running else {}
    for guest, _ in running:
        readings.append(Reading("guest", str(guest.vmid), now, {
            "cpu": guest.cpu_usage, "mem": guest.memory_used, **guest_rates[str(guest.vmid)],
        }))
    ingest(readings, now=now)
