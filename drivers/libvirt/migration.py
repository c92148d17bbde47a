"""A VM's migration between two libvirt daemons: the offline steps (the sequence is ``drivers.migration``), the
live migration, and the domain XML as the target is given it.

The target's XML is the source's whole domain XML with only what belongs to the host changed: the paths of the
files that move (disks, console logs, the UEFI variable store), the NICs (the target's network, same MAC, model
and guest address), the graphics ports (picked by the target) and the domain type (the target's accelerator).
Everything else (``<cpu>``, features, clock, devices the panel does not model...) is kept as it is.

Refused before anything is touched: devices that belong to this host (passed-through PCI/USB devices and NICs,
host directories, host character devices, the host's TPM or smartcard), disks that are not files in the node's
storage, and names or files already taken on the target.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from ..base import Progress
from ..errors import DriverError, GuestAlreadyExists, InvalidGuestState, MigrationFailed, MigrationUnsupported
from ..migration import MigrationSteps, Undo
from ..types import GuestInfo, PowerState
from . import storage_pools, vm_files
from .config import GuestConfig, to_xml
from .guest import Guest

if TYPE_CHECKING:
    from .driver import LibvirtDriver

# Devices of this host: what they reach does not exist on another one.
HOST_DEVICES = (
    ("devices/hostdev", "a host device passed through"),
    ("devices/interface[@type='hostdev']", "a host NIC passed through"),
    ("devices/interface[@type='vhostuser']", "a vhost-user NIC (a socket on this host)"),
    ("devices/filesystem", "a host directory shared with the guest"),
    ("devices/smartcard[@mode='host']", "the host's smartcard"),
    ("devices/input[@type='passthrough']", "a host input device"),
    ("devices/input[@type='evdev']", "a host input device"),
    ("devices/tpm/backend[@type='passthrough']", "the host's TPM"),
    ("devices/*[@type='dev']", "a host character device"),
)
USER_NETWORKING = "user"  # QEMU's own NAT; every other NIC type is a tap device of the host


@dataclass
class Relocation:
    """Where each file of the VM goes on the target: source path to target path, worked out once."""

    disks: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    nvram: tuple[str, str] | None = None


def relocation(config: GuestConfig, target_storage: str) -> Relocation:
    """Disks keep their file names; a panel VM's console log and variable store get the names the panel gives."""
    vmid = config.metadata.vmid if config.metadata else None

    def moved(path: str, panel_path: Callable[[str, int], str]) -> str:
        if vmid is None:
            return os.path.join(target_storage, os.path.basename(path))
        return panel_path(target_storage, vmid)

    plan = Relocation()
    for disk in config.disks:
        if disk.source:
            plan.disks[disk.source] = os.path.join(target_storage, os.path.basename(disk.source))
    for serial in config.serials:
        if serial.log_file:
            plan.logs[serial.log_file] = moved(serial.log_file, vm_files.console_log_path)
    if config.nvram:
        plan.nvram = (config.nvram, moved(config.nvram, vm_files.nvram_path))
    return plan


def domain_on_target(domain: etree._Element, plan: Relocation, bridge: str, virt_type: str | None) -> etree._Element:
    """A copy of ``domain`` (a whole <domain>) for the target; see the module's docstring."""
    domain = copy.deepcopy(domain)
    if virt_type:
        domain.set("type", virt_type)
    for source in domain.iterfind("devices/disk/source"):
        if source.get("file") in plan.disks:
            source.set("file", plan.disks[source.get("file")])
    for log in (*domain.iterfind("devices/serial/log"), *domain.iterfind("devices/console/log")):
        if log.get("file") in plan.logs:
            log.set("file", plan.logs[log.get("file")])
    nvram = domain.find("os/nvram")
    if nvram is not None and plan.nvram:
        nvram.text = plan.nvram[1]
    for interface in domain.iterfind("devices/interface"):
        _join(interface, bridge)
    for graphics in domain.iterfind("devices/graphics"):
        graphics.set("autoport", "yes")  # ports are the host's
        for attribute in ("port", "tlsPort", "websocket"):
            graphics.attrib.pop(attribute, None)
    return domain


