"""Pick the driver for a node and a guest kind."""

from __future__ import annotations

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
