"""Containers on a Docker engine, through docker-py: inventory and lifecycle.

The engine connection and its error translation are in ``client.py``, the migration steps in ``migration.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.images import Image
from docker.types import Mount

from ..base import GuestDriver, Interrupt, Progress, no_progress
from ..errors import (
    EngineUnavailable,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    MigrationUnsupported,
    SnapshotUnsupported,
    TemplateNotFound,
)
from ..limits import DOCKER_MIN_MEMORY_MIB, check_guest_name
from ..migration import migrate_offline
from ..terminal import Terminal
from ..types import (
    CloneSpec,
    ConfigChange,
    ContainerOptions,
    EngineInfo,
    GuestInfo,
    GuestKind,
    GuestSpec,
    GuestUsage,
    PowerState,
    SnapshotInfo,
    TemplateInfo,
)
from . import labels
from .client import STATS_CONCURRENCY, DockerEngine
from .console import ExecTerminal
from .migration import ContainerMigration
from .snapshots import ContainerSnapshots
from .volumes import FILLER_LABEL

_STATES = {
    "running": PowerState.RUNNING,
    "restarting": PowerState.RUNNING,
    "paused": PowerState.PAUSED,
    "created": PowerState.STOPPED,
    "exited": PowerState.STOPPED,
    "dead": PowerState.STOPPED,
    "removing": PowerState.STOPPED,
}

log = logging.getLogger(__name__)

WAIT_SLICE = 1.0  # s: the longest engine wait for a stop between two looks for a cancel


class DockerDriver(GuestDriver):
    kind = GuestKind.CT

    def __init__(self, url: str, timeout: float = 30, name_prefix: str = "") -> None:
        """``name_prefix``: only containers whose names start with it are listed (engines shared by panels)."""
        self.url = url
        self.name_prefix = name_prefix
        self.engine = DockerEngine(url, timeout)

    @property
    def client(self) -> docker.DockerClient:
        return self.engine.client

    def close(self) -> None:
        self.engine.close()

    # -- inventory ----------------------------------------------------------------------

    def engine_info(self) -> EngineInfo:
        with self.engine.errors():
            version = self.client.version()
        return EngineInfo(name="docker", version=version.get("Version", "?"), uri=self.url)

    def list_networks(self) -> list[dict]:
        with self.engine.errors():
            networks = self.client.api.networks()
        listed = []
        for network in sorted(networks, key=lambda n: n.get("Name", "")):
            configs = (network.get("IPAM") or {}).get("Config") or []
            listed.append({"name": network.get("Name", ""), "driver": network.get("Driver", ""),
                           "scope": network.get("Scope", ""), "internal": bool(network.get("Internal")),
                           "subnets": [c["Subnet"] for c in configs if c.get("Subnet")],
                           "gateways": [c["Gateway"] for c in configs if c.get("Gateway")]})
        return listed

    def list_guests(self) -> list[GuestInfo]:
        with self.engine.errors():
            listed = self.client.containers.list(all=True, sparse=True)
        # Not the containers that only carry volume data for a moment (a migration's, a snapshot's): no guests.
        listed = [c for c in listed if _name_of(c).startswith(self.name_prefix)
                  and FILLER_LABEL not in (c.attrs.get("Labels") or {})]
        if not listed:
            return []
        with ThreadPoolExecutor(min(len(listed), STATS_CONCURRENCY), thread_name_prefix="docker-stats") as pool:
            infos = list(pool.map(self._read_listed, listed))
        return [info for info in infos if info is not None]

    def _read_listed(self, listed: Container) -> GuestInfo | None:
        """The full record and usage of a listed container; None when it went away in between."""
        try:
            container = self.engine.container(listed.id)
            with self.engine.errors(f"container {container.name}"):
                return self._info(container, with_usage=True)
        except GuestNotFound:
            return None

    def get_guest(self, backend_id: str, with_usage: bool = True) -> GuestInfo:
        container = self.engine.container(backend_id)
        with self.engine.errors(f"container {container.name}"):
            return self._info(container, with_usage=with_usage)

    def list_templates(self) -> list[TemplateInfo]:
        with self.engine.errors():
            images = [i for i in self.client.images.list(filters={"label": labels.TEMPLATE}) if _is_template(i)]
        # One per name: an image committed from a container (a snapshot, a migration) may carry the label too.
        by_name = {}
        for info in (_template_info(image) for image in images):
            by_name.setdefault(info.name, info)
        return sorted(by_name.values(), key=lambda t: t.name)

    def import_template(self, name: str, archive: str, description: str) -> TemplateInfo:
        """A container template from a root file system archive (Proxmox's vztmpl), as set-up makes busybox's:
        ``docker import`` with the template's labels; PID 1 is the archive's /sbin/init."""
        changes = [f"LABEL {labels.TEMPLATE}={name}", f"LABEL {labels.TEMPLATE_DESCRIPTION}={json.dumps(description)}",
                   'CMD ["/sbin/init"]']
        with self.engine.errors():
            if self.client.images.list(filters={"label": f"{labels.TEMPLATE}={name}"}):
                raise InvalidSpec(f"container template '{name}' already exists on this node")
            self.client.api.import_image_from_file(archive, repository=f"panel-templates/{name}", tag="latest",
                                                   changes=changes)
        return self._template_image(name)[1]

    def _template_image(self, name: str) -> tuple[str, TemplateInfo]:
        with self.engine.errors():
            images = [i for i in self.client.images.list(filters={"label": f"{labels.TEMPLATE}={name}"})
                      if _is_template(i)]
        if not images:
            raise TemplateNotFound(f"container template '{name}' does not exist on this node")
        return images[0].id, _template_info(images[0])

    def _info(self, container: Container, with_usage: bool) -> GuestInfo:
        attrs = container.attrs
        host_config = attrs.get("HostConfig", {})
        container_labels = attrs.get("Config", {}).get("Labels") or {}
        state = _STATES.get(attrs.get("State", {}).get("Status", ""), PowerState.UNKNOWN)
        vmid = container_labels.get(labels.VMID)
        usage = self._usage(container, attrs, state) if with_usage else GuestUsage()
        return GuestInfo(
            backend_id=container.id,
            name=container.name,
            state=state,
            vcpus=(host_config.get("NanoCpus") or 0) / 1e9,
            memory_mib=(host_config.get("Memory") or 0) // (1024 * 1024),
            vmid=int(vmid) if vmid and vmid.isdigit() else None,
            template=container_labels.get(labels.TEMPLATE, ""),
            usage=usage,
        )

    def _usage(self, container: Container, attrs: dict, state: PowerState) -> GuestUsage:
        if state is not PowerState.RUNNING:
            return GuestUsage()
        # one_shot: no second sample inside the engine; CPU % comes from our own two polls.
        stats = container.stats(stream=False, one_shot=True)
        cpu = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0)
        memory = stats.get("memory_stats", {})
        # Like `docker stats`: page cache that the kernel can drop does not count as used.
        used = memory.get("usage", 0) - memory.get("stats", {}).get("inactive_file", 0)
        networks = (stats.get("networks") or {}).values()
        blkio = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
        return GuestUsage(
            cpu_time_ns=cpu, memory_used=max(used, 0), uptime=_uptime(attrs),
            net_in=sum(n.get("rx_bytes", 0) for n in networks),
            net_out=sum(n.get("tx_bytes", 0) for n in networks),
            disk_read=sum(e.get("value", 0) for e in blkio if e.get("op", "").lower() == "read"),
            disk_write=sum(e.get("value", 0) for e in blkio if e.get("op", "").lower() == "write"),
        )

    # -- lifecycle ----------------------------------------------------------------------

    def create(self, spec: GuestSpec) -> GuestInfo:
        check_guest_name(spec.name, "container")
        image_id, template = self._template_image(spec.template)
        minimum = max(template.min_memory_mib, DOCKER_MIN_MEMORY_MIB)
        if spec.memory_mib < minimum:
            raise InvalidSpec(f"memory must be at least {minimum} MiB for template '{template.name}'")
        if spec.vcpus < 1:
            raise InvalidSpec("a container needs at least 1 vCPU")
        made = self._own_volumes(spec)
        try:
            with self.engine.errors(f"container {spec.name}"):
                # docker create is atomic: it makes the container or nothing, and refuses a name in use (409).
                container = self.client.containers.create(
                    image_id,
                    name=spec.name,
                    hostname=spec.name,
                    labels={labels.VMID: str(spec.vmid), labels.TEMPLATE: template.name},
                    mem_limit=spec.memory_mib * 1024 * 1024,
                    nano_cpus=spec.vcpus * 1_000_000_000,
                    detach=True,
                    **_container_options(spec.container),
                )
                return self._info(container, with_usage=False)
        except BaseException as exc:
            for volume in made:
                with contextlib.suppress(docker.errors.APIError):
                    volume.remove()
            if isinstance(exc, GuestAlreadyExists):
                raise GuestAlreadyExists(f"a container named '{spec.name}' already exists on this node") from exc
            raise

    def _own_volumes(self, spec: GuestSpec) -> list:
        """Make the named volumes ``spec`` mounts, each the new container's own (labelled with its VMID): a name
        already on the engine is refused, as mounting it would hand over another container's data."""
        made = []
        with self.engine.errors(f"the volumes of container {spec.name}"):
            for mount in spec.container.volumes:
                try:
                    self.client.volumes.get(mount.volume)
                except docker.errors.NotFound:
                    made.append(self.client.volumes.create(mount.volume, driver="local",
                                                           labels={labels.VMID: str(spec.vmid)}))
                    continue
                for volume in made:
                    volume.remove()
                raise InvalidSpec(f"volume '{mount.volume}' already exists on this node: a new container gets "
                                  "volumes of its own")
        return made

    def delete(self, backend_id: str, progress: Progress = no_progress) -> None:
        container = self.engine.container(backend_id)
        if _fetched_state(container) is not PowerState.STOPPED:
            raise InvalidGuestState(f"container {container.name} is running: stop it before deleting it")
        vmid = (container.labels or {}).get(labels.VMID)
        own = [m["Name"] for m in container.attrs.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name")]
        self.remove_container(container)
        for name in own:  # the named volumes made with it (labelled with its VMID) go with it, as Proxmox's disks
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                volume = self.client.volumes.get(name)
                if vmid and (volume.attrs.get("Labels") or {}).get(labels.VMID) == vmid:
                    volume.remove()
                    progress(f"removed volume {name}")
        self.snapshots.delete_all(container.name, progress)

    def remove_container(self, container: Container) -> None:
        """Remove a stopped container with its anonymous volumes, and the image a migration made for it."""
        with self.engine.errors(f"container {container.name}"):
            image_id = container.image.id if container.image else ""
            container.remove(v=True)
        self._remove_migrated_image(image_id)

    def _remove_migrated_image(self, image_id: str) -> None:
        """Drop the image a migration or a clone made for a container, once no container uses it any more."""
        if not image_id:
            return
        try:
            image = self.client.images.get(image_id)
            image_labels = image.labels or {}
            if image_labels.get(labels.SNAPSHOT_OF) or not (
                    labels.MIGRATED_FROM in image_labels or image_labels.get(labels.CLONED_FROM)):
                return  # a shared template, or a snapshot's: not ours to remove
            if self.client.containers.list(all=True, filters={"ancestor": image_id}):
                return
            self.client.images.remove(image_id, force=False)
        except docker.errors.DockerException as exc:
            log.warning("could not remove migrated image %s: %s", image_id[:19], exc)

    def power_state(self, backend_id: str) -> PowerState:
        return _fetched_state(self.engine.container(backend_id))

    def wait_for_state(self, backend_id: str, wanted: PowerState, timeout: float,
                       interrupt: Interrupt | None = None) -> bool:
        """Waiting for a stop asks the engine to answer when the container exits (its wait API), instead of
        looking every POLL_INTERVAL: a stop is seen the moment it happens. ``interrupt`` is called between two
        waits of at most WAIT_SLICE s."""
        if wanted is not PowerState.STOPPED:
            return super().wait_for_state(backend_id, wanted, timeout, interrupt)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left > 0:
                try:
                    with self.engine.errors(f"container {backend_id[:12]}"):
                        self.client.api.wait(backend_id, timeout=min(left, WAIT_SLICE), condition="not-running")
                except EngineUnavailable:
                    pass  # the slice ended (docker-py reports it as a transport error); a real one shows below
            if self.power_state(backend_id) is PowerState.STOPPED:
                return True
            if time.monotonic() >= deadline:
                return False
            if interrupt is not None:
                interrupt()

    def start(self, backend_id: str) -> None:
        container = self.engine.container(backend_id)
        self._require(container, PowerState.STOPPED, "start")
        with self.engine.errors(f"container {container.name}"):
            container.start()

    def update_config(self, backend_id: str, change: ConfigChange) -> set[str]:
        """Everything at once, running or not: ``docker rename`` and ``docker update`` act on a running
        container's cgroup (what ``docker inspect`` shows is what the kernel enforces)."""
        container = self.engine.container(backend_id)
        resources: dict[str, int] = {}
        if change.memory_mib is not None:
            if change.memory_mib < DOCKER_MIN_MEMORY_MIB:
                raise InvalidSpec(f"memory must be at least {DOCKER_MIN_MEMORY_MIB} MiB for a container")
            memory = change.memory_mib * 1024 * 1024
            host = container.attrs.get("HostConfig", {})
            old, swap = host.get("Memory") or 0, host.get("MemorySwap") or 0
            resources["Memory"] = memory
            # The swap limit counts memory too and must stay above it: keep the swap the container had.
            resources["MemorySwap"] = -1 if swap == -1 else memory + (swap - old if swap > old > 0 else memory)
        if change.vcpus is not None:
            resources["NanoCpus"] = change.vcpus * 1_000_000_000
        if change.name is not None and change.name != container.name:
            check_guest_name(change.name, "container")
            with self.engine.errors(f"container {container.name}"):
                container.rename(change.name)
        if resources:
            self.engine.update_resources(container, resources)
        return set()

    def resize_disk(self, backend_id: str, disk: int, size_bytes: int) -> int:
        container = self.engine.container(backend_id)
        raise InvalidSpec(f"container {container.name} has no disk of a size to grow: its root file system is a "
                          "layer of the Docker engine's storage, as large as that storage")

    def request_shutdown(self, backend_id: str) -> str:
        container = self.engine.container(backend_id)
        self._require(container, PowerState.RUNNING, "shut down")
        with self.engine.errors(f"container {container.name}"):
            # The stop signal only: `docker stop` would send SIGKILL itself after its timeout.
            container.kill(signal=container.attrs.get("Config", {}).get("StopSignal") or signal.SIGTERM.name)
        return f"container {container.name}"

    def stop(self, backend_id: str) -> None:
        container = self.engine.container(backend_id)
        state = _fetched_state(container)
        if state is PowerState.STOPPED:
            raise InvalidGuestState(f"container {container.name} is not running")
        with self.engine.errors(f"container {container.name}"):
            if state is PowerState.PAUSED:
                container.unpause()  # the engine refuses to kill a paused container
            container.kill()
        self.wait_for_state(backend_id, PowerState.STOPPED, self.engine.timeout)

    def reboot(self, backend_id: str, timeout: float) -> None:
        container = self.engine.container(backend_id)
        self._require(container, PowerState.RUNNING, "reboot")
        with self.engine.errors(f"container {container.name}"):
            container.restart(timeout=int(max(timeout, 1)))

    def suspend(self, backend_id: str) -> None:
        container = self.engine.container(backend_id)
        self._require(container, PowerState.RUNNING, "pause")
        with self.engine.errors(f"container {container.name}"):
            container.pause()

    def resume(self, backend_id: str) -> None:
        container = self.engine.container(backend_id)
        self._require(container, PowerState.PAUSED, "resume")
        with self.engine.errors(f"container {container.name}"):
            container.unpause()

    # -- snapshots and clones -----------------------------------------------------------------

    @property
    def snapshots(self) -> ContainerSnapshots:
        return ContainerSnapshots(self)

    def list_snapshots(self, backend_id: str) -> list[SnapshotInfo]:
        return self.snapshots.list(self.engine.container(backend_id))

    def create_snapshot(self, backend_id: str, name: str, description: str = "", vmstate: bool = False,
                        progress: Progress = no_progress) -> SnapshotInfo:
        if vmstate:
            raise SnapshotUnsupported("a container's snapshot holds no RAM: only VMs save their memory state")
        return self.snapshots.create(self.engine.container(backend_id), name, description, progress)

    def rollback_snapshot(self, backend_id: str, name: str, progress: Progress = no_progress) -> str:
        return self.snapshots.rollback(self.engine.container(backend_id), name, progress)

    def delete_snapshot(self, backend_id: str, name: str, progress: Progress = no_progress) -> None:
        self.snapshots.delete(self.engine.container(backend_id).name, name, progress)

    def clone(self, backend_id: str, spec: CloneSpec, progress: Progress = no_progress) -> GuestInfo:
        return self.snapshots.clone(self.engine.container(backend_id), spec, progress)

    def open_console(self, backend_id: str) -> Terminal:
        """A shell (``/bin/sh``) in the running container, with a TTY."""
        return ExecTerminal.open(self.engine, self.engine.container(backend_id))

    def _require(self, container: Container, wanted: PowerState, verb: str) -> None:
        """``container`` was just fetched: its status is current, no second round trip needed."""
        state = _fetched_state(container)
        if state is not wanted:
            raise InvalidGuestState(f"cannot {verb} container {container.name}: it is {state.value}")

    # -- migration ----------------------------------------------------------------------

    def migrate(
        self,
        backend_id: str,
        target: GuestDriver,
        *,
        online: bool = False,
        timeout: float = 180,
        accelerator: str | None = None,
        progress: Progress = no_progress,
    ) -> GuestInfo:
        """Offline, by ``drivers.migration`` with the steps of ``migration.ContainerMigration``."""
        if not isinstance(target, DockerDriver):
            raise MigrationUnsupported("a container can only be migrated to another Docker engine")
        if online:
            raise MigrationUnsupported(
                "containers cannot be migrated live: migrate offline (the container is stopped, "
                "moved and started again on the target)"
            )
        steps = ContainerMigration(self, self.engine.container(backend_id), target)
        return migrate_offline(self, backend_id, steps, timeout, progress)


def _template_info(image: Image) -> TemplateInfo:
    """A template from the labels of its image."""
    image_labels = image.labels or {}
    return TemplateInfo(
        name=image_labels[labels.TEMPLATE],
        kind=GuestKind.CT,
        description=image_labels.get(labels.TEMPLATE_DESCRIPTION, ""),
        min_memory_mib=int(image_labels.get(labels.TEMPLATE_MIN_MEMORY, DOCKER_MIN_MEMORY_MIB)),
    )


def _is_template(image: Image) -> bool:
    """A template's image, not one committed from a container made from it (a snapshot's, a clone's), which
    carries the container's labels."""
    image_labels = image.labels or {}
    return not (image_labels.get(labels.SNAPSHOT_OF) or image_labels.get(labels.CLONED_FROM))


def _name_of(listed: Container) -> str:
    """A sparsely listed container's name (its attrs hold ``Names``, with Docker's leading slash)."""
    names = listed.attrs.get("Names") or [""]
    return names[0].lstrip("/")


def _fetched_state(container: Container) -> PowerState:
    return _STATES.get(container.status, PowerState.UNKNOWN)


def _uptime(attrs: dict) -> int:
    started = attrs.get("State", {}).get("StartedAt", "")
    if not started or started.startswith("0001"):
        return 0
    # Docker prints nanoseconds; fromisoformat takes at most microseconds.
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", started).replace("Z", "+00:00")
    try:
        return max(int((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()), 0)
    except ValueError:
        return 0


def _container_options(options: ContainerOptions) -> dict:
    """docker-py's arguments of create for what the user asked beyond the template (each one only when asked,
    so that the image's own command and environment stay otherwise)."""
    arguments: dict = {}
    if options.command:
        arguments["command"] = list(options.command)  # a list: run as arguments, never through a shell
    if options.environment:
        arguments["environment"] = dict(options.environment)
    if options.ports:
        arguments["ports"] = {}
        for port in options.ports:
            published = (port.address, port.host_port) if port.address else port.host_port
            arguments["ports"].setdefault(f"{port.container_port}/{port.protocol}", []).append(published)
    if options.volumes:
        arguments["mounts"] = [Mount(target=v.path, source=v.volume, type="volume", read_only=v.read_only)
                               for v in options.volumes]  # the engine makes a missing volume
    if options.restart != "no":
        arguments["restart_policy"] = {"Name": options.restart}
    return arguments
