"""The steps of a container's offline migration between two Docker engines; the sequence is ``drivers.migration``.

Carried through the two engines' APIs only (no registry, no helper image):

- the file system: ``docker export`` on the source, imported on the target as a one-layer image;
- the data of every volume, named or anonymous: read and written with the engine's archive calls on stopped and
  created containers, into new volumes of the same names (anonymous ones stay anonymous), without Docker's copy of
  the image's files into a new volume (``NoCopy``), so that the target holds exactly what the source held;
- the whole configuration as the engine reports it (``Config`` and ``HostConfig``): environment, command,
  entrypoint, working directory, user, tty, host name, labels, exposed and published ports, restart policy,
  memory and CPU limits, ulimits, capabilities, log driver...; and its networks: a user network missing on the
  target is made there (bridge driver, the target's own addresses unless the container has a fixed one).

Checked before the source is removed: the target's file system and each volume hold the same entries, bytes and
contents digest as the source's (``archive.ArchiveSummary``).

Refused before anything is touched, each reason named (none of these exists on another host as it is here): bind
mounts of host paths; host devices and device requests; privileged mode; the host's or another container's
network, PID, IPC or UTS namespace; volumes from, or links to, other containers; volumes of another driver than
``local`` or with driver options (their data lives elsewhere); a named volume other containers use too;
``AutoRemove`` (stopped for the move, the container would delete itself and its volumes); a name already taken on
the target (the container's, a named volume's); a missing network that cannot be made there.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from docker.models.containers import Container

from ..base import Progress
from ..errors import DriverError, GuestAlreadyExists, MigrationFailed, MigrationUnsupported
from ..migration import MigrationSteps, Undo
from ..types import GuestInfo, PowerState
from . import labels
from .archive import CHUNK, ArchiveSummary, summarize, summarized
from .client import DockerEngine
from .recreate import DEFAULT_NETWORKS, create_like
from .volumes import fill_volumes, mounted_volume_names, read_volume, volumes_of

if TYPE_CHECKING:
    from .driver import DockerDriver

# The image a migrated container runs from on its new engine: its whole file system, flattened.
MIGRATED_REPOSITORY = "panel-migrated"
START_TIMEOUT = 10  # seconds for the copy to be running
STARTUP_GRACE = 0.5  # seconds it must then stay running: a command that cannot run exits at once
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"  # a host interface: the target names its own


def name_taken(engine: DockerEngine, name: str) -> bool:
    with engine.errors():
        return bool(engine.client.containers.list(all=True, filters={"name": f"^/{re.escape(name)}$"}))


class ContainerMigration(MigrationSteps):
    def __init__(self, source: DockerDriver, container: Container, target: DockerDriver) -> None:
        self.source, self.target, self.container = source, target, container
        self.name = container.name
        self.label = f"container {self.name}"
        attrs = container.attrs
        self.config: dict = dict(attrs.get("Config") or {})
        self.host_config: dict = dict(attrs.get("HostConfig") or {})
        self.mounts: list[dict] = list(attrs.get("Mounts") or [])
        self.networks: dict[str, dict] = dict((attrs.get("NetworkSettings") or {}).get("Networks") or {})
        self.volumes = volumes_of(attrs)
        self.file_system = ArchiveSummary()
        self.image_id = self.created_id = ""
        self._networks_to_make: list = []

    # -- check ------------------------------------------------------------------------------

    def check(self) -> None:
        if self.target.url == self.source.url:
            raise MigrationUnsupported(f"{self.label} is already on the Docker engine at {self.source.url}")
        reasons = self._ties_to_this_host()
        with self.source.engine.errors(self.label):
            reasons += self._volumes_that_cannot_move()
            reasons += self._networks_that_cannot_be_made()
        if reasons:
            raise MigrationUnsupported(f"{self.label} cannot be migrated: {'; '.join(reasons)}. Nothing was changed")
        if name_taken(self.target.engine, self.name):
            raise GuestAlreadyExists(f"a container named '{self.name}' already exists on the target node")
        with self.target.engine.errors():
            existing = {v.name for v in self.target.client.volumes.list()}
        for volume in self.volumes:
            if volume.named and volume.name in existing:
                raise GuestAlreadyExists(f"a volume named '{volume.name}' already exists on the target node")

    def _ties_to_this_host(self) -> list[str]:
        host_config, reasons = self.host_config, []
        for mount in self.mounts:
            if mount.get("Type") == "bind":
                reasons.append(f"bind mount of host path {mount.get('Source')} at {mount.get('Destination')}")
            elif mount.get("Type") not in ("volume", "tmpfs"):
                reasons.append(f"{mount.get('Type')} mount at {mount.get('Destination')}")
        if host_config.get("Privileged"):
            reasons.append("privileged mode")
        devices = [d.get("PathOnHost", "?") for d in host_config.get("Devices") or []]
        if devices:
            reasons.append(f"host devices {', '.join(devices)}")
        if host_config.get("DeviceRequests"):
            reasons.append("device requests (GPUs or other host devices)")
        for key, what in (("NetworkMode", "network"), ("PidMode", "PID"), ("IpcMode", "IPC"), ("UTSMode", "UTS")):
            mode = host_config.get(key) or ""
            if mode == "host":
                reasons.append(f"the host's {what} namespace")
            elif mode.startswith("container:"):
                reasons.append(f"the {what} namespace of container {mode.removeprefix('container:')}")
        if host_config.get("VolumesFrom"):
            reasons.append(f"volumes from containers {', '.join(host_config['VolumesFrom'])}")
        if host_config.get("Links"):
            reasons.append(f"links to containers {', '.join(host_config['Links'])}")
        if host_config.get("AutoRemove"):
            reasons.append("AutoRemove (stopped for the move, it would delete itself and its volumes)")
        return reasons

    def _volumes_that_cannot_move(self) -> list[str]:
        reasons = []
        for volume in self.volumes:
            attrs = self.source.client.volumes.get(volume.name).attrs
            volume.labels = dict(attrs.get("Labels") or {})
            if attrs.get("Driver") != "local":
                reasons.append(f"{volume.label} of driver {attrs.get('Driver')}")
            elif attrs.get("Options"):
                reasons.append(f"{volume.label} mounted from elsewhere (driver options "
                               f"{', '.join(f'{k}={v}' for k, v in attrs['Options'].items())})")
            if volume.named:
                users = self.source.client.containers.list(all=True, filters={"volume": volume.name})
                others = sorted(c.name for c in users if c.id != self.container.id)
                if others:
                    reasons.append(f"{volume.label}, also used by {', '.join(others)}")
        return reasons

    def _networks_that_cannot_be_made(self) -> list[str]:
        reasons = []
        with self.target.engine.errors():
            there = {n.name for n in self.target.client.networks.list()}
        for name in self.networks:
            if name in DEFAULT_NETWORKS or name in there:
                continue
            network = self.source.client.networks.get(name)
            driver, scope = network.attrs.get("Driver"), network.attrs.get("Scope")
            if driver != "bridge" or scope != "local":
                reasons.append(f"network {name} ({driver}, {scope}) is missing on the target and cannot be made there")
            else:
                self._networks_to_make.append(network)
        return reasons

    # -- copy -------------------------------------------------------------------------------

    def copy(self, undo: Undo, progress: Progress) -> None:
        self._make_networks(undo, progress)
        self._copy_file_system(undo, progress)
        self._make_named_volumes(undo)
        self._create_container(undo, progress)
        self._copy_volumes(progress)

    def _make_networks(self, undo: Undo, progress: Progress) -> None:
        for network in self._networks_to_make:
            attrs = network.attrs
            fixed = any((self.networks[network.name].get("IPAMConfig") or {}).values())
            with self.target.engine.errors(f"network {network.name} on the target"):
                made = self.target.client.networks.create(
                    network.name, driver="bridge", internal=bool(attrs.get("Internal")),
                    attachable=bool(attrs.get("Attachable")), enable_ipv6=bool(attrs.get("EnableIPv6")),
                    labels=attrs.get("Labels") or None, ipam=attrs.get("IPAM") if fixed else None,
                    options={k: v for k, v in (attrs.get("Options") or {}).items() if k != BRIDGE_NAME_OPTION},
                )
            undo.add(f"network {network.name} on the target", self._remover(f"network {network.name}", made.remove))
            progress(f"made network {network.name} on {self.target.url}")

    def _copy_file_system(self, undo: Undo, progress: Progress) -> None:
        vmid = self.config.get("Labels", {}).get(labels.VMID, "")
        repository, tag = f"{MIGRATED_REPOSITORY}/{self.name}", vmid or self.container.id[:12]
        progress(f"copying the file system of {self.label} to {self.target.url}")
        started = time.monotonic()
        exported = self._read(lambda: self.container.export(chunk_size=CHUNK), f"export of {self.label}")
        with self.target.engine.errors(f"import of {self.label}"):
            answer = self.target.client.api.import_image_from_stream(
                summarized(exported, self.file_system), repository=repository, tag=tag,
                changes=[f"LABEL {labels.MIGRATED_FROM}={self.source.url}"],
            )
        self.image_id = _imported_image_id(answer)
        undo.add(f"image {repository}:{tag} on the target",
                 self._remover("image", lambda: self.target.client.images.remove(self.image_id, force=True)))
        progress(f"copied the file system ({self.file_system}) in {time.monotonic() - started:.1f} s")

    def _make_named_volumes(self, undo: Undo) -> None:
        for volume in self.volumes:
            if volume.named:
                with self.target.engine.errors(f"{volume.label} on the target"):
                    made = self.target.client.volumes.create(volume.name, driver="local", labels=volume.labels)
                undo.add(f"{volume.label} on the target", self._remover(volume.label, made.remove))

    def _create_container(self, undo: Undo, progress: Progress) -> None:
        self.created_id = create_like(self.target.engine, self.name, self.image_id, self.config, self.host_config,
                                      self.networks, [volume.mount() for volume in self.volumes], self.container.id)
        remove = self._remover(self.label, lambda: self.target.client.api.remove_container(
            self.created_id, v=True, force=True))  # with the anonymous volumes it made
        undo.add(f"{self.label} on the target", remove)
        progress(f"created {self.label} ({self.created_id[:12]}) on {self.target.url}")

    def _copy_volumes(self, progress: Progress) -> None:
        if not self.volumes:
            return
        engine = self.target.engine
        with engine.errors(f"{self.label} on the target"):
            mounted = mounted_volume_names(engine, self.created_id)
        for volume in self.volumes:
            volume.target_name = mounted[volume.destination]
        fill_volumes(engine, self.image_id, [(v, v.target_name) for v in self.volumes],
                     lambda v: read_volume(self.source.engine, self.container.id, v.destination,
                                           f"{v.label} of {self.label}"),
                     progress, f"{self.label} on the target")

    # -- verify, start, finish -------------------------------------------------------------

    def verify(self, progress: Progress) -> None:
        engine, created = self.target.engine, self.created_id
        there = summarize(self._read(lambda: engine.client.api.export(created), "the copy's file system", engine))
        if there != self.file_system:
            raise MigrationFailed(f"the file system on the target differs from the source's: "
                                  f"{there} there, {self.file_system} here")
        for volume in self.volumes:
            there = summarize(self._read(lambda v=volume: engine.client.api.get_archive(created, v.destination)[0],
                                         f"{volume.label} of the copy", engine))
            if there != volume.summary:
                raise MigrationFailed(f"{volume.label} on the target differs from the source's: "
                                      f"{there} there, {volume.summary} here")
        progress(f"checked on the target: the file system and {len(self.volumes)} volume(s) hold what the source held")

    def start_on_target(self, progress: Progress) -> None:
        with self.target.engine.errors(f"{self.label} on the target"):
            self.target.client.api.start(self.created_id)
        if not self.target.wait_for_state(self.created_id, PowerState.RUNNING, START_TIMEOUT):
            raise MigrationFailed(f"{self.label} did not start on the target within {START_TIMEOUT} s")
        time.sleep(STARTUP_GRACE)
        if self.target.power_state(self.created_id) is not PowerState.RUNNING:
            raise MigrationFailed(f"{self.label} does not stay running on the target")
        progress(f"started {self.label} on {self.target.url}")

    def target_info(self) -> GuestInfo:
        return self.target.get_guest(self.created_id, with_usage=False)

    def remove_source(self, progress: Progress) -> None:
        self.source.remove_container(self.container)  # with its anonymous volumes
        for volume in self.volumes:
            if volume.named:
                with self.source.engine.errors(f"{volume.label} on the source"):
                    self.source.client.volumes.get(volume.name).remove()
                progress(f"removed {volume.label} from {self.source.url}")

    # -- helpers ----------------------------------------------------------------------------

    def _read(self, open_stream: Callable[[], Iterable[bytes]], what: str,
              engine: DockerEngine | None = None) -> Iterator[bytes]:
        """The chunks of a stream from an engine (the source's unless said), its errors translated as they come."""
        engine = engine or self.source.engine
        with engine.errors(what):
            yield from open_stream()

    def _remover(self, what: str, remove: Callable[[], object]) -> Callable[[], None]:
        """``remove`` with the target engine's errors translated, for ``Undo``."""

        def run() -> None:
            with self.target.engine.errors(f"{what} on the target"):
                remove()

        return run


def _imported_image_id(answer: str) -> str:
    """The image id in the engine's answer to an import: JSON lines ending with ``{"status": "sha256:..."}``."""
    for line in reversed(answer.strip().splitlines()):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "error" in message:
            raise DriverError(f"the target engine refused the import: {message['error']}")
        status = message.get("status", "")
        if status.startswith("sha256:"):
            return status
    raise DriverError(f"the target engine gave no image id for the import: {answer[:200]}")
