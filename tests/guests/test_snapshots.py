"""Guest snapshots end to end: service -> task row -> real worker -> real engine -> the panel's snapshot tree."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from guests import snapshots
from guests.bulk import request_migrate_all
from guests.choices import GuestState
from guests.models import Guest, Snapshot
from guests.services import request_migrate
from panel.errors import Conflict, Forbidden, InvalidRequest, NotFound
from tasks.models import Task
from tests.factories import UserFactory, grant
from tests.support import (
    CT_TEMPLATE,
    PREFIX,
    VM_TEMPLATE,
    act,
    assert_ok,
    create,
    exec_in,
    removing_new_containers,
    wait_for_task,
)

pytestmark = pytest.mark.engines


@pytest.fixture(autouse=True)
def remove_new_containers(docker_client) -> Iterator[None]:
    with removing_new_containers(docker_client):
        yield


def tree(guest: Guest) -> list[tuple[str, str | None, bool]]:
    return [(s.name, s.parent.name if s.parent else None, s.current)
            for s in Snapshot.objects.filter(guest=guest).select_related("parent")]


def log_of(task: Task) -> str:
    return "\n".join(line.text for line in task.log_lines.all())


@pytest.fixture
def container(admin_client, live_node) -> Guest:
    name = f"{PREFIX}snap-{uuid.uuid4().hex[:6]}"
    assert_ok(create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": name,
                                          "vcpus": 1, "memory_mib": 64, "start": "on"}))
    return Guest.objects.select_related("node").get(name=name)


def test_container_snapshot_rollback_and_delete(admin_user, container: Guest, docker_client) -> None:
    exec_in(docker_client, container, "echo before > /root/note")
    task = wait_for_task(snapshots.request_snapshot(admin_user, container, "before", "a note"))
    assert_ok(task)
    assert task.upid.split(":")[5] == "vzsnapshot"
    assert tree(container) == [("before", None, True)]

    exec_in(docker_client, container, "echo after > /root/note")
    assert_ok(wait_for_task(snapshots.request_snapshot(admin_user, container, "after")))
    assert tree(container) == [("before", None, False), ("after", "before", True)]
    old_backend = container.backend_id

    task = wait_for_task(snapshots.request_rollback(admin_user, container, "before", start=True))
    assert_ok(task)
    assert task.upid.split(":")[5] == "vzrollback"
    container.refresh_from_db()
    assert container.backend_id != old_backend and container.state == GuestState.RUNNING
    assert docker_client.containers.get(container.backend_id).labels["panel.vmid"] == str(container.vmid)
    assert exec_in(docker_client, container, "cat /root/note") == "before\n"
    assert tree(container) == [("before", None, True), ("after", "before", False)]

    # A snapshot taken now hangs under "before", beside "after".
    assert_ok(wait_for_task(snapshots.request_snapshot(admin_user, container, "branch")))
    assert tree(container) == [("before", None, False), ("after", "before", False), ("branch", "before", True)]

    task = wait_for_task(snapshots.request_delete(admin_user, container, "before"))
    assert_ok(task)
    assert task.upid.split(":")[5] == "vzdelsnapshot"
    assert tree(container) == [("after", None, False), ("branch", None, True)]
    assert exec_in(docker_client, container, "cat /root/note") == "before\n"  # still running on its image

    snapshots.update_description(admin_user, container, "after", "kept for later")
    assert Snapshot.objects.get(guest=container, name="after").description == "kept for later"


def test_refusals(admin_user, container: Guest) -> None:
    for bad in ("1st", "a" * 41, "has space", "current", "vzdump", "", "x;rm -rf /", "é"):
        with pytest.raises(InvalidRequest):
            snapshots.request_snapshot(admin_user, container, bad)
    with pytest.raises(InvalidRequest, match="vmstate"):
        snapshots.request_snapshot(admin_user, container, "ram", vmstate=True)
    with pytest.raises(NotFound):
        snapshots.request_rollback(admin_user, container, "nothere")
    with pytest.raises(NotFound):
        snapshots.request_delete(admin_user, container, "nothere")

    user = UserFactory()
    grant(user, "PVEVMUser", f"/vms/{container.vmid}")  # may see and power it, not snapshot it
    for attempt in (lambda: snapshots.request_snapshot(user, container, "mine"),
                    lambda: snapshots.request_rollback(user, container, "mine"),
                    lambda: snapshots.request_delete(user, container, "mine")):
        with pytest.raises(Forbidden):
            attempt()
    assert snapshots.snapshots_of(user, container) == []  # VM.Audit lists them

    assert_ok(wait_for_task(snapshots.request_snapshot(admin_user, container, "one")))
    with pytest.raises(Conflict, match="already used"):
        snapshots.request_snapshot(admin_user, container, "one")
    # One task per guest at a time: a second one waits for nothing, it is refused with the first named.
    first = snapshots.request_snapshot(admin_user, container, "two")
    with pytest.raises(Conflict, match="busy"):
        snapshots.request_delete(admin_user, container, "one")
    assert_ok(wait_for_task(first))


@pytest.mark.vm
def test_vm_snapshot_with_ram_rollback_and_delete(admin_client, admin_user, live_node) -> None:
    name = f"{PREFIX}vsnap-{uuid.uuid4().hex[:6]}"
    assert_ok(create(admin_client, "vm", {"node": live_node.name, "template": VM_TEMPLATE, "name": name,
                                          "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "start": "on"}))
    vm = Guest.objects.select_related("node").get(name=name)
    task = wait_for_task(snapshots.request_snapshot(admin_user, vm, "hot", "with RAM", vmstate=True))
    assert_ok(task)
    assert task.upid.split(":")[5] == "qmsnapshot"
    assert [(s.name, s.vmstate, s.current) for s in Snapshot.objects.filter(guest=vm)] == [("hot", True, True)]

    assert_ok(act(admin_client, vm, "stop"))
    task = wait_for_task(snapshots.request_rollback(admin_user, vm, "hot"))
    assert_ok(task)
    assert task.upid.split(":")[5] == "qmrollback"
    vm.refresh_from_db()
    assert vm.state == GuestState.RUNNING  # its RAM was in the snapshot: it runs again from there

    task = wait_for_task(snapshots.request_delete(admin_user, vm, "hot"))
    assert_ok(task)
    assert task.upid.split(":")[5] == "qmdelsnapshot"
    assert not Snapshot.objects.filter(guest=vm).exists()
    assert_ok(act(admin_client, vm, "stop"))
    assert_ok(act(admin_client, vm, "delete"))


def test_a_guest_with_snapshots_is_not_migrated(admin_user, container: Guest, live_node, live_node2) -> None:
    assert_ok(wait_for_task(snapshots.request_snapshot(admin_user, container, "here")))
    with pytest.raises(Conflict, match="has snapshots"):
        request_migrate(admin_user, container, live_node2.name)
    task = wait_for_task(request_migrate_all(admin_user, container.node, live_node2.name, [container.vmid]))
    assert "has snapshots" in log_of(task)
    container.refresh_from_db()
    assert container.node_id == live_node.pk and container.state == GuestState.RUNNING
