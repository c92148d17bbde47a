"""/api2/json: Proxmox's shapes for tasks, their status and their log, and clear errors."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tasks.choices import TaskStatus
from tasks.models import Task, TaskLogLine
from tests.factories import PASSWORD, GuestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(node, admin_user):
    task = Task.objects.create(upid="UPID:testnode:00000001:00000002:00000003:startall::root@pam:", node=node,
                               user=admin_user, type="startall", status=TaskStatus.OK, exit_message="OK")
    TaskLogLine.objects.bulk_create(
        TaskLogLine(task=task, number=n, at=timezone.now(), text=f"line {n}") for n in range(1, 121)
    )
    return task


def test_log_pages_like_proxmox(admin_client, task) -> None:
    url = f"/api2/json/nodes/{task.node.name}/tasks/{task.upid}/log"
    first = admin_client.get(url).json()
    assert first["total"] == 120 and len(first["data"]) == 50
    assert first["data"][0] == {"n": 1, "t": "line 1"}
    page = admin_client.get(url, {"start": 100, "limit": 30}).json()["data"]
    assert [line["n"] for line in page] == list(range(101, 121))
    assert admin_client.get(url, {"start": "x"}).status_code == 400


def test_status_and_list(admin_client, task) -> None:
    status = admin_client.get(f"/api2/json/nodes/{task.node.name}/tasks/{task.upid}/status").json()["data"]
    assert status["status"] == "stopped" and status["exitstatus"] == "OK" and status["upid"] == task.upid
    listed = admin_client.get(f"/api2/json/nodes/{task.node.name}/tasks").json()
    assert [t["upid"] for t in listed["data"]] == [task.upid] and listed["total"] == 1


def test_others_and_anonymous_see_nothing(client, task) -> None:
    url = f"/api2/json/nodes/{task.node.name}/tasks/{task.upid}/status"
    assert client.get(url).status_code == 401  # no credentials: Proxmox's 401
    client.login(username=UserFactory().username, password=PASSWORD)
    assert client.get(url).status_code == 404
    assert client.delete(f"/api2/json/nodes/{task.node.name}/tasks/{task.upid}").status_code == 404
    assert client.post(f"/api2/json/nodes/{task.node.name}/startall").status_code == 404


def test_bad_requests_say_why(admin_client, node) -> None:
    response = admin_client.post(f"/api2/json/nodes/{node.name}/stopall", {"vms": "101,abc"})
    assert response.status_code == 400 and "VMIDs" in response.json()["errors"]["vms"]
    assert response.reason_phrase == response.json()["message"] == "Parameter verification failed."
    guest = GuestFactory(node=node, state="stopped")
    response = admin_client.post(f"/api2/json/nodes/{node.name}/lxc/{guest.vmid}/status/shutdown")
    assert response.status_code == 409
    assert response.json()["message"] == f"cannot shutdown {guest}: it is stopped" == response.reason_phrase
    assert admin_client.post(f"/api2/json/nodes/{node.name}/qemu/{guest.vmid}/status/start").status_code == 404
    assert not Task.objects.exists()
