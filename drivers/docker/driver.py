"""Containers on a Docker engine, through docker-py."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from ..base import GuestDriver
from ..errors import (
    DriverError,
    EngineUnavailable,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
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


class DockerDriver(GuestDriver):
    kind = GuestKind.CT

    def __init__(self, url: str, timeout: float = 30) -> None:
        self.url = url
        self._timeout = timeout
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    # -- connection -------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                self._client = docker.DockerClient(base_url=self.url, timeout=self._timeout)
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
            containers = self.client.containers.list(all=True)
            return [self._info(c, with_usage=True) for c in containers]

    def get_guest(self, backend_id: str) -> GuestInfo:
        container = self._container(backend_id)
        with self._errors(f"container {container.name}"):
            return self._info(container, with_usage=True)

    def list_templates(self) -> list[TemplateInfo]:
        with self._errors():
            images = self.client.images.list(filters={"label": labels.TEMPLATE})
        templates = []
        for image in images:
            image_labels = image.labels or {}
            templates.append(
                TemplateInfo(
                    name=image_labels[labels.TEMPLATE],
                    kind=GuestKind.CT,
                    description=image_labels.get(labels.TEMPLATE_DESCRIPTION, ""),
                    min_memory_mib=int(image_labels.get(labels.TEMPLATE_MIN_MEMORY, DOCKER_MIN_MEMORY_MIB)),
                )
            )
        return sorted(templates, key=lambda t: t.name)

    def _template_image(self, name: str) -> tuple[str, TemplateInfo]:
        with self._errors():
            images = self.client.images.list(filters={"label": f"{labels.TEMPLATE}={name}"})
        if not images:
            raise TemplateNotFound(f"container template '{name}' does not exist on this node")
        template = next(t for t in self.list_templates() if t.name == name)
        return images[0].id, template

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
        return GuestUsage(cpu_time_ns=cpu, memory_used=max(used, 0), uptime=_uptime(attrs))

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
        if self._state(container) is not PowerState.STOPPED:
            raise InvalidGuestState(f"container {container.name} is running: stop it before deleting it")
        with self._errors(f"container {container.name}"):
            container.remove(v=True)

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
        state = self._state(container)
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

    # -- helpers ------------------------------------------------------------------------

    def _state(self, container: Container) -> PowerState:
        with self._errors(f"container {container.name}"):
            container.reload()
        return _STATES.get(container.status, PowerState.UNKNOWN)

    def _require(self, container: Container, wanted: PowerState, verb: str) -> None:
        state = self._state(container)
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
