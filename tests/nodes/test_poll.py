"""The node's poll feeds the history: its own figures and those of its guests, from real engines."""

from __future__ import annotations

import docker
import pytest

from guests.models import Guest
from metrics.models import Sample
from metrics.store import history
from nodes.poll import poll_node
from tests.support import CT_TEMPLATE, PREFIX, wait_until

pytestmark = pytest.mark.django_db


def test_poll_records_history_of_node_and_busy_container(node, docker_client: docker.DockerClient) -> None:
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id
    burner = docker_client.containers.run(
        image, ["sh", "-c", "dd if=/dev/zero of=/tmp/f bs=1M count=8; while :; do :; done"],
        name=f"{PREFIX}hist-burner", detach=True, mem_limit="32m",
    )
    try:
        def busy() -> list[dict]:  # CPU use is the difference of two polls' readings
            poll_node(node.name)
            points = history("guest", Guest.objects.get(backend_id=burner.id).vmid, "hour", cf="MAX")
            return points if points and points[-1]["cpu"] > 0.05 else []

        points = wait_until(busy, 30, "the history to show the CPU a busy loop uses", interval=1)
        guest = Guest.objects.get(backend_id=burner.id)
        assert 0 < points[-1]["mem"] <= 32 * 1024**2
        node_points = history("node", node.name, "hour")
        assert node_points and node_points[-1]["cpu"] >= 0 and node_points[-1]["mem"] > 0
        # Every archive got the readings; nothing above its bound.
        assert Sample.objects.filter(kind="guest", key=str(guest.vmid)).values("resolution").distinct().count() == 5
    finally:
        burner.remove(force=True)


def test_poll_history_writes_do_not_grow_with_guests(node, docker_client, django_assert_max_num_queries) -> None:
    from drivers.types import GuestInfo, GuestUsage, PowerState
    from metrics.feed import record_poll
    from tests.factories import GuestFactory

    guests = [GuestFactory(node=node, state="running", cpu_usage=0.5, memory_used=10**6) for _ in range(200)]
    infos = [GuestInfo(backend_id=str(g.vmid), name=g.name, state=PowerState.RUNNING, vcpus=1, memory_mib=64,
                       usage=GuestUsage(net_in=1000, disk_write=500)) for g in guests]
    counters = {"netin": 1, "netout": 1, "diskread": 1, "diskwrite": 1}
    with django_assert_max_num_queries(8):
        record_poll(node, counters, list(zip(guests, infos, strict=True)))
    assert Sample.objects.filter(kind="guest", resolution=60).count() == 200
