"""start-all and stop-all through the node's real worker; cancel; a worker killed mid-task."""

from __future__ import annotations

import contextlib
from pathlib import Path

import docker
import pytest
from django.urls import reverse

from guests.choices import GuestState
from guests.models import Guest
from nodes.poll import poll_node
from tasks.choices import TaskStatus
from tasks.models import Task
from tests.support import CT_TEMPLATE, PREFIX, log_text, wait_for_line, wait_for_task, wait_until

pytestmark = pytest.mark.engines


@pytest.fixture
def make_ct(live_node, docker_client: docker.DockerClient):
    """Containers made on the engine, then discovered by a poll, with the panel settings given."""
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id
    made = []

    def make(name: str, command: list[str] | None = None, **fields: object) -> Guest:
        container = docker_client.containers.create(image, command, name=name, mem_limit="32m")
        made.append(container)
        poll_node(live_node.name)
        Guest.objects.filter(backend_id=container.id).update(**fields)
        return Guest.objects.get(backend_id=container.id)

    yield make
    for container in made:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def bulk(client, node, action: str) -> Task:
    response = client.post(reverse("node_bulk_action", args=[node.name, action]))
    assert response.status_code == 302
    return Task.objects.filter(parent=None, type=action, node=node).order_by("-pk").first()


def step_order(task: Task) -> list[str]:
    """Guest names in the order their child tasks started."""
    return [child.guest.name if child.guest else str(child.vmid)
            for child in task.children.select_related("guest").order_by("started_at", "pk")]


def test_start_all_and_stop_all_follow_startup_order(admin_client, live_node, make_ct, docker_client) -> None:
    second = make_ct(f"{PREFIX}second", onboot=True, startup_order=2)
    first = make_ct(f"{PREFIX}first", onboot=True, startup_order=1)
    first_too = make_ct(f"{PREFIX}first-too", onboot=True, startup_order=1)
    last = make_ct(f"{PREFIX}last", onboot=True)  # no order: after every ordered guest
    manual = make_ct(f"{PREFIX}manual", onboot=False, startup_order=1)
    # Stops ignoring SIGTERM: its shutdown times out after its own "down" of 1 s, then it is stopped.
    stubborn = make_ct(f"{PREFIX}stubborn", ["sleep", "3600"], onboot=True, startup_order=3, startup_down=1)

    task = wait_for_task(bulk(admin_client, live_node, "startall"))
    assert task.status == TaskStatus.OK, task.exit_message
    order = step_order(task)
    assert set(order[:2]) == {f"{PREFIX}first", f"{PREFIX}first-too"}
    assert order[2:] == [f"{PREFIX}second", f"{PREFIX}stubborn", f"{PREFIX}last"]
    assert "progress 5/5" in log_text(task) and "5 of 5 guests starting OK" in log_text(task)
    for guest in (first, first_too, second, last, stubborn):
        assert docker_client.containers.get(guest.backend_id).status == "running"
        child = task.children.get(guest=guest)
        assert child.status == TaskStatus.OK and "TASK OK" in log_text(child)
    assert docker_client.containers.get(manual.backend_id).status == "created"
    assert Guest.objects.get(pk=manual.pk).state == GuestState.STOPPED

    # Through the API, limited to this test's guests: the node may run others.
    ids = ",".join(str(g.vmid) for g in (first, first_too, second, last, stubborn))
    response = admin_client.post(f"/api2/json/nodes/{live_node.name}/stopall", {"vms": ids})
    assert response.status_code == 200, response.content
    task = wait_for_task(Task.objects.get(upid=response.json()["data"]), timeout=120)
    assert task.status == TaskStatus.OK, task.exit_message
    assert step_order(task)[0] == f"{PREFIX}last" and step_order(task)[1] == f"{PREFIX}stubborn"
    assert set(step_order(task)[2:]) == {f"{PREFIX}second", f"{PREFIX}first", f"{PREFIX}first-too"}
    assert step_order(task).index(f"{PREFIX}second") < step_order(task).index(f"{PREFIX}first")
    assert "did not shut down within 1 s; stopping it" in log_text(task.children.get(guest=stubborn))
    for guest in (first, first_too, second, last, stubborn):
        assert docker_client.containers.get(guest.backend_id).status == "exited"


def test_one_failing_guest_does_not_stop_the_others(admin_client, live_node, make_ct, docker_client) -> None:
    good = make_ct(f"{PREFIX}good", onboot=True, startup_order=1)
    later = make_ct(f"{PREFIX}later", onboot=True, startup_order=2)
    gone = make_ct(f"{PREFIX}gone", onboot=True, startup_order=1)
    docker_client.containers.get(gone.backend_id).remove()  # behind the panel's back, before the next poll

    task = wait_for_task(bulk(admin_client, live_node, "startall"))
    assert task.status == TaskStatus.ERROR
    assert task.exit_message == f"1 of 3 guests failed: CT {gone.vmid} ({PREFIX}gone)"
    assert "starting CT" in log_text(task) and "not found" in log_text(task)
    for guest in (good, later):
        assert docker_client.containers.get(guest.backend_id).status == "running"


