"""Virtual machines on libvirt (QEMU), through libvirt-python.

Policy lives here: what a panel VM looks like (``_guest_config``), which states allow
which action, where its files go (``vm_files``). The Host owns the connection and error
translation, the Guest the domain verbs, config.py the XML, migration.py what a move changes.
"""

from __future__ import annotations

import logging
import os
import time

import libvirt

from ..base import POLL_INTERVAL, GuestDriver, Interrupt, Progress, no_progress
from ..errors import (
    DriverError,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    MigrationUnsupported,
    SnapshotExists,
    SnapshotNotFound,
    SnapshotUnsupported,
)
from ..limits import (
    ACCELERATORS,
    ISO_DIR,
    ISO_NAME,
    MAX_DISK_GIB,
    VM_NETWORKS,
    check_bridge_name,
    check_guest_name,
    check_snapshot_description,
    check_snapshot_name,
)
from ..migration import migrate_offline
from ..terminal import Terminal
from ..types import (
    CloneSpec,
    ConfigChange,
    EngineInfo,
    GuestInfo,
    GuestKind,
    GuestSpec,
    GuestUsage,
    PowerState,
    SnapshotInfo,
    TemplateInfo,
)
from . import templates, vm_files
from .config import (
    GuestConfig,
    GuestConsole,
    GuestDisk,
    GuestGraphics,
    GuestInterface,
    GuestMemballoon,
    GuestMetadata,
    GuestSerial,
    SnapshotConfig,
)
from .console import ConsoleTerminal, open_display
from .guest import Guest, power_state
from .host import Host
from .migration import VmMigration

log = logging.getLogger(__name__)
BALLOON_SETTLE = 20.0  # s a live memory change waits for the guest's balloon driver to reach the new size

_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BLOCK
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
)


