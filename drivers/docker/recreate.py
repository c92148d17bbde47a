"""Creating a container like another one, from its inspect record (``Config``, ``HostConfig`` and networks) on an
image of the caller's choice: the last step of a migration (on another engine), of a snapshot's rollback and of a
clone (on the same one)."""

from __future__ import annotations

from .client import DockerEngine

DEFAULT_NETWORKS = ("default", "bridge", "none")


def endpoint_of(networks: dict[str, dict], network: str, old_id: str = "", fixed_addresses: bool = True) -> dict:
    """How the new container joins ``network`` as the old one (``old_id``) did: its aliases but the one the engine
    gave the old container, its links, its fixed addresses unless ``fixed_addresses`` is false (a copy beside it)."""
    endpoint = networks[network]
    own = (old_id[:12],)
    return {"IPAMConfig": endpoint.get("IPAMConfig") if fixed_addresses else None, "Links": endpoint.get("Links"),
            "Aliases": [a for a in endpoint.get("Aliases") or [] if a not in own] or None,
            "DriverOpts": endpoint.get("DriverOpts")}


def create_like(engine: DockerEngine, name: str, image: str, config: dict, host_config: dict,
                networks: dict[str, dict], mounts: list[dict], old_id: str = "", fixed_addresses: bool = True) -> str:
    """Create (not start) container ``name`` from ``image`` with the old container's ``config``, ``host_config``
    and ``networks``, its volumes mounted as ``mounts`` (bind mounts are not carried; tmpfs mounts are); returns
    its id. Nothing is left behind when it fails."""
    primary = host_config.get("NetworkMode") or "default"
    if primary not in DEFAULT_NETWORKS and primary not in networks:  # given by id: use its name
        primary = next((n for n, e in networks.items() if e.get("NetworkID", "").startswith(primary)), primary)
    host_config = dict(host_config, Binds=None, NetworkMode=primary, ContainerIDFile="", Mounts=[
        *(m for m in host_config.get("Mounts") or [] if m.get("Type") == "tmpfs"), *mounts,
    ])
    body = dict(config, Image=image, HostConfig=host_config)
    if primary in networks and primary not in DEFAULT_NETWORKS:
        body["NetworkingConfig"] = {"EndpointsConfig": {
            primary: endpoint_of(networks, primary, old_id, fixed_addresses)}}
    with engine.errors(f"container {name}"):
        created = engine.client.api.create_container_from_config(body, name=name)["Id"]
    try:
        with engine.errors(f"container {name}"):
            for network in networks:
                if network not in DEFAULT_NETWORKS and network != primary:
                    endpoint = endpoint_of(networks, network, old_id, fixed_addresses)
                    addresses = endpoint.pop("IPAMConfig") or {}
                    engine.client.api.connect_container_to_network(
                        created, network, aliases=endpoint["Aliases"], links=endpoint["Links"],
                        ipv4_address=addresses.get("IPv4Address"), ipv6_address=addresses.get("IPv6Address"),
                        link_local_ips=addresses.get("LinkLocalIPs"), driver_opt=endpoint["DriverOpts"])
    except BaseException:
        with engine.errors(f"container {name}"):
            engine.client.api.remove_container(created, v=True, force=True)  # with the anonymous volumes it made
        raise
    return created
