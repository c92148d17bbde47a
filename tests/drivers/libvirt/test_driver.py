"""LibvirtDriver on libvirt's test:///default driver: fast, no daemon, nothing boots.

test:///default keeps one in-memory state per process, shared by every connection
(and kept alive by any virDomain object still referenced) and reset only when the
last one goes. It starts with one running sample domain, "test"; the driver fixture
puts that state back after each test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import libvirt
import pytest

from drivers.errors import (
    DriverError,
    EngineUnavailable,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    OperationTimeout,
    TemplateNotFound,
)
from drivers.libvirt import LibvirtDriver, vm_files
from drivers.libvirt.config import GuestInterface
from drivers.libvirt.host import Host
from drivers.types import ConfigChange, GuestKind, GuestSpec, PowerState

TEST_URI = "test:///default"


def write_template(root: Path, name: str, **fields: object) -> Path:
    directory = root / "vm" / name
    directory.mkdir(parents=True)
    (directory / "vmlinuz").write_bytes(b"kernel")
    (directory / "initrd.img").write_bytes(b"initrd")
    data = {
        "name": name,
        "kind": "vm",
        "description": "A fake template",
        "kernel": "vmlinuz",
        "initrd": "initrd.img",
        "cmdline": "console=ttyS0 panic=-1",
        "min_memory_mib": 64,
    }
    data.update(fields)
    (directory / "template.json").write_text(json.dumps(data))
    return directory


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    write_template(root, "fake")
    return root


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def driver(storage_dir: Path, template_dir: Path) -> Iterator[LibvirtDriver]:
    driver = LibvirtDriver(TEST_URI, str(storage_dir), str(template_dir))
    yield driver
    conn = driver._host.get_connection()
    for domain in conn.listAllDomains(0):
        if domain.name() != "test":
            if domain.isActive():
                domain.destroy()
            domain.undefine()
    driver.close()


def spec(**overrides: object) -> GuestSpec:
    values: dict = dict(vmid=100, name="web1", template="fake", vcpus=2, memory_mib=128, disk_gib=1, accelerator="qemu")
    values.update(overrides)
    return GuestSpec(**values)


def domain_names(driver: LibvirtDriver) -> set[str]:
    return {g.name for g in driver.list_guests()}


def files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


# -- inventory -------------------------------------------------------------------------------


def test_engine_info(driver: LibvirtDriver) -> None:
    info = driver.engine_info()
    assert (info.name, info.uri) == ("libvirt", TEST_URI)
    assert info.version.count(".") == 2


def test_lists_domains_created_outside_the_panel(driver: LibvirtDriver) -> None:
    (sample,) = driver.list_guests()
    assert (sample.name, sample.state, sample.vmid, sample.template) == ("test", PowerState.RUNNING, None, "")
    assert sample.memory_mib == 8192 and sample.vcpus == 2
    # test:// reports wall-clock time as CPU time: compare all but usage.
    assert replace(driver.get_guest(sample.backend_id), usage=sample.usage) == sample


def test_list_guests_reads_stats_in_one_call(driver: LibvirtDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    driver.create(spec())
    conn = driver._host.get_connection()
    calls = []
    real = conn.getAllDomainStats
    monkeypatch.setattr(conn, "getAllDomainStats", lambda *a: calls.append(a) or real(*a))

    assert domain_names(driver) == {"test", "web1"}
    assert len(calls) == 1


@pytest.mark.parametrize("bridge", ["br0;rm", "a" * 16, "br 0", "../x"])
def test_bad_bridge_names_are_refused(storage_dir: Path, template_dir: Path, bridge: str) -> None:
    with pytest.raises(InvalidSpec, match="not a valid bridge name"):
        LibvirtDriver(TEST_URI, str(storage_dir), str(template_dir), bridge=bridge)


def test_templates(driver: LibvirtDriver, template_dir: Path) -> None:
    write_template(template_dir, "broken", kernel="missing-vmlinuz")
    write_template(template_dir, "escape", kernel="../fake/vmlinuz")
    (template_dir / "vm" / "not-a-template").mkdir()

    (template,) = driver.list_templates()
    assert (template.name, template.kind, template.min_memory_mib) == ("fake", GuestKind.VM, 64)
    assert template.description == "A fake template"


def test_no_template_dir(storage_dir: Path, tmp_path: Path) -> None:
    assert LibvirtDriver(TEST_URI, str(storage_dir), str(tmp_path / "nowhere")).list_templates() == []


# -- create ----------------------------------------------------------------------------------


def test_create_defines_a_stopped_vm_with_a_disk(driver: LibvirtDriver, storage_dir: Path) -> None:
    info = driver.create(spec())

    assert (info.name, info.state, info.vmid, info.template) == ("web1", PowerState.STOPPED, 100, "fake")
    assert (info.vcpus, info.memory_mib) == (2, 128)
    disk = storage_dir / "vm-100-disk-0.qcow2"
    assert disk.read_bytes()[:4] == b"QFI\xfb"  # a qcow2 header, written by qemu-img
    config = driver._host.get_guest(info.backend_id).get_config()
    assert config.virt_type == "qemu"
    assert [d.source for d in config.disks] == [str(disk)]
    assert [s.log_file for s in config.serials] == [str(storage_dir / "vm-100-console.log")]
    assert config.kernel and config.kernel.endswith("/vm/fake/vmlinuz")
    assert config.cmdline == "console=ttyS0 panic=-1"
    assert driver.get_guest(info.backend_id) == info


def test_a_vms_network_is_the_nodes_nat_or_none(storage_dir: Path, template_dir: Path) -> None:
    driver = LibvirtDriver(TEST_URI, str(storage_dir), str(template_dir), bridge="panelbr0")
    try:
        for vmid, network, nics in ((101, "", [("bridge", "panelbr0")]), (102, "user", [("user", None)]),
                                    (103, "none", [])):
            info = driver.create(spec(vmid=vmid, name=f"net{vmid}", network=network))
            config = driver._host.get_guest(info.backend_id).get_config()
            assert [(d.type, d.source_bridge) for d in config.devices if isinstance(d, GuestInterface)] == nics
            driver._host.get_guest(info.backend_id).undefine()
        with pytest.raises(InvalidSpec, match="a VM's network is one of"):
            driver.create(spec(vmid=104, name="net104", network="bridge=evil"))
    finally:
        driver.close()


@pytest.mark.parametrize("name", ["a", "web-1", "A1", "db.example.org", "a" * 63, "x-" * 31 + "y"])
def test_valid_names(driver: LibvirtDriver, name: str) -> None:
    assert driver.create(spec(name=name)).name == name


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "a_b", "a b", "a" * 64, "a..b", ".a", "a.", "\u00e9t\u00e9", "a/b", "a<b>", "a\nb"]
)
def test_invalid_names(driver: LibvirtDriver, storage_dir: Path, name: str) -> None:
    with pytest.raises(InvalidSpec, match="not a valid VM name"):
        driver.create(spec(name=name))
    assert files(storage_dir) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"memory_mib": 63}, "at least 64 MiB"),
        ({"vcpus": 0}, "at least 1 vCPU"),
        ({"disk_gib": 0}, "between 1 and 4096"),
        ({"disk_gib": 4097}, "between 1 and 4096"),
        ({"accelerator": "xen"}, "accelerator"),
        ({"vmid": 0}, "vmid"),
    ],
)
def test_invalid_specs(driver: LibvirtDriver, storage_dir: Path, overrides: dict, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        driver.create(spec(**overrides))
    assert files(storage_dir) == []
    assert domain_names(driver) == {"test"}


@pytest.mark.parametrize("template", ["nope", "../vm/fake", "broken"])
def test_unknown_template(driver: LibvirtDriver, template_dir: Path, template: str) -> None:
    write_template(template_dir, "broken", initrd="gone.img")
    with pytest.raises(TemplateNotFound, match="VM template"):
        driver.create(spec(template=template))
    assert domain_names(driver) == {"test"}


@pytest.mark.parametrize(("name", "vmid"), [("web1", 101), ("test", 101), ("other", 100)])
def test_duplicates_are_refused(driver: LibvirtDriver, storage_dir: Path, name: str, vmid: int) -> None:
    driver.create(spec())
    with pytest.raises(GuestAlreadyExists):
        driver.create(spec(name=name, vmid=vmid))
    assert files(storage_dir) == ["vm-100-disk-0.qcow2"]


def test_existing_disk_is_never_overwritten(driver: LibvirtDriver, storage_dir: Path) -> None:
    storage_dir.mkdir()
    (storage_dir / "vm-100-disk-0.qcow2").write_bytes(b"precious")
    with pytest.raises(GuestAlreadyExists, match="already exists"):
        driver.create(spec())
    assert (storage_dir / "vm-100-disk-0.qcow2").read_bytes() == b"precious"
    assert domain_names(driver) == {"test"}


def test_failed_define_leaves_nothing(
    driver: LibvirtDriver, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(xml: str) -> None:
        raise DriverError("libvirt error: refused")

    monkeypatch.setattr(driver._host, "define", refuse)
    with pytest.raises(DriverError, match="refused"):
        driver.create(spec())
    assert files(storage_dir) == []


def test_failure_after_define_undefines(
    driver: LibvirtDriver, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(backend_id: str) -> None:
        raise EngineUnavailable("gone")

    monkeypatch.setattr(driver, "get_guest", broken)
    with pytest.raises(EngineUnavailable):
        driver.create(spec())
    monkeypatch.undo()
    assert files(storage_dir) == []
    assert domain_names(driver) == {"test"}


def test_failed_qemu_img_leaves_nothing(
    driver: LibvirtDriver, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vm_files, "QEMU_IMG", "/nonexistent/qemu-img")
    with pytest.raises(DriverError, match="qemu-img is not installed"):
        driver.create(spec())
    assert files(storage_dir) == []
    assert domain_names(driver) == {"test"}


# -- power and delete ------------------------------------------------------------------------


def state(driver: LibvirtDriver, backend_id: str) -> PowerState:
    return driver.get_guest(backend_id).state


def test_lifecycle(driver: LibvirtDriver, storage_dir: Path) -> None:
    vm = driver.create(spec()).backend_id
    (storage_dir / "vm-100-console.log").write_text("boot log")  # virtlogd would write it

    driver.start(vm)
    assert state(driver, vm) is PowerState.RUNNING
    driver.suspend(vm)
    assert state(driver, vm) is PowerState.PAUSED
    driver.resume(vm)
    assert state(driver, vm) is PowerState.RUNNING
    driver.reboot(vm, timeout=0.1)  # test:// sends no reboot event: this goes through reset
    assert state(driver, vm) is PowerState.RUNNING
    driver.shutdown(vm, timeout=5)
    assert state(driver, vm) is PowerState.STOPPED
    driver.start(vm)
    driver.stop(vm)
    assert state(driver, vm) is PowerState.STOPPED

    driver.delete(vm)
    assert files(storage_dir) == []
    assert domain_names(driver) == {"test"}
    with pytest.raises(GuestNotFound):
        driver.get_guest(vm)


def test_delete_keeps_files_outside_storage_dir(driver: LibvirtDriver, tmp_path: Path) -> None:
    outside = tmp_path / "precious.qcow2"
    outside.write_bytes(b"data")
    conn = driver._host.get_connection()
    xml = driver._guest_config(spec(name="foreign"), driver._validate(spec()), str(outside)).to_xml()
    domain = conn.defineXML(xml)

    driver.delete(domain.UUIDString())
    assert outside.read_bytes() == b"data"


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ([], "start", "already running"),
        (["suspend"], "start", "paused, resume it instead"),
        (["stop"], "stop", "not running"),
        (["stop"], "suspend", "it is stopped"),
        (["suspend"], "suspend", "it is paused"),
        ([], "resume", "it is running"),
        (["stop"], "resume", "it is stopped"),
        (["stop"], "shutdown", "it is stopped"),
        (["suspend"], "shutdown", "it is paused"),
        (["stop"], "reboot", "it is stopped"),
        ([], "delete", "stop the VM first"),
        (["suspend"], "delete", "stop the VM first"),
    ],
)
def test_wrong_state(driver: LibvirtDriver, setup: list[str], action: str, message: str) -> None:
    vm = driver.create(spec()).backend_id
    driver.start(vm)
    for step in setup:
        getattr(driver, step)(vm)
    args = (vm, 1) if action in ("shutdown", "reboot") else (vm,)
    with pytest.raises(InvalidGuestState, match=message) as error:
        getattr(driver, action)(*args)
    assert "VM web1" in str(error.value)


def test_shutdown_times_out_without_forcing(driver: LibvirtDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = driver.create(spec()).backend_id
    driver.start(vm)
    monkeypatch.setattr("drivers.libvirt.guest.Guest.shutdown", lambda self: None)  # a guest that ignores ACPI

    with pytest.raises(OperationTimeout, match=r"VM web1 did not shut down within 0.5 s"):
        driver.shutdown(vm, timeout=0.5)
    assert state(driver, vm) is PowerState.RUNNING


@pytest.mark.parametrize("action", ["start", "stop", "suspend", "resume", "delete", "get_guest"])
def test_unknown_guest(driver: LibvirtDriver, action: str) -> None:
    for backend_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        with pytest.raises(GuestNotFound):
            getattr(driver, action)(backend_id)


# -- connection and errors -------------------------------------------------------------------


def test_unreachable_engine(storage_dir: Path, template_dir: Path) -> None:
    uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
    driver = LibvirtDriver(uri, str(storage_dir), str(template_dir))
    for call in (driver.engine_info, driver.list_guests, lambda: driver.create(spec())):
        with pytest.raises(EngineUnavailable, match="/nonexistent/libvirt-sock"):
            call()


def test_one_connection_reopened_when_broken(driver: LibvirtDriver) -> None:
    conn = driver._host.get_connection()
    driver.list_guests()
    assert driver._host.get_connection() is conn
    conn.close()  # as if libvirtd had gone away
    assert domain_names(driver) == {"test"}
    assert driver._host.get_connection() is not conn


class FakeError(libvirt.libvirtError):
    def __init__(self, code: int, domain: int = libvirt.VIR_FROM_QEMU) -> None:
        Exception.__init__(self, "boom")
        self.err = (code, domain, "boom", 2, None, None, None, 0, 0)


@pytest.mark.parametrize(
    ("code", "domain", "expected"),
    [
        (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU, GuestNotFound),
        (libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_FROM_QEMU, InvalidGuestState),
        (libvirt.VIR_ERR_DOM_EXIST, libvirt.VIR_FROM_QEMU, GuestAlreadyExists),
        (libvirt.VIR_ERR_OPERATION_TIMEOUT, libvirt.VIR_FROM_QEMU, OperationTimeout),
        (libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_FROM_DOMAIN, InvalidSpec),
        (libvirt.VIR_ERR_CONFIG_UNSUPPORTED, libvirt.VIR_FROM_QEMU, InvalidSpec),
        (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC, EngineUnavailable),
        (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_RPC, EngineUnavailable),
        (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_FROM_NONE, EngineUnavailable),
        (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_QEMU, DriverError),
    ],
)
def test_error_translation(code: int, domain: int, expected: type) -> None:
    error = Host("qemu:///system").translate(FakeError(code, domain), "VM web1")
    assert type(error) is expected
    assert "boom" in str(error) or "web1" in str(error)
    if expected is EngineUnavailable:
        assert "qemu:///system" in str(error)


# -- configuration ---------------------------------------------------------------------------

def test_a_stopped_vm_takes_every_change_into_its_definition(driver: LibvirtDriver) -> None:
    info = driver.create(spec(vmid=120, name="cfg1", vcpus=1, memory_mib=128))
    left = driver.update_config(info.backend_id, ConfigChange(name="cfg1-renamed", memory_mib=96, vcpus=2))
    assert left == set()
    after = driver.get_guest(info.backend_id)
    assert (after.name, after.memory_mib, after.vcpus) == ("cfg1-renamed", 96, 2)
    driver.update_config(info.backend_id, ConfigChange(memory_mib=256, vcpus=1))  # up beyond the old maximum
    after = driver.get_guest(info.backend_id)
    assert (after.memory_mib, after.vcpus) == (256, 1)
    with pytest.raises(InvalidSpec):
        driver.update_config(info.backend_id, ConfigChange(name="no spaces allowed"))
    other = driver.create(spec(vmid=121, name="cfg2"))
    with pytest.raises(GuestAlreadyExists):
        driver.update_config(other.backend_id, ConfigChange(name="cfg1-renamed"))


def test_a_running_vm_leaves_its_name_for_the_next_start(driver: LibvirtDriver) -> None:
    info = driver.create(spec(vmid=122, name="cfg3", vcpus=1, memory_mib=128))
    driver.start(info.backend_id)
    left = driver.update_config(info.backend_id, ConfigChange(name="cfg3-next", memory_mib=64))
    assert "name" in left and driver.get_guest(info.backend_id).name == "cfg3"
    driver.stop(info.backend_id)
    assert driver.update_config(info.backend_id, ConfigChange(name="cfg3-next")) == set()
    assert driver.get_guest(info.backend_id).name == "cfg3-next"