class LibvirtDriver(GuestDriver):
    kind = GuestKind.VM

    def __init__(self, uri: str, storage_dir: str, template_dir: str, bridge: str = "",
                 name_prefix: str = "") -> None:
        """``bridge``: the host bridge new VMs' NICs join (Proxmox's vmbr0); empty for user networking.
        ``name_prefix``: only domains whose names start with it are listed (daemons shared by panels)."""
        if bridge:
            check_bridge_name(bridge)
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
            # A running VM's balloon may hold less than it booted with (a live memory change): what it has now.
            memory_mib=(stats.get("balloon.current") or max_kib if running else max_kib) // 1024,
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

    def _validate(self, spec: GuestSpec) -> templates.VmTemplate | None:
        """The template of ``spec`` (None: it boots an ISO image)."""
        check_guest_name(spec.name, "VM")
        if spec.vmid < 1:
            raise InvalidSpec(f"vmid must be a positive integer, not {spec.vmid}")
        if spec.accelerator not in ACCELERATORS:
            raise InvalidSpec(f"accelerator must be one of {', '.join(ACCELERATORS)}, not '{spec.accelerator}'")
        if spec.vcpus < 1:
            raise InvalidSpec("a VM needs at least 1 vCPU")
        if not 1 <= spec.disk_gib <= MAX_DISK_GIB:
            raise InvalidSpec(f"disk size must be between 1 and {MAX_DISK_GIB} GiB, not {spec.disk_gib}")
        if spec.network not in VM_NETWORKS:
            raise InvalidSpec(f"a VM's network is one of {', '.join(repr(n) for n in VM_NETWORKS)}, "
                              f"not '{spec.network[:20]}'")
        if spec.iso:
            self.iso_path(spec.iso)
            return None
        template = templates.load_template(self.template_dir, spec.template)
        if spec.memory_mib < template.min_memory_mib:
            raise InvalidSpec(f"memory must be at least {template.min_memory_mib} MiB for template '{template.name}'")
        return template

    def iso_path(self, name: str) -> str:
        """The file of ISO image ``name`` in this node's storage; refuses a name that is no plain file name there."""
        if not ISO_NAME.match(name):
            raise InvalidSpec(f"'{name[:60]}' is not the name of an ISO image (NAME.iso or NAME.img)")
        path = os.path.join(self.storage_dir, ISO_DIR, name)
        if not os.path.isfile(path):
            raise InvalidSpec(f"ISO image '{name}' does not exist in this node's storage")
        return path

    def _guest_config(self, spec: GuestSpec, template: templates.VmTemplate | None, disk: str) -> GuestConfig:
        """A template's VM boots its kernel directly from a blank disk; an ISO's boots the CD first, then the disk
        it installs on."""
        devices: list = [GuestDisk(source=disk, target="vda", bus="virtio", format="qcow2")]
        if template is None:
            devices.append(GuestDisk(source=self.iso_path(spec.iso), target="hdc", bus="ide", format="raw",
                                     device="cdrom"))
        if spec.network != "none":
            devices.append(GuestInterface.on("" if spec.network == "user" else self.bridge))
        return GuestConfig(
            virt_type=spec.accelerator,
            name=spec.name,
            memory_kib=spec.memory_mib * 1024,
            vcpus=spec.vcpus,
            arch="x86_64",
            machine="pc",
            kernel=template.kernel if template else None,
            initrd=template.initrd if template else None,
            cmdline=template.cmdline if template else None,
            boot=[] if template else ["cdrom", "hd"],
            features=["acpi"],  # shutdown and reboot press the ACPI power button
            on_poweroff="destroy",
            on_reboot="restart",
            on_crash="destroy",
            devices=[
                *devices,
                GuestSerial(log_file=vm_files.console_log_path(self.storage_dir, spec.vmid), log_append=False),
                GuestConsole(),
                GuestGraphics(type="vnc", listen="127.0.0.1", autoport=True),
                GuestMemballoon(model="virtio", stats_period=10),
            ],
            metadata=GuestMetadata(vmid=spec.vmid, template=template.name if template else ""),
        )

    def create(self, spec: GuestSpec) -> GuestInfo:
        template = self._validate(spec)
        self._check_free(spec.name, spec.vmid)
        disk = vm_files.disk_path(self.storage_dir, spec.vmid)
        xml = self._guest_config(spec, template, disk).to_xml()
        vm_files.create_qcow2(disk, spec.disk_gib)  # removes its own leftovers when it fails
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
            vm_files.remove_files([disk])
            raise

    def delete(self, backend_id: str, progress: Progress = no_progress) -> None:
        guest = self._host.get_guest(backend_id)
        state = guest.power_state()
        if state is not PowerState.STOPPED:
            raise InvalidGuestState(f"{guest.label} is {state.value}: stop the VM first")
        config = guest.get_config()
        guest.undefine(nvram=config.nvram is not None)
        files = vm_files.files_in_storage(config, self.storage_dir)
        left = vm_files.remove_files(files)
        if left:
            raise DriverError(f"{guest.label} was deleted, but these files could not be removed: {', '.join(left)}")
        progress(f"removed {', '.join(os.path.basename(f) for f in files)}" if files else "no files to remove")

    # -- power -------------------------------------------------------------------------------

    def start(self, backend_id: str) -> None:
        guest = self._host.get_guest(backend_id)
        state = guest.power_state()
        if state is PowerState.PAUSED:
            raise InvalidGuestState(f"cannot start {guest.label}: it is paused, resume it instead")
        if _active(guest, state):
            raise InvalidGuestState(f"cannot start {guest.label}: it is already running")
        guest.start()

    # -- configuration -----------------------------------------------------------------------

    def update_config(self, backend_id: str, change: ConfigChange) -> set[str]:
        """A stopped VM takes everything into its definition. A running one: memory through the balloon (up to
        what it booted with) and vCPUs through hotplug where libvirt can, each kept for the next start too;
        its name (libvirt renames only stopped domains) and what could not be done live are left."""
        guest = self._host.get_guest(backend_id)
        if change.name is not None:
            check_guest_name(change.name, "VM")
        if change.memory_mib is not None and change.memory_mib < 1:
            raise InvalidSpec("a VM needs some memory")
        if change.vcpus is not None and change.vcpus < 1:
            raise InvalidSpec("a VM needs at least 1 vCPU")
        running = guest.is_active()
        left: set[str] = set()
        if change.memory_mib is not None:
            left |= self._apply(guest, running, "memory_mib",
                                lambda live: guest.set_memory(change.memory_mib * 1024, live=live))
            if running and "memory_mib" not in left:
                self._wait_for_balloon(guest, change.memory_mib * 1024)
        if change.vcpus is not None:
            left |= self._apply(guest, running, "vcpus", lambda live: guest.set_vcpus(change.vcpus, live=live))
        if change.name is not None and change.name != guest.name:
            if running:
                left.add("name")
            else:
                if self._host.find_guest(change.name) is not None:
                    raise GuestAlreadyExists(f"a VM named '{change.name}' already exists on this node")
                guest.rename(change.name)
        return left

    @staticmethod
    def _wait_for_balloon(guest: Guest, kib: int) -> None:
        """The guest's balloon driver gives memory back a step at a time: wait (a bounded while) until it holds
        what was asked, so that what is read back next is the new size, not a step on the way."""
        deadline = time.monotonic() + BALLOON_SETTLE
        while guest.info().memory_kib != kib and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)

    @staticmethod
    def _apply(guest: Guest, running: bool, field: str, act) -> set[str]:
        """``act(live=True)`` then ``act(live=False)`` for a running VM (nothing kept when the live change is
        refused), ``act(live=False)`` for a stopped one; the field when it is left for the next start."""
        if running:
            try:
                act(True)
            except DriverError as exc:
                log.info("%s: %s cannot change live (%s); it waits for the next start", guest.label, field, exc)
                return {field}
        act(False)
        return set()

    def resize_disk(self, backend_id: str, disk: int, size_bytes: int) -> int:
        guest = self._host.get_guest(backend_id)
        disks = [d for d in guest.get_config().disks if d.device == "disk"]
        if not 0 <= disk < len(disks):
            raise InvalidSpec(f"{guest.label} has no disk {disk}: it has {len(disks)}")
        target = disks[disk]
        current = guest.disk_capacity(target.target)
        if size_bytes < current:
            raise InvalidSpec(f"disks only grow: {target.target} of {guest.label} has {current} bytes, "
                              f"more than {size_bytes}")
        if size_bytes > MAX_DISK_GIB * 1024**3:
            raise InvalidSpec(f"a disk is at most {MAX_DISK_GIB} GiB")
        if size_bytes == current:
            return current
        if guest.is_active():
            guest.block_resize(target.target, size_bytes)
        elif target.type == "file" and target.format == "qcow2" and vm_files.is_under(target.source,
                                                                                    self.storage_dir):
            vm_files.resize_qcow2(target.source, size_bytes)
        else:
            raise InvalidSpec(f"{guest.label}: only qcow2 disks in the node's storage are resized")
        return guest.disk_capacity(target.target)

    def stop(self, backend_id: str) -> None:
        guest = self._host.get_guest(backend_id)
        if not guest.is_active():
            raise InvalidGuestState(f"cannot stop {guest.label}: it is not running")
        try:
            guest.destroy()
        except InvalidGuestState:
            # It went down in between (it powered off, or a libvirtd that just started found its QEMU gone).
            if guest.is_active():
                raise

    def power_state(self, backend_id: str) -> PowerState:
        return self._host.get_guest(backend_id).power_state()

    def wait_for_state(self, backend_id: str, wanted: PowerState, timeout: float,
                       interrupt: Interrupt | None = None) -> bool:
        """Woken by the domain's lifecycle events (a stop is seen when libvirt reports it), looking again at
        least every POLL_INTERVAL in case an event is lost; ``interrupt`` is called between two looks."""
        guest = self._host.get_guest(backend_id)
        deadline = time.monotonic() + timeout
        with self._host.lifecycle_events(guest) as changed:
            while True:
                changed.clear()
                if guest.power_state() is wanted:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if interrupt is not None:
                    interrupt()
                changed.wait(min(left, POLL_INTERVAL))

    def request_shutdown(self, backend_id: str) -> str:
        guest = self._require(backend_id, PowerState.RUNNING, "shut down")
        guest.shutdown()
        return guest.label

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

    def reset(self, backend_id: str) -> None:
        self._require(backend_id, PowerState.RUNNING, "reset").reset()

    def resume(self, backend_id: str) -> None:
        self._require(backend_id, PowerState.PAUSED, "resume").resume()

    # -- console -----------------------------------------------------------------------------

    def open_console(self, backend_id: str) -> Terminal:
        """The running VM's serial console (its first serial port, which the panel's VMs all have)."""
        return ConsoleTerminal.open(self._host.get_guest(backend_id))

    def open_display(self, backend_id: str) -> Terminal:
        return open_display(self._host.get_guest(backend_id))

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
        """Offline by ``drivers.migration``, live by libvirt; the steps are ``migration.VmMigration``'s."""
        if not isinstance(target, LibvirtDriver):
            raise MigrationUnsupported("a VM can only be migrated to another libvirt node")
        steps = VmMigration(self, self._host.get_guest(backend_id), target, accelerator)
        if online:
            return steps.migrate_live(progress)
        return migrate_offline(self, backend_id, steps, timeout, progress)

    # -- snapshots and clones ----------------------------------------------------------------

    def list_snapshots(self, backend_id: str) -> list[SnapshotInfo]:
        taken = self._host.get_guest(backend_id).snapshots()
        return sorted((_snapshot_info(s) for s in taken), key=lambda s: (s.created, s.name))

    def create_snapshot(self, backend_id: str, name: str, description: str = "", vmstate: bool = False,
                        progress: Progress = no_progress) -> SnapshotInfo:
        """Internal snapshots of the qcow2 disks, libvirt keeping their metadata. libvirt saves a running (or
        paused) VM's RAM in them in any case: ``vmstate`` cannot be left out while it runs."""
        check_snapshot_name(name)
        check_snapshot_description(description)
        guest = self._host.get_guest(backend_id)
        config = guest.get_config()
        others = [d.source for d in config.disks if d.format != "qcow2" or d.type != "file"]
        if others:
            raise SnapshotUnsupported(f"cannot snapshot {guest.label}: only qcow2 file disks keep internal "
                                      f"snapshots, not {', '.join(others)}. Nothing was changed")
        if any(s.name == name for s in guest.snapshots()):
            raise SnapshotExists(f"snapshot name '{name}' is already used by {guest.label}")
        state = guest.power_state()
        if state is not PowerState.STOPPED and not vmstate:
            progress(f"{guest.label} is {state.value}: libvirt saves a running VM's RAM in its internal "
                     "snapshots, so this one holds it too")
        taken = guest.create_snapshot(SnapshotConfig(name=name, description=description))
        progress(f"took snapshot {name} of {guest.label}" + (" with its RAM" if taken.has_memory else ""))
        return _snapshot_info(taken)

    def rollback_snapshot(self, backend_id: str, name: str, progress: Progress = no_progress) -> str:
        guest = self._host.get_guest(backend_id)
        check_snapshot_name(name)
        snapshot = next((s for s in guest.snapshots() if s.name == name), None)
        if snapshot is None:
            raise SnapshotNotFound(f"{guest.label} has no snapshot '{name}'")
        if not snapshot.has_memory and guest.is_active():
            progress(f"stopping {guest.label}: snapshot {name} holds no RAM")
            guest.destroy()
        guest.revert_to_snapshot(name)
        progress(f"{guest.label} is back at snapshot {name}" + (", running from its RAM" if snapshot.has_memory
                                                                    else ", stopped"))
        return backend_id

    def delete_snapshot(self, backend_id: str, name: str, progress: Progress = no_progress) -> None:
        guest = self._host.get_guest(backend_id)
        check_snapshot_name(name)
        guest.delete_snapshot(name)
        progress(f"deleted snapshot {name} of {guest.label}")

    def clone(self, backend_id: str, spec: CloneSpec, progress: Progress = no_progress) -> GuestInfo:
        """A full copy of a stopped VM's disks (``qemu-img convert``: without its snapshots) and configuration,
        with new MAC addresses, under a new name, UUID and VMID."""
        check_guest_name(spec.name, "VM")
        source = self._host.get_guest(backend_id)
        if source.is_active():
            raise InvalidGuestState(f"cannot clone {source.label} while it runs: stop it first, or make it a "
                                    "template")
        self._check_free(spec.name, spec.vmid)
        config = GuestConfig.parse_dom(source.xml(inactive=True))
        metadata = config.metadata or GuestMetadata()
        config.name, config.uuid, config.nvram = spec.name, None, None
        config.metadata = GuestMetadata(vmid=spec.vmid, template=metadata.template)
        copies: list[tuple[str, str]] = []
        devices = []
        for device in config.devices:
            if isinstance(device, GuestDisk) and device.type == "file" and device.device == "disk":
                target = vm_files.disk_path(self.storage_dir, spec.vmid, len(copies))
                copies.append((device.source, target))
                device = GuestDisk(source=target, target=device.target, bus=device.bus, format="qcow2")
            elif isinstance(device, GuestInterface):
                device = GuestInterface(type=device.type, model=device.model, source_bridge=device.source_bridge)
            elif isinstance(device, GuestSerial) and device.log_file:
                device = GuestSerial(log_file=vm_files.console_log_path(self.storage_dir, spec.vmid),
                                     log_append=device.log_append, port=device.port)
            devices.append(device)
        config.devices = devices
        made: list[str] = []
        guest = None
        try:
            for source_path, target in copies:
                progress(f"copying disk {source_path} to {target}")
                vm_files.copy_qcow2(source_path, target)
                made.append(target)
            guest = self._host.define(config.to_xml())
            progress(f"defined VM {spec.name} ({guest.uuid})")
            return self.get_guest(guest.uuid)
        except BaseException:
            if guest is not None:
                try:
                    guest.undefine()
                except DriverError as exc:
                    log.error("could not undefine half-made clone %s: %s", guest.label, exc)
            vm_files.remove_files(made)
            raise

    def _check_free(self, name: str, vmid: int) -> None:
        for guest in self._host.list_guests():
            if guest.name == name:
                raise GuestAlreadyExists(f"a VM named '{name}' already exists on this node")
            if not guest.name.startswith(self.name_prefix):
                continue
            try:
                metadata = guest.get_metadata()
            except GuestNotFound:
                continue
            if metadata is not None and metadata.vmid == vmid:
                raise GuestAlreadyExists(f"vmid {vmid} is already used by VM {guest.name} on this node")

    def _require(self, backend_id: str, wanted: PowerState, verb: str) -> Guest:
        guest = self._host.get_guest(backend_id)
        state = guest.power_state()
        if state is not wanted:
            raise InvalidGuestState(f"cannot {verb} {guest.label}: it is {state.value}")
        return guest


def _snapshot_info(snapshot: SnapshotConfig) -> SnapshotInfo:
    return SnapshotInfo(name=snapshot.name, created=snapshot.creation_time, description=snapshot.description,
                        parent=snapshot.parent, vmstate=snapshot.has_memory)


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
