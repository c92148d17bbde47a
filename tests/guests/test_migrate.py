"""Migration between two real nodes on this machine: node2 has its own dockerd and libvirt session,
and its own Celery worker (see scripts/setup/second-node.sh and the second_node_worker fixture)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import libvirt
import pytest
from django.conf import settings
from django.urls import reverse
from docker.types import Mount
from lxml import etree

from drivers.docker import labels
from guests.choices import GuestState
from guests.models import Guest
from guests.services import request_migrate
from nodes.poll import collect
from panel.errors import Conflict
from tasks.choices import TaskStatus
from tasks.models import Task
from tests.support import (
    CT_TEMPLATE,
    NODE2_DOCKER_URL,
    NODE2_STORAGE_DIR,
    PREFIX,
    ROOT,
    VM_TEMPLATE,
    act,
    assert_ok,
    create,
    migrated_images,
    wait_for_line,
    wait_for_task,
)

pytestmark = pytest.mark.engines
READY = "panel-guest: ready"
BOOT_TIMEOUT = 120  # TCG on a machine busy with other test runs


@pytest.fixture
def node2_docker():
    client = docker.DockerClient(base_url=NODE2_DOCKER_URL)
    yield client
    client.close()


def migrate(client, guest: Guest, target: str, online: bool = False, timeout: float = 180) -> Task:
    data = {"target": target, **({"online": "on"} if online else {})}
    response = client.post(reverse("guest_migrate", args=[guest.vmid]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    task = Task.objects.filter(vmid=guest.vmid, type="migrate").order_by("-pk").first()
    assert task is not None, "no migrate task was queued"
    assert response["Location"] == task.get_absolute_url()
    return wait_for_task(task, timeout=timeout)


def refused(client, guest: Guest, target: str, **extra: str) -> str:
    """The page's answer to a migration it must refuse: no task at all (a wrongly accepted one would be running
    within milliseconds, so looking for a queued one could not fail)."""
    before = Task.objects.filter(vmid=guest.vmid, type="migrate").count()
    response = client.post(reverse("guest_migrate", args=[guest.vmid]), {"target": target, **extra}, follow=True)
    assert Task.objects.filter(vmid=guest.vmid, type="migrate").count() == before, "a migration was queued"
    return response.content.decode()


def new_container(client, node, name: str, start: bool = True) -> Guest:
    data = {"node": node.name, "template": CT_TEMPLATE, "name": name, "vcpus": 1, "memory_mib": 64}
    if start:
        data["start"] = "on"
    assert_ok(create(client, "ct", data))
    return Guest.objects.get(name=name)


def remove(client, guest: Guest) -> None:
    guest.refresh_from_db()
    if guest.state == GuestState.RUNNING:
        assert_ok(act(client, guest, "stop"))
    assert_ok(act(client, guest, "delete"))


def test_running_container_moves_with_its_files(admin_client, live_node, live_node2, docker_client,
                                               node2_docker) -> None:
    guest = new_container(admin_client, live_node, f"{PREFIX}mig")
    source = docker_client.containers.get(guest.backend_id)
    assert source.exec_run(["sh", "-c", "echo hello > /data.txt"]).exit_code == 0

    task = migrate(admin_client, guest, live_node2.name)
    assert_ok(task)
    assert task.node == live_node  # run by the worker of the node that held the guest
    log = "\n".join(line.text for line in task.log_lines.all())
    assert f"migrating {guest} from node {live_node.name} to node {live_node2.name} (offline)" in log

    guest_after = Guest.objects.get(pk=guest.pk)
    assert (guest_after.vmid, guest_after.name, guest_after.node) == (guest.vmid, f"{PREFIX}mig", live_node2)
    assert guest_after.backend_id != guest.backend_id and guest_after.state == GuestState.RUNNING
    moved = node2_docker.containers.get(guest_after.backend_id)
    assert moved.name == f"{PREFIX}mig" and moved.status == "running"
    assert moved.labels["panel.vmid"] == str(guest.vmid) and moved.labels["panel.template"] == CT_TEMPLATE
    assert moved.attrs["HostConfig"]["Memory"] == 64 * 1024**2
    assert moved.attrs["HostConfig"]["NanoCpus"] == 1_000_000_000
    assert moved.attrs["Config"]["Hostname"] == source.attrs["Config"]["Hostname"]
    assert moved.attrs["Config"]["Cmd"] == source.attrs["Config"]["Cmd"]
    assert moved.exec_run(["cat", "/data.txt"]).output == b"hello\n"
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(guest.backend_id)

    # The next polls of both nodes agree: one guest, on node2.
    collect(live_node)
    collect(live_node2)
    assert list(Guest.objects.filter(name=f"{PREFIX}mig").values_list("vmid", "node__name")) == [
        (guest.vmid, live_node2.name)]
    page = admin_client.get(guest_after.get_absolute_url()).content.decode()
    assert live_node2.name in page and "Migrate" in page

    remove(admin_client, guest_after)  # through node2's own worker
    assert not migrated_images(node2_docker)


def test_container_moves_with_the_data_of_its_volumes(admin_client, live_node, live_node2, docker_client,
                                                      node2_docker) -> None:
    """The loss seen live: data in a named and an anonymous volume, checked on node2 after a migration through the
    page; the source's named volume does not stay behind."""
    name = f"{PREFIX}migvol"
    image = docker_client.images.get(f"panel-templates/{CT_TEMPLATE}:latest")
    source = docker_client.containers.run(
        image.id, name=name, detach=True, labels={labels.TEMPLATE: CT_TEMPLATE}, mem_limit=64 * 1024**2,
        volumes={f"{name}-data": {"bind": "/data"}}, mounts=[Mount("/cache", None, type="volume")])
    try:
        written = source.exec_run(["sh", "-c", "echo kept > /data/named.txt && echo kept too > /cache/anon.txt"])
        assert written.exit_code == 0, written.output
        collect(live_node)  # a poll finds it: from now on a guest of the panel
        guest = Guest.objects.get(name=name)

        task = migrate(admin_client, guest, live_node2.name)
        assert_ok(task)
        log = "\n".join(line.text for line in task.log_lines.all())
        assert f"copied volume {name}-data: 1 files (5 bytes)" in log
        assert "copied anonymous volume at /cache: 1 files (9 bytes)" in log
        assert "checked on the target: the file system and 2 volume(s) hold what the source held" in log
        guest.refresh_from_db()
        assert guest.node == live_node2 and guest.state == GuestState.RUNNING
        moved = node2_docker.containers.get(guest.backend_id)
        assert moved.exec_run(["cat", "/data/named.txt", "/cache/anon.txt"]).output == b"kept\nkept too\n"
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(source.id)
        assert not docker_client.volumes.list(filters={"name": name})
        remove(admin_client, guest)
    finally:
        for client in (docker_client, node2_docker):
            for container in client.containers.list(all=True, filters={"name": name}):
                container.remove(force=True, v=True)
            for volume in client.volumes.list(filters={"name": name}):
                volume.remove(force=True)


