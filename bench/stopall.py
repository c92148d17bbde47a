"""stop-all of 50 containers that ignore SIGTERM (``sleep`` as PID 1) with a 1 s grace, so that every guest takes
the forced path: the panel's task against a plain parallel docker-py ``stop(timeout=1)`` at the same
concurrency (PANEL_BULK_WORKERS). The pair is measured REPEAT times, alternately; the best of each is shown."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from . import harness
from .harness import NODE, ratio_line, run_task, worker

COUNT = 50
CONCURRENCY = 8
GRACE = 1
REPEAT = 2
PREFIX = f"{harness.PREFIX}x"


def run() -> list[str]:
    import docker

    from guests.models import Guest
    from nodes.models import Node
    from nodes.poll import poll_node
    from tasks.models import Task

    client = docker.from_env()
    _cleanup(client)
    image = client.images.list(filters={"label": "panel.template=busybox"})[0].id
    containers = [client.containers.create(image, ["sleep", "3600"], name=f"{PREFIX}{i}") for i in range(COUNT)]
    node, _ = Node.objects.update_or_create(name=NODE, defaults={"accelerator": "qemu"})

    def start_all() -> None:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda c: c.start(), containers))
        poll_node(NODE)

    try:
        poll_node(NODE)
        vmids = list(Guest.objects.filter(node=node, name__startswith=PREFIX).values_list("vmid", flat=True))
        assert len(vmids) == COUNT, vmids
        plain, steps, panel = [], [], []
        with worker(PANEL_BULK_WORKERS=str(CONCURRENCY)):
            for _ in range(REPEAT):
                start_all()
                started = time.monotonic()
                with ThreadPoolExecutor(CONCURRENCY) as pool:
                    list(pool.map(lambda c: c.stop(timeout=GRACE), containers))
                plain.append(time.monotonic() - started)

                start_all()
                started = time.monotonic()
                with ThreadPoolExecutor(CONCURRENCY) as pool:
                    list(pool.map(_signal_wait_kill, containers))
                steps.append(time.monotonic() - started)

                start_all()
                task, took = run_task(node, "stopall", {"vms": vmids, "timeout": GRACE, "force_stop": True})
                assert task.status == "ok", task.exit_message
                panel.append(took)
        assert not client.containers.list(filters={"name": PREFIX})  # every one stopped
        Task.objects.filter(node=node).delete()
        return [
            f"stop-all of {COUNT} containers ignoring SIGTERM, {GRACE} s grace (concurrency {CONCURRENCY}, "
            f"best of {REPEAT})",
            ratio_line(f"plain docker-py stop(timeout={GRACE}), {CONCURRENCY} threads (baseline)", min(plain),
                       min(plain)),
            ratio_line("plain docker-py SIGTERM, wait 1 s, SIGKILL, wait (the panel's steps)", min(steps),
                       min(plain)),
            ratio_line("panel stop-all task (submit to end, child tasks, logs)", min(panel), min(plain)),
            ratio_line("panel stop-all against the plain script of its steps", min(panel), min(steps)),
        ]
    finally:
        _cleanup(client)
        Guest.objects.filter(node=node).delete()


def _signal_wait_kill(container) -> None:  # noqa: ANN001
    import requests

    container.kill(signal="SIGTERM")
    try:
        container.wait(timeout=GRACE, condition="not-running")
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):  # it ignored the signal
        container.kill()
        container.wait(condition="not-running")


def _cleanup(client) -> None:  # noqa: ANN001
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda c: c.remove(force=True), client.containers.list(all=True, filters={"name": PREFIX})))
