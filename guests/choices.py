"""Guest kinds, states and the actions each state allows: one table drives forms, checks and badges."""

from django.db import models

from drivers.types import GuestKind as DriverGuestKind
from drivers.types import PowerState


class GuestKind(models.TextChoices):
    VM = DriverGuestKind.VM.value, "Virtual machine"
    CT = DriverGuestKind.CT.value, "Container"


class GuestState(models.TextChoices):
    RUNNING = PowerState.RUNNING.value, "running"
    STOPPED = PowerState.STOPPED.value, "stopped"
    PAUSED = PowerState.PAUSED.value, "paused"
    UNKNOWN = PowerState.UNKNOWN.value, "unknown"
    CREATING = "creating", "creating"


class GuestAction(models.TextChoices):
    START = "start", "Start"
    SHUTDOWN = "shutdown", "Shutdown"
    STOP = "stop", "Stop"
    REBOOT = "reboot", "Reboot"
    SUSPEND = "suspend", "Pause"
    RESUME = "resume", "Resume"
    RESET = "reset", "Reset"
    DELETE = "delete", "Delete"


# The states in which each action makes sense; anything else is refused before a task is queued.
ALLOWED_STATES: dict[str, set[str]] = {
    GuestAction.START: {GuestState.STOPPED},
    GuestAction.SHUTDOWN: {GuestState.RUNNING},
    GuestAction.STOP: {GuestState.RUNNING, GuestState.PAUSED},
    GuestAction.REBOOT: {GuestState.RUNNING},
    GuestAction.SUSPEND: {GuestState.RUNNING},
    GuestAction.RESUME: {GuestState.PAUSED},
    GuestAction.RESET: {GuestState.RUNNING},
    GuestAction.DELETE: {GuestState.STOPPED},
}

# Actions that destroy something and ask for a confirmation first.
DESTRUCTIVE_ACTIONS = {GuestAction.STOP, GuestAction.RESET, GuestAction.DELETE}
# Actions only VMs have (Proxmox's lxc has no status/reset).
VM_ONLY_ACTIONS = {GuestAction.RESET}

STATE_BADGES = {
    GuestState.RUNNING: "ok",
    GuestState.STOPPED: "muted",
    GuestState.PAUSED: "warn",
    GuestState.UNKNOWN: "error",
    GuestState.CREATING: "info",
}

VMID_MIN = 100
VMID_MAX = 999_999_999
