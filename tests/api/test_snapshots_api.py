"""Snapshots through /api2/json as Proxmox clients use them: proxmoxer over HTTPS, a real server and worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import pytest
from proxmoxer import ResourceException
from proxmoxer.tools import Tasks

from access.services import create_token
from guests.models import Guest
from guests.services import CreateRequest, request_create
from tasks.models import Task
from tests.factories import UserFactory, grant
from tests.support import CT_TEMPLATE, PREFIX, assert_ok, removing_new_containers, wait_for_task

pytestmark = pytest.mark.engines


@pytest.fixture(autouse=True)
def remove_new_containers(docker_client) -> Iterator[None]:
    with removing_new_containers(docker_client):
        yield


def exec_in(client: docker.DockerClient, vmid: int, command: str) -> str:
    guest = Guest.objects.get(vmid=vmid)
    result = client.containers.get(guest.backend_id).exec_run(["sh", "-c", command])
    assert result.exit_code == 0, result.output
    return result.output.decode()


def finished(api, upid: str) -> dict:
    status = Tasks.blocking_status(api, upid, timeout=120, polling_interval=0.2)
    assert status["exitstatus"] == "OK", status
    return status


def test_snapshot_create_list_rollback_delete(proxmox, admin_user, live_node, docker_client) -> None:
    name = f"{PREFIX}api-{uuid.uuid4().hex[:6]}"
    task = request_create(admin_user, CreateRequest(node=live_node, kind="ct", name=name, template=CT_TEMPLATE,
                                                    vcpus=1, memory_mib=64, start=True))
    assert_ok(wait_for_task(task))
    vmid = task.vmid
    _token, secret = create_token(admin_user, "snap", privsep=False)
    api = proxmox(user=f"{admin_user.username}@pam", token_name="snap", token_value=secret)
    ct = api.nodes(live_node.name).lxc(vmid)

    exec_in(docker_client, vmid, "echo kept > /root/data")
    upid = ct.snapshot.post(snapname="first", description="before the change")
    assert upid.split(":")[5] == "vzsnapshot"
    finished(api, upid)
    listed = ct.snapshot.get()
    assert [s["name"] for s in listed] == ["first", "current"]
    assert listed[0]["description"] == "before the change" and listed[0]["snaptime"] > 0
    assert "vmstate" not in listed[0] and "parent" not in listed[0]
    assert listed[1] == {"name": "current", "description": "You are here!", "running": 1, "parent": "first"}
    assert ct.snapshot("first").get() == [{"cmd": "rollback"}, {"cmd": "config"}]

    ct.snapshot("first").config.put(description="edited")
    assert ct.snapshot("first").config.get()["description"] == "edited"

    exec_in(docker_client, vmid, "echo lost > /root/data")
    finished(api, ct.snapshot("first").rollback.post(start=1))
    assert exec_in(docker_client, vmid, "cat /root/data") == "kept\n"

    finished(api, ct.snapshot("first").delete())
    assert ct.snapshot.get() == [{"name": "current", "description": "You are here!", "running": 1}]

    for bad in ("1first", "a" * 41, "current", "with space"):
        with pytest.raises(ResourceException) as refused:
            ct.snapshot.post(snapname=bad)
        assert refused.value.status_code == 400, bad
        assert "snapname" in refused.value.errors
    with pytest.raises(ResourceException) as refused:
        ct.snapshot.post(snapname="ram", vmstate=1)  # containers have no vmstate
    assert refused.value.status_code == 400
    with pytest.raises(ResourceException) as refused:
        ct.snapshot("nothere").rollback.post()
    assert refused.value.status_code == 404

    user = UserFactory()
    grant(user, "PVEVMUser", f"/vms/{vmid}")
    _token, user_secret = create_token(user, "mine", privsep=False)
    other = proxmox(user=f"{user.username}@pam", token_name="mine", token_value=user_secret)
    assert [s["name"] for s in other.nodes(live_node.name).lxc(vmid).snapshot.get()] == ["current"]
    with pytest.raises(ResourceException) as refused:
        other.nodes(live_node.name).lxc(vmid).snapshot.post(snapname="mine")
    assert refused.value.status_code == 403


def test_clone_and_template(proxmox, admin_user, live_node, docker_client) -> None:
    name = f"{PREFIX}apic-{uuid.uuid4().hex[:6]}"
    task = request_create(admin_user, CreateRequest(node=live_node, kind="ct", name=name, template=CT_TEMPLATE,
                                                    vcpus=1, memory_mib=64))
    assert_ok(wait_for_task(task))
    _token, secret = create_token(admin_user, "clone", privsep=False)
    api = proxmox(user=f"{admin_user.username}@pam", token_name="clone", token_value=secret)
    ct = api.nodes(live_node.name).lxc(task.vmid)

    for bad, field in (({"newid": "abc"}, "newid"), ({"newid": 99}, "newid"), ({}, "newid"),
                       ({"newid": 4801, "snapname": "s"}, "snapname"), ({"newid": 4801, "storage": "ceph"}, "storage")):
        with pytest.raises(ResourceException) as refused:
            ct.clone.post(**bad)
        assert refused.value.status_code == 400 and field in refused.value.errors, bad
    with pytest.raises(ResourceException) as refused:
        ct.clone.post(newid=4801, hostname="not a host name")
    assert refused.value.status_code == 400

    upid = ct.clone.post(newid=4801, hostname=f"{name}-copy", full=1)
    assert upid.split(":")[5:7] == ["vzclone", str(task.vmid)]
    finished(api, upid)
    copy = api.nodes(live_node.name).lxc(4801)
    finished(api, copy.status.start.post())
    assert exec_in(docker_client, 4801, "hostname") == f"{name}-copy\n"

    assert ct.template.post() is None  # Proxmox answers null for a container
    wait_for_task(Task.objects.filter(vmid=task.vmid, type="template").get())
    resources = {r["vmid"]: r for r in api.cluster.resources.get(type="vm")}
    assert (resources[task.vmid]["template"], resources[4801]["template"]) == (1, 0)
    with pytest.raises(ResourceException) as refused:
        ct.status.start.post()
    assert refused.value.status_code == 409
