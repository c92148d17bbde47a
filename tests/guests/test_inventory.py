"""A node's poll: figures, templates and guests, including those made outside the panel."""

from __future__ import annotations

import docker
import pytest

from guests.choices import GuestState
from guests.models import Guest, GuestTemplate
from nodes.choices import NodeStatus
from nodes.poll import poll_node
from tests.support import CT_TEMPLATE, PREFIX, VM_TEMPLATE, wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def template_image(docker_client: docker.DockerClient) -> str:
    return docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id


def test_poll_records_node_figures_and_templates(node) -> None:
    assert node.status == NodeStatus.ONLINE
    assert node.cpus >= 1 and 0 < node.memory_used < node.memory_total and 0 < node.disk_used < node.disk_total
    assert node.uptime > 0 and node.kernel.startswith("Linux")
    assert node.engines["docker"]["ok"] and node.engines["libvirt"]["ok"]
    names = set(GuestTemplate.objects.filter(node=node).values_list("kind", "name"))
    assert {("ct", CT_TEMPLATE), ("vm", VM_TEMPLATE)} <= names


def test_guests_made_outside_the_panel_appear_and_disappear(
    node, docker_client: docker.DockerClient, template_image: str
) -> None:
    foreign = docker_client.containers.create(template_image, name=f"{PREFIX}foreign")
    labelled = docker_client.containers.create(template_image, name=f"{PREFIX}labelled", labels={"panel.vmid": "4321"})
    try:
        poll_node(node.name)
        guest = Guest.objects.get(backend_id=foreign.id)
        assert (guest.name, guest.kind, guest.state, guest.node) == (f"{PREFIX}foreign", "ct", GuestState.STOPPED, node)
        assert guest.vmid >= 100
        assert Guest.objects.get(backend_id=labelled.id).vmid == 4321
        poll_node(node.name)  # a second poll changes nothing
        assert Guest.objects.get(backend_id=foreign.id).vmid == guest.vmid
    finally:
        foreign.remove(force=True)
        labelled.remove(force=True)
    poll_node(node.name)
    assert not Guest.objects.filter(name__in=[f"{PREFIX}foreign", f"{PREFIX}labelled"]).exists()


def test_running_container_shows_cpu_and_memory(
    node, docker_client: docker.DockerClient, template_image: str
) -> None:
    burner = docker_client.containers.run(
        template_image, ["sh", "-c", "while :; do :; done"], name=f"{PREFIX}burner", detach=True, mem_limit="32m"
    )
    try:
        def busy() -> Guest | None:  # CPU use is the difference of two polls' readings
            poll_node(node.name)
            guest = Guest.objects.get(backend_id=burner.id)
            return guest if guest.cpu_usage > 0.05 else None

        guest = wait_until(busy, 30, "the poll to show the CPU a busy loop uses", interval=1)
        assert guest.state == GuestState.RUNNING
        assert 0 < guest.memory_used <= 32 * 1024**2 and guest.memory_mib == 32
        assert guest.uptime >= 1
    finally:
        burner.remove(force=True)


def test_engine_down_keeps_guests_as_unknown(node, docker_client, template_image: str) -> None:
    container = docker_client.containers.create(template_image, name=f"{PREFIX}kept")
    try:
        poll_node(node.name)
        node.docker_url = "unix:///nonexistent/docker.sock"
        node.save()
        poll_node(node.name)
        node.refresh_from_db()
        assert not node.engines["docker"]["ok"]
        assert "not reachable" in node.engines["docker"]["error"]
        assert node.engines["libvirt"]["ok"]
        assert Guest.objects.get(backend_id=container.id).state == GuestState.UNKNOWN
    finally:
        container.remove(force=True)
