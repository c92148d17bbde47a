"""A poll and the tasks that land while it runs: a poll never removes or overwrites what a task newer than its
listing wrote, and a guest keeps its VMID for life (the engine carries it: Docker label, libvirt metadata).

The race is made deterministic without touching the engines: the poll's reading (``nodes.poll.read``: the rows
it knows, then the real engine listing) is taken, a real task runs on the node's real worker, and only then
the poll records what it read (``nodes.poll.record``), as a poll that was slow to write would.
"""

from __future__ import annotations

import docker
import pytest
from django.urls import reverse

from guests.choices import GuestState
from guests.models import Guest
from nodes import poll
from tests.factories import PoolFactory
from tests.support import CT_TEMPLATE, PREFIX, act, assert_ok, create, wait_for_task

pytestmark = pytest.mark.engines


def new_ct(client, node, name: str, **extra: str) -> Guest:
    data = {"node": node.name, "template": CT_TEMPLATE, "name": name, "vcpus": 1, "memory_mib": 64, **extra}
    assert_ok(create(client, "ct", data))
    return Guest.objects.get(name=name)


def test_a_guest_created_during_a_poll_keeps_its_row_vmid_owner_and_pool(admin_client, admin_user, live_node) -> None:
    pool = PoolFactory()
    reading = poll.read(live_node)  # the poll lists the engines...
    guest = new_ct(admin_client, live_node, f"{PREFIX}race", pool=pool.name, onboot="on", startup_order="3")
    poll.record(live_node, reading)  # ...and writes what it listed after the create landed
    kept = Guest.objects.filter(pk=guest.pk).first()
    assert kept is not None, "the poll removed a guest created after its listing"
    assert (kept.vmid, kept.owner, kept.pool, kept.startup_order) == (guest.vmid, admin_user, pool, 3)

    poll.collect(live_node)  # the next poll sees it: the same row
    assert list(Guest.objects.filter(name=f"{PREFIX}race").values_list("pk", "vmid", "pool")) == [
        (guest.pk, guest.vmid, pool.pk)]
    other = new_ct(admin_client, live_node, f"{PREFIX}race-next")
    assert other.vmid != guest.vmid  # its VMID never went to the next guest
    for g in (guest, other):
        assert_ok(act(admin_client, g, "delete"))


def test_a_poll_never_writes_a_state_older_than_the_tasks_that_followed_it(admin_client, live_node,
                                                                            docker_client) -> None:
    guests = [new_ct(admin_client, live_node, f"{PREFIX}stale-{i}", start="on") for i in range(3)]
    poll.collect(live_node)
    reading = poll.read(live_node)  # reads them running...
    for guest in guests:
        assert_ok(act(admin_client, guest, "stop"))  # ...each stop ends OK...
    poll.record(live_node, reading)  # ...then the poll writes what it read before them
    for guest in guests:
        guest.refresh_from_db()
        assert guest.state == GuestState.STOPPED, f"the poll wrote {guest.state} over the stop of {guest}"
        assert docker_client.containers.get(guest.backend_id).status == "exited"
    poll.collect(live_node)  # a poll newer than the tasks writes the same
    assert set(Guest.objects.filter(pk__in=[g.pk for g in guests]).values_list("state", flat=True)) == {"stopped"}
    for guest in guests:
        assert_ok(act(admin_client, guest, "delete"))


def test_a_copy_of_a_guest_never_takes_its_vmid(admin_client, admin_user, live_node, docker_client) -> None:
    pool = PoolFactory()
    guest = new_ct(admin_client, live_node, f"{PREFIX}original", pool=pool.name)
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id
    copy = docker_client.containers.create(image, name=f"{PREFIX}copy", labels={"panel.vmid": str(guest.vmid)})
    try:
        poll.collect(live_node)
        original = Guest.objects.get(pk=guest.pk)
        assert (original.vmid, original.backend_id, original.owner, original.pool) == (
            guest.vmid, guest.backend_id, admin_user, pool)
        found = Guest.objects.get(backend_id=copy.id)
        assert found.vmid != guest.vmid and found.owner is None and found.pool is None
        poll.collect(live_node)  # and it keeps the VMID it was given
        assert Guest.objects.get(backend_id=copy.id).vmid == found.vmid
    finally:
        copy.remove(force=True)
    poll.collect(live_node)
    assert not Guest.objects.filter(name=f"{PREFIX}copy").exists()
    assert_ok(act(admin_client, guest, "delete"))


def test_a_guest_forgotten_by_the_panel_comes_back_with_the_vmid_its_engine_carries(admin_client, live_node,
                                                                                      docker_client) -> None:
    guest = new_ct(admin_client, live_node, f"{PREFIX}forgotten")
    Guest.objects.filter(pk=guest.pk).delete()  # e.g. a database restored from before it was made
    poll.collect(live_node)
    back = Guest.objects.get(backend_id=guest.backend_id)
    assert back.vmid == guest.vmid and back.name == f"{PREFIX}forgotten"
    assert docker_client.containers.get(guest.backend_id).labels["panel.vmid"] == str(guest.vmid)
    assert_ok(act(admin_client, back, "delete"))


def test_a_guest_migrated_during_the_polls_of_both_nodes_is_one_guest_on_the_target(
        admin_client, live_node, live_node2, node2_docker) -> None:
    guest = new_ct(admin_client, live_node, f"{PREFIX}migrace", start="on")
    source_reading, target_reading = poll.read(live_node), poll.read(live_node2)  # both nodes list...
    response = admin_client.post(reverse("guest_migrate", args=[guest.vmid]), {"target": live_node2.name})
    assert response.status_code == 302
    task = wait_for_task(guest.tasks.filter(type="migrate").get(), timeout=120)  # ...the guest moves...
    assert_ok(task)
    poll.record(live_node, source_reading)  # ...then both write what they listed before
    poll.record(live_node2, target_reading)
    rows = list(Guest.objects.filter(name=f"{PREFIX}migrace").values_list("pk", "vmid", "node__name"))
    assert rows == [(guest.pk, guest.vmid, live_node2.name)], "a poll removed the guest or made a second one"
    moved = Guest.objects.get(pk=guest.pk)
    assert node2_docker.containers.get(moved.backend_id).status == "running"
    assert_ok(act(admin_client, moved, "stop"))
    assert_ok(act(admin_client, moved, "delete"))


@pytest.fixture
def node2_docker():
    from tests.support import NODE2_DOCKER_URL

    client = docker.DockerClient(base_url=NODE2_DOCKER_URL)
    yield client
    client.close()
