"""The real guests the console tests open consoles on, with their rows: made on the local node's engines
directly (no worker needed), removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.utils import timezone

from drivers.registry import shared_driver
from drivers.types import GuestSpec, PowerState
from tests.factories import GuestFactory, NodeFactory
from tests.support import CT_TEMPLATE, PREFIX, VM_TEMPLATE


def online_node():
    """The local node as its worker's poll leaves it: online, both engines answering."""
    return NodeFactory(last_seen=timezone.now(), engines={"docker": {"ok": True}, "libvirt": {"ok": True}})


@contextmanager
def running_container(docker_client, name: str) -> Iterator[tuple]:
    """A running container of the busybox template, and its guest row."""
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0]
    container = docker_client.containers.run(image.id, name=f"{PREFIX}{name}", detach=True, mem_limit="32m")
    try:
        yield GuestFactory(node=online_node(), kind="ct", name=container.name, backend_id=container.id,
                           state="running"), container
    finally:
        container.remove(force=True)


@contextmanager
def defined_vm(name: str, vmid: int) -> Iterator[tuple]:
    """A tiny-linux VM, defined and stopped, its guest row (as if running: start it) and the node's driver."""
    node = online_node()
    driver = shared_driver(node.endpoints, "vm")
    info = driver.create(GuestSpec(vmid=vmid, name=f"{PREFIX}{name}", template=VM_TEMPLATE, vcpus=1,
                                   memory_mib=128, disk_gib=1, accelerator=settings.PANEL_ACCELERATOR))
    try:
        yield GuestFactory(node=node, kind="vm", vmid=vmid, name=info.name, backend_id=info.backend_id,
                           state="running"), driver
    finally:
        if driver.power_state(info.backend_id) is not PowerState.STOPPED:
            driver.stop(info.backend_id)
        driver.delete(info.backend_id)
