"""VM snapshots and clones on qemu:///system under TCG: internal qcow2 snapshots, with the RAM of a running VM;
the disk's data is written and read back from the host with qemu-io, so that a rollback is seen to restore it."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from lxml import etree

from drivers.errors import InvalidGuestState, InvalidSpec, SnapshotExists, SnapshotNotFound
from drivers.libvirt import LibvirtDriver
from drivers.types import CloneSpec, PowerState
from tests.support import PREFIX

from .qemu import (
    BRIDGE,
    READY,
    TEMPLATE_DIR,
    URI,
    check_environment,
    remove_domain,
    spec,
    system_storage,
    wait_for_console,
)

pytestmark = pytest.mark.vm


@pytest.fixture
def storage_dir() -> Iterator[Path]:
    check_environment()
    with system_storage() as path:
        yield path


@pytest.fixture
def driver(storage_dir: Path) -> Iterator[LibvirtDriver]:
    driver = LibvirtDriver(URI, str(storage_dir), TEMPLATE_DIR, bridge=BRIDGE, name_prefix=PREFIX)
    yield driver
    driver.close()


@pytest.fixture
def names() -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        remove_domain(URI, name)


def qemu_io(disk: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, str(disk)], capture_output=True, text=True)


def holds(disk: Path, pattern: int) -> bool:
    """Whether the first 64 KiB of the disk hold ``pattern`` (qemu-io's read -P checks every byte)."""
    result = qemu_io(disk, f"read -P {pattern} 0 64k")
    return result.returncode == 0 and "Pattern verification failed" not in result.stdout


def test_snapshot_rollback_and_delete(driver: LibvirtDriver, storage_dir: Path, names: list[str]) -> None:
    name = f"{PREFIX}vsnap-{uuid.uuid4().hex[:6]}"
    names.append(name)
    info = driver.create(spec(name, 7101))
    disk = storage_dir / "vm-7101-disk-0.qcow2"
    assert qemu_io(disk, "write -P 0xab 0 64k").returncode == 0

    cold = driver.create_snapshot(info.backend_id, "cold", "stopped, disk only")
    assert (cold.name, cold.description, cold.vmstate, cold.parent) == ("cold", "stopped, disk only", False, "")
    with pytest.raises(SnapshotExists):
        driver.create_snapshot(info.backend_id, "cold")
    with pytest.raises(InvalidSpec):
        driver.create_snapshot(info.backend_id, "9lives")
    assert qemu_io(disk, "write -P 0xcd 0 64k").returncode == 0
    driver.rollback_snapshot(info.backend_id, "cold")
    assert holds(disk, 0xAB)

    driver.start(info.backend_id)
    console = storage_dir / "vm-7101-console.log"
    wait_for_console(console, READY, 1)
    hot = driver.create_snapshot(info.backend_id, "hot", vmstate=True)
    assert (hot.vmstate, hot.parent) == (True, "cold")
    assert driver.power_state(info.backend_id) is PowerState.RUNNING
    assert [(s.name, s.parent, s.vmstate) for s in driver.list_snapshots(info.backend_id)] == [
        ("cold", "", False), ("hot", "cold", True)]

    # Back to the disk-only snapshot: the VM is stopped; back to the one with RAM: it runs again from there.
    driver.rollback_snapshot(info.backend_id, "cold")
    assert driver.power_state(info.backend_id) is PowerState.STOPPED
    driver.rollback_snapshot(info.backend_id, "hot")
    assert driver.power_state(info.backend_id) is PowerState.RUNNING

    driver.delete_snapshot(info.backend_id, "cold")
    assert [(s.name, s.parent) for s in driver.list_snapshots(info.backend_id)] == [("hot", "")]
    with pytest.raises(SnapshotNotFound):
        driver.rollback_snapshot(info.backend_id, "cold")
    with pytest.raises(InvalidGuestState, match="stop it first"):
        driver.clone(info.backend_id, CloneSpec(vmid=7102, name=f"{name}-copy", accelerator="qemu"))
    driver.stop(info.backend_id)
    driver.delete(info.backend_id)  # with its snapshots
    assert not disk.exists()


def test_clone_of_a_stopped_vm(driver: LibvirtDriver, storage_dir: Path, names: list[str]) -> None:
    name = f"{PREFIX}vclone-{uuid.uuid4().hex[:6]}"
    names.extend([name, f"{name}-copy"])
    info = driver.create(spec(name, 7103))
    assert qemu_io(storage_dir / "vm-7103-disk-0.qcow2", "write -P 0x5a 0 64k").returncode == 0
    driver.create_snapshot(info.backend_id, "before")

    copy = driver.clone(info.backend_id, CloneSpec(vmid=7104, name=f"{name}-copy", accelerator="qemu"))
    assert (copy.name, copy.vmid, copy.state, copy.memory_mib) == (f"{name}-copy", 7104, PowerState.STOPPED, 128)
    assert copy.backend_id != info.backend_id
    copied = storage_dir / "vm-7104-disk-0.qcow2"
    assert holds(copied, 0x5A)
    assert driver.list_snapshots(copy.backend_id) == []  # a copy of the disk as it is, not of its snapshots

    conn = libvirt.open(URI)
    try:
        def macs(uuid_: str) -> list[str]:
            xml = etree.fromstring(conn.lookupByUUIDString(uuid_).XMLDesc(0).encode())
            return xml.xpath("//interface/mac/@address")
        assert macs(copy.backend_id) and macs(copy.backend_id) != macs(info.backend_id)
    finally:
        conn.close()
    driver.start(copy.backend_id)
    wait_for_console(storage_dir / "vm-7104-console.log", READY, 1)
    driver.stop(copy.backend_id)
    driver.delete(copy.backend_id)
    driver.delete(info.backend_id)