def test_failed_migration_leaves_the_source_running(admin_client, admin_user, live_node, live_node2,
                                                    docker_client) -> None:
    guest = new_container(admin_client, live_node, f"{PREFIX}migfail")
    real_url = live_node2.docker_url
    live_node2.docker_url = "unix:///nonexistent/docker.sock"  # node2's engine "dies" after its last poll
    live_node2.save()
    try:
        task = migrate(admin_client, guest, live_node2.name)
    finally:
        live_node2.docker_url = real_url
        live_node2.save()
    assert task.status == TaskStatus.ERROR
    assert "Docker engine at unix:///nonexistent/docker.sock is not reachable" in task.exit_message
    guest.refresh_from_db()
    assert guest.node == live_node
    container = docker_client.containers.get(guest.backend_id)
    assert container.status == "running"

    # Refused at once, with the reason: same node, engine known to be down, busy guest.
    assert f"the guest is already on node {live_node.name}: choose another node" in refused(
        admin_client, guest, live_node.name)
    assert "containers are migrated offline" in refused(admin_client, guest, live_node2.name, online="on")
    with pytest.raises(Conflict, match=f"already on node {live_node.name}"):
        request_migrate(admin_user, guest, live_node)
    live_node2.engines = {**live_node2.engines, "docker": {"ok": False, "error": "socket closed"}}
    live_node2.save()
    assert f"the docker engine of node {live_node2.name} is unavailable: socket closed" in refused(
        admin_client, guest, live_node2.name)
    busy = Task.objects.create(upid="UPID:test:0:0:0:start:busy:root@pam:", node=live_node, type="start",
                               guest=guest, vmid=guest.vmid)  # a queued task nobody will run
    live_node2.engines = {**live_node2.engines, "docker": {"ok": True, "error": ""}}
    live_node2.save()
    assert f"{guest} is busy with task start (queued)" in refused(admin_client, guest, live_node2.name)
    busy.delete()
    remove(admin_client, guest)


