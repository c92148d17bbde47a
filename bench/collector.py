"""(b) One collector poll of 200 guests on each engine: real running containers on the local Docker engine
and domains on libvirt's test driver served by libvirtd (``test+unix:///default``, so that every call is a
real round trip), read with the engines' bulk interfaces (what the panel's drivers do) against a collector
that makes per-guest calls. Then the panel's whole poll of a node holding both sets: time and SQL queries.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import harness
from .harness import NODE, ratio_line

COUNT = 200
PREFIX = f"{harness.PREFIX}c"
VMID_BASE = 700_000
TEST_URI = "test+unix:///default"  # the test driver in libvirtd: in-memory domains, real RPC
# Per-guest Docker stats without one_shot wait for a second sample (~2 s each): a per-guest collector has
# to run them side by side to finish a 10 s poll at all, so the baseline gets threads too.
BASELINE_THREADS = 8
REPEAT = 3


def run() -> list[str]:
    import docker
    import libvirt

    client = docker.from_env()
    conn = libvirt.open(TEST_URI)  # keeps the daemon's test state (and our domains) alive
    workdir = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    try:
        _cleanup(client, conn)
        made = _make_containers(client)
        _make_domains(workdir)
        lines = [f"(set-up: {COUNT} running containers started in {made:.1f} s, {COUNT} test-driver domains)"]
        lines += _docker(client)
        lines += _libvirt(conn, workdir)
        lines += _whole_poll(workdir)
        return lines
    finally:
        _cleanup(client, conn)
        conn.close()


# -- Docker --------------------------------------------------------------------------------------------


def _make_containers(client) -> float:  # noqa: ANN001
    image = client.images.list(filters={"label": "panel.template=busybox"})[0].id
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.containers.run(image, ["sleep", "3600"], name=f"{PREFIX}{i}",
                                                      detach=True, labels={"bench": "collector"}),
                      range(COUNT)))
    return time.monotonic() - started


def _docker(client) -> list[str]:  # noqa: ANN001
    from drivers.docker import DockerDriver

    def per_guest() -> int:
        ids = [c["Id"] for c in client.api.containers(filters={"label": "bench=collector"})]

        def read(container_id: str) -> dict:
            client.api.inspect_container(container_id)
            return client.api.stats(container_id, stream=False)  # waits for two samples

        with ThreadPoolExecutor(BASELINE_THREADS) as pool:
            return len(list(pool.map(read, ids)))

    driver = DockerDriver("unix:///var/run/docker.sock")
    try:
        baseline, n = _best(per_guest, repeat=1)
        bulk, infos = _best(driver.list_guests)
    finally:
        driver.close()
    ours = sum(1 for i in infos if i.name.startswith(PREFIX))
    assert n == ours == COUNT, (n, ours)
    return [
        ratio_line(f"(b) Docker, {COUNT} containers: inspect + stats per guest, {BASELINE_THREADS} threads "
                   "(baseline)", baseline, baseline),
        ratio_line(f"(b) Docker, {COUNT} containers: panel driver (one list, one-shot stats)", bulk, baseline),
    ]


# -- libvirt --------------------------------------------------------------------------------------------


def _make_domains(workdir: Path) -> None:
    from drivers.libvirt import LibvirtDriver
    from drivers.types import GuestSpec

    template = workdir / "templates" / "vm" / "bench"
    template.mkdir(parents=True)
    (template / "vmlinuz").write_bytes(b"kernel")
    (template / "initrd.img").write_bytes(b"initrd")
    (template / "template.json").write_text(json.dumps({
        "name": "bench", "kind": "vm", "kernel": "vmlinuz", "initrd": "initrd.img", "cmdline": "console=ttyS0",
        "min_memory_mib": 64,
    }))
    driver = LibvirtDriver(TEST_URI, str(workdir / "images"), str(workdir / "templates"))
    try:
        for i in range(COUNT):
            info = driver.create(GuestSpec(vmid=VMID_BASE + i, name=f"{PREFIX}{i}", template="bench", vcpus=1,
                                           memory_mib=128, disk_gib=1, accelerator="qemu"))
            driver.start(info.backend_id)
    finally:
        driver.close()


def _per_domain_read(conn) -> int:  # noqa: ANN001
    """What a collector without the bulk call does: per domain, its state and figures one call each."""
    import libvirt
    from lxml import etree

    from drivers.libvirt.config import PANEL_NS

    count = 0
    for domain in conn.listAllDomains(0):
        domain.info()
        with contextlib.suppress(libvirt.libvirtError):  # a domain without our metadata
            domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, PANEL_NS, 0)
        if domain.isActive():
            devices = etree.fromstring(domain.XMLDesc(0).encode()).find("devices")
            for target in devices.iterfind("disk/target"):
                domain.blockStats(target.get("dev"))
            for target in devices.iterfind("interface/target"):
                domain.interfaceStats(target.get("dev"))
            domain.memoryStats()
        count += 1
    return count


def _libvirt(conn, workdir: Path) -> list[str]:  # noqa: ANN001
    from drivers.libvirt import LibvirtDriver

    driver = LibvirtDriver(TEST_URI, str(workdir / "images"), str(workdir / "templates"))
    try:
        baseline, n = _best(lambda: _per_domain_read(conn))
        bulk, infos = _best(driver.list_guests)
    finally:
        driver.close()
    assert n == len(infos) >= COUNT, (n, len(infos))
    return [
        ratio_line(f"(b) libvirt, {n} domains: per-domain calls (baseline)", baseline, baseline),
        ratio_line(f"(b) libvirt, {n} domains: panel driver (getAllDomainStats)", bulk, baseline),
    ]


# -- the panel's whole poll ----------------------------------------------------------------------------


def _whole_poll(workdir: Path) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from guests.models import Guest
    from nodes.models import Node
    from nodes.poll import collect

    node, _ = Node.objects.update_or_create(name=NODE, defaults={
        "accelerator": "qemu", "libvirt_uri": TEST_URI, "docker_url": "unix:///var/run/docker.sock",
        "storage_dir": str(workdir / "images"), "template_dir": str(workdir / "templates"),
    })
    try:
        collect(node)  # discovers every guest: one insert each, once
        guests = Guest.objects.filter(node=node, name__startswith=PREFIX).count()
        best, queries = float("inf"), 0
        for _ in range(REPEAT):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                collect(node)
                best = min(best, time.perf_counter() - started)
            queries = len(captured)
    finally:
        _forget(node)
    return [f"(b) whole poll of node {NODE}, {guests} guests (inventory, history, heartbeat): "
            f"{best:.3f} s, {queries} queries"]


def _forget(node) -> None:  # noqa: ANN001
    from guests.models import Guest
    from metrics.models import Counters, Sample

    keys = [str(v) for v in Guest.objects.filter(node=node).values_list("vmid", flat=True)]
    Sample.objects.filter(kind="guest", key__in=keys).delete()
    Counters.objects.filter(kind="guest", key__in=keys).delete()
    Guest.objects.filter(node=node).delete()
    node.delete()


def _best(call, repeat: int = REPEAT) -> tuple[float, object]:  # noqa: ANN001
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def _cleanup(client, conn) -> None:  # noqa: ANN001
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: c.remove(force=True),
                      client.containers.list(all=True, filters={"label": "bench=collector"})))
    for domain in conn.listAllDomains(0):
        if domain.name().startswith(PREFIX):
            if domain.isActive():
                domain.destroy()
            domain.undefine()
