"""A real VM on qemu:///system under TCG (accelerator 'qemu'), from the tiny-linux template.

Needs libvirtd (and virtlogd, which writes the console log) and the template that
scripts/setup/templates.sh builds; fails when either is missing. The guest prints
"panel-guest: ready" on its serial console once booted and powers off on an ACPI
power-button press.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from drivers.errors import GuestNotFound
from drivers.libvirt import LibvirtDriver
from drivers.types import GuestSpec, PowerState
from tests.support import PREFIX

pytestmark = pytest.mark.vm

URI = os.environ.get("PANEL_TEST_LIBVIRT_URI", "qemu:///system")
TEMPLATE_DIR = os.environ.get("PANEL_TEST_TEMPLATE_DIR", "/var/lib/panel/templates")
BRIDGE = os.environ.get("PANEL_VM_BRIDGE", "panelbr0")  # scripts/setup/services.sh makes it
TEMPLATE = "tiny-linux"
READY = b"panel-guest: ready"
BOOT_TIMEOUT = 60


@pytest.fixture(scope="module")
def environment() -> None:
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as exc:
        # `make test` starts libvirtd: a missing engine is a failure, never a skip.
        pytest.fail(f"libvirtd is not reachable at {URI}: {exc} (scripts/setup/services.sh starts it)")
    if not os.path.isfile(os.path.join(TEMPLATE_DIR, "vm", TEMPLATE, "template.json")):
        pytest.fail(f"VM template {TEMPLATE} is not built in {TEMPLATE_DIR} (scripts/setup/templates.sh)")


@pytest.fixture
def storage_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are 0700, and QEMU runs as libvirt-qemu, not root.
    path = Path(tempfile.mkdtemp(prefix="panel-vmtest-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


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
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(name)
        if domain.isActive():
            domain.destroy()
        domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    except libvirt.libvirtError:
        pass  # already gone: the test deleted it
    finally:
        conn.close()


def wait_for_console(path: Path, count: int, timeout: float = BOOT_TIMEOUT) -> float:
    """Seconds until the console log holds ``count`` ready lines."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if path.exists() and path.read_bytes().count(READY) >= count:
            return time.monotonic() - started
        time.sleep(0.1)
    tail = path.read_bytes()[-2000:].decode(errors="replace") if path.exists() else "(no console log)"
    raise AssertionError(f"no {READY.decode()!r} #{count} within {timeout} s; console:\n{tail}")


def report(what: str, seconds: float) -> None:
    print(f"[vm timing] {what}: {seconds:.2f} s", file=sys.stderr)


def test_vm_lifecycle(driver: LibvirtDriver, vm_name: str, storage_dir: Path) -> None:
    vmid = random.randint(900_000_000, 999_999_999)
    template = next(t for t in driver.list_templates() if t.name == TEMPLATE)
    memory = max(template.min_memory_mib, 128)
    vm = driver.create(
        GuestSpec(
            vmid=vmid, name=vm_name, template=TEMPLATE, vcpus=1, memory_mib=memory, disk_gib=1, accelerator="qemu"
        )
    ).backend_id
    disk = storage_dir / f"vm-{vmid}-disk-0.qcow2"
    console = storage_dir / f"vm-{vmid}-console.log"
    assert disk.is_file()

    def state() -> PowerState:
        return driver.get_guest(vm).state

    started = time.monotonic()
    driver.start(vm)
    wait_for_console(console, 1)
    report("start until ready", time.monotonic() - started)

    listed = {g.backend_id: g for g in driver.list_guests()}[vm]
    assert (listed.name, listed.state, listed.vmid, listed.template) == (vm_name, PowerState.RUNNING, vmid, TEMPLATE)
    assert (listed.vcpus, listed.memory_mib, listed.disk_bytes) == (1, memory, 1024**3)
    assert listed.usage.cpu_time_ns > 0 and 0 < listed.usage.memory_used <= memory * 1024**2
    # The kernel read the disk's partition table. The guest asks DHCP for an address on the bridge, and
    # its balloon driver reports what it uses of its memory (within the stats period, 10 s).
    assert listed.usage.disk_read > 0
    deadline = time.monotonic() + 30
    while True:
        usage = driver.get_guest(vm).usage
        if usage.net_out > 0 and 0 < usage.memory_used < memory * 1024**2:
            break
        assert time.monotonic() < deadline, f"no traffic on the bridged NIC or no balloon figure: {usage}"
        time.sleep(0.5)

    driver.suspend(vm)
    assert state() is PowerState.PAUSED
    driver.resume(vm)
    assert state() is PowerState.RUNNING

    started = time.monotonic()
    driver.reboot(vm, timeout=20)
    report("reboot request until the guest reset", time.monotonic() - started)
    assert time.monotonic() - started < 20, "the guest ignored the ACPI reboot and was reset"
    report("reboot to ready again", wait_for_console(console, 2))
    assert state() is PowerState.RUNNING

    started = time.monotonic()
    driver.shutdown(vm, timeout=30)
    elapsed = time.monotonic() - started
    report("graceful shutdown", elapsed)
    assert state() is PowerState.STOPPED
    assert elapsed < 15

    driver.start(vm)
    assert state() is PowerState.RUNNING
    driver.stop(vm)
    assert state() is PowerState.STOPPED

    driver.delete(vm)
    assert not disk.exists() and not console.exists()
    with pytest.raises(GuestNotFound):
        driver.get_guest(vm)