def test_migrate_all_moves_every_guest_as_child_tasks(admin_client, live_node, live_node2, node2_docker) -> None:
    running = new_container(admin_client, live_node, f"{PREFIX}ma1")
    stopped = new_container(admin_client, live_node, f"{PREFIX}ma2", start=False)
    # Only our two: containers of other runs on the shared engine may have been discovered as guests.
    Guest.objects.filter(node=live_node).exclude(pk__in=[running.pk, stopped.pk]).delete()
    response = admin_client.post(reverse("node_migrate_all", args=[live_node.name]), {"target": live_node2.name})
    assert response.status_code == 302
    task = Task.objects.get(type="migrateall", node=live_node)
    assert_ok(wait_for_task(task, timeout=240))
    children = list(task.children.all())
    assert sorted(c.vmid for c in children) == sorted([running.vmid, stopped.vmid])
    assert all(c.status == TaskStatus.OK and c.type == "migrate" for c in children)
    for guest, state in ((running, GuestState.RUNNING), (stopped, GuestState.STOPPED)):
        guest.refresh_from_db()
        assert guest.node == live_node2 and guest.state == state
        assert node2_docker.containers.get(guest.backend_id).status == ("running" if state == "running" else "created")
    remove(admin_client, running)
    remove(admin_client, stopped)


def console(directory: Path, guest: Guest) -> Path:
    return directory / f"vm-{guest.vmid}-console.log"


