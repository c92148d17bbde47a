"""Guest actions end to end: page -> task row -> real Celery worker -> real engine -> page."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import libvirt
import pytest
from django.conf import settings
from django.urls import reverse

from guests.choices import GuestState
from guests.models import Guest
from metrics.models import Counters
from metrics.store import history
from nodes.poll import poll_node
from tasks.choices import TaskStatus
from tasks.models import Task
from tests.support import CT_TEMPLATE, PREFIX, VM_TEMPLATE, act, assert_ok, create, ours, wait_for_line

pytestmark = pytest.mark.engines


def test_container_lifecycle(admin_client, admin_user, live_node, docker_client: docker.DockerClient) -> None:
    task = create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}web",
                                       "vcpus": 1, "memory_mib": 64, "start": "on"})
    assert_ok(task)
    assert (task.user, task.node, task.type) == (admin_user, live_node, "create")
    assert [line.text for line in task.log_lines.all()][-1] == "TASK OK"
    guest = Guest.objects.get(name=f"{PREFIX}web")
    assert guest.state == GuestState.RUNNING and guest.owner == admin_user
    container = docker_client.containers.get(guest.backend_id)
    assert container.labels["panel.vmid"] == str(guest.vmid)
    assert container.attrs["HostConfig"]["Memory"] == 64 * 1024**2

    page = admin_client.get(guest.get_absolute_url()).content.decode()
    assert "running" in page and "Shutdown" in page

    for action, state in [("suspend", "paused"), ("resume", "running"), ("reboot", "running"),
                          ("shutdown", "stopped"), ("start", "running"), ("stop", "stopped")]:
        task = act(admin_client, guest, action)
        assert_ok(task)
        guest.refresh_from_db()
        assert guest.state == state, action
        assert docker_client.containers.get(guest.backend_id).status == {
            "running": "running", "paused": "paused", "stopped": "exited"}[state]

    assert_ok(act(admin_client, guest, "delete"))
    assert not Guest.objects.filter(vmid=guest.vmid).exists()
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(guest.backend_id)
    # The task list shows the whole story.
    page = admin_client.get(reverse("task_list")).content.decode()
    tasks = Task.objects.filter(vmid=guest.vmid).order_by("-created_at")
    assert [t.type for t in tasks] == ["delete", "stop", "start", "shutdown", "reboot", "resume", "suspend", "create"]
    for task in tasks:  # each a row, in Proxmox's words ("CT 100 - Start")
        assert f'data-upid="{task.upid}"' in page and task.description in page, task.description


def test_failed_create_leaves_nothing_behind(admin_client, live_node, docker_client: docker.DockerClient) -> None:
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0]
    clash = docker_client.containers.create(image.id, name=f"{PREFIX}clash")  # made outside the panel, not polled yet
    try:
        before = ours(docker_client.containers.list(all=True))
        task = create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}clash",
                                           "vcpus": 1, "memory_mib": 64})
        assert task.status == TaskStatus.ERROR
        assert task.exit_message == f"a container named '{PREFIX}clash' already exists on this node"
        assert f"TASK ERROR: a container named '{PREFIX}clash' already exists" in "\n".join(
            line.text for line in task.log_lines.all())
        assert not Guest.objects.filter(vmid=task.vmid).exists()
        assert ours(docker_client.containers.list(all=True)) == before
    finally:
        clash.remove(force=True)


def test_engine_going_down_fails_the_task_with_the_reason(admin_client, live_node) -> None:
    task = create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}down",
                                       "vcpus": 1, "memory_mib": 64})
    assert_ok(task)
    guest = Guest.objects.get(name=f"{PREFIX}down")
    real_url = live_node.docker_url
    live_node.docker_url = "unix:///nonexistent/docker.sock"  # the engine "dies" after the last poll
    live_node.save()
    try:
        task = act(admin_client, guest, "start")
        assert task.status == TaskStatus.ERROR
        assert "Docker engine at unix:///nonexistent/docker.sock is not reachable" in task.exit_message
    finally:
        live_node.docker_url = real_url
        live_node.save()
    guest.refresh_from_db()
    assert guest.state == GuestState.STOPPED
    assert_ok(act(admin_client, guest, "delete"))


def test_second_action_on_a_busy_guest_is_refused(admin_client, live_node) -> None:
    assert_ok(create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}busy",
                                          "vcpus": 1, "memory_mib": 64}))
    guest = Guest.objects.get(name=f"{PREFIX}busy")
    first = Task.objects.create(upid="UPID:test:0:0:0:start:busy:root@pam:", node=live_node, type="start",
                                guest=guest, vmid=guest.vmid)  # a queued task nobody will run
    response = admin_client.post(reverse("guest_action", args=[guest.vmid, "start"]), follow=True)
    assert f"{guest} is busy with task start (queued)" in response.content.decode()
    assert Task.objects.filter(guest=guest).count() == 2  # the create and the queued start only
    first.delete()
    assert_ok(act(admin_client, guest, "delete"))


@pytest.mark.vm
def test_vm_lifecycle_on_qemu(admin_client, live_node) -> None:
    assert live_node.accelerator == "qemu"
    task = create(admin_client, "vm", {"node": live_node.name, "template": VM_TEMPLATE, "name": f"{PREFIX}vm",
                                       "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "start": "on"})
    assert_ok(task)
    guest = Guest.objects.get(name=f"{PREFIX}vm")
    assert guest.state == GuestState.RUNNING
    console = Path(settings.PANEL_STORAGE_DIR) / f"vm-{guest.vmid}-console.log"
    disk = Path(settings.PANEL_STORAGE_DIR) / f"vm-{guest.vmid}-disk-0.qcow2"
    assert disk.exists()
    wait_for_line(console, "panel-guest: ready")
    # Plausible figures from the node's polls: memory within the VM's (its balloon driver reports it), CPU
    # time spent, traffic counted on its NIC on the node's bridge (the guest asks DHCP for an address).
    deadline = time.monotonic() + 40
    while True:
        poll_node(live_node.name)
        guest.refresh_from_db()
        counters = Counters.objects.filter(kind="guest", key=str(guest.vmid)).first()
        if counters and counters.netout > 0 and 0 < guest.memory_used < 128 * 1024**2 and guest.cpu_usage > 0:
            break
        assert time.monotonic() < deadline, f"implausible figures: {guest.__dict__}, counters {counters}"
        time.sleep(1)
    assert guest.uptime >= 1 and guest.disk_bytes == 1024**3 and guest.disk_used > 0
    points = history("guest", guest.vmid, "hour")
    assert points and 0 < points[-1]["mem"] < 128 * 1024**2 and points[-1]["cpu"] > 0
    connection = libvirt.open(settings.PANEL_LIBVIRT_URI)
    try:
        domain = connection.lookupByUUIDString(guest.backend_id)
        assert domain.isActive() and domain.info()[1] == 128 * 1024
    finally:
        connection.close()

    assert_ok(act(admin_client, guest, "suspend"))
    assert_ok(act(admin_client, guest, "resume"))
    assert_ok(act(admin_client, guest, "shutdown"))  # an ACPI power-button press the guest honours
    guest.refresh_from_db()
    assert guest.state == GuestState.STOPPED
    assert_ok(act(admin_client, guest, "delete"))
    assert not disk.exists()
    assert not Guest.objects.filter(vmid=guest.vmid).exists()


def test_a_deleted_guest_leaves_nothing_to_the_next_one_with_its_vmid(admin_client, live_node) -> None:
    """Its ACL entries and history go with it: the next guest given its VMID inherits neither."""
    from access.models import AclEntry
    from metrics.models import Sample
    from metrics.store import Reading, ingest
    from tests.factories import UserFactory, grant

    assert_ok(create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}old",
                                          "vcpus": 1, "memory_mib": 64}))
    old = Guest.objects.get(name=f"{PREFIX}old")
    user = UserFactory()
    grant(user, "PVEVMAdmin", f"/vms/{old.vmid}")
    ingest([Reading("guest", str(old.vmid), time.time(), {"cpu": 0.5, "mem": 1000})])
    assert_ok(act(admin_client, old, "delete"))
    assert not AclEntry.objects.filter(path=f"/vms/{old.vmid}").exists()
    assert not Sample.objects.filter(kind="guest", key=str(old.vmid)).exists()
    assert_ok(create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}new",
                                          "vcpus": 1, "memory_mib": 64}))
    new = Guest.objects.get(name=f"{PREFIX}new")
    assert new.vmid == old.vmid  # the lowest free VMID, as Proxmox gives it
    assert not Guest.objects.visible_to(user).exists()
    response = admin_client.get(f"/api2/json/nodes/{live_node.name}/lxc/{new.vmid}/rrddata?timeframe=hour")
    assert response.json()["data"] == []
    assert_ok(act(admin_client, new, "delete"))
