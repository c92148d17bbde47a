"""Containers on a Docker engine, through docker-py."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.models.images import Image

from ..base import GuestDriver, Progress, no_progress
from ..errors import (
    DriverError,
    EngineUnavailable,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    MigrationFailed,
    MigrationUnsupported,
    OperationTimeout,
    TemplateNotFound,
)
from ..types import EngineInfo, GuestInfo, GuestKind, GuestSpec, GuestUsage, PowerState, TemplateInfo
from . import labels

# Docker's own rule for container names.
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
DOCKER_MIN_MEMORY_MIB = 6  # the engine refuses less than 6 MiB

_STATES = {
    "running": PowerState.RUNNING,
    "restarting": PowerState.RUNNING,
    "paused": PowerState.PAUSED,
    "created": PowerState.STOPPED,
    "exited": PowerState.STOPPED,
    "dead": PowerState.STOPPED,
    "removing": PowerState.STOPPED,
}
_POLL = 0.2
# The engine answers a stats request, even a one-shot one, at its next collection cycle (about a second),
# and one cycle serves every request waiting: asked side by side, a node's containers cost a cycle or two
# instead of a second each (measured: 200 containers, 200 s one after another, 2 s side by side).
STATS_CONCURRENCY = 256
# The image a migrated container runs from on its new engine: its whole file system, flattened.
MIGRATED_REPOSITORY = "panel-migrated"
MIGRATED_LABEL = "panel.migrated-from"

log = logging.getLogger(__name__)


class DockerDriver(GuestDriver):
    kind = GuestKind.CT

    def __init__(self, url: str, timeout: float = 30, name_prefix: str = "") -> None:
        """``name_prefix``: only containers whose names start with it are listed (engines shared by panels)."""
        self.url = url
        self.name_prefix = name_prefix
        self._timeout = timeout
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    # -- connection -------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                self._client = docker.DockerClient(base_url=self.url, timeout=self._timeout,
                                                   max_pool_size=STATS_CONCURRENCY)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @contextmanager
    def _errors(self, what: str = "") -> Iterator[None]:
        """Translate docker-py and transport errors into our typed errors, in one place."""
        try:
            yield
        except DriverError:
            raise
        except docker.errors.NotFound as exc:
            raise GuestNotFound(f"{what or 'object'} not found on Docker engine {self.url}") from exc
        except docker.errors.APIError as exc:
            message = exc.explanation or str(exc)
            if exc.status_code == 409:
                raise InvalidGuestState(f"{what}: {message}" if what else message) from exc
            if exc.status_code == 400:
                raise InvalidSpec(f"{what}: {message}" if what else message) from exc
            raise DriverError(f"Docker engine error: {message}") from exc
        except (docker.errors.DockerException, requests.exceptions.ConnectionError, OSError) as exc:
            raise EngineUnavailable(f"Docker engine at {self.url} is not reachable: {exc}") from exc

    def _container(self, backend_id: str) -> Container:
        with self._errors(f"container {backend_id[:12]}"):
            return self.client.containers.get(backend_id)

    # -- inventory ----------------------------------------------------------------------

    def engine_info(self) -> EngineInfo:
        with self._errors():
            version = self.client.version()
        return EngineInfo(name="docker", version=version.get("Version", "?"), uri=self.url)

    def list_guests(self) -> list[GuestInfo]:
        with self._errors():
            listed = self.client.containers.list(all=True, sparse=True)
        listed = [c for c in listed if _name_of(c).startswith(self.name_prefix)]
        if not listed:
            return []
        with ThreadPoolExecutor(min(len(listed), STATS_CONCURRENCY), thread_name_prefix="docker-stats") as pool:
            infos = list(pool.map(self._read_listed, listed))
        return [info for info in infos if info is not None]

    def _read_listed(self, listed: Container) -> GuestInfo | None:
        """The full record and usage of a listed container; None when it went away in between."""
        try:
            container = self._container(listed.id)
            with self._errors(f"container {container.name}"):
                return self._info(container, with_usage=True)
        except GuestNotFound:
            return None

    def get_guest(self, backend_id: str, with_usage: bool = True) -> GuestInfo:
        container = self._container(backend_id)
        with self._errors(f"container {container.name}"):
            return self._info(container, with_usage=with_usage)

    def list_templates(self) -> list[TemplateInfo]:
        with self._errors():
            images = self.client.images.list(filters={"label": labels.TEMPLATE})
        return sorted((_template_info(image) for image in images), key=lambda t: t.name)

    def _template_image(self, name: str) -> tuple[str, TemplateInfo]:
        with self._errors():
            images = self.client.images.list(filters={"label": f"{labels.TEMPLATE}={name}"})
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
        if not CONTAINER_NAME.match(spec.name):
            raise InvalidSpec(
                f"'{spec.name}' is not a valid container name: use letters, digits, '.', '_' or '-', "
                "starting with a letter or digit, at most 63 characters"
            )
        image_id, template = self._template_image(spec.template)
        minimum = max(template.min_memory_mib, DOCKER_MIN_MEMORY_MIB)
        if spec.memory_mib < minimum:
            raise InvalidSpec(f"memory must be at least {minimum} MiB for template '{template.name}'")
        if spec.vcpus < 1:
            raise InvalidSpec("a container needs at least 1 vCPU")
        with self._errors():
            if self.client.containers.list(all=True, filters={"name": f"^/{re.escape(spec.name)}$"}):
                raise GuestAlreadyExists(f"a container named '{spec.name}' already exists on this node")
            # docker create is atomic: it either makes the container or nothing.
            container = self.client.containers.create(
                image_id,
                name=spec.name,
                hostname=spec.name,
                labels={labels.VMID: str(spec.vmid), labels.TEMPLATE: template.name},
                mem_limit=spec.memory_mib * 1024 * 1024,
                nano_cpus=spec.vcpus * 1_000_000_000,
                detach=True,
            )
            return self._info(container, with_usage=False)

    def delete(self, backend_id: str) -> None:
        container = self._container(backend_id)
        if _fetched_state(container) is not PowerState.STOPPED:
            raise InvalidGuestState(f"container {container.name} is running: stop it before deleting it")
        with self._errors(f"container {container.name}"):
            image_id = container.image.id if container.image else ""
            container.remove(v=True)
            self._remove_migrated_image(image_id)

    def _remove_migrated_image(self, image_id: str) -> None:
        """Drop the image a migration made for a container, once no container uses it any more."""
        if not image_id:
            return
        try:
            image = self.client.images.get(image_id)
            if MIGRATED_LABEL not in (image.labels or {}):
                return  # a shared template: not ours to remove
            if self.client.containers.list(all=True, filters={"ancestor": image_id}):
                return
            self.client.images.remove(image_id, force=False)
        except docker.errors.DockerException as exc:
            log.warning("could not remove migrated image %s: %s", image_id[:19], exc)

    def start(self, backend_id: str) -> None:
        container = self._container(backend_id)
        self._require(container, PowerState.STOPPED, "start")
        with self._errors(f"container {container.name}"):
            container.start()

    def shutdown(self, backend_id: str, timeout: float) -> None:
        container = self._container(backend_id)
        self._require(container, PowerState.RUNNING, "shut down")
        with self._errors(f"container {container.name}"):
            # SIGTERM only: `docker stop` would send SIGKILL itself after the timeout.
            container.kill(signal="SIGTERM")
            if not self._wait_for(container, PowerState.STOPPED, timeout):
                raise OperationTimeout(f"container {container.name} did not shut down within {timeout:g} s")

    def stop(self, backend_id: str) -> None:
        container = self._container(backend_id)
        state = _fetched_state(container)
        if state is PowerState.STOPPED:
            raise InvalidGuestState(f"container {container.name} is not running")
        with self._errors(f"container {container.name}"):
            if state is PowerState.PAUSED:
                container.unpause()  # the engine refuses to kill a paused container
            container.kill()
            self._wait_for(container, PowerState.STOPPED, self._timeout)

    def reboot(self, backend_id: str, timeout: float) -> None:
        container = self._container(backend_id)
        self._require(container, PowerState.RUNNING, "reboot")
        with self._errors(f"container {container.name}"):
            container.restart(timeout=int(max(timeout, 1)))

    def suspend(self, backend_id: str) -> None:
        container = self._container(backend_id)
        self._require(container, PowerState.RUNNING, "pause")
        with self._errors(f"container {container.name}"):
            container.pause()

    def resume(self, backend_id: str) -> None:
        container = self._container(backend_id)
        self._require(container, PowerState.PAUSED, "resume")
        with self._errors(f"container {container.name}"):
            container.unpause()

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
        """Move a container: stop it, export its file system into an image on the target, recreate it there.

        ``docker export`` streams the container's whole file system (template and changes) as one tar,
        which the target imports as a single-layer image: no registry, and only the target engine's API
        is needed, so this works between machines as it does between two daemons on one host.
        """
        if not isinstance(target, DockerDriver):
            raise MigrationUnsupported("a container can only be migrated to another Docker engine")
        if online:
            raise MigrationUnsupported(
                "containers cannot be migrated live: migrate offline (the container is stopped, "
                "moved and started again on the target)"
            )
        container = self._container(backend_id)
        name = container.name
        state = _fetched_state(container)
        if state is PowerState.PAUSED:
            raise InvalidGuestState(f"cannot migrate container {name}: it is paused, resume or stop it first")
        if target.url == self.url:
            raise MigrationUnsupported(f"container {name} is already on the Docker engine at {self.url}")
        with target._errors():
            if target.client.containers.list(all=True, filters={"name": f"^/{re.escape(name)}$"}):
                raise GuestAlreadyExists(f"a container named '{name}' already exists on the target node")
        was_running = state is PowerState.RUNNING
        if was_running:
            progress(f"shutting down container {name} (timeout {timeout:g} s)")
            self._stop_gracefully(container, timeout, progress)
        made: dict[str, str] = {}
        try:
            info = self._copy_to(container, target, was_running, made, progress)
        except BaseException as exc:
            progress(f"migration failed: {exc}; removing what was made on the target")
            target._undo_migration(made)
            if was_running:
                progress(f"starting container {name} again on its node")
                try:
                    self.start(container.id)
                except DriverError as start_error:
                    log.error("could not restart container %s after a failed migration: %s", name, start_error)
            if isinstance(exc, DriverError):
                raise MigrationFailed(f"migration of container {name} failed: {exc.message}") from exc
            raise
        progress(f"removing container {name} from its old engine")
        try:
            with self._errors(f"container {name}"):
                image_id = container.image.id if container.image else ""
                container.remove(v=True)
            self._remove_migrated_image(image_id)
        except DriverError as exc:
            # The guest runs on the target now: a leftover here must not make the migration look failed.
            progress(f"warning: container {name} moved, but its old copy could not be removed: {exc.message}")
        return info

    def _stop_gracefully(self, container: Container, timeout: float, progress: Progress) -> None:
        try:
            self.shutdown(container.id, timeout)
        except OperationTimeout as exc:
            progress(f"{exc.message}; stopping it")
            self.stop(container.id)

    def _copy_to(self, container: Container, target: DockerDriver, start: bool, made: dict[str, str],
                 progress: Progress) -> GuestInfo:
        """Export, import, create and (if ``start``) start on ``target``; records what it made in ``made``."""
        attrs = container.attrs
        config, host_config = attrs.get("Config", {}), attrs.get("HostConfig", {})
        container_labels = dict(config.get("Labels") or {})
        vmid = container_labels.get(labels.VMID, "")
        tag = vmid or container.id[:12]
        sent = 0

        def counted() -> Iterator[bytes]:
            nonlocal sent
            with self._errors(f"export of container {container.name}"):
                for chunk in container.export(chunk_size=1024 * 1024):
                    sent += len(chunk)
                    yield chunk

        progress(f"copying the file system of {container.name} to {target.url}")
        started = time.monotonic()
        with target._errors(f"import of container {container.name}"):
            answer = target.client.api.import_image_from_stream(
                counted(), repository=f"{MIGRATED_REPOSITORY}/{container.name}", tag=tag,
                changes=[f"LABEL {MIGRATED_LABEL}={self.url}"],
            )
        made["image"] = _imported_image_id(answer)
        progress(f"copied {sent / 1024 / 1024:.1f} MiB in {time.monotonic() - started:.1f} s")
        with target._errors(f"container {container.name} on the target"):
            created = target.client.containers.create(
                made["image"],
                name=container.name,
                hostname=config.get("Hostname") or container.name,
                labels=container_labels,
                mem_limit=host_config.get("Memory") or None,
                nano_cpus=host_config.get("NanoCpus") or None,
                command=config.get("Cmd"),
                entrypoint=config.get("Entrypoint"),
                environment=config.get("Env"),
                working_dir=config.get("WorkingDir") or None,
                user=config.get("User") or None,
                tty=bool(config.get("Tty")),
                stdin_open=bool(config.get("OpenStdin")),
                detach=True,
            )
            made["container"] = created.id
            progress(f"created container {created.name} ({created.id[:12]}) on {target.url}")
            if start:
                created.start()
                if not target._wait_for(created, PowerState.RUNNING, 10) or not target._still_running(created):
                    raise MigrationFailed(f"container {created.name} does not stay running on the target")
                progress(f"started container {created.name} on {target.url}")
            return target._info(created, with_usage=False)

    def _still_running(self, container: Container) -> bool:
        time.sleep(0.5)  # a command that cannot run exits at once
        return self._state(container) is PowerState.RUNNING

    def _undo_migration(self, made: dict[str, str]) -> None:
        """Remove the container and image a failed migration made on this (the target) engine."""
        try:
            if "container" in made:
                self.client.containers.get(made["container"]).remove(force=True, v=True)
            if "image" in made:
                self.client.images.remove(made["image"], force=True)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            log.error("could not clean up after a failed migration on %s: %s", self.url, exc)

    # -- helpers ------------------------------------------------------------------------

    def _state(self, container: Container) -> PowerState:
        """The state as the engine says now (for waits); a just-fetched container has it: ``_fetched_state``."""
        with self._errors(f"container {container.name}"):
            container.reload()
        return _fetched_state(container)

    def _require(self, container: Container, wanted: PowerState, verb: str) -> None:
        """``container`` was just fetched: its status is current, no second round trip needed."""
        state = _fetched_state(container)
        if state is not wanted:
            raise InvalidGuestState(f"cannot {verb} container {container.name}: it is {state.value}")

    def _wait_for(self, container: Container, wanted: PowerState, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self._state(container) is wanted:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)


def _template_info(image: Image) -> TemplateInfo:
    """A template from the labels of its image."""
    image_labels = image.labels or {}
    return TemplateInfo(
        name=image_labels[labels.TEMPLATE],
        kind=GuestKind.CT,
        description=image_labels.get(labels.TEMPLATE_DESCRIPTION, ""),
        min_memory_mib=int(image_labels.get(labels.TEMPLATE_MIN_MEMORY, DOCKER_MIN_MEMORY_MIB)),
    )


def _name_of(listed: Container) -> str:
    """A sparsely listed container's name (its attrs hold ``Names``, with Docker's leading slash)."""
    names = listed.attrs.get("Names") or [""]
    return names[0].lstrip("/")


def _fetched_state(container: Container) -> PowerState:
    return _STATES.get(container.status, PowerState.UNKNOWN)


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