def new_vm(client, node, name: str) -> Guest:
    task = create(client, "vm", {"node": node.name, "template": VM_TEMPLATE, "name": name,
                                 "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "start": "on"})
    assert_ok(task)
    guest = Guest.objects.get(name=name)
    wait_for_line(console(Path(settings.PANEL_STORAGE_DIR), guest), READY, timeout=BOOT_TIMEOUT)
    return guest


@pytest.mark.vm
def test_vm_offline_from_system_to_session(admin_client, live_node, live_node2) -> None:
    guest = new_vm(admin_client, live_node, f"{PREFIX}vmmig")
    log = console(Path(settings.PANEL_STORAGE_DIR), guest)

    # Its NIC is on this node's bridge and would be on user networking on node2: not while it runs.
    task = migrate(admin_client, guest, live_node2.name, online=True)
    assert task.status == TaskStatus.ERROR
    assert task.exit_message.startswith(f"cannot migrate VM {PREFIX}vmmig live: its NIC ")
    assert "uses bridge networking here and would use user networking on" in task.exit_message
    guest.refresh_from_db()
    assert guest.node == live_node and guest.state == GuestState.RUNNING

    # A disk in the way on the target is found before the VM is touched: it is not even shut down.
    clash = NODE2_STORAGE_DIR / f"vm-{guest.vmid}-disk-0.qcow2"
    clash.write_bytes(b"not ours")
    try:
        task = migrate(admin_client, guest, live_node2.name)
    finally:
        clash.unlink()
    assert task.status == TaskStatus.ERROR
    assert task.exit_message == f"disk {clash} already exists on the target node"
    guest.refresh_from_db()
    assert guest.node == live_node and guest.state == GuestState.RUNNING
    assert "panel-guest: power button" not in log.read_text(errors="replace")

    # What the panel does not model arrives too: here a CPU topology and a feature added to its definition.
    connection = libvirt.open(settings.PANEL_LIBVIRT_URI)
    try:
        domain = connection.lookupByUUIDString(guest.backend_id)
        tree = etree.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
        tree.find("cpu").append(etree.fromstring("<topology sockets='1' dies='1' cores='1' threads='1'/>"))
        tree.find("features").append(etree.fromstring("<pae/>"))
        connection.defineXML(etree.tostring(tree, encoding="unicode"))  # for its next boot
    finally:
        connection.close()

    source_disk = Path(settings.PANEL_STORAGE_DIR) / f"vm-{guest.vmid}-disk-0.qcow2"
    assert_ok(migrate(admin_client, guest, live_node2.name))
    moved = Guest.objects.get(pk=guest.pk)
    assert (moved.vmid, moved.node, moved.backend_id) == (guest.vmid, live_node2, guest.backend_id)
    wait_for_line(console(NODE2_STORAGE_DIR, guest), READY, timeout=BOOT_TIMEOUT)
    assert (NODE2_STORAGE_DIR / f"vm-{guest.vmid}-disk-0.qcow2").exists() and not source_disk.exists()
    connection = libvirt.open(live_node2.libvirt_uri)
    try:
        domain = connection.lookupByUUIDString(guest.backend_id)
        assert domain.isActive() and domain.info()[1] == 128 * 1024
        tree = etree.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
        assert tree.find("cpu/topology").get("sockets") == "1" and tree.find("features/pae") is not None
        assert tree.find("devices/interface").get("type") == "user"
    finally:
        connection.close()
    connection = libvirt.open(settings.PANEL_LIBVIRT_URI)
    try:
        assert guest.backend_id not in [d.UUIDString() for d in connection.listAllDomains()]
    finally:
        connection.close()
    remove(admin_client, moved)


@pytest.mark.vm
def test_vm_live_to_the_second_node(admin_client, live_node, live_node2) -> None:
    """Both nodes on user networking, so that QEMU keeps the NIC as it is; the system and session daemons of this
    machine report different host UUIDs, so libvirt migrates between them as between two hosts."""
    live_node.vm_bridge = ""
    live_node.save()
    guest = new_vm(admin_client, live_node, f"{PREFIX}vmlive")
    source_disk = Path(settings.PANEL_STORAGE_DIR) / f"vm-{guest.vmid}-disk-0.qcow2"

    task = migrate(admin_client, guest, live_node2.name, online=True)
    assert_ok(task)
    log = "\n".join(line.text for line in task.log_lines.all())
    assert f"VM {PREFIX}vmlive runs on {live_node2.libvirt_uri}" in log
    moved = Guest.objects.get(pk=guest.pk)
    assert (moved.node, moved.backend_id, moved.state) == (live_node2, guest.backend_id, GuestState.RUNNING)
    assert (NODE2_STORAGE_DIR / f"vm-{guest.vmid}-disk-0.qcow2").exists() and not source_disk.exists()
    connection = libvirt.open(live_node2.libvirt_uri)
    try:
        assert connection.lookupByUUIDString(guest.backend_id).isActive()
    finally:
        connection.close()
    remove(admin_client, moved)


def test_second_node_script_is_idempotent(second_node_uri: str, docker_client) -> None:
    pid = Path("/var/run/panel-node2/docker.pid").read_text().strip()
    result = subprocess.run(["bash", "scripts/setup/second-node.sh"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == second_node_uri  # nothing started, loaded or created
    assert Path("/var/run/panel-node2/docker.pid").read_text().strip() == pid
    # The first engine kept its bridge: a second daemon on the default bridge would have deleted docker0.
    assert subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode == 0
    assert docker_client.ping()
