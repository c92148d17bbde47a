"""The driver interface: every operation the panel asks of an engine.

Implementations: ``drivers.libvirt.LibvirtDriver`` (VMs) and
``drivers.docker.DockerDriver`` (containers). All calls are blocking and meant
to run on the node's Celery worker; from async code wrap them in a thread.
Every failure is raised as a ``drivers.errors.DriverError`` subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from .types import EngineInfo, GuestInfo, GuestKind, GuestSpec, TemplateInfo

Progress = Callable[[str], None]


def no_progress(_message: str) -> None:
    return None


class GuestDriver(ABC):
    kind: GuestKind

    @abstractmethod
    def engine_info(self) -> EngineInfo:
        """Engine name and version; raises EngineUnavailable when it does not answer."""

    @abstractmethod
    def list_guests(self) -> list[GuestInfo]:
        """Every guest on the node, including ones created outside the panel, with usage."""

    @abstractmethod
    def get_guest(self, backend_id: str, with_usage: bool = True) -> GuestInfo:
        """One guest; raises GuestNotFound. Without usage where only the state and config matter."""

    @abstractmethod
    def list_templates(self) -> list[TemplateInfo]:
        """Templates this node can create guests from."""

    @abstractmethod
    def create(self, spec: GuestSpec) -> GuestInfo:
        """Create a stopped guest from a template. Leaves nothing behind when it fails."""

    @abstractmethod
    def delete(self, backend_id: str) -> None:
        """Remove a stopped guest and its disks; raises InvalidGuestState if it runs."""

    @abstractmethod
    def start(self, backend_id: str) -> None: ...

    @abstractmethod
    def shutdown(self, backend_id: str, timeout: float) -> None:
        """Ask the guest to power off and wait; raises OperationTimeout, never forces."""

    @abstractmethod
    def stop(self, backend_id: str) -> None:
        """Power off at once, like pulling the plug."""

    @abstractmethod
    def reboot(self, backend_id: str, timeout: float) -> None:
        """Restart the guest; a guest that ignores the request is reset."""

    @abstractmethod
    def suspend(self, backend_id: str) -> None: ...

    @abstractmethod
    def resume(self, backend_id: str) -> None: ...

    @abstractmethod
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
        """Move a guest to another node's engine of the same kind; returns the guest there.

        Offline: a running guest is shut down (``timeout`` s, then stopped), its disk or file system
        and configuration are carried over, and it is started on the target if it was running. The
        source is removed only once the target runs; on failure what was made on the target is
        removed and the source is left as it was (started again if it was running).
        Online: a live migration where the engine can do one between the two nodes; raises
        MigrationUnsupported (leaving the guest untouched) where it cannot.
        ``accelerator`` is the target node's VM domain type; ``progress`` receives log lines.
        """

    def close(self) -> None:
        """Release the engine connection."""
        return None
