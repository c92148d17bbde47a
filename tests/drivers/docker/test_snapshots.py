"""Container snapshots and clones on the real engine: the file system and the volumes' data come back with a
rollback, the configuration and the panel's VMID label with them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import pytest
from docker.types import Mount

from drivers.docker import DockerDriver, labels
from drivers.errors import InvalidSpec, SnapshotExists, SnapshotNotFound, SnapshotUnsupported
from drivers.types import CloneSpec, GuestSpec, PowerState
from tests.support import PREFIX

pytestmark = pytest.mark.engines
DOCKER_URL = "unix:///var/run/docker.sock"
SERVE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]


@pytest.fixture
def driver() -> Iterator[DockerDriver]:
    driver = DockerDriver(DOCKER_URL)
    yield driver
    driver.close()


@pytest.fixture
def name(docker_client: docker.DockerClient) -> Iterator[str]:
    name = f"{PREFIX}snap-{uuid.uuid4().hex[:6]}"
    yield name
    for container in docker_client.containers.list(all=True, filters={"name": name}):
        container.remove(force=True, v=True)
    for image in docker_client.images.list(filters={"label": f"{labels.SNAPSHOT_OF}={name}"}):
        docker_client.images.remove(image.id, force=True)
    for volume in docker_client.volumes.list():
        if volume.name.startswith(name):
            volume.remove(force=True)


def run(client: docker.DockerClient, container_id: str, command: str) -> str:
    result = client.containers.get(container_id).exec_run(["sh", "-c", command])
    assert result.exit_code == 0, result.output
    return result.output.decode()


def with_volumes(client: docker.DockerClient, name: str) -> docker.models.containers.Container:
    """A container made outside the panel's create: a named and an anonymous volume, a memory limit, the VMID."""
    return client.containers.run(
        "panel-templates/busybox:latest", SERVE, name=name, detach=True, hostname=name, mem_limit="48m",
        environment={"ANSWER": "42"}, labels={labels.VMID: "4343"},
        mounts=[Mount("/srv/named", f"{name}-data", type="volume"), Mount("/srv/anon", None, type="volume")],
    )


def test_rollback_brings_back_files_and_volume_data(driver: DockerDriver, docker_client, name: str) -> None:
    container = with_volumes(docker_client, name)
    run(docker_client, container.id, "echo one > /etc/motd; echo named-one > /srv/named/a; echo anon-one > /srv/anon/b")

    taken = driver.create_snapshot(container.id, "first", "before the change")
    assert (taken.name, taken.description) == ("first", "before the change")
    assert driver.power_state(container.id) is PowerState.RUNNING  # paused while taken, then resumed
    assert [s.name for s in driver.list_snapshots(container.id)] == ["first"]
    assert "first" not in {t.name for t in driver.list_templates()}  # its image carries the container's labels
    assert not [i for i in docker_client.images.list(filters={"label": "panel.template=busybox"})
                if (i.labels or {}).get(labels.SNAPSHOT_OF) == name]  # nor does a lookup of the template find it

    run(docker_client, container.id, "echo two > /etc/motd; echo named-two > /srv/named/a; rm /srv/anon/b; "
                                     "touch /srv/anon/new")
    new_id = driver.rollback_snapshot(container.id, "first")
    assert new_id != container.id
    restored = driver.get_guest(new_id, with_usage=False)
    assert (restored.name, restored.vmid, restored.memory_mib, restored.state) == (name, 4343, 48, PowerState.STOPPED)
    driver.start(new_id)
    assert run(docker_client, new_id, "cat /etc/motd /srv/named/a /srv/anon/b; ls /srv/anon; echo $ANSWER") == \
        "one\nnamed-one\nanon-one\nb\n42\n"
    assert docker_client.containers.get(new_id).attrs["Config"]["Hostname"] == name

    # A second rollback to the same snapshot works as well: its data is kept, not used up.
    run(docker_client, new_id, "echo three > /etc/motd")
    again = driver.rollback_snapshot(new_id, "first")
    driver.start(again)
    assert run(docker_client, again, "cat /etc/motd") == "one\n"

    driver.delete_snapshot(again, "first")
    assert driver.list_snapshots(again) == []
    assert not [v for v in docker_client.volumes.list() if v.name.startswith(f"{name}.snap-")]
    assert run(docker_client, again, "cat /etc/motd") == "one\n"  # the container keeps running on its image
    with pytest.raises(SnapshotNotFound):
        driver.rollback_snapshot(again, "first")


def test_names_and_what_cannot_be_taken(driver: DockerDriver, docker_client, name: str, tmp_path) -> None:
    info = driver.create(GuestSpec(vmid=4344, name=name, template="busybox", vcpus=1, memory_mib=32))
    for bad in ("1abc", "a" * 41, "with space", "current", "", "a/b", "x\n"):
        with pytest.raises(InvalidSpec):
            driver.create_snapshot(info.backend_id, bad)
    driver.create_snapshot(info.backend_id, "s1")
    with pytest.raises(SnapshotExists):
        driver.create_snapshot(info.backend_id, "s1")
    with pytest.raises(SnapshotUnsupported):
        driver.create_snapshot(info.backend_id, "s2", vmstate=True)
    # Deleting the container removes its snapshots with it, as Proxmox does.
    driver.delete(info.backend_id)
    assert not docker_client.images.list(filters={"label": f"{labels.SNAPSHOT_OF}={name}"})

    bound = docker_client.containers.create("panel-templates/busybox:latest", SERVE, name=f"{name}-b",
                                            mounts=[Mount("/mnt", str(tmp_path), type="bind")])
    try:
        with pytest.raises(SnapshotUnsupported, match="bind mounts"):
            driver.create_snapshot(bound.id, "s1")
    finally:
        bound.remove(force=True)


def test_clone_copies_files_and_volumes_under_a_new_vmid(driver: DockerDriver, docker_client, name: str) -> None:
    container = with_volumes(docker_client, name)
    run(docker_client, container.id, "echo mine > /etc/motd; echo named > /srv/named/a; echo anon > /srv/anon/b")
    copy = driver.clone(container.id, CloneSpec(vmid=4345, name=f"{name}-copy"))
    assert (copy.name, copy.vmid, copy.state, copy.memory_mib) == (f"{name}-copy", 4345, PowerState.STOPPED, 48)
    driver.start(copy.backend_id)
    assert run(docker_client, copy.backend_id, "cat /etc/motd /srv/named/a /srv/anon/b; hostname") == \
        f"mine\nnamed\nanon\n{name}-copy\n"
    run(docker_client, copy.backend_id, "echo changed > /srv/named/a")
    assert run(docker_client, container.id, "cat /srv/named/a") == "named\n"  # its own volume, not the source's
    driver.stop(copy.backend_id)
    driver.delete(copy.backend_id)
    assert not docker_client.images.list(filters={"label": f"{labels.CLONED_FROM}={name}"})


def test_the_containers_that_carry_volume_data_are_no_guests(docker_client, name: str) -> None:
    filler = docker_client.containers.create("panel-templates/busybox:latest", ["never-started"], name=f"{name}-f",
                                             labels={"panel.migration-filler": name})
    guest = docker_client.containers.create("panel-templates/busybox:latest", SERVE, name=f"{name}-g")
    prefixed = DockerDriver(DOCKER_URL, name_prefix=name)
    try:
        assert {g.name for g in prefixed.list_guests()} == {f"{name}-g"}
    finally:
        prefixed.close()
        filler.remove(force=True)
        guest.remove(force=True)
