"""migrate-all of 10 stopped containers to node2 (its own dockerd, scripts/setup/second-node.sh): the panel's task
against a plain docker-py script doing the same steps at the same concurrency (PANEL_BULK_WORKERS): export the
container, import the stream on node2, create the container there from the imported image, read the copy's file
system back to check it, remove the source. Each run moves its own set of containers, made alike."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

from . import harness
from .harness import NODE, ratio_line, run_task, worker

COUNT = 10
CONCURRENCY = 8
PREFIX = f"{harness.PREFIX}m"
TARGET = "bench2"
TARGET_DOCKER_URL = "unix:///var/run/panel-node2/docker.sock"
CHUNK = 1 << 20


def run() -> list[str]:
    import docker

    from guests.models import Guest
    from nodes.models import Node
    from nodes.poll import poll_node
    from tasks.models import Task

    source, target = docker.from_env(), docker.DockerClient(base_url=TARGET_DOCKER_URL)
    _cleanup(source, target)
    image = source.images.list(filters={"label": "panel.template=busybox"})[0].id
    plain_set = [source.containers.create(image, name=f"{PREFIX}p{i}") for i in range(COUNT)]
    panel_set = [source.containers.create(image, name=f"{PREFIX}t{i}") for i in range(COUNT)]
    node, _ = Node.objects.update_or_create(name=NODE, defaults={"accelerator": "qemu"})
    Node.objects.update_or_create(name=TARGET, defaults={"docker_url": TARGET_DOCKER_URL, "accelerator": "qemu"})
    try:
        poll_node(NODE)
        names = [c.name for c in panel_set]
        vmids = list(Guest.objects.filter(node=node, name__in=names).values_list("vmid", flat=True))
        assert len(vmids) == COUNT, vmids

        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda c: _move(c, target), plain_set))
        plain = time.monotonic() - started

        with worker(PANEL_BULK_WORKERS=str(CONCURRENCY)):
            task, panel = run_task(node, "migrateall", {"target": TARGET, "vms": vmids})
        assert task.status == "ok", task.exit_message
        moved = {c.name for c in target.containers.list(all=True, filters={"name": PREFIX})}
        assert moved == {c.name for c in plain_set + panel_set}, moved  # every one arrived
        Task.objects.filter(node=node).delete()
        return [
            f"migrate-all of {COUNT} stopped containers to a second dockerd (concurrency {CONCURRENCY})",
            ratio_line("plain docker-py export, import, create, read back (baseline)", plain, plain),
            ratio_line("panel migrate-all task (submit to end, child tasks, logs)", panel, plain),
        ]
    finally:
        _cleanup(source, target)
        Guest.objects.filter(node__name__in=[NODE, TARGET]).delete()
        Node.objects.filter(name=TARGET).delete()


def _move(container, target) -> None:  # noqa: ANN001
    """The plain script's migration of one container: the data go through once, and are read back once."""
    digest = hashlib.sha256()

    def exported():  # noqa: ANN202
        for chunk in container.export(chunk_size=CHUNK):
            digest.update(chunk)
            yield chunk

    answer = target.api.import_image_from_stream(exported(), repository=f"bench-migrated/{container.name}",
                                                 tag="latest")
    assert "sha256:" in answer, answer
    copy = target.containers.create(f"bench-migrated/{container.name}:latest", name=container.name,
                                    command=container.attrs["Config"]["Cmd"])
    read_back = sum(len(chunk) for chunk in copy.export(chunk_size=CHUNK))
    assert read_back > 0
    container.remove(v=True)


def _cleanup(source, target) -> None:  # noqa: ANN001
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for client in (source, target):
            list(pool.map(lambda c: c.remove(force=True), client.containers.list(all=True, filters={"name": PREFIX})))
    for image in target.images.list():
        if any(tag.startswith(("bench-migrated/", f"panel-migrated/{PREFIX}")) for tag in image.tags):
            target.images.remove(image.id, force=True)
