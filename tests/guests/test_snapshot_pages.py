"""The Snapshots tab of a guest's page: the tree, take, roll back and delete as tasks, what a user may not do left
out, bad names refused beside the form."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import pytest
from django.test import Client
from django.urls import reverse

from guests.models import Guest, Snapshot
from tasks.models import Task
from tests.factories import PASSWORD, UserFactory, grant
from tests.support import CT_TEMPLATE, PREFIX, assert_ok, create, removing_new_containers, wait_for_task

pytestmark = pytest.mark.engines


@pytest.fixture(autouse=True)
def remove_new_containers(docker_client) -> Iterator[None]:
    with removing_new_containers(docker_client):
        yield


def latest_task(guest: Guest) -> Task:
    return wait_for_task(Task.objects.filter(vmid=guest.vmid).order_by("-pk").first())


def exec_in(client: docker.DockerClient, guest: Guest, command: str) -> str:
    guest.refresh_from_db()
    result = client.containers.get(guest.backend_id).exec_run(["sh", "-c", command])
    assert result.exit_code == 0, result.output
    return result.output.decode()


def test_take_change_roll_back_delete_through_the_tab(admin_client, live_node, docker_client) -> None:
    name = f"{PREFIX}tab-{uuid.uuid4().hex[:6]}"
    assert_ok(create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": name,
                                          "vcpus": 1, "memory_mib": 64, "start": "on"}))
    guest = Guest.objects.get(name=name)
    url = reverse("guest_snapshots", args=[guest.vmid])
    assert url in admin_client.get(guest.get_absolute_url()).content.decode()  # the tab's link
    page = admin_client.get(url).content.decode()
    assert "No snapshots yet." in page and "Take snapshot" in page and "Include RAM" not in page

    response = admin_client.post(reverse("guest_snapshot_take", args=[guest.vmid]),
                                 {"snapname": "2bad", "description": "x"})
    assert response.status_code == 400
    assert "is not a valid snapshot name" in response.content.decode()
    assert 'value="2bad"' in response.content.decode()  # what was typed stays in the form

    exec_in(docker_client, guest, "echo original > /root/file")
    response = admin_client.post(reverse("guest_snapshot_take", args=[guest.vmid]),
                                 {"snapname": "clean", "description": "as made"})
    assert response.status_code == 302
    assert_ok(latest_task(guest))
    page = admin_client.get(url).content.decode()
    assert 'data-snapshot="clean"' in page and "You are here!" in page and "as made" in page

    exec_in(docker_client, guest, "echo changed > /root/file")
    confirm = reverse("guest_snapshot_action", args=[guest.vmid, "clean", "rollback"])
    assert "Everything that changed in it since is lost" in admin_client.get(confirm).content.decode()
    assert admin_client.post(confirm)["Location"] == confirm  # no confirmation: asked again, nothing queued
    assert admin_client.post(confirm, {"confirm": "clean", "start": "1"}).status_code == 302
    assert_ok(latest_task(guest))
    assert exec_in(docker_client, guest, "cat /root/file") == "original\n"

    # A user who may only look sees the tree, and none of the controls.
    user = UserFactory()
    grant(user, "PVEVMUser", f"/vms/{guest.vmid}")
    client = Client()
    client.login(username=user.username, password=PASSWORD)
    page = client.get(url).content.decode()
    assert 'data-snapshot="clean"' in page
    assert "Take snapshot" not in page and "Roll back" not in page and "Delete" not in page
    assert client.post(reverse("guest_snapshot_take", args=[guest.vmid]), {"snapname": "mine"}).status_code == 403
    assert client.post(confirm, {"confirm": "clean"}).status_code == 403

    delete = reverse("guest_snapshot_action", args=[guest.vmid, "clean", "delete"])
    assert admin_client.post(delete, {"confirm": "clean"}).status_code == 302
    assert_ok(latest_task(guest))
    assert not Snapshot.objects.filter(guest=guest).exists()
    assert admin_client.get(reverse("guest_snapshot_action", args=[guest.vmid, "gone", "delete"])).status_code == 404
