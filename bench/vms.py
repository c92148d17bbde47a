"""start-all and stop-all of 4 tiny-linux VMs (QEMU under TCG, real boots, shut down with the ACPI power button):
the panel's tasks against a plain libvirt-python script with the same concurrency (``create()``; ``shutdown()``
then a look at the state every 0.1 s until it is off). Each stop waits until every guest has booted (its
console says so), outside the measured time. Pairs measured REPEAT times, alternately; the best of each."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import harness
from .harness import NODE, ratio_line, run_task, worker

COUNT = 4
CONCURRENCY = 4
REPEAT = 2
PREFIX = f"{harness.PREFIX}v"
VMID_BASE = 990_100
STORAGE = Path("/var/lib/panel/bench-images")
READY = b"panel-guest: ready"
SHUTDOWN_TIMEOUT = 60


def run() -> list[str]:
    import libvirt

    from drivers.libvirt.vm_files import console_log_path
    from drivers.registry import shared_driver
    from drivers.types import GuestSpec
    from guests.models import Guest
    from nodes.models import Node
    from nodes.poll import poll_node
    from tasks.models import Task

    STORAGE.mkdir(parents=True, exist_ok=True)
    STORAGE.chmod(0o755)  # QEMU runs as libvirt-qemu
    node, _ = Node.objects.update_or_create(name=NODE, defaults={"accelerator": "qemu", "storage_dir": str(STORAGE),
                                                                 "vm_bridge": ""})
    driver = shared_driver(node.endpoints, "vm")
    conn = libvirt.open(node.libvirt_uri)
    _cleanup(conn)
    vmids = [VMID_BASE + i for i in range(COUNT)]
    for vmid in vmids:
        driver.create(GuestSpec(vmid=vmid, name=f"{PREFIX}{vmid}", template="tiny-linux", vcpus=1, memory_mib=128,
                                disk_gib=1, accelerator="qemu"))
    domains = [conn.lookupByName(f"{PREFIX}{vmid}") for vmid in vmids]
    consoles = [Path(console_log_path(str(STORAGE), vmid)) for vmid in vmids]

    def forget_boots() -> None:
        """Before a start: each boot writes a new console log (libvirt truncates it), looked for by wait_booted."""
        for console in consoles:
            console.unlink(missing_ok=True)

    def wait_booted() -> None:
        deadline = time.monotonic() + 120
        while not all(c.exists() and READY in c.read_bytes() for c in consoles):
            if time.monotonic() > deadline:
                raise RuntimeError("the VMs did not boot within 120 s")
            time.sleep(0.2)

    def plain_stop(domain) -> None:  # noqa: ANN001
        domain.shutdown()
        while domain.state()[0] != libvirt.VIR_DOMAIN_SHUTOFF:
            time.sleep(0.1)

    try:
        poll_node(NODE)
        assert Guest.objects.filter(node=node, vmid__in=vmids).count() == COUNT
        times: dict[str, list[float]] = {"plain start": [], "plain stop": [], "panel start": [], "panel stop": []}
        with worker(PANEL_BULK_WORKERS=str(CONCURRENCY)), ThreadPoolExecutor(CONCURRENCY) as pool:
            for _ in range(REPEAT):
                forget_boots()
                started = time.monotonic()
                list(pool.map(lambda d: d.create(), domains))
                times["plain start"].append(time.monotonic() - started)
                wait_booted()
                started = time.monotonic()
                list(pool.map(plain_stop, domains))
                times["plain stop"].append(time.monotonic() - started)

                poll_node(NODE)
                forget_boots()
                task, took = run_task(node, "startall", {"vms": vmids})
                assert task.status == "ok", task.exit_message
                times["panel start"].append(took)
                wait_booted()
                poll_node(NODE)
                task, took = run_task(node, "stopall", {"vms": vmids, "timeout": SHUTDOWN_TIMEOUT,
                                                        "force_stop": False})
                assert task.status == "ok", task.exit_message
                times["panel stop"].append(took)
                poll_node(NODE)
        assert not any(d.isActive() for d in domains)
        Task.objects.filter(node=node).delete()
        best = {name: min(values) for name, values in times.items()}
        return [
            f"start-all and stop-all of {COUNT} tiny-linux VMs (TCG, concurrency {CONCURRENCY}, best of {REPEAT})",
            ratio_line("plain libvirt-python create() (baseline)", best["plain start"], best["plain start"]),
            ratio_line("panel start-all task", best["panel start"], best["plain start"]),
            ratio_line("plain libvirt-python shutdown(), state every 0.1 s (baseline)", best["plain stop"],
                       best["plain stop"]),
            ratio_line("panel stop-all task", best["panel stop"], best["plain stop"]),
        ]
    finally:
        _cleanup(conn)
        Guest.objects.filter(node=node).delete()
        conn.close()


def _cleanup(conn) -> None:  # noqa: ANN001
    import libvirt

    for domain in conn.listAllDomains():
        if domain.name().startswith(PREFIX):
            if domain.isActive():
                domain.destroy()
            domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    for path in STORAGE.glob("*"):
        if path.is_file():
            path.unlink()
