"""A VM made from an ISO image of the node's storage (set-up's tiny-linux.iso: GRUB on a CD booting the VM
template's kernel): the wizard offers it, the VM boots the CD onto its empty disk, and deleting the VM leaves the
image to the others."""

from __future__ import annotations

import shutil
from pathlib import Path

import libvirt
import pytest
from django.conf import settings
from django.urls import reverse
from lxml import etree

from guests.choices import GuestState
from guests.models import Guest
from tasks.models import Task
from tests.support import PREFIX, VM_TEMPLATE, act, assert_ok, create, log_text, wait_for_line, wait_for_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.vm]

ISO = "tiny-linux.iso"
BUILT = Path(settings.PANEL_TEMPLATE_DIR) / "iso" / ISO  # scripts/setup/templates.sh


@pytest.fixture
def iso_in_storage(live_node) -> Path:
    """The image in the node's local storage, as an upload puts it."""
    live_node.iso_dir.mkdir(parents=True, exist_ok=True)
    path = live_node.iso_dir / ISO
    shutil.copyfile(BUILT, path)
    return path


def test_the_wizard_offers_the_nodes_iso_images_and_refuses_both_or_neither(admin_client, live_node,
                                                                            iso_in_storage) -> None:
    page = admin_client.get(reverse("guest_create", args=["vm"])).content.decode()
    assert f'<option value="{ISO}">{ISO}</option>' in page
    form = {"node": live_node.name, "name": f"{PREFIX}iso", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}
    for data, field, message in (
        ({"template": VM_TEMPLATE, "iso": ISO}, "iso", "either a template or an ISO image, not both"),
        ({"template": "", "iso": "other.iso"}, "iso", "is not in the storage of node"),
        ({"template": "", "iso": ""}, "template", "choose a template or an ISO image"),
    ):
        response = admin_client.post(reverse("guest_create", args=["vm"]), {**form, **data})
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field]), response.context["form"].errors
    assert not Guest.objects.filter(name=f"{PREFIX}iso").exists()


def test_a_vm_boots_its_iso_onto_an_empty_disk_and_its_deletion_keeps_the_image(admin_client, live_node,
                                                                              iso_in_storage) -> None:
    task = create(admin_client, "vm", {"node": live_node.name, "template": "", "iso": ISO, "name": f"{PREFIX}iso",
                                       "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "network": "none",
                                       "start": "on"})
    assert_ok(task)
    assert f"from ISO image {ISO}" in log_text(task)
    guest = Guest.objects.get(name=f"{PREFIX}iso")
    assert guest.state == GuestState.RUNNING and guest.template == ""
    connection = libvirt.open(settings.PANEL_LIBVIRT_URI)
    try:
        domain = etree.fromstring(connection.lookupByUUIDString(guest.backend_id).XMLDesc())
    finally:
        connection.close()
    assert [b.get("dev") for b in domain.iterfind("os/boot")] == ["cdrom", "hd"]
    assert domain.find("os/kernel") is None  # the firmware boots the CD: no kernel handed over
    assert domain.find("devices/interface") is None  # the wizard's "no network device"
    cdrom = domain.find("devices/disk[@device='cdrom']")
    assert cdrom.find("source").get("file") == str(iso_in_storage) and cdrom.find("readonly") is not None
    # SeaBIOS, then GRUB from the CD, then the kernel: the guest's own line on its serial console.
    wait_for_line(Path(live_node.storage_dir) / f"vm-{guest.vmid}-console.log", "panel-guest: ready", timeout=180)
    assert_ok(act(admin_client, guest, "stop"))
    assert_ok(act(admin_client, guest, "delete"))
    assert iso_in_storage.is_file()  # the image is the storage's, shared by every VM made from it
    assert not (Path(live_node.storage_dir) / f"vm-{guest.vmid}-disk-0.qcow2").exists()


def test_the_api_takes_proxmoxs_cd_image_and_names_a_bad_one(admin_client, live_node, iso_in_storage) -> None:
    url = f"/api2/json/nodes/{live_node.name}/qemu"
    for ide2, message in (("local:iso/missing.iso,media=cdrom", "does not exist"),
                          ("local:vztmpl/busybox,media=cdrom", "an ISO image of storage 'local' is needed"),
                          (f"local:iso/{ISO},media=disk", "only media=cdrom")):
        refused = admin_client.post(url, {"name": f"{PREFIX}api-iso", "scsi0": "local:1", "ide2": ide2})
        assert refused.status_code == 400 and message in refused.json()["errors"]["ide2"], refused.json()
    response = admin_client.post(url, {"name": f"{PREFIX}api-iso", "scsi0": "local:1", "memory": "128",
                                       "ide2": f"local:iso/{ISO},media=cdrom"})
    assert response.status_code == 200, response.content
    task = wait_for_task(Task.objects.get(upid=response.json()["data"]))
    assert_ok(task)
    guest = Guest.objects.get(name=f"{PREFIX}api-iso")
    connection = libvirt.open(settings.PANEL_LIBVIRT_URI)
    try:
        domain = etree.fromstring(connection.lookupByUUIDString(guest.backend_id).XMLDesc())
    finally:
        connection.close()
    assert domain.find("devices/disk[@device='cdrom']/source").get("file") == str(iso_in_storage)
    assert_ok(act(admin_client, guest, "delete"))
