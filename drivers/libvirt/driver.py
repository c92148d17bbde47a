"""Virtual machines on libvirt (QEMU), through libvirt-python.

Policy lives here: what a panel VM looks like (``_guest_config``), which states allow
which action, where its files go. The Host owns the connection and error translation,
the Guest the domain verbs, config.py the XML.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time

import libvirt

from ..base import GuestDriver, Progress, no_progress
from ..errors import (
    DriverError,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    MigrationFailed,
    MigrationUnsupported,
    OperationTimeout,
)
from ..types import EngineInfo, GuestInfo, GuestKind, GuestSpec, GuestUsage, PowerState, TemplateInfo
from . import storage, templates, volumes
from .config import (
    GuestConfig,
    GuestConsole,
    GuestDisk,
    GuestGraphics,
    GuestInterface,
    GuestMemballoon,
    GuestMetadata,
    GuestSerial,
)
from .guest import Guest, power_state
from .host import Host

log = logging.getLogger(__name__)

# RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MAX_NAME = 253
MAX_DISK_GIB = 4096
ACCELERATORS = ("kvm", "qemu")  # kvm: hardware virtualisation; qemu: TCG software emulation
_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BLOCK
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
)
_POLL = 0.2  # seconds between state checks while waiting for a guest


# A Linux network interface name (IFNAMSIZ): what a bridge may be called.
BRIDGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def validate_name(name: str) -> None:
    labels = name.split(".")
    if not name or len(name) > _MAX_NAME or not all(_LABEL.match(label) for label in labels):
        raise InvalidSpec(
            f"'{name}' is not a valid VM name: use a host name made of letters, digits and '-' "
            "(not at either end), 1 to 63 characters, with optional '.'-separated parts"
        )


class LibvirtDriver(GuestDriver):
    kind = GuestKind.VM

    def __init__(self, uri: str, storage_dir: str, template_dir: str, bridge: str = "",
                 name_prefix: str = "") -> None:
        """``bridge``: the host bridge new VMs' NICs join (Proxmox's vmbr0); empty for user networking.
        ``name_prefix``: only domains whose names start with it are listed (daemons shared by panels)."""
        if bridge and not BRIDGE_NAME.match(bridge):
            raise InvalidSpec(f"'{bridge}' is not a valid bridge name (1 to 15 letters, digits, '.', '_', '-')")
        self.uri = uri
        self.storage_dir = os.path.abspath(storage_dir)  # libvirt resolves no relative paths
        self.template_dir = template_dir
        self.bridge = bridge
        self.name_prefix = name_prefix
        self._host = Host(uri)

    def close(self) -> None:
        self._host.close()

    # -- inventory ---------------------------------------------------------------------------

    def engine_info(self) -> EngineInfo:
        return EngineInfo(name="libvirt", version=self._host.version(), uri=self.uri)

    def list_guests(self) -> list[GuestInfo]:
        infos = []
        for guest, stats in self._host.domain_stats(_STATS):
            if not guest.name.startswith(self.name_prefix):
                continue
            try:
                infos.append(self._info(guest, stats))
            except GuestNotFound:
                continue  # undefined between the stats call and ours
        return infos

    def get_guest(self, backend_id: str, with_usage: bool = True) -> GuestInfo:
        # One bulk-stats call gives config and usage together: nothing to save by skipping usage.
        guest = self._host.get_guest(backend_id)
        ((guest, stats),) = self._host.domain_stats(_STATS, [guest])
        return self._info(guest, stats)

    def list_templates(self) -> list[TemplateInfo]:
        return [t.info() for t in templates.list_templates(self.template_dir)]

    def _info(self, guest: Guest, stats: dict) -> GuestInfo:
        """GuestInfo from one getAllDomainStats record; the metadata costs one small call."""
        metadata = guest.get_metadata() or GuestMetadata()
        state = power_state(stats.get("state.state", libvirt.VIR_DOMAIN_NOSTATE))
        max_kib, vcpus = stats.get("balloon.maximum"), stats.get("vcpu.current")
        cpu_ns = stats.get("cpu.time", 0)
        if max_kib is None or vcpus is None:  # drivers with partial stats (test://)
            info = guest.info()
            max_kib, vcpus, cpu_ns = info.max_memory_kib, info.vcpus, cpu_ns or info.cpu_time_ns
        disks = range(stats.get("block.count", 0))
        running = state in (PowerState.RUNNING, PowerState.PAUSED)
        return GuestInfo(
            backend_id=guest.uuid,
            name=guest.name,
            state=state,
            vcpus=float(vcpus),
            memory_mib=max_kib // 1024,
            disk_bytes=sum(stats.get(f"block.{i}.capacity", 0) for i in disks),
            vmid=metadata.vmid,
            template=metadata.template,
            usage=GuestUsage(
                cpu_time_ns=cpu_ns if running else 0,
                memory_used=_memory_used(stats) if running else 0,
                disk_used=sum(_disk_used(stats, i) for i in disks) if disks else None,
                net_in=_total(stats, "net", "rx.bytes") if running else 0,
                net_out=_total(stats, "net", "tx.bytes") if running else 0,
                disk_read=_total(stats, "block", "rd.bytes") if running else 0,
                disk_write=_total(stats, "block", "wr.bytes") if running else 0,
            ),
        )

    # -- create and delete -------------------------------------------------------------------

    def _validate(self, spec: GuestSpec) -> templates.VmTemplate:
        validate_name(spec.name)
        if spec.vmid < 1:
            raise InvalidSpec(f"vmid must be a positive integer, not {spec.vmid}")
        if spec.accelerator not in ACCELERATORS:
            raise InvalidSpec(f"accelerator must be one of {', '.join(ACCELERATORS)}, not '{spec.accelerator}'")
        if spec.vcpus < 1:
            raise InvalidSpec("a VM needs at least 1 vCPU")
        if not 1 <= spec.disk_gib <= MAX_DISK_GIB:
            raise InvalidSpec(f"disk size must be between 1 and {MAX_DISK_GIB} GiB, not {spec.disk_gib}")
        template = templates.load_template(self.template_dir, spec.template)
        if spec.memory_mib < template.min_memory_mib:
            raise InvalidSpec(f"memory must be at least {template.min_memory_mib} MiB for template '{template.name}'")
        return template

    def _guest_config(self, spec: GuestSpec, template: templates.VmTemplate, disk: str) -> GuestConfig:
        return GuestConfig(
            virt_type=spec.accelerator,
            name=spec.name,
            memory_kib=spec.memory_mib * 1024,
            vcpus=spec.vcpus,
            arch="x86_64",
            machine="pc",
            kernel=template.kernel,
            initrd=template.initrd,
            cmdline=template.cmdline,
            features=["acpi"],  # shutdown and reboot press the ACPI power button
            on_poweroff="destroy",
            on_reboot="restart",
            on_crash="destroy",
            devices=[
                GuestDisk(source=disk, target="vda", bus="virtio", format="qcow2"),
                GuestInterface.on(self.bridge),
                GuestSerial(log_file=storage.console_log_path(self.storage_dir, spec.vmid), log_append=False),
                GuestConsole(),
                GuestGraphics(type="vnc", listen="127.0.0.1", autoport=True),
                GuestMemballoon(model="virtio", stats_period=10),
            ],
            metadata=GuestMetadata(vmid=spec.vmid, template=template.name),
        )

    def create(self, spec: GuestSpec) -> GuestInfo:
        template = self._validate(spec)
        for guest in self._host.list_guests():
            if guest.name == spec.name:
                raise GuestAlreadyExists(f"a VM named '{spec.name}' already exists on this node")
            if not guest.name.startswith(self.name_prefix):
                continue  # another panel's: its VMIDs are its own
            try:
                metadata = guest.get_metadata()
            except GuestNotFound:
                continue
            if metadata is not None and metadata.vmid == spec.vmid:
                raise GuestAlreadyExists(f"vmid {spec.vmid} is already used by VM {guest.name} on this node")
        disk = storage.disk_path(self.storage_dir, spec.vmid)
        xml = self._guest_config(spec, template, disk).to_xml()
        storage.create_qcow2(disk, spec.disk_gib)  # removes its own leftovers when it fails
        guest = None
        try:
            guest = self._host.define(xml)
            return self.get_guest(guest.uuid)
        except BaseException:
            if guest is not None:
                try:
                    guest.undefine()
                except DriverError as exc:
                    log.error("could not undefine half-created %s: %s", guest.label, exc)
            storage.remove_files([disk])
            raise

    def delete(self, backend_id: str) -> None:
        guest = self._host.get_guest(backend_id)
        state = guest.power_state()
        if state is not PowerState.STOPPED:
            raise InvalidGuestState(f"{guest.label} is {state.value}: stop the VM first")
        config = guest.get_config()
        files = [d.source for d in config.disks if d.type == "file" and d.source]
        files += [s.log_file for s in config.serials if s.log_file]
        guest.undefine(nvram=config.nvram is not None)
        # Only the panel's storage is ours to clean: a disk elsewhere may be shared or precious.
        left = storage.remove_files([f for f in files if storage.is_under(f, self.storage_dir)])
        if left:
            raise DriverError(f"{guest.label} was deleted, but these files could not be removed: {', '.join(left)}")

    # -- power -------------------------------------------------------------------------------

    def start(self, backend_id: str) -> None:
        guest = self._host.get_guest(backend_id)
        state = guest.power_state()
        if state is PowerState.PAUSED:
            raise InvalidGuestState(f"cannot start {guest.label}: it is paused, resume it instead")
        if _active(guest, state):
            raise InvalidGuestState(f"cannot start {guest.label}: it is already running")
        guest.start()

    def stop(self, backend_id: str) -> None:
        guest = self._host.get_guest(backend_id)
        if not guest.is_active():
            raise InvalidGuestState(f"cannot stop {guest.label}: it is not running")
        guest.destroy()

    def shutdown(self, backend_id: str, timeout: float) -> None:
        guest = self._require(backend_id, PowerState.RUNNING, "shut down")
        guest.shutdown()
        deadline = time.monotonic() + timeout
        while guest.is_active():
            if time.monotonic() >= deadline:
                raise OperationTimeout(f"{guest.label} did not shut down within {timeout:g} s")
            time.sleep(_POLL)

    def reboot(self, backend_id: str, timeout: float) -> None:
        guest = self._require(backend_id, PowerState.RUNNING, "reboot")
        with self._host.reboot_events(guest) as rebooted:
            guest.reboot()
            if rebooted.wait(timeout):
                return
        log.info("%s ignored the reboot request for %g s: resetting it", guest.label, timeout)
        guest.reset()

    def suspend(self, backend_id: str) -> None:
        self._require(backend_id, PowerState.RUNNING, "pause").pause()

    def resume(self, backend_id: str) -> None:
        self._require(backend_id, PowerState.PAUSED, "resume").resume()

    # -- migration ---------------------------------------------------------------------------

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
        if not isinstance(target, LibvirtDriver):
            raise MigrationUnsupported("a VM can only be migrated to another libvirt node")
        guest = self._host.get_guest(backend_id)
        config = guest.get_config()
        for disk in config.disks:
            if disk.type != "file" or not storage.is_under(disk.source, self.storage_dir):
                raise MigrationUnsupported(
                    f"{guest.label} has disk {disk.source or disk.target} outside the node's storage "
                    f"{self.storage_dir}: the panel moves only the disks it made"
                )
        if target._host.find_guest(config.name) is not None:
            raise GuestAlreadyExists(f"a VM named '{config.name}' already exists on the target node")
        target_config = self._config_on(target, config, accelerator)
        if online:
            return self._migrate_live(guest, target, config, target_config, progress)
        return self._migrate_offline(guest, target, config, target_config, timeout, progress)

    def _config_on(self, target: LibvirtDriver, config: GuestConfig, accelerator: str | None) -> GuestConfig:
        """The same VM (name, UUID, CPUs, memory, metadata) with its files in the target's storage."""
        vmid = config.metadata.vmid if config.metadata else None
        devices = []
        for device in config.devices:
            if isinstance(device, GuestDisk):
                device = dataclasses.replace(
                    device, source=os.path.join(target.storage_dir, os.path.basename(device.source)))
            elif isinstance(device, GuestSerial) and device.log_file:
                log_file = (storage.console_log_path(target.storage_dir, vmid) if vmid is not None
                            else os.path.join(target.storage_dir, os.path.basename(device.log_file)))
                device = dataclasses.replace(device, log_file=log_file)
            elif isinstance(device, GuestGraphics):
                device = dataclasses.replace(device, port=None, autoport=True)  # ports are per host
            elif isinstance(device, GuestInterface):  # the target's network, same MAC
                device = GuestInterface.on(target.bridge, model=device.model, mac=device.mac)
            devices.append(device)
        return dataclasses.replace(config, virt_type=accelerator or config.virt_type, devices=devices)

    def _migrate_offline(self, guest: Guest, target: LibvirtDriver, config: GuestConfig,
                         target_config: GuestConfig, timeout: float, progress: Progress) -> GuestInfo:
        state = guest.power_state()
        if state is PowerState.PAUSED:
            raise InvalidGuestState(f"cannot migrate {guest.label}: it is paused, resume or stop it first")
        was_running = _active(guest, state)
        if was_running:
            progress(f"shutting down {guest.label} (timeout {timeout:g} s)")
            try:
                self.shutdown(guest.uuid, timeout)
            except OperationTimeout as exc:
                progress(f"{exc.message}; stopping it")
                guest.destroy()
        copies = []
        moved = None
        try:
            for disk, new_disk in zip(config.disks, target_config.disks, strict=True):
                copies.append(volumes.copy_volume(self._host, disk.source, target._host, new_disk.source, progress))
            moved = target._host.define(target_config.to_xml())
            progress(f"defined {moved.label} on {target.uri}")
            if was_running:
                moved.start()
                progress(f"started {moved.label} on {target.uri}")
            info = target.get_guest(moved.uuid)
        except BaseException as exc:
            progress(f"migration failed: {exc}; removing what was made on the target")
            self._undo_on_target(moved, copies)
            if was_running:
                progress(f"starting {guest.label} again on its node")
                try:
                    guest.start()
                except DriverError as start_error:
                    log.error("could not restart %s after a failed migration: %s", guest.label, start_error)
            if isinstance(exc, DriverError):
                raise MigrationFailed(f"migration of {guest.label} failed: {exc.message}") from exc
            raise
        progress(f"removing {guest.label} and its disks from {self.uri}")
        try:
            self._remove_source(guest, config)
        except DriverError as exc:
            # The VM runs on the target now: a leftover here must not make the migration look failed.
            progress(f"warning: {guest.label} moved, but its old definition could not be removed: {exc.message}")
        return info

    def _migrate_live(self, guest: Guest, target: LibvirtDriver, config: GuestConfig,
                      target_config: GuestConfig, progress: Progress) -> GuestInfo:
        """libvirt's live migration, with the disks copied by QEMU (NBD) into empty images on the target."""
        if not guest.is_active():
            raise InvalidGuestState(f"cannot migrate {guest.label} live: it is not running; migrate it offline")
        here, there = self._host.hostname(), target._host.hostname()
        if here == there:
            raise MigrationUnsupported(
                f"libvirt cannot live-migrate {guest.label} from {self.uri} to {target.uri}: both libvirt "
                f"daemons run on the same host ({here}), and libvirt refuses to migrate a VM to the host "
                "it already runs on. Migrate it offline instead (it is shut down, moved and started again)"
            )
        copies = []
        try:
            for disk in config.disks:
                capacity = os.path.getsize(disk.source)  # grown to its virtual size by the copy
                new_path = os.path.join(target.storage_dir, os.path.basename(disk.source))
                copies.append(volumes.create_empty_like(target._host, new_path, capacity))
            progress(f"migrating {guest.label} live to {target.uri}")
            moved = guest.migrate_live(target._host, target_config.to_xml(), [d.target for d in config.disks])
            info = target.get_guest(moved.uuid)
        except DriverError as exc:
            for copy in copies:
                volumes.delete_volume(copy)
            raise MigrationFailed(f"live migration of {guest.label} failed: {exc.message}") from exc
        self._remove_files(guest, config)
        return info

    def _undo_on_target(self, moved: Guest | None, copies: list) -> None:
        if moved is not None:
            try:
                if moved.is_active():
                    moved.destroy()
                moved.undefine()
            except DriverError as exc:
                log.error("could not remove %s from the target after a failed migration: %s", moved.label, exc)
        for copy in copies:
            volumes.delete_volume(copy)

    def _remove_source(self, guest: Guest, config: GuestConfig) -> None:
        guest.undefine(nvram=config.nvram is not None)
        self._remove_files(guest, config)

    def _remove_files(self, guest: Guest, config: GuestConfig) -> None:
        files = [d.source for d in config.disks if d.type == "file" and d.source]
        files += [s.log_file for s in config.serials if s.log_file]
        left = storage.remove_files([f for f in files if storage.is_under(f, self.storage_dir)])
        if left:
            log.warning("%s was migrated, but these files could not be removed: %s", guest.label, ", ".join(left))

    def _require(self, backend_id: str, wanted: PowerState, verb: str) -> Guest:
        guest = self._host.get_guest(backend_id)
        state = guest.power_state()
        if state is not wanted:
            raise InvalidGuestState(f"cannot {verb} {guest.label}: it is {state.value}")
        return guest


