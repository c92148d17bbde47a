"""start-all of 50 containers: the panel's task against a sequential `docker start` loop and a plain
parallel docker-py script with the same concurrency (PANEL_BULK_WORKERS)."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from . import harness
from .harness import NODE, ratio_line, worker

COUNT = 50
CONCURRENCY = 8
PREFIX = f"{harness.PREFIX}s"


def run() -> list[str]:
    import docker

    from guests.models import Guest
    from nodes.models import Node
    from nodes.poll import poll_node
    from tasks.choices import ACTIVE_STATUSES
    from tasks.models import Task
    from tasks.services import submit

    client = docker.from_env()
    _cleanup(client)
    image = client.images.list(filters={"label": "panel.template=busybox"})[0].id
    containers = [client.containers.create(image, name=f"{PREFIX}{i}") for i in range(COUNT)]
    node, _ = Node.objects.update_or_create(name=NODE, defaults={"accelerator": "qemu"})
    try:
        poll_node(NODE)
        vmids = list(Guest.objects.filter(node=node, name__startswith=PREFIX).values_list("vmid", flat=True))
        assert len(vmids) == COUNT, vmids

        def stop_all() -> None:
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(lambda c: c.kill(), containers))
            poll_node(NODE)

        started = time.monotonic()
        for container in containers:
            subprocess.run(["docker", "start", container.name], check=True, capture_output=True)
        sequential = time.monotonic() - started
        stop_all()

        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda c: c.start(), containers))
        parallel = time.monotonic() - started
        stop_all()

        with worker(PANEL_BULK_WORKERS=str(CONCURRENCY)):
            started = time.monotonic()
            task = submit(node, "startall", None, params={"vms": vmids})
            while True:
                task.refresh_from_db()
                if task.status not in ACTIVE_STATUSES:
                    break
                time.sleep(0.05)
            panel = time.monotonic() - started
        assert task.status == "ok", task.exit_message
        assert all(c.status == "running" for c in client.containers.list(filters={"name": PREFIX}))
        Task.objects.filter(node=node).delete()
        return [
            f"start-all of {COUNT} containers (concurrency {CONCURRENCY})",
            ratio_line("sequential `docker start` loop (baseline)", sequential, sequential),
            ratio_line(f"plain docker-py, {CONCURRENCY} threads", parallel, sequential),
            ratio_line("panel start-all task (submit to end, child tasks, logs)", panel, sequential),
            ratio_line("panel start-all against plain docker-py", panel, parallel),
        ]
    finally:
        _cleanup(client)
        Guest.objects.filter(node=node).delete()


def _cleanup(client) -> None:  # noqa: ANN001
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda c: c.remove(force=True), client.containers.list(all=True, filters={"name": PREFIX})))
