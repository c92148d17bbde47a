"""The driver interface: every operation the panel asks of an engine.

Implementations: ``drivers.libvirt.LibvirtDriver`` (VMs) and
``drivers.docker.DockerDriver`` (containers). All calls are blocking and meant
to run on the node's Celery worker; from async code wrap them in a thread.
Every failure is raised as a ``drivers.errors.DriverError`` subclass.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from .errors import InvalidGuestState, OperationTimeout
from .terminal import Terminal
from .types import (
    CloneSpec,
    ConfigChange,
    EngineInfo,
    GuestInfo,
    GuestKind,
    GuestSpec,
    PowerState,
    SnapshotInfo,
    TemplateInfo,
)

Progress = Callable[[str], None]
Interrupt = Callable[[], None]  # called while waiting; raises to give the wait up
POLL_INTERVAL = 0.2  # seconds between two looks at a guest's state while waiting for it


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
    def power_state(self, backend_id: str) -> PowerState:
        """The guest's power state now, in one cheap engine call; raises GuestNotFound."""

    @abstractmethod
    def list_templates(self) -> list[TemplateInfo]:
        """Templates this node can create guests from."""

    def list_networks(self) -> list[dict]:
        """The engine's own networks, read-only (name, driver, scope, subnets, gateways); none by default."""
        return []

    @abstractmethod
    def create(self, spec: GuestSpec) -> GuestInfo:
        """Create a stopped guest from a template. Leaves nothing behind when it fails."""

    @abstractmethod
    def delete(self, backend_id: str, progress: Progress = no_progress) -> None:
        """Remove a stopped guest and its disks (volumes), saying what went; raises InvalidGuestState if it runs."""

    @abstractmethod
    def start(self, backend_id: str) -> None: ...

    @abstractmethod
    def update_config(self, backend_id: str, change: ConfigChange) -> set[str]:
        """Apply ``change``: all of it to a stopped guest; to a running one what the engine can change while it
        runs (and keeps for its next start). Returns the fields left unapplied (a running VM's name, memory
        beyond what it booted with...), to be applied while it is stopped, before its next start."""

    @abstractmethod
    def resize_disk(self, backend_id: str, disk: int, size_bytes: int) -> int:
        """Grow disk number ``disk`` (0: the first) to ``size_bytes``, live when the guest runs; returns its new
        size. Raises InvalidSpec for a shrink or a disk it does not have."""

    @abstractmethod
    def request_shutdown(self, backend_id: str) -> str:
        """Ask a running guest to power off (ACPI power button, stop signal) and return at once.

        Raises InvalidGuestState when it is not running; returns how messages call it ('VM web1').
        """

    def shutdown(self, backend_id: str, timeout: float, interrupt: Interrupt | None = None) -> None:
        """Ask the guest to power off and wait; raises OperationTimeout, never forces."""
        label = self.request_shutdown(backend_id)
        if not self.wait_for_state(backend_id, PowerState.STOPPED, timeout, interrupt):
            raise OperationTimeout(f"{label} did not shut down within {timeout:g} s")

    @abstractmethod
    def stop(self, backend_id: str) -> None:
        """Power off at once, like pulling the plug."""

    def power_off(self, backend_id: str, timeout: float, *, force: bool, progress: Progress = no_progress,
                  interrupt: Interrupt | None = None) -> None:
        """Shut the guest down gracefully within ``timeout`` s; if it does not, stop it when ``force``, else raise
        OperationTimeout. The one shutdown-then-stop sequence: used by the shutdown task and by migrations.
        ``interrupt`` is called while waiting, and may raise to give the wait up (leaving the guest as it is)."""
        try:
            self.shutdown(backend_id, timeout, interrupt)
        except OperationTimeout as exc:
            if not force:
                raise
            progress(f"{exc.message}; stopping it")
            try:
                self.stop(backend_id)
            except InvalidGuestState:
                if self.power_state(backend_id) is not PowerState.STOPPED:
                    raise  # else it powered off by itself between the timeout and the stop

    def wait_for_state(self, backend_id: str, wanted: PowerState, timeout: float,
                       interrupt: Interrupt | None = None) -> bool:
        """Whether the guest reaches ``wanted`` within ``timeout`` s (engine errors are raised, not waited out);
        ``interrupt`` is called between two looks."""
        deadline = time.monotonic() + timeout
        while self.power_state(backend_id) is not wanted:
            if time.monotonic() >= deadline:
                return False
            if interrupt is not None:
                interrupt()
            time.sleep(POLL_INTERVAL)
        return True

    @abstractmethod
    def reboot(self, backend_id: str, timeout: float) -> None:
        """Restart the guest; a guest that ignores the request is reset."""

    def reset(self, backend_id: str) -> None:
        """A hardware reset: the guest restarts at once without being asked (VMs only)."""
        raise InvalidGuestState(f"a {self.kind.value} cannot be reset: only VMs can")

    @abstractmethod
    def suspend(self, backend_id: str) -> None: ...

    @abstractmethod
    def resume(self, backend_id: str) -> None: ...

    @abstractmethod
    def open_console(self, backend_id: str) -> Terminal:
        """A terminal on the running guest (a container's shell, a VM's serial console); raises
        InvalidGuestState when it is not running."""

    def open_display(self, backend_id: str) -> Terminal:
        """A byte stream to the running guest's graphical display (VNC's RFB), for a guest that has one."""
        raise InvalidGuestState("a container has no display: use its console" if self.kind is GuestKind.CT
                                else "this guest has no display")

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

        Offline (``drivers.migration``): what cannot be carried is refused before anything is touched; a
        running guest is shut down (``timeout`` s, then stopped); its disks or file system, volumes and
        configuration are copied; the copy is checked and started on the target if the guest was running.
        The source is removed only then; on failure what was made on the target is removed and the source
        is left as it was (started again if it was running).
        Online: a live migration where the engine can do one between the two nodes; raises
        MigrationUnsupported (leaving the guest untouched) where it cannot.
        ``accelerator`` is the target node's VM domain type; ``progress`` receives log lines.
        """

    # -- snapshots and clones (the panel keeps the tree, the descriptions and which one "current" follows) --------

    @abstractmethod
    def list_snapshots(self, backend_id: str) -> list[SnapshotInfo]:
        """The guest's snapshots as its engine keeps them, oldest first."""

    @abstractmethod
    def create_snapshot(self, backend_id: str, name: str, description: str = "", vmstate: bool = False,
                        progress: Progress = no_progress) -> SnapshotInfo:
        """Take a snapshot of the guest as it is, running or not (``limits.check_snapshot_name``); with
        ``vmstate`` (VMs) its RAM too, so that a rollback resumes it. Raises SnapshotExists for a name in use,
        SnapshotUnsupported for what the engine cannot snapshot; leaves nothing behind when it fails."""

    @abstractmethod
    def rollback_snapshot(self, backend_id: str, name: str, progress: Progress = no_progress) -> str:
        """Make the guest what it was when ``name`` was taken, dropping its present state (a running guest is
        stopped first; one whose snapshot holds its RAM runs again from there). Returns the guest's backend id
        afterwards: a container is made again, under a new id. Raises SnapshotNotFound."""

    @abstractmethod
    def delete_snapshot(self, backend_id: str, name: str, progress: Progress = no_progress) -> None:
        """Remove one snapshot and what it holds; the guest and the other snapshots are left as they are."""

    @abstractmethod
    def clone(self, backend_id: str, spec: CloneSpec, progress: Progress = no_progress) -> GuestInfo:
        """A new stopped guest ``spec.name`` with VMID ``spec.vmid``, a full copy of this one's disks (or file
        system and volumes) and configuration, on the same engine. Leaves nothing behind when it fails."""

    def close(self) -> None:
        """Release the engine connection."""
        return None
