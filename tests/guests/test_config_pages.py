"""The Hardware and Options tabs and the notes of a guest: the same service as the API, through the pages."""

from __future__ import annotations

import docker
import pytest
from django.urls import reverse

from guests.models import Guest
from tasks.models import Task
from tests.factories import PASSWORD, GuestFactory, UserFactory, grant
from tests.support import CT_TEMPLATE, PREFIX, assert_ok, create, wait_for_task

MiB = 1024 * 1024


@pytest.mark.engines
def test_container_hardware_options_and_notes(admin_client, live_node, docker_client: docker.DockerClient) -> None:
    assert_ok(create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}tabs",
                                          "vcpus": 1, "memory_mib": 64, "start": "on"}))
    guest = Guest.objects.get(name=f"{PREFIX}tabs")
    hardware, tab = reverse("guest_hardware", args=[guest.vmid]), reverse("guest_tab", args=[guest.vmid, "hardware"])
    page = admin_client.get(tab).content.decode()
    assert 'name="memory"' in page and 'value="64"' in page and "Apply" in page and "disk_gib" not in page

    # A running container's memory changes at once: the form queues the change and goes on to its task.
    digest = admin_client.get(tab).context["form"]["digest"].value()
    response = admin_client.post(hardware, {"memory": 96, "cores": 1, "digest": digest})
    assert response.status_code == 302
    task = Task.objects.filter(vmid=guest.vmid, type="config").get()
    assert response["Location"] == task.get_absolute_url()
    assert_ok(wait_for_task(task))
    assert docker_client.containers.get(guest.backend_id).attrs["HostConfig"]["Memory"] == 96 * MiB

    bad = admin_client.post(hardware, {"memory": 5, "cores": 1})
    assert bad.status_code == 400 and "Ensure this value is greater than or equal to 16" in bad.content.decode()
    stale = admin_client.post(hardware, {"memory": 80, "cores": 1, "digest": digest})  # the digest of before
    assert stale.status_code == 400 and "checksum mismatch" in stale.content.decode()

    options = reverse("guest_options", args=[guest.vmid])
    response = admin_client.post(options, {"name": guest.name, "onboot": "on", "startup_order": 2, "startup_up": 5,
                                           "tags": "web prod", "description": "front end"})
    assert response.status_code == 302 and response["Location"] == reverse("guest_tab", args=[guest.vmid, "options"])
    guest.refresh_from_db()
    assert (guest.onboot, guest.startup_order, guest.startup_up, guest.tags, guest.description) == (
        True, 2, 5, "web;prod", "front end")
    assert admin_client.post(options, {"name": guest.name, "startup_order": -1}).status_code == 400
    assert admin_client.post(options, {"name": "Bad Name!"}).status_code == 400

    # Notes on the Summary.
    summary = admin_client.get(guest.get_absolute_url()).content.decode()
    assert "front end" in summary and reverse("guest_notes", args=[guest.vmid]) in summary
    response = admin_client.post(reverse("guest_notes", args=[guest.vmid]), {"description": "line one\nline two"})
    assert response.status_code == 302 and response["Location"] == guest.get_absolute_url()
    assert "line one<br>line two" in admin_client.get(guest.get_absolute_url()).content.decode()
    too_long = admin_client.post(reverse("guest_notes", args=[guest.vmid]), {"description": "x" * 9000})
    assert too_long.status_code == 400 and "at most 8192 characters" in too_long.content.decode()


def test_pending_changes_are_marked(admin_client, node) -> None:
    guest = GuestFactory(node=node, kind="vm", state="running", vcpus=1, memory_mib=128,
                         pending={"cores": 2, "name": "renamed-next-boot"})
    page = admin_client.get(reverse("guest_tab", args=[guest.vmid, "hardware"])).content.decode()
    assert "pending: 2" in page and 'name="disk_gib"' in page
    options = admin_client.get(reverse("guest_tab", args=[guest.vmid, "options"])).content.decode()
    assert "pending: renamed-next-boot" in options


def test_who_may_not_configure_sees_no_form_and_is_refused(client, node) -> None:
    guest = GuestFactory(node=node, state="stopped")
    auditor = UserFactory(username="tab-auditor")
    grant(auditor, "PVEAuditor", f"/vms/{guest.vmid}")
    client.login(username=auditor.username, password=PASSWORD)
    page = client.get(reverse("guest_tab", args=[guest.vmid, "hardware"])).content.decode()
    assert "Apply" not in page and "you may not change this" in page
    assert "Edit notes" not in client.get(guest.get_absolute_url()).content.decode()
    assert client.post(reverse("guest_hardware", args=[guest.vmid]), {"memory": 96}).status_code == 403
    assert client.post(reverse("guest_notes", args=[guest.vmid]), {"description": "x"}).status_code == 403
    assert (Guest.objects.get(pk=guest.pk).memory_mib, Guest.objects.get(pk=guest.pk).description) == (64, "")
    outsider = UserFactory(username="tab-outsider")
    client.login(username=outsider.username, password=PASSWORD)
    assert client.get(reverse("guest_tab", args=[guest.vmid, "options"])).status_code == 404
    assert client.get(reverse("guest_options", args=[guest.vmid])).status_code == 405


@pytest.mark.engines
def test_a_stopped_vm_grows_its_disk_and_takes_its_new_cores(admin_client, live_node) -> None:
    from tests.support import VM_TEMPLATE

    assert_ok(create(admin_client, "vm", {"node": live_node.name, "template": VM_TEMPLATE, "name": f"{PREFIX}tabvm",
                                          "vcpus": 1, "memory_mib": 128, "disk_gib": 1}))
    guest = Guest.objects.get(name=f"{PREFIX}tabvm")
    hardware = reverse("guest_hardware", args=[guest.vmid])
    both = admin_client.post(hardware, {"memory": 128, "cores": 2, "disk_gib": 2})
    assert both.status_code == 400 and "grow the disk on its own" in both.content.decode()
    for data, type_ in (({"memory": 128, "cores": 2, "disk_gib": 1}, "config"),
                        ({"memory": 128, "cores": 2, "disk_gib": 2}, "resize")):
        response = admin_client.post(hardware, data)
        assert response.status_code == 302, response.content.decode()[-2000:]
        assert_ok(wait_for_task(Task.objects.get(vmid=guest.vmid, type=type_)))
    guest.refresh_from_db()
    assert (guest.vcpus, guest.disk_bytes, guest.pending) == (2, 2 * 1024**3, {})  # stopped: nothing waits
    shrink = admin_client.post(reverse("guest_hardware", args=[guest.vmid]), {"memory": 128, "cores": 2,
                                                                            "disk_gib": 1})
    assert shrink.status_code == 400 and "shrinking disks is not supported" in shrink.content.decode()
