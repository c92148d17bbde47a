"""One Docker engine: a docker-py client opened on first use and shared by threads, and the one place where
docker-py and transport errors become our typed errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions
from docker.models.containers import Container

from ..errors import DriverError, EngineUnavailable, GuestAlreadyExists, GuestNotFound, InvalidGuestState, InvalidSpec

# The engine answers a stats request, even a one-shot one, at its next collection cycle (about a second),
# and one cycle serves every request waiting: asked side by side, a node's containers cost a cycle or two
# instead of a second each (measured: 200 containers, 200 s one after another, 2 s side by side).
STATS_CONCURRENCY = 256


class DockerEngine:
    def __init__(self, url: str, timeout: float = 30) -> None:
        self.url = url
        self.timeout = timeout
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                self._client = docker.DockerClient(base_url=self.url, timeout=self.timeout,
                                                   max_pool_size=STATS_CONCURRENCY)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @contextmanager
    def errors(self, what: str = "") -> Iterator[None]:
        """Translate docker-py and transport errors into ours; ``what`` names the object, e.g. 'container web1'."""
        prefix = f"{what}: " if what else ""
        try:
            yield
        except DriverError:
            raise
        except docker.errors.NotFound as exc:
            raise GuestNotFound(f"{what or 'object'} not found on Docker engine {self.url}") from exc
        except docker.errors.APIError as exc:
            message = exc.explanation or str(exc)
            if exc.status_code == 409:
                # A name in use, or an action the container's state does not allow.
                error = GuestAlreadyExists if "already in use" in message else InvalidGuestState
                raise error(prefix + message) from exc
            if exc.status_code == 400:
                raise InvalidSpec(prefix + message) from exc
            raise DriverError(f"Docker engine error: {message}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                OSError) as exc:  # an engine that is down, or went away in the middle of a stream
            raise EngineUnavailable(f"Docker engine at {self.url} is not reachable: {exc}") from exc

    def update_resources(self, container: Container, resources: dict) -> None:
        """``docker update`` with the engine's own field names (``NanoCpus``, ``Memory``, ``MemorySwap``): docker-py's
        ``update_container`` has no ``NanoCpus``, and a container made with ``nano_cpus`` refuses a CPU quota."""
        api = self.client.api
        with self.errors(f"container {container.name}"):
            response = api._post_json(api._url("/containers/{0}/update", container.id), data=resources)
            api._result(response, True)

    def container(self, backend_id: str) -> Container:
        with self.errors(f"container {backend_id[:12]}"):
            return self.client.containers.get(backend_id)
