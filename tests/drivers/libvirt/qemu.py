"""What the tests of real VMs share: the engine and template they use, a storage directory QEMU may reach, the
guest's console lines and waits for them."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import libvirt
import pytest

from drivers.types import GuestSpec

URI = os.environ.get("PANEL_TEST_LIBVIRT_URI", "qemu:///system")
TEMPLATE_DIR = os.environ.get("PANEL_TEST_TEMPLATE_DIR", "/var/lib/panel/templates")
BRIDGE = os.environ.get("PANEL_VM_BRIDGE", "panelbr0")  # scripts/setup/services.sh makes it
TEMPLATE = "tiny-linux"
READY = b"panel-guest: ready"
POWER_BUTTON = b"panel-guest: power button"  # the guest's init saw the ACPI power button
BOOT_TIMEOUT = 60


def check_environment() -> None:
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as exc:
        # `make test` starts libvirtd: a missing engine is a failure, never a skip.
        pytest.fail(f"libvirtd is not reachable at {URI}: {exc} (scripts/setup/services.sh starts it)")
    if not os.path.isfile(os.path.join(TEMPLATE_DIR, "vm", TEMPLATE, "template.json")):
        pytest.fail(f"VM template {TEMPLATE} is not built in {TEMPLATE_DIR} (scripts/setup/templates.sh)")


@contextmanager
def system_storage() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are 0700, and QEMU runs as libvirt-qemu, not root.
    path = Path(tempfile.mkdtemp(prefix="panel-vmtest-", dir="/var/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        forget_pools(URI, path)


def forget_pools(uri: str, directory: Path) -> None:
    """Stop the storage pools the driver made over ``directory`` (a migration reads disks through one)."""
    with suppress(libvirt.libvirtError):
        conn = libvirt.open(uri)
        try:
            for pool in conn.listAllStoragePools():
                if f"<path>{directory}</path>" in pool.XMLDesc(0):
                    pool.destroy()
        finally:
            conn.close()


def remove_domain(uri: str, name: str) -> None:
    """Remove the VM ``name`` from ``uri`` if it is still there (a test that failed half-way)."""
    with suppress(libvirt.libvirtError):
        conn = libvirt.open(uri)
        try:
            domain = conn.lookupByName(name)
            if domain.isActive():
                domain.destroy()
            domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                                 | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        finally:
            conn.close()


def spec(name: str, vmid: int, memory: int = 128) -> GuestSpec:
    return GuestSpec(vmid=vmid, name=name, template=TEMPLATE, vcpus=1, memory_mib=memory, disk_gib=1,
                     accelerator="qemu")


def console_lines(path: Path, line: bytes) -> int:
    return path.read_bytes().count(line) if path.exists() else 0


def wait_for_console(path: Path, line: bytes, count: int, timeout: float = BOOT_TIMEOUT) -> None:
    """Wait until the console log holds ``line`` ``count`` times; fails with the console's tail."""
    deadline = time.monotonic() + timeout
    while console_lines(path, line) < count:
        if time.monotonic() >= deadline:
            tail = path.read_bytes()[-2000:].decode(errors="replace") if path.exists() else "(no console log)"
            raise AssertionError(f"no {line.decode()!r} #{count} within {timeout} s; console:\n{tail}")
        time.sleep(0.1)