def _join(interface: etree._Element, bridge: str) -> None:
    """The NIC on the target's network (its bridge, or user networking), keeping MAC, model and guest address."""
    for tag in ("source", "target", "virtualport"):  # the old host's network, tap device and switch port
        for child in interface.findall(tag):
            interface.remove(child)
    interface.set("type", "bridge" if bridge else USER_NETWORKING)
    if bridge:
        etree.SubElement(interface, "source", bridge=bridge)


class VmMigration(MigrationSteps):
    """The offline steps, and the checks and target XML a live migration shares with them."""

    def __init__(self, source: LibvirtDriver, guest: Guest, target: LibvirtDriver, virt_type: str | None) -> None:
        self.source, self.guest, self.target, self.virt_type = source, guest, target, virt_type
        self.label = guest.label
        self.domain = guest.xml(inactive=True)  # the definition it boots with: the one to carry
        self.config = GuestConfig.parse_dom(self.domain)
        self.plan = relocation(self.config, target.storage_dir)
        self.moved: Guest | None = None
        self._copies: list[tuple[str, str]] = []  # (source path, target path) of the files copied

    # -- check ------------------------------------------------------------------------------

    def check(self) -> None:
        reasons = sorted({why for path, why in HOST_DEVICES if self.domain.find(path) is not None})
        for cdrom in self.config.cdroms:
            if cdrom.source:  # as Proxmox: the image is the node's, the target may not have it
                reasons.append(f"a local CD/DVD image is attached ({os.path.basename(cdrom.source)})")
        for disk in self.config.disks:
            if disk.type != "file":
                reasons.append(f"disk {disk.source or disk.target} is not a file ({disk.type})")
            elif disk.source and not vm_files.is_under(disk.source, self.source.storage_dir):
                reasons.append(f"disk {disk.source} is outside the node's storage {self.source.storage_dir} "
                               "(the panel moves only the disks it made)")
        if reasons:
            raise MigrationUnsupported(f"{self.label} cannot be migrated: {'; '.join(reasons)}. Nothing was changed")
        if self.target._host.find_guest(self.config.name) is not None:
            raise GuestAlreadyExists(f"a VM named '{self.config.name}' already exists on the target node")
        for what, path in self._files_to_copy():
            if storage_pools.find_volume(self.target._host, path[1]) is not None:
                raise GuestAlreadyExists(f"{what} {path[1]} already exists on the target node")

    def _files_to_copy(self) -> list[tuple[str, tuple[str, str]]]:
        files = [("disk", paths) for paths in self.plan.disks.items()]
        if self.plan.nvram and storage_pools.find_volume(self.source._host, self.plan.nvram[0]) is not None:
            files.append(("UEFI variable store", self.plan.nvram))  # made from its template at the first boot
        return files

    # -- offline steps ----------------------------------------------------------------------

    def copy(self, undo: Undo, progress: Progress) -> None:
        source, target = self.source._host, self.target._host
        for what, (path, new_path) in self._files_to_copy():
            volume = storage_pools.copy_volume(source, path, target, new_path, progress, what=what)
            undo.add(f"{what} {new_path} on the target", lambda v=volume: storage_pools.delete_volume(target, v))
            self._copies.append((path, new_path))
        xml = to_xml(domain_on_target(self.domain, self.plan, self.target.bridge, self.virt_type))
        self.moved = target.define(xml)
        # Not the nvram flag: the variable store's copy is removed by its own undo, if it was made.
        undo.add(f"{self.moved.label} on the target", self.moved.undefine)
        progress(f"defined {self.moved.label} on {self.target.uri}")

    def verify(self, progress: Progress) -> None:
        for path, new_path in self._copies:
            _capacity, here = storage_pools.sizes(self.source._host, storage_pools.find_volume(self.source._host, path))
            copied = storage_pools.find_volume(self.target._host, new_path)
            there = storage_pools.sizes(self.target._host, copied)[1] if copied is not None else None
            if there != here:
                raise MigrationFailed(f"{new_path} on the target is not a whole copy of {path}: "
                                      f"{there} bytes there, {here} here")
        progress(f"checked on the target: {len(self._copies)} file(s) of the same sizes as here")

    def start_on_target(self, progress: Progress) -> None:
        assert self.moved is not None
        self.moved.start()
        if not self.moved.is_active():
            raise MigrationFailed(f"{self.moved.label} does not stay running on the target")
        progress(f"started {self.moved.label} on {self.target.uri}")

    def target_info(self) -> GuestInfo:
        assert self.moved is not None
        return self.target.get_guest(self.moved.uuid)

    def remove_source(self, progress: Progress) -> None:
        self.guest.undefine(nvram=self.config.nvram is not None)
        self.remove_source_files(progress)

    def remove_source_files(self, progress: Progress) -> None:
        left = vm_files.remove_files(vm_files.files_in_storage(self.config, self.source.storage_dir))
        if left:
            progress(f"warning: {self.label} moved, but these files could not be removed: {', '.join(left)}")

    # -- live -------------------------------------------------------------------------------

    def check_live(self) -> None:
        """What a live migration needs besides what ``check`` asks; raises before anything is touched."""
        here = self.source._host.host_uuid()
        if here == self.target._host.host_uuid():
            raise MigrationUnsupported(
                f"libvirt cannot live-migrate {self.label} from {self.source.uri} to {self.target.uri}: both "
                f"daemons are on the same host (host UUID {here}), and libvirt refuses to migrate a VM to the host it "
                "already runs on. Migrate it offline instead (it is shut down, moved and started again)")
        if not self.guest.is_active():
            raise InvalidGuestState(f"cannot migrate {self.label} live: it is not running; migrate it offline")
        if self.plan.nvram:
            raise MigrationUnsupported(f"cannot migrate {self.label} live: a live migration does not carry its UEFI "
                                       "variable store; migrate it offline")
        wanted = "bridge" if self.target.bridge else USER_NETWORKING
        for interface in self.guest.xml().iterfind("devices/interface"):
            if (interface.get("type") == USER_NETWORKING) != (wanted == USER_NETWORKING):
                mac = interface.find("mac")
                raise MigrationUnsupported(
                    f"cannot migrate {self.label} live: its NIC {mac.get('address') if mac is not None else ''} "
                    f"uses {interface.get('type')} networking here and would use {wanted} networking on "
                    f"{self.target.uri}, which QEMU cannot switch under a running guest; migrate it offline")

    def migrate_live(self, progress: Progress) -> GuestInfo:
        """libvirt's live migration, the disks copied by QEMU (NBD) into empty images made on the target first."""
        self.check_live()
        self.check()
        made = []
        try:
            for path, new_path in self.plan.disks.items():
                capacity, _size = storage_pools.sizes(
                    self.source._host, storage_pools.find_volume(self.source._host, path))
                made.append(storage_pools.create_empty_like(self.target._host, new_path, capacity))
            progress(f"migrating {self.label} live to {self.target.uri}")
            running = domain_on_target(self.guest.xml(migratable=True), self.plan, self.target.bridge, self.virt_type)
            defined = domain_on_target(self.guest.xml(inactive=True, migratable=True), self.plan, self.target.bridge,
                                       self.virt_type)
            moved = self.guest.migrate_live(self.target._host, to_xml(running), to_xml(defined),
                                            [d.target for d in self.config.disks if d.source])
        except DriverError as exc:
            for volume in made:  # nothing runs on them: the VM is still here
                try:
                    storage_pools.delete_volume(self.target._host, volume)
                except DriverError as cleanup:
                    progress(f"could not remove an empty disk made on the target: {cleanup.message}")
            raise MigrationFailed(f"live migration of {self.label} failed: {exc.message}") from exc
        # From here the VM runs on the target, on those disks: nothing there is undone, whatever fails next.
        progress(f"{self.label} runs on {self.target.uri}")
        try:
            info = self.target.get_guest(moved.uuid)
        except DriverError as exc:
            raise MigrationFailed(
                f"{self.label} was migrated live and runs on {self.target.uri}, but could not be read there: "
                f"{exc.message}. Its disks there are kept, and so are its old files here") from exc
        if info.state is not PowerState.RUNNING:
            progress(f"warning: {self.label} is {info.state.value} on the target")
        self.remove_source_files(progress)
        return info