def test_cancel_stops_a_bulk_task_between_guests(admin_client, live_node, make_ct, docker_client) -> None:
    guests = [make_ct(f"{PREFIX}slow-{i}", onboot=True, startup_order=i, startup_up=3) for i in (1, 2, 3)]
    task = bulk(admin_client, live_node, "startall")
    wait_until(lambda: task.children.exists(), 30, "the start-all to start its first guest")
    response = admin_client.post(reverse("task_cancel", args=[task.upid]), follow=True)
    assert "cancel requested" in response.content.decode()
    task = wait_for_task(task)
    assert task.status == TaskStatus.CANCELLED and "TASK CANCELLED" in log_text(task)
    assert docker_client.containers.get(guests[0].backend_id).status == "running"
    assert docker_client.containers.get(guests[2].backend_id).status == "created"
    assert [c.vmid for c in task.children.all()] == [guests[0].vmid]  # it stopped before the second group


def test_the_api_force_force_stop_and_timeout_of_start_all_stop_all_and_shutdown(admin_client, live_node, make_ct,
                                                                                 docker_client) -> None:
    api = f"/api2/json/nodes/{live_node.name}"
    boot = make_ct(f"{PREFIX}api-boot", onboot=True)
    manual = make_ct(f"{PREFIX}api-manual", ["sleep", "3600"], onboot=False)  # ignores SIGTERM once started

    def state(guest: Guest) -> str:
        return docker_client.containers.get(guest.backend_id).status

    def run(path: str, **data: object) -> Task:
        response = admin_client.post(f"{api}/{path}", data)
        assert response.status_code == 200, response.content
        return wait_for_task(Task.objects.get(upid=response.json()["data"]), timeout=120)

    assert run("startall").status == TaskStatus.OK
    assert (state(boot), state(manual)) == ("running", "created")  # only "start at boot" guests
    assert run("startall", force=1).status == TaskStatus.OK
    assert state(manual) == "running"  # force: the others too

    task = run("stopall", forceStop=0, timeout=1)  # no stop after the timeout: the stubborn one stays up
    assert task.status == TaskStatus.ERROR and task.exit_message == f"1 of 2 guests failed: {manual}"
    said = f"container {manual.name} did not shut down within 1 s"  # the engine's words (drivers/base.py)
    assert said in task.children.get(guest=manual).exit_message
    assert (state(boot), state(manual)) == ("exited", "running")

    task = run(f"lxc/{manual.vmid}/status/shutdown", timeout=1, forceStop=0)
    assert task.status == TaskStatus.ERROR and task.exit_message == said
    task = run(f"lxc/{manual.vmid}/status/shutdown", timeout=1, forceStop=1)
    assert task.status == TaskStatus.OK and f"{said}; stopping it" in log_text(task)
    assert state(manual) == "exited"

    before = Task.objects.count()
    for path in ("stopall", f"lxc/{manual.vmid}/status/shutdown"):
        response = admin_client.post(f"{api}/{path}", {"timeout": 7201})
        assert response.status_code == 400
        assert response.json()["message"] == "timeout must be between 0 and 7200 seconds, not 7201"
    assert Task.objects.count() == before


def test_datacenter_start_all_and_stop_all_run_on_every_online_node(admin_client, live_node, live_node2, make_ct,
                                                                      docker_client) -> None:
    from nodes.poll import collect
    from tests.factories import NodeFactory
    from tests.support import NODE2_DOCKER_URL

    here = make_ct(f"{PREFIX}dc-here", onboot=True)
    node2_docker = docker.DockerClient(base_url=NODE2_DOCKER_URL)
    image = node2_docker.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id
    container = node2_docker.containers.create(image, name=f"{PREFIX}dc-there", mem_limit="32m")
    try:
        collect(live_node2)
        there = Guest.objects.get(backend_id=container.id)
        Guest.objects.filter(pk=there.pk).update(onboot=True)
        NodeFactory(name=f"{PREFIX}offline")  # never reported: no task for it
        assert "Start all" in admin_client.get(reverse("datacenter_bulk_action", args=["startall"])).content.decode()
        for action, status in (("startall", "running"), ("stopall", "exited")):
            response = admin_client.post(reverse("datacenter_bulk_action", args=[action]), follow=True)
            names = ", ".join(sorted([live_node.name, live_node2.name]))
            assert f"queued on {names}" in response.content.decode()  # one task per online node
            tasks = list(Task.objects.filter(type=action, parent=None))
            assert sorted(t.node.name for t in tasks) == sorted([live_node.name, live_node2.name])
            for task in tasks:
                assert wait_for_task(task, timeout=120).status == TaskStatus.OK, task.exit_message
            assert docker_client.containers.get(here.backend_id).status == status
            assert node2_docker.containers.get(there.backend_id).status == status
    finally:
        container.remove(force=True)
        node2_docker.close()


