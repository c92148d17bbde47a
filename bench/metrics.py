"""(a) /api2/json/cluster/resources and the datacenter page at 100 nodes with 10,000 seeded guests against
the same at 100 guests, with the SQL query count of each (it must not grow with the guests);
(c) ingesting one poll of 200 guests into the history, in bulk, against one write per guest."""

from __future__ import annotations

import time

from . import harness
from .harness import ratio_line

NODES = 100
PREFIX = f"{harness.PREFIX}m"
VMID_BASE = 500_000
REPEAT = 3


def _seed(guests: int) -> None:
    from django.utils import timezone

    from guests.models import Guest
    from nodes.models import Node

    _clean()
    nodes = Node.objects.bulk_create([
        Node(name=f"{PREFIX}{i:03d}", last_seen=timezone.now(), cpus=16, cpu_usage=0.2, memory_total=64 << 30,
             memory_used=16 << 30, disk_total=1 << 40, disk_used=1 << 38, uptime=86400)
        for i in range(NODES)
    ])
    Guest.objects.bulk_create([
        Guest(vmid=VMID_BASE + i, kind="vm" if i % 3 == 0 else "ct", node=nodes[i % NODES], name=f"{PREFIX}{i}",
              backend_id=f"{PREFIX}{i}", state="running" if i % 2 else "stopped", cpu_usage=0.1,
              memory_used=1 << 28, vcpus=2, memory_mib=1024, disk_bytes=8 << 30)
        for i in range(guests)
    ], batch_size=2000)


def _clean() -> None:
    from guests.models import Guest
    from metrics.models import Counters, Sample
    from nodes.models import Node

    Guest.objects.filter(name__startswith=PREFIX).delete()
    Node.objects.filter(name__startswith=PREFIX).delete()
    Sample.objects.filter(key__startswith=PREFIX).delete()
    Sample.objects.filter(kind="guest", key__gte=str(VMID_BASE), key__lt=str(VMID_BASE + 100_000)).delete()
    Counters.objects.filter(kind="guest", key__gte=str(VMID_BASE), key__lt=str(VMID_BASE + 100_000)).delete()


def _measure(client, url: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm: session, user
    best = float("inf")
    for _ in range(REPEAT):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(url)
            best = min(best, time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return best, len(queries)


def run() -> list[str]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-metrics", defaults={"is_superuser": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    lines = []
    try:
        results = {}
        for guests in (100, 10_000):
            _seed(guests)
            for name, url in (("cluster/resources", "/api2/json/cluster/resources"), ("datacenter page", "/")):
                results[(name, guests)] = _measure(client, url)
        for name in ("cluster/resources", "datacenter page"):
            small, large = results[(name, 100)], results[(name, 10_000)]
            lines.append(ratio_line(f"(a) {name}, {NODES} nodes, 100 guests (baseline)", small[0], small[0])
                         + f"   {small[1]} queries")
            lines.append(ratio_line(f"(a) {name}, {NODES} nodes, 10,000 guests", large[0], small[0])
                         + f"   {large[1]} queries")
        lines += _ingest()
    finally:
        _clean()
    return lines


def _ingest() -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from drivers.types import GuestInfo, GuestUsage, PowerState
    from guests.models import Guest
    from metrics.feed import record_poll
    from metrics.store import Reading, ingest
    from nodes.models import Node

    _seed(200)
    node = Node.objects.get(name=f"{PREFIX}000")
    guests = list(Guest.objects.filter(name__startswith=PREFIX))
    polls, bulk, per_guest, count = 5, float("inf"), float("inf"), 0
    for n in range(polls):
        pairs = [(g, GuestInfo(backend_id=g.backend_id, name=g.name, state=PowerState.RUNNING, vcpus=2,
                               memory_mib=1024, usage=GuestUsage(net_in=n * 1000, disk_write=n * 500)))
                 for g in guests]
        counters = {"netin": n, "netout": n, "diskread": n, "diskwrite": n}
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            record_poll(node, counters, pairs)
            bulk = min(bulk, time.perf_counter() - start)
        count = len(queries)
        start = time.perf_counter()
        for g in guests:  # the baseline: one history write per guest
            ingest([Reading("guest", str(g.vmid), time.time(), {"cpu": g.cpu_usage, "mem": g.memory_used})],
                   prune=False)
        per_guest = min(per_guest, time.perf_counter() - start)
    return [
        ratio_line("(c) history writes of one poll, 200 guests, one per guest (baseline)", per_guest, per_guest)
        + f"   {200} statements",
        ratio_line("(c) ingest of one poll of 200 guests, in bulk (record_poll)", bulk, per_guest)
        + f"   {count} queries",
    ]
