"""Clones and templates end to end: service -> task -> real worker -> real engine, with Proxmox's rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cluster.resources import cluster_resources
from guests import snapshots
from guests.bulk import request_bulk
from guests.choices import GuestState
from guests.clone import request_clone, request_template
from guests.models import Guest
from guests.services import request_action
from panel.errors import Conflict, Forbidden, InvalidRequest
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


def made(admin_client, live_node, kind: str, **extra: object) -> Guest:
    name = f"{PREFIX}{kind}src-{uuid.uuid4().hex[:6]}"
    data = {"node": live_node.name, "template": CT_TEMPLATE if kind == "ct" else VM_TEMPLATE, "name": name,
            "vcpus": 1, "memory_mib": 64 if kind == "ct" else 128, **extra}
    if kind == "vm":
        data["disk_gib"] = 1
    assert_ok(create(admin_client, kind, data))
    return Guest.objects.select_related("node").get(name=name)


def test_container_clone_and_template(admin_client, admin_user, live_node, docker_client) -> None:
    source = made(admin_client, live_node, "ct", start="on")
    exec_in(docker_client, source, "echo original > /root/file")

    task = wait_for_task(request_clone(admin_user, source, 4710, f"{source.name}-copy"))
    assert_ok(task)
    assert task.upid.split(":")[5:7] == ["vzclone", str(source.vmid)]
    copy = Guest.objects.get(vmid=4710)
    assert (copy.name, copy.state, copy.memory_mib, copy.owner) == (f"{source.name}-copy", GuestState.STOPPED,
                                                                    64, admin_user)
    assert docker_client.containers.get(copy.backend_id).labels["panel.vmid"] == "4710"
    source.refresh_from_db()
    assert source.state == GuestState.RUNNING  # paused while copied, running again
    assert_ok(act(admin_client, copy, "start"))
    assert exec_in(docker_client, copy, "cat /root/file; hostname") == f"original\n{copy.name}\n"

    with pytest.raises(Conflict, match="stop it first"):
        request_template(admin_user, source)
    assert_ok(act(admin_client, source, "stop"))
    source.refresh_from_db()
    task = wait_for_task(request_template(admin_user, source))
    assert_ok(task)
    assert task.upid.split(":")[5] == "vztemplate"
    source.refresh_from_db()
    assert source.is_template
    page = admin_client.get(source.get_absolute_url()).content.decode()
    assert 'data-action="delete"' in page and 'data-action="start"' not in page  # no Start for a template
    resource = next(r for r in cluster_resources(admin_user, "vm") if r["vmid"] == source.vmid)
    assert resource["template"] == 1
    with pytest.raises(Conflict, match="template"):
        request_action(admin_user, source, "start")
    with pytest.raises(Conflict, match="template"):
        snapshots.request_snapshot(admin_user, source, "nope")
    with pytest.raises(Conflict, match="already a template"):
        request_template(admin_user, source)

    # Start-all passes the template by, even when named, and starts the rest.
    assert_ok(act(admin_client, copy, "stop"))
    bulk = wait_for_task(request_bulk(admin_user, live_node, "startall", force=True, vms=[source.vmid, copy.vmid]))
    assert_ok(bulk)
    assert bulk.params["vms"] == [copy.vmid]
    source.refresh_from_db()
    copy.refresh_from_db()
    assert (source.state, copy.state) == (GuestState.STOPPED, GuestState.RUNNING)
    assert not Task.objects.filter(parent=bulk, vmid=source.vmid).exists()

    # A template is what clones are made from.
    assert_ok(wait_for_task(request_clone(admin_user, source, 4711, f"{source.name}-second")))
    assert Guest.objects.get(vmid=4711).is_template is False


def test_clone_refusals(admin_client, admin_user, live_node) -> None:
    source = made(admin_client, live_node, "ct")
    for bad in ("bad name", "-x", "a" * 64, "under_score"):
        with pytest.raises(InvalidRequest):
            request_clone(admin_user, source, 4720, bad)
    with pytest.raises(InvalidRequest, match="own storage"):
        request_clone(admin_user, source, 4720, "elsewhere", target="node-that-is-not")
    with pytest.raises(InvalidRequest, match="linked"):
        request_clone(admin_user, source, 4720, "linked", full=False)
    with pytest.raises(Conflict, match="in use"):
        request_clone(admin_user, source, source.vmid, "same-vmid")
    assert not Guest.objects.filter(vmid=4720).exists()

    viewer = UserFactory()
    grant(viewer, "PVEVMUser", f"/vms/{source.vmid}")
    with pytest.raises(Forbidden):
        request_clone(viewer, source, 4721, "mine")
    with pytest.raises(Forbidden):
        request_template(viewer, source)
    cloner = UserFactory()
    grant(cloner, "PVETemplateUser", f"/vms/{source.vmid}")  # VM.Clone on the source, VM.Allocate nowhere
    with pytest.raises(Forbidden, match="4722"):
        request_clone(cloner, source, 4722, "mine")
    grant(cloner, "PVEVMAdmin", "/vms/4722")
    grant(cloner, "PVEDatastoreUser", "/storage/local")
    grant(cloner, "PVEAuditor", f"/nodes/{live_node.name}")
    assert_ok(wait_for_task(request_clone(cloner, source, 4722, f"{source.name}-theirs")))


@pytest.mark.vm
def test_clone_of_a_stopped_vm(admin_client, admin_user, live_node) -> None:
    source = made(admin_client, live_node, "vm")
    task = wait_for_task(request_clone(admin_user, source, 4730, f"{source.name}-copy"))
    assert_ok(task)
    assert task.upid.split(":")[5] == "qmclone"
    copy = Guest.objects.get(vmid=4730)
    assert copy.backend_id and copy.backend_id != source.backend_id and copy.state == GuestState.STOPPED
    assert_ok(act(admin_client, copy, "start"))
    copy.refresh_from_db()
    assert copy.state == GuestState.RUNNING
    with pytest.raises(Conflict, match="stop it first"):
        request_clone(admin_user, copy, 4731, "running-copy")
    assert_ok(act(admin_client, copy, "stop"))
    assert_ok(act(admin_client, copy, "delete"))
    assert_ok(act(admin_client, source, "delete"))
