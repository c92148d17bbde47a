"""A VM through /api2/json from creation to purge (proxmoxer over HTTPS, real QEMU under TCG): its memory changes
live through the balloon, what libvirt cannot change live waits as pending until its next start, its disk grows."""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest
from django.conf import settings
from proxmoxer import ProxmoxAPI

from guests.models import Guest
from tests.support import PREFIX, wait_for_line

from .guests import MiB, refused, run

pytestmark = [pytest.mark.engines, pytest.mark.vm]
GiB = 1024**3


def domain_of(guest: Guest):
    connection = libvirt.open(settings.PANEL_LIBVIRT_URI)
    return connection, connection.lookupByUUIDString(guest.backend_id)


def test_vm_settings_live_pending_and_resize(root_api: ProxmoxAPI, live_node, https_server) -> None:
    node = root_api.nodes(live_node.name)
    run(root_api, node.qemu.post(vmid=4401, name=f"{PREFIX}api-vm", memory=128, cores=1, scsi0="local:1",
                                 net0="virtio,bridge=vmbr0", ostype="l26", start=1), "qmcreate")
    guest = Guest.objects.get(vmid=4401)
    vm = node.qemu(4401)
    wait_for_line(Path(settings.PANEL_STORAGE_DIR) / f"vm-{guest.vmid}-console.log", "panel-guest: ready")
    current = vm.status.current.get()
    assert (current["status"], current["qmpstatus"], current["maxmem"], current["cpus"]) == (
        "running", "running", 128 * MiB, 1)
    assert node.qemu.get()[0]["vmid"] == 4401

    # Memory down through the balloon, at once; a second vCPU is beyond what it booted with: pending.
    digest = vm.config.get()["digest"]
    vm.config.put(memory=96, cores=2, name=f"{PREFIX}api-vm2", digest=digest)
    connection, domain = domain_of(guest)
    try:
        assert domain.info()[2] == 96 * 1024  # the balloon's size now, KiB
        assert domain.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 1
    finally:
        connection.close()
    pending = {entry["key"]: entry for entry in vm.pending.get()}
    assert pending["cores"] == {"key": "cores", "value": 1, "pending": 2}
    assert pending["name"]["pending"] == f"{PREFIX}api-vm2" and "pending" not in pending["memory"]
    config = vm.config.get()
    assert (config["cores"], config["name"], config["memory"]) == (2, f"{PREFIX}api-vm2", "96")
    assert vm.config.get(current=1)["cores"] == 1

    # The async API answers its qmconfig task.
    run(root_api, vm.config.post(description="a **VM**"), "qmconfig")
    assert vm.config.get()["description"] == "a **VM**"

    # The disk grows, live; it never shrinks.
    run(root_api, vm.resize.put(disk="virtio0", size="+1G"), "resize")
    assert vm.config.get()["virtio0"].endswith(",size=2G")
    for size in ("1G", "-1G", "lots"):
        error = refused(lambda size=size: vm.resize.put(disk="virtio0", size=size))
        assert error.status_code == 400 and "size" in error.errors
    assert refused(lambda: vm.resize.put(disk="scsi7", size="+1G")).status_code == 400

    run(root_api, vm.status.suspend.post(), "qmsuspend")
    assert vm.status.current.get()["qmpstatus"] == "paused"
    run(root_api, vm.status.resume.post(), "qmresume")
    run(root_api, vm.status.reset.post(), "qmreset")
    assert refused(lambda: node.qemu(4401).migrate.post(target="elsewhere")).status_code == 400  # runs: online
    run(root_api, vm.status.stop.post(), "qmstop")

    # The next start applies what was pending.
    run(root_api, vm.status.start.post(), "qmstart")
    assert not [entry for entry in vm.pending.get() if "pending" in entry]
    guest.refresh_from_db()
    assert (guest.vcpus, guest.name) == (2, f"{PREFIX}api-vm2")
    connection, domain = domain_of(guest)
    try:
        assert domain.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2 and domain.name() == f"{PREFIX}api-vm2"
    finally:
        connection.close()
    run(root_api, vm.status.stop.post(), "qmstop")
    run(root_api, vm.delete(purge=1), "qmdestroy")
    assert not Guest.objects.filter(vmid=4401).exists()
