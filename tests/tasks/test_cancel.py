"""Cancelling a running single action does what the page promises: a shutdown stops waiting; an action with
no point to stop at (a reboot, a migration) refuses the cancel with the reason, and the page offers none.
Real worker, real Docker (and node2 for the migration)."""

from __future__ import annotations

import contextlib

import docker
import pytest
from django.urls import reverse

from guests.choices import GuestState
from guests.models import Guest
from nodes.poll import collect
from tasks.choices import ACTIVE_STATUSES, TaskStatus
from tasks.models import Task
from tests.support import PREFIX, stubborn_container, wait_for_task, wait_until

pytestmark = pytest.mark.engines


@pytest.fixture
def stubborn_guest(live_node, docker_client: docker.DockerClient):
    """A running container that ignores SIGTERM, known to the panel."""
    made = []

    def make(name: str) -> Guest:
        container = stubborn_container(docker_client, f"{PREFIX}{name}")
        made.append(container)
        collect(live_node)
        return Guest.objects.get(backend_id=container.id)

    yield make
    for container in made:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def running(task: Task, cancellable: bool | None = None) -> Task:
    def ready() -> bool:
        task.refresh_from_db()
        return task.status == TaskStatus.RUNNING and (cancellable is None or task.cancellable == cancellable)

    wait_until(ready, 30, f"task {task.type} to run" + (" and wait" if cancellable else ""))
    return task


def page(client, task: Task) -> str:
    return client.get(task.get_absolute_url()).content.decode()


def test_cancelling_a_shutdown_ends_its_wait_and_leaves_the_guest_running(admin_client, live_node, stubborn_guest,
                                                                          docker_client) -> None:
    guest = stubborn_guest("cancel-shutdown")
    response = admin_client.post(f"/api2/json/nodes/{live_node.name}/lxc/{guest.vmid}/status/shutdown",
                                 {"timeout": 600})
    task = running(Task.objects.get(upid=response.json()["data"]), cancellable=True)
    assert "Cancel task" in page(admin_client, task)
    response = admin_client.post(reverse("task_cancel", args=[task.upid]), follow=True)
    assert "cancel requested" in response.content.decode()
    wait_for_task(task, timeout=30)
    assert task.status == TaskStatus.CANCELLED
    assert task.exit_message == f"cancelled while waiting for {guest} to shut down; it was left as it is"
    assert docker_client.containers.get(guest.backend_id).status == "running"
    guest.refresh_from_db()
    assert guest.state == GuestState.RUNNING  # read back when the task ended
    assert not Task.objects.filter(guest=guest, status__in=ACTIVE_STATUSES).exists()


def test_a_running_reboot_refuses_a_cancel_with_the_reason_and_the_page_offers_none(
        admin_client, live_node, stubborn_guest) -> None:
    guest = stubborn_guest("cancel-reboot")
    response = admin_client.post(f"/api2/json/nodes/{live_node.name}/lxc/{guest.vmid}/status/reboot")
    task = running(Task.objects.get(upid=response.json()["data"]))  # waits for its timeout, then kills
    assert "Cancel task" not in page(admin_client, task)
    response = admin_client.post(reverse("task_cancel", args=[task.upid]), follow=True)
    reason = f"Reboot of {guest.vmid} cannot be cancelled while it runs: it has no point to stop at and ends by itself"
    assert reason in response.content.decode()
    response = admin_client.delete(f"/api2/json/nodes/{live_node.name}/tasks/{task.upid}")
    assert response.status_code == 409 and response.json()["message"] == reason
    wait_for_task(task, timeout=60)
    assert task.status == TaskStatus.OK and not task.cancel_requested, task.exit_message


def test_a_running_migration_refuses_a_cancel_and_its_timeout_is_the_forms(
        admin_client, live_node, live_node2, stubborn_guest) -> None:
    guest = stubborn_guest("cancel-migrate")
    url = reverse("guest_migrate", args=[guest.vmid])
    response = admin_client.post(url, {"target": live_node2.name, "timeout": "7201"}, follow=True)
    assert "timeout must be between 0 and 7200 seconds, not 7201" in response.content.decode()
    assert not Task.objects.filter(type="migrate").exists()

    admin_client.post(url, {"target": live_node2.name, "timeout": "4"})
    task = running(Task.objects.get(type="migrate", guest=guest))
    response = admin_client.delete(f"/api2/json/nodes/{live_node.name}/tasks/{task.upid}")
    assert response.status_code == 409
    assert "Migrate of" in response.json()["message"] and "cannot be cancelled while it runs" in response.json()[
        "message"]
    wait_for_task(task, timeout=120)
    assert task.status == TaskStatus.OK, task.exit_message
    log = "\n".join(task.log_lines.values_list("text", flat=True))
    assert "did not shut down within 4 s" in log  # the form's timeout, not PANEL_SHUTDOWN_TIMEOUT
    guest.refresh_from_db()
    assert guest.node == live_node2
    response = admin_client.post(f"/api2/json/nodes/{live_node2.name}/lxc/{guest.vmid}/status/stop")
    assert wait_for_task(Task.objects.get(upid=response.json()["data"])).status == TaskStatus.OK
    admin_client.post(reverse("guest_action", args=[guest.vmid, "delete"]), {"confirm": guest.vmid})
    assert wait_for_task(Task.objects.get(type="delete", vmid=guest.vmid)).status == TaskStatus.OK
