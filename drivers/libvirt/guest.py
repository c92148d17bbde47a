"""A libvirt domain with verbs named for what the panel means, raising our typed errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import libvirt
from lxml import etree

from ..types import PowerState
from .config import PANEL_NS, GuestConfig, GuestMetadata, SnapshotConfig, parse_xml

if TYPE_CHECKING:
    from .host import Host

# BLOCKED is a running guest with idle vCPUs; SHUTDOWN is a guest still on its way down.
# CRASHED (kept by on_crash=preserve) and PMSUSPENDED (guest S3 sleep) fit none of ours.
_POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.UNKNOWN,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.STOPPED,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.UNKNOWN,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.UNKNOWN,
}

# Managed-save images and snapshot/checkpoint metadata would make a plain undefine fail.
_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
)

P = ParamSpec("P")
R = TypeVar("R")


def power_state(state: int) -> PowerState:
    return _POWER_STATES.get(state, PowerState.UNKNOWN)


def _translated(method: Callable[Concatenate[Guest, P], R]) -> Callable[Concatenate[Guest, P], R]:
    """Run a Guest method with libvirt errors turned into ours (by Host.translate)."""

    @functools.wraps(method)
    def wrapper(guest: Guest, *args: P.args, **kwargs: P.kwargs) -> R:
        with guest.host.errors(guest.label):
            return method(guest, *args, **kwargs)

    return wrapper


def _unsupported_flags(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT)


@dataclass(frozen=True)
class DomainInfo:
    state: PowerState
    max_memory_kib: int
    memory_kib: int
    vcpus: int
    cpu_time_ns: int


class Guest:
    def __init__(self, domain: libvirt.virDomain, host: Host) -> None:
        self.domain = domain
        self.host = host

    def __repr__(self) -> str:
        return f"<Guest {self.name} {self.uuid}>"

    # name and UUID are cached in the virDomain object: no round trip.
    @property
    def uuid(self) -> str:
        return self.domain.UUIDString()

    @property
    def name(self) -> str:
        return self.domain.name()

    @property
    def label(self) -> str:
        return f"VM {self.name}"

    @_translated
    def power_state(self) -> PowerState:
        state, _reason = self.domain.state()
        return power_state(state)

    @_translated
    def is_active(self) -> bool:
        return bool(self.domain.isActive())

    @_translated
    def info(self) -> DomainInfo:
        state, max_memory, memory, vcpus, cpu_time = self.domain.info()
        return DomainInfo(power_state(state), max_memory, memory, vcpus, cpu_time)

    @_translated
    def get_config(self) -> GuestConfig:
        return GuestConfig.parse_dom(parse_xml(self.domain.XMLDesc(0)))

    @_translated
    def xml(self, *, inactive: bool = False, migratable: bool = False) -> etree._Element:
        """The domain's whole XML: the running definition, or with ``inactive`` the one it boots with next."""
        flags = (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0) | (
            libvirt.VIR_DOMAIN_XML_MIGRATABLE if migratable else 0)
        return parse_xml(self.domain.XMLDesc(flags))

    @_translated
    def get_metadata(self) -> GuestMetadata | None:
        """Our <metadata> element, or None for a domain the panel did not create."""
        try:
            xml = self.domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, PANEL_NS, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                return None
            raise
        return GuestMetadata.parse_dom(parse_xml(xml))

    @_translated
    def start(self) -> None:
        self.domain.create()

    @_translated
    def shutdown(self) -> None:
        """Press the ACPI power button; returns at once, the guest decides when to power off."""
        try:
            self.domain.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            if not _unsupported_flags(exc):
                raise
            self.domain.shutdown()  # hypervisors without the flag (test://) pick their only method

    @_translated
    def reboot(self) -> None:
        """ACPI reboot: libvirt presses the power button and restarts the guest when it powers off."""
        try:
            self.domain.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            if not _unsupported_flags(exc):
                raise
            self.domain.reboot(0)

    @_translated
    def reset(self) -> None:
        """Hardware reset: the guest restarts at once without being asked."""
        self.domain.reset(0)

    @_translated
    def destroy(self) -> None:
        """Pull the plug."""
        self.domain.destroy()

    @_translated
    def pause(self) -> None:
        self.domain.suspend()

    @_translated
    def resume(self) -> None:
        self.domain.resume()

    @_translated
    def migrate_live(self, target: Host, xml: str, persistent_xml: str, disks: list[str]) -> Guest:
        """Live migration to ``target``'s daemon, copying ``disks`` (targets like ``vda``) over NBD; the VM runs
        there as ``xml`` and is defined there as ``persistent_xml``.

        The client drives it (not peer-to-peer), so the two daemons need not reach each other's URIs.
        """
        params = {
            libvirt.VIR_MIGRATE_PARAM_DEST_XML: xml,
            libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: persistent_xml,
            libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: disks,
        }
        flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST
                 | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE | libvirt.VIR_MIGRATE_NON_SHARED_DISK)
        with target.errors(f"{self.label} on the target"):
            connection = target.get_connection()
        return Guest(self.domain.migrate3(connection, params, flags), target)

    # -- snapshots (internal ones, in the qcow2 disks: with the RAM when the domain runs) --------------------------

    @_translated
    def snapshots(self) -> list[SnapshotConfig]:
        return [SnapshotConfig.parse_dom(parse_xml(s.getXMLDesc(0))) for s in self.domain.listAllSnapshots(0)]

    @_translated
    def create_snapshot(self, config: SnapshotConfig) -> SnapshotConfig:
        snapshot = self.domain.snapshotCreateXML(config.to_xml(), 0)
        return SnapshotConfig.parse_dom(parse_xml(snapshot.getXMLDesc(0)))

    @_translated
    def revert_to_snapshot(self, name: str) -> None:
        """The domain as the snapshot left it: running from its RAM if it holds it, else stopped."""
        snapshot = self.domain.snapshotLookupByName(name, 0)
        try:
            self.domain.revertToSnapshot(snapshot, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_SNAPSHOT_REVERT_RISKY:
                raise
            # libvirt wants to be told that dropping the present state (a running domain) is meant: it is.
            self.domain.revertToSnapshot(snapshot, libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)

    @_translated
    def delete_snapshot(self, name: str) -> None:
        self.domain.snapshotLookupByName(name, 0).delete(0)

    @_translated
    def set_memory(self, kib: int, *, live: bool) -> None:
        """Live: the balloon's target (at most what the VM booted with). Not live: the memory it boots with next,
        its maximum first (libvirt lowers the current size with it), then its current size."""
        if live:
            self.domain.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return
        self.domain.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
        self.domain.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_CONFIG)

    @_translated
    def set_vcpus(self, count: int, *, live: bool) -> None:
        """Live: vCPU hotplug, which libvirt refuses beyond the maximum the VM booted with or where QEMU cannot
        unplug. Not live: the count it boots with next (maximum and current, in the order libvirt accepts)."""
        if live:
            self.domain.setVcpusFlags(count, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return
        config, maximum = libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_VCPU_MAXIMUM
        if count >= self.domain.vcpusFlags(config | maximum):
            self.domain.setVcpusFlags(count, config | maximum)
            self.domain.setVcpusFlags(count, config)
        else:
            self.domain.setVcpusFlags(count, config)
            self.domain.setVcpusFlags(count, config | maximum)

    @_translated
    def disk_capacity(self, target: str) -> int:
        """The size in bytes the guest sees of its disk ``target`` (``vda``...), running or not."""
        capacity, _allocation, _physical = self.domain.blockInfo(target)
        return capacity

    @_translated
    def rename(self, name: str) -> None:
        """libvirt renames only a domain that is not running."""
        self.domain.rename(name, 0)

    @_translated
    def block_resize(self, target: str, size_bytes: int) -> None:
        """Grow a running VM's disk (``vda``...): QEMU grows the image and tells the guest."""
        self.domain.blockResize(target, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)

    @_translated
    def undefine(self, nvram: bool = False) -> None:
        flags = _UNDEFINE_FLAGS | (libvirt.VIR_DOMAIN_UNDEFINE_NVRAM if nvram else 0)
        try:
            self.domain.undefineFlags(flags)
        except libvirt.libvirtError as exc:
            if not _unsupported_flags(exc):
                raise
            # Drivers without checkpoints (test://) refuse the flag; the rest still matters.
            self.domain.undefineFlags(flags & ~libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
