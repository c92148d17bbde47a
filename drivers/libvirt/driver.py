"""Virtual machines on libvirt (QEMU), through libvirt-python.

Policy lives here: what a panel VM looks like (``_guest_config``), which states allow
which action, where its files go (``vm_files``). The Host owns the connection and error
translation, the Guest the domain verbs, config.py the XML, migration.py what a move changes.
"""

from __future__ import annotations

import logging
import os

import libvirt

from ..base import GuestDriver, Progress, no_progress
from ..errors import (
    DriverError,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    MigrationUnsupported,
)
from ..limits import ACCELERATORS, MAX_DISK_GIB, check_bridge_name, check_guest_name
from ..migration import migrate_offline
from ..terminal import Terminal
from ..types import EngineInfo, GuestInfo, GuestKind, GuestSpec, GuestUsage, PowerState, TemplateInfo
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
)
from .console import ConsoleTerminal, open_display
from .guest import Guest, power_state
from .host import Host
from .migration import VmMigration

log = logging.getLogger(__name__)

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
        check_guest_name(spec.name, "VM")
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
                GuestSerial(log_file=vm_files.console_log_path(self.storage_dir, spec.vmid), log_append=False),
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

    def delete(self, backend_id: str) -> None:
        guest = self._host.get_guest(backend_id)
        state = guest.power_state()
        if state is not PowerState.STOPPED:
            raise InvalidGuestState(f"{guest.label} is {state.value}: stop the VM first")
        config = guest.get_config()
        guest.undefine(nvram=config.nvram is not None)
        left = vm_files.remove_files(vm_files.files_in_storage(config, self.storage_dir))
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
        try:
            guest.destroy()
        except InvalidGuestState:
            # It went down in between (it powered off, or a libvirtd that just started found its QEMU gone).
            if guest.is_active():
                raise

    def power_state(self, backend_id: str) -> PowerState:
        return self._host.get_guest(backend_id).power_state()

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
