"""A real VM on qemu:///system under TCG (accelerator 'qemu'), from the tiny-linux template.

Needs libvirtd (and virtlogd, which writes the console log) and the template that
scripts/setup/templates.sh builds; fails when either is missing. The guest prints
"panel-guest: ready" on its serial console once booted and powers off on an ACPI
power-button press.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import random
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest
from lxml import etree

from drivers.errors import GuestAlreadyExists, GuestNotFound, InvalidGuestState, OperationTimeout
from drivers.libvirt import LibvirtDriver
from drivers.types import PowerState
from tests.support import PREFIX, wait_until

from .qemu import (
    BRIDGE,
    POWER_BUTTON,
    READY,
    TEMPLATE,
    TEMPLATE_DIR,
    URI,
    check_environment,
    console_lines,
    remove_domain,
    spec,
    system_storage,
    wait_for_console,
)

pytestmark = pytest.mark.vm



@pytest.fixture(scope="module")
def environment() -> None:
    check_environment()


@pytest.fixture
def storage_dir() -> Iterator[Path]:
    with system_storage() as path:
        yield path


@pytest.fixture
def driver(environment: None, storage_dir: Path) -> Iterator[LibvirtDriver]:
    driver = LibvirtDriver(URI, str(storage_dir), TEMPLATE_DIR, bridge=BRIDGE, name_prefix=PREFIX)
    yield driver
    driver.close()


@pytest.fixture
def vm_name() -> Iterator[str]:
    """A unique name of this run, removed even on failure."""
    name = f"{PREFIX}vm-{uuid.uuid4().hex[:8]}"
    yield name
    remove_domain(URI, name)


def refused(call: Callable[..., object], message: str, *args: object) -> None:
    with pytest.raises(InvalidGuestState, match=message) as error:
        call(*args)
    assert "VM " in str(error.value)


def test_vm_lifecycle(driver: LibvirtDriver, vm_name: str, storage_dir: Path) -> None:
    vmid = random.randint(900_000_000, 999_999_999)
    template = next(t for t in driver.list_templates() if t.name == TEMPLATE)
    memory = max(template.min_memory_mib, 128)
    vm = driver.create(spec(vm_name, vmid, memory)).backend_id
    disk = storage_dir / f"vm-{vmid}-disk-0.qcow2"
    console = storage_dir / f"vm-{vmid}-console.log"
    assert disk.is_file()

    def state() -> PowerState:
        return driver.get_guest(vm).state

    # A stopped VM refuses what needs it running (on the real daemon, not only on test://).
    refused(driver.stop, "not running", vm)
    refused(driver.suspend, "it is stopped", vm)
    refused(driver.resume, "it is stopped", vm)
    refused(driver.shutdown, "it is stopped", vm, 1)
    refused(driver.reboot, "it is stopped", vm, 1)

    driver.start(vm)
    wait_for_console(console, READY, 1)
    refused(driver.start, "already running", vm)
    refused(driver.resume, "it is running", vm)
    refused(driver.delete, "stop the VM first", vm)

    listed = {g.backend_id: g for g in driver.list_guests()}[vm]
    assert (listed.name, listed.state, listed.vmid, listed.template) == (vm_name, PowerState.RUNNING, vmid, TEMPLATE)
    assert (listed.vcpus, listed.memory_mib, listed.disk_bytes) == (1, memory, 1024**3)
    assert listed.usage.cpu_time_ns > 0 and 0 < listed.usage.memory_used <= memory * 1024**2
    # The kernel read the disk's partition table. The guest asks DHCP for an address on the bridge, and
    # its balloon driver reports what it uses of its memory (within the stats period, 10 s).
    assert listed.usage.disk_read > 0

    def traffic_and_balloon() -> bool:
        usage = driver.get_guest(vm).usage
        return usage.net_out > 0 and 0 < usage.memory_used < memory * 1024**2

    wait_until(traffic_and_balloon, 30, "traffic on the bridged NIC and a balloon figure", 0.5)

    driver.suspend(vm)
    assert state() is PowerState.PAUSED
    refused(driver.start, "paused, resume it instead", vm)
    refused(driver.suspend, "it is paused", vm)
    refused(driver.shutdown, "it is paused", vm, 1)
    refused(driver.delete, "stop the VM first", vm)
    driver.resume(vm)
    assert state() is PowerState.RUNNING

    # An ACPI reboot: the guest sees the power button and powers off, libvirt starts it again. (A guest that
    # ignored the button would be reset after the timeout instead, without its power-off line.)
    driver.reboot(vm, timeout=60)
    wait_for_console(console, READY, 2)
    assert console_lines(console, POWER_BUTTON) == 1
    assert state() is PowerState.RUNNING

    driver.shutdown(vm, timeout=60)  # never forces: a guest that ignored the button would raise OperationTimeout
    assert state() is PowerState.STOPPED
    assert console_lines(console, POWER_BUTTON) == 2

    driver.start(vm)
    assert state() is PowerState.RUNNING
    driver.stop(vm)
    assert state() is PowerState.STOPPED

    driver.delete(vm)
    assert not disk.exists() and not console.exists()
    with pytest.raises(GuestNotFound):
        driver.get_guest(vm)


def test_duplicates_are_refused_and_leave_no_disk(driver: LibvirtDriver, vm_name: str, storage_dir: Path) -> None:
    vmid = random.randint(900_000_000, 999_999_999)
    first = driver.create(spec(vm_name, vmid))
    with pytest.raises(GuestAlreadyExists, match=f"a VM named '{vm_name}' already exists"):
        driver.create(spec(vm_name, vmid + 1))
    with pytest.raises(GuestAlreadyExists, match=f"vmid {vmid} is already used by VM {vm_name}"):
        driver.create(spec(f"{vm_name}-2", vmid))
    assert sorted(os.listdir(storage_dir)) == [f"vm-{vmid}-disk-0.qcow2"]
    driver.delete(first.backend_id)


def test_a_guest_without_acpi_ignores_shutdown_until_power_off_forces_it(
    driver: LibvirtDriver, vm_name: str
) -> None:
    """A real guest that ignores the power button: its machine has no ACPI."""
    vm = driver.create(spec(vm_name, random.randint(900_000_000, 999_999_999))).backend_id
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByUUIDString(vm)
        xml = etree.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
        xml.find("features").remove(xml.find("features/acpi"))
        conn.defineXML(etree.tostring(xml, encoding="unicode"))
    finally:
        conn.close()
    driver.start(vm)

    with pytest.raises(OperationTimeout, match=f"VM {vm_name} did not shut down within 2 s"):
        driver.shutdown(vm, timeout=2)
    assert driver.power_state(vm) is PowerState.RUNNING
    lines: list[str] = []
    driver.power_off(vm, timeout=2, force=True, progress=lines.append)
    assert lines == [f"VM {vm_name} did not shut down within 2 s; stopping it"]
    assert driver.power_state(vm) is PowerState.STOPPED
    driver.delete(vm)


def test_qemu_runs_as_debian_ships_it_not_as_root(driver: LibvirtDriver, vm_name: str) -> None:
    """scripts/setup/services.sh leaves qemu.conf as the package installs it: QEMU runs as libvirt-qemu, and
    libvirt's DAC driver gives it each VM's files (disk, kernel) only while it runs."""
    conf = Path("/etc/libvirt/qemu.conf")
    shipped = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "libvirt-daemon-system"],
                             capture_output=True, text=True, check=True).stdout
    digest = next(line.split()[1] for line in shipped.splitlines() if line.split()[:1] == [str(conf)])
    assert hashlib.md5(conf.read_bytes()).hexdigest() == digest, f"{conf} differs from the one Debian ships"

    vm = driver.create(spec(vm_name, random.randint(900_000_000, 999_999_999))).backend_id
    driver.start(vm)
    try:
        pid = int(Path(f"/run/libvirt/qemu/{vm_name}.pid").read_text())
        uid = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("Uid:")).split()[1])
        assert pwd.getpwuid(uid).pw_name == "libvirt-qemu"
    finally:
        driver.stop(vm)
    driver.delete(vm)
