"""Plain values exchanged between drivers and the panel."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class GuestKind(enum.StrEnum):
    VM = "vm"
    CT = "ct"

    @property
    def engine(self) -> str:
        """The engine a guest of this kind runs on."""
        return "libvirt" if self is GuestKind.VM else "docker"


class PowerState(enum.StrEnum):
    """Our own power states; each driver maps its engine's states onto these."""

    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GuestUsage:
    """Counters read at one instant; rates (CPU %) come from two readings."""

    cpu_time_ns: int = 0
    memory_used: int = 0  # bytes
    disk_used: int | None = None  # bytes, None where the engine cannot tell cheaply
    uptime: int = 0  # seconds since the guest started, 0 when not running
    # Cumulative I/O counters in bytes since the guest started (rates come from two readings).
    net_in: int = 0
    net_out: int = 0
    disk_read: int = 0
    disk_write: int = 0


@dataclass(frozen=True)
class GuestInfo:
    """What an engine knows of one guest."""

    backend_id: str  # libvirt domain UUID or Docker container id
    name: str
    state: PowerState
    vcpus: float
    memory_mib: int  # configured maximum; 0 means no limit
    disk_bytes: int = 0  # configured disk size, 0 when unknown
    vmid: int | None = None  # set when the panel created the guest
    template: str = ""
    usage: GuestUsage = field(default_factory=GuestUsage)


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    kind: GuestKind
    description: str = ""
    min_memory_mib: int = 4


@dataclass(frozen=True)
class PortMapping:
    """A container port published on the host (``docker run -p [address:]host:container/protocol``)."""

    host_port: int
    container_port: int
    protocol: str = "tcp"  # or "udp"
    address: str = ""  # the host address to listen on; empty: all of them


@dataclass(frozen=True)
class VolumeMount:
    """A named volume of the engine mounted in a container (never a host path)."""

    volume: str
    path: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerOptions:
    """What a container runs and with what, beyond its template: Docker's own settings of a container."""

    command: tuple[str, ...] = ()  # the arguments run instead of the image's command; empty: the image's own
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortMapping, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    restart: str = "no"  # Docker's restart policy: no, on-failure, always, unless-stopped


@dataclass(frozen=True)
class GuestSpec:
    """A request to create a guest; validated by the panel before it gets here."""

    vmid: int
    name: str
    template: str
    vcpus: int
    memory_mib: int
    disk_gib: int = 0
    accelerator: str = "kvm"  # VMs only: libvirt domain type, 'kvm' or 'qemu'
    container: ContainerOptions = field(default_factory=ContainerOptions)  # containers only
    iso: str = ""  # VMs only: an ISO image of the node's storage to boot from, with an empty disk (no template)
    network: str = ""  # VMs only: "" the node's (its bridge, or NAT without one), "user" NAT, "none" no NIC


@dataclass(frozen=True)
class ConfigChange:
    """A change of a guest's settings, validated by the panel; None leaves a setting as it is."""

    name: str | None = None
    memory_mib: int | None = None
    vcpus: int | None = None  # 0: no CPU limit (containers)

    def fields(self) -> set[str]:
        return {f for f in ("name", "memory_mib", "vcpus") if getattr(self, f) is not None}

    def only(self, fields: set[str]) -> ConfigChange:
        return ConfigChange(**{f: getattr(self, f) for f in fields})


@dataclass(frozen=True)
class EngineInfo:
    name: str  # 'docker' or 'libvirt'
    version: str
    uri: str


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot as its engine keeps it; the panel keeps the tree and descriptions (guests.models.Snapshot)."""

    name: str
    created: int = 0  # Unix time
    description: str = ""
    parent: str = ""  # the snapshot it was taken after, where the engine knows it
    vmstate: bool = False  # it holds the guest's RAM: a rollback resumes the guest where it was


@dataclass(frozen=True)
class CloneSpec:
    """A request to copy a guest into a new one on the same engine; validated by the panel before it gets here."""

    vmid: int
    name: str
    accelerator: str = "kvm"  # VMs only
