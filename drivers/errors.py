"""Typed driver errors. Every message is meant to be shown to a user as is."""


class DriverError(Exception):
    """Base of every error a driver raises; ``str(error)`` is a readable message."""

    code = "driver_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineUnavailable(DriverError):
    """The engine (Docker daemon, libvirtd) cannot be reached or refused the connection."""

    code = "engine_unavailable"


class GuestNotFound(DriverError):
    code = "guest_not_found"


class GuestAlreadyExists(DriverError):
    code = "guest_exists"


class TemplateNotFound(DriverError):
    code = "template_not_found"


class InvalidGuestState(DriverError):
    """The action is not possible in the guest's current power state."""

    code = "invalid_state"


class InvalidSpec(DriverError):
    """A create request the engine would refuse (bad name, size out of range...)."""

    code = "invalid_spec"


class OperationTimeout(DriverError):
    """A graceful operation (shutdown, reboot) did not finish in the given time."""

    code = "timeout"


class MigrationUnsupported(DriverError):
    """The engine cannot move this guest this way between these two nodes; nothing was changed."""

    code = "migration_unsupported"


class MigrationFailed(DriverError):
    """A migration failed; the source guest was left (or put back) as it was."""

    code = "migration_failed"


class SnapshotNotFound(DriverError):
    code = "snapshot_not_found"


class SnapshotExists(DriverError):
    code = "snapshot_exists"


class SnapshotUnsupported(DriverError):
    """The engine cannot snapshot (or roll back) this guest as it is; nothing was changed."""

    code = "snapshot_unsupported"
