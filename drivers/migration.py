"""Offline migration, the one sequence both engines follow; each engine gives only its steps (``MigrationSteps``).

1. ``check``: refuse what cannot be carried, before anything is touched.
2. a running guest is shut down (``timeout`` s), then stopped if it does not power off.
3. ``copy``: data and configuration go to the target, where the guest is made stopped; each thing made there is
   recorded in an ``Undo`` as it is made.
4. ``verify``: the data on the target is compared with the source's, at rest.
5. ``start_on_target``, if the guest was running.
6. only then ``remove_source``. A failure in 3-5 undoes what was made (and nothing else), in reverse order, and
   starts the source again if it was running.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from .base import GuestDriver, Progress
from .errors import DriverError, InvalidGuestState, MigrationFailed
from .types import GuestInfo, PowerState

log = logging.getLogger(__name__)


class Undo:
    """What a migration made on the target, removed again in reverse order if the migration fails."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._actions: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, remove: Callable[[], None]) -> None:
        """Record that ``what`` was made; ``remove`` takes it away (raising DriverError when it cannot)."""
        self._actions.append((what, remove))

    def run(self) -> None:
        while self._actions:
            what, remove = self._actions.pop()
            try:
                remove()
            except DriverError as exc:
                # Keep going: one leftover must not keep the others, or the source's restart, from happening.
                log.error("could not remove %s after a failed migration: %s", what, exc)
                self._progress(f"could not remove {what}: {exc.message}")
            else:
                self._progress(f"removed {what}")


class MigrationSteps(ABC):
    """One engine's part of an offline migration of one guest, run by ``migrate_offline``."""

    label: str  # how messages call the guest: 'container web1', 'VM web1'

    @abstractmethod
    def check(self) -> None:
        """Raise (MigrationUnsupported, GuestAlreadyExists...) if the guest cannot be carried; touches nothing."""

    @abstractmethod
    def copy(self, undo: Undo, progress: Progress) -> None:
        """Make the guest on the target, stopped, with its data; ``undo.add`` each thing as soon as it is made."""

    @abstractmethod
    def verify(self, progress: Progress) -> None:
        """Raise MigrationFailed unless the data on the target is the source's."""

    @abstractmethod
    def start_on_target(self, progress: Progress) -> None:
        """Start the copy and raise MigrationFailed unless it runs."""

    @abstractmethod
    def target_info(self) -> GuestInfo:
        """The guest as the target's engine now knows it."""

    @abstractmethod
    def remove_source(self, progress: Progress) -> None:
        """Remove the source guest and everything of it that was carried (disks, volumes...)."""


def migrate_offline(source: GuestDriver, backend_id: str, steps: MigrationSteps, timeout: float,
                    progress: Progress) -> GuestInfo:
    """Run ``steps`` in the order above; returns the guest on the target. See ``GuestDriver.migrate``."""
    steps.check()
    state = source.power_state(backend_id)
    if state is PowerState.PAUSED:
        raise InvalidGuestState(f"cannot migrate {steps.label}: it is paused, resume or stop it first")
    if state is PowerState.UNKNOWN:  # crashed, suspended to RAM...: its disks may still be in use
        raise InvalidGuestState(f"cannot migrate {steps.label}: its state is unknown, stop it first")
    was_running = state is PowerState.RUNNING
    if was_running:
        progress(f"shutting down {steps.label} (timeout {timeout:g} s)")
        source.power_off(backend_id, timeout, force=True, progress=progress)
    undo = Undo(progress)
    try:
        steps.copy(undo, progress)
        steps.verify(progress)
        if was_running:
            steps.start_on_target(progress)
        info = steps.target_info()
    except BaseException as exc:
        progress(f"migration failed: {exc}; removing what was made on the target")
        undo.run()
        if was_running:
            progress(f"starting {steps.label} again on its node")
            try:
                source.start(backend_id)
            except DriverError as start_error:
                log.error("could not restart %s after a failed migration: %s", steps.label, start_error)
                progress(f"could not start {steps.label} again: {start_error.message}")
        if isinstance(exc, DriverError):
            raise MigrationFailed(f"migration of {steps.label} failed: {exc.message}") from exc
        raise
    progress(f"removing {steps.label} from its old node")
    try:
        steps.remove_source(progress)
    except DriverError as exc:
        # The guest runs on the target now: a leftover here must not make the migration look failed.
        progress(f"warning: {steps.label} moved, but its old copy could not be removed: {exc.message}")
    return info
