"""Pick the driver for a node and a guest kind."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .base import GuestDriver
from .types import GuestKind


@dataclass(frozen=True)
class NodeEndpoints:
    """How a node's engines are reached; built from the Node row by the panel."""

    libvirt_uri: str
    docker_url: str
    storage_dir: str
    template_dir: str
    vm_bridge: str = ""  # the bridge VMs' NICs join; empty for user networking (no traffic counters)
    name_prefix: str = ""  # only guests whose names start with it are the panel's (engines shared by panels)


def driver_for(endpoints: NodeEndpoints, kind: GuestKind | str) -> GuestDriver:
    kind = GuestKind(kind)
    if kind is GuestKind.VM:
        from .libvirt import LibvirtDriver

        return LibvirtDriver(endpoints.libvirt_uri, endpoints.storage_dir, endpoints.template_dir,
                             bridge=endpoints.vm_bridge, name_prefix=endpoints.name_prefix)
    from .docker import DockerDriver

    return DockerDriver(endpoints.docker_url, name_prefix=endpoints.name_prefix)


_shared: dict[tuple[int, NodeEndpoints, GuestKind], GuestDriver] = {}
_shared_lock = threading.Lock()


def shared_driver(endpoints: NodeEndpoints, kind: GuestKind | str) -> GuestDriver:
    """This process's driver of an engine, opened once and used by all its threads: drivers keep no state but
    their engine connection, which they share between threads and open again when it broke. A task then pays
    for no client, connection or version handshake of its own. Never close it."""
    key = (os.getpid(), endpoints, GuestKind(kind))  # a forked child opens its own
    with _shared_lock:
        if key not in _shared:
            _shared[key] = driver_for(endpoints, kind)
        return _shared[key]