def _active(guest: Guest, state: PowerState) -> bool:
    """Whether the domain runs, from its state; only states we do not map (crashed, ...) cost a second call."""
    if state is PowerState.UNKNOWN:
        return guest.is_active()
    return state is not PowerState.STOPPED


def _memory_used(stats: dict) -> int:
    """Bytes: what the guest reports using (virtio balloon stats), else what QEMU holds of the guest's RAM.

    QEMU's RSS also counts its own overhead (with TCG, a translation cache larger than a tiny
    guest), so it is capped at the guest's memory: the panel shows use of the VM's RAM.
    """
    available, unused = stats.get("balloon.available"), stats.get("balloon.unused")
    if available is not None and unused is not None:
        return max(available - unused, 0) * 1024
    current = stats.get("balloon.current", 0)
    return min(stats.get("balloon.rss", current), current) * 1024


def _disk_used(stats: dict, index: int) -> int:
    """Bytes the image takes on the host; ``allocation`` of a running qcow2 is its highest written offset."""
    return stats.get(f"block.{index}.physical", stats.get(f"block.{index}.allocation", 0))


def _total(stats: dict, group: str, field: str) -> int:
    """The sum over a domain's interfaces or disks of one getAllDomainStats counter (net.0.rx.bytes...)."""
    return sum(stats.get(f"{group}.{i}.{field}", 0) for i in range(stats.get(f"{group}.count", 0)))