def test_cancel_of_a_queued_task_and_of_an_ended_one(admin_client, live_node) -> None:
    queued = Task.objects.create(upid="UPID:testnode:0:1:0:startall::root@pam:", node=live_node, type="startall")
    admin_client.post(reverse("task_cancel", args=[queued.upid]))
    queued.refresh_from_db()
    assert queued.status == TaskStatus.CANCELLED
    response = admin_client.post(reverse("task_cancel", args=[queued.upid]), follow=True)
    assert "has already ended" in response.content.decode()


@pytest.mark.vm
def test_start_all_and_stop_all_with_a_vm(admin_client, live_node, make_ct, docker_client) -> None:
    from django.conf import settings

    from drivers.libvirt import LibvirtDriver
    from drivers.types import GuestSpec

    driver = LibvirtDriver(live_node.libvirt_uri, live_node.storage_dir, live_node.template_dir,
                           name_prefix=PREFIX)
    info = driver.create(GuestSpec(vmid=7001, name=f"{PREFIX}bulk-vm", template="tiny-linux", vcpus=1, memory_mib=128,
                                   disk_gib=1, accelerator=settings.PANEL_ACCELERATOR))
    try:
        poll_node(live_node.name)
        Guest.objects.filter(vmid=7001).update(startup_order=1, onboot=True)
        web = make_ct(f"{PREFIX}bulk-web", onboot=True, startup_order=2)
        ids = f"7001,{web.vmid}"
        response = admin_client.post(f"/api2/json/nodes/{live_node.name}/startall", {"vms": ids})
        task = wait_for_task(Task.objects.get(upid=response.json()["data"]))
        assert task.status == TaskStatus.OK, task.exit_message
        assert step_order(task) == [f"{PREFIX}bulk-vm", f"{PREFIX}bulk-web"]
        assert driver.get_guest(info.backend_id).state.value == "running"
        # A guest still booting has no ACPI handler yet and would ignore the power button.
        wait_for_line(Path(live_node.storage_dir) / "vm-7001-console.log", "panel-guest: ready")

        response = admin_client.post(f"/api2/json/nodes/{live_node.name}/stopall", {"vms": ids})
        task = wait_for_task(Task.objects.get(upid=response.json()["data"]), timeout=120)
        assert task.status == TaskStatus.OK, task.exit_message
        assert step_order(task) == [f"{PREFIX}bulk-web", f"{PREFIX}bulk-vm"]
        assert "did not shut down" not in log_text(task.children.get(vmid=7001))  # ACPI shutdown honoured
        assert driver.get_guest(info.backend_id).state.value == "stopped"
    finally:
        if driver.get_guest(info.backend_id).state.value != "stopped":
            driver.stop(info.backend_id)
        driver.delete(info.backend_id)
        driver.close()


def test_bulk_actions_act_only_on_the_guests_their_user_may(client, live_node, make_ct, docker_client) -> None:
    """VM.PowerMgmt on / and Sys.PowerMgmt on the node, but NoAccess on one guest: that guest is neither
    stopped nor named, whether it is asked for by VMID or not."""
    from access.models import Role
    from tests.factories import PASSWORD, UserFactory, grant

    mine = make_ct(f"{PREFIX}allowed", ["sleep", "3600"])
    hidden = make_ct(f"{PREFIX}hidden", ["sleep", "3600"])
    for guest in (mine, hidden):
        docker_client.containers.get(guest.backend_id).start()
    poll_node(live_node.name)
    Role.objects.create(name="NodePower", privileges=["Sys.PowerMgmt", "Sys.Audit"])
    user = UserFactory()
    grant(user, "PVEVMUser", "/")
    grant(user, "NodePower", f"/nodes/{live_node.name}")
    grant(user, "NoAccess", f"/vms/{hidden.vmid}")
    client.login(username=user.username, password=PASSWORD)
    url = f"/api2/json/nodes/{live_node.name}/stopall"
    response = client.post(url, {"vms": str(hidden.vmid), "timeout": "1"})
    assert response.status_code == 403 and not Task.objects.filter(type="stopall").exists()
    response = client.post(url, {"vms": f"{mine.vmid},{hidden.vmid}", "timeout": "1"})
    assert response.status_code == 403 and not Task.objects.filter(type="stopall").exists()
    response = client.post(url, {"timeout": "1"})
    assert response.status_code == 200, response.content
    task = wait_for_task(Task.objects.get(upid=response.json()["data"]), timeout=120)
    assert task.status == TaskStatus.OK, log_text(task)
    assert task.params["vms"] == [mine.vmid]
    assert docker_client.containers.get(mine.backend_id).status == "exited"
    assert docker_client.containers.get(hidden.backend_id).status == "running"
    assert str(hidden.vmid) not in log_text(task) and hidden.name not in log_text(task)
    assert not task.children.filter(vmid=hidden.vmid).exists()
