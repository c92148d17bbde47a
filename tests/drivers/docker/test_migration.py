"""Container migration between real Docker engines: this machine's and node2's (scripts/setup/second-node.sh),
or a private dockerd for an engine that dies during the migration. No engine call is patched: each fault is real
(a name taken, a port taken on the target, a daemon killed)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from docker.models.containers import Container
from docker.types import Mount

from drivers.docker import DockerDriver, labels
from drivers.errors import GuestAlreadyExists, MigrationFailed, MigrationUnsupported
from drivers.types import PowerState
from tests.daemons import private_dockerd
from tests.support import NODE2_DOCKER_URL, PREFIX, free_port, migrated_images, wait_until

pytestmark = pytest.mark.engines
# PID 1 serves /www on 8080 and exits on SIGTERM, as the template's command does.
SERVE = ["sh", "-c", "mkdir -p /www; httpd -p 8080 -h /www; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
# Written into the container before it moves: a file system change, and data in a named and an anonymous volume.
WRITE_DATA = """set -e
mkdir -p /www && echo "served from $HOSTNAME" > /www/index.html
mkdir -p /srv/named/sub && echo named > /srv/named/sub/a.txt && ln -s sub/a.txt /srv/named/link
head -c 3000000 /dev/urandom > /srv/named/blob && chown 1234:5678 /srv/named/blob && chmod 640 /srv/named/blob
echo anonymous > /srv/anon/b.txt
"""
READ_DATA = "cat /www/index.html /srv/named/sub/a.txt /srv/named/link /srv/anon/b.txt; sha256sum /srv/named/blob; " \
            "stat -c '%u:%g %a' /srv/named/blob"


@pytest.fixture
def source() -> Iterator[DockerDriver]:
    driver = DockerDriver("unix:///var/run/docker.sock")
    yield driver
    driver.close()


@pytest.fixture
def node2(second_node_uri: str) -> Iterator[DockerDriver]:
    driver = DockerDriver(NODE2_DOCKER_URL)
    yield driver
    driver.close()


@pytest.fixture
def name() -> str:
    return f"{PREFIX}cmig-{uuid.uuid4().hex[:6]}"


def clean(client: docker.DockerClient, name: str) -> None:
    """Remove what a test of ``name`` made on one engine: containers, volumes and networks so named."""
    for container in client.containers.list(all=True, filters={"name": name}):
        container.remove(force=True, v=True)
    for volume in client.volumes.list(filters={"name": name}):
        volume.remove(force=True)
    for network in client.networks.list(names=[f"{name}-net"]):
        network.remove()
    for image in migrated_images(client):
        if any(t.startswith(f"panel-migrated/{name}:") for t in image.tags):
            client.images.remove(image.id, force=True)


@pytest.fixture
def engines(source: DockerDriver, node2: DockerDriver, name: str) -> Iterator[tuple[DockerDriver, DockerDriver]]:
    yield source, node2
    for driver in (source, node2):
        clean(driver.client, name)


def template_image(client: docker.DockerClient) -> str:
    return client.images.list(filters={"label": f"{labels.TEMPLATE}=busybox"})[0].id


def rich_container(client: docker.DockerClient, name: str, port: int) -> Container:
    """A running container with what must move: data in a named and an anonymous volume, published port,
    environment, restart policy, limits, working directory, a user network."""
    client.networks.create(f"{name}-net", driver="bridge")
    container = client.containers.run(
        template_image(client), SERVE, name=name, hostname=name, detach=True,
        labels={labels.VMID: "4400", labels.TEMPLATE: "busybox", "purpose": "migration test"},
        environment={"GREETING": "hello"}, working_dir="/srv", stop_signal="SIGTERM",
        volumes={f"{name}-data": {"bind": "/srv/named", "mode": "rw"}},
        mounts=[Mount("/srv/anon", None, type="volume")],
        ports={"8080/tcp": ("127.0.0.1", port)},
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
        mem_limit=48 * 1024 * 1024, nano_cpus=500_000_000, network=f"{name}-net",
    )
    result = container.exec_run(["sh", "-c", WRITE_DATA])
    assert result.exit_code == 0, result.output
    return container


def served(port: int) -> str:
    try:
        return requests.get(f"http://127.0.0.1:{port}/index.html", timeout=2).text
    except requests.RequestException:
        return ""


def volumes_named(client: docker.DockerClient, name: str) -> set[str]:
    return {v.name for v in client.volumes.list(filters={"name": name})}


def test_moves_with_its_volumes_and_whole_configuration(engines, name: str) -> None:
    source, node2 = engines
    port = free_port()
    container = rich_container(source.client, name, port)
    data = container.exec_run(["sh", "-c", READ_DATA]).output
    anonymous = next(m["Name"] for m in container.attrs["Mounts"] if m["Destination"] == "/srv/anon")
    wait_until(lambda: served(port), 20, f"the source to serve on port {port}")

    lines: list[str] = []
    info = source.migrate(container.id, node2, timeout=20, progress=lines.append)

    assert (info.name, info.state, info.vmid, info.memory_mib, info.vcpus) == (name, PowerState.RUNNING, 4400, 48, 0.5)
    moved = node2.client.containers.get(info.backend_id)
    assert moved.exec_run(["sh", "-c", READ_DATA]).output == data
    config, host = moved.attrs["Config"], moved.attrs["HostConfig"]
    before_config, before_host = container.attrs["Config"], container.attrs["HostConfig"]
    for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Tty", "Hostname", "ExposedPorts", "StopSignal"):
        assert config.get(key) == before_config.get(key), key
    assert config["Labels"].pop(labels.MIGRATED_FROM) == source.url  # the image it now runs from says so
    assert config["Labels"] == before_config["Labels"]
    for key in ("PortBindings", "RestartPolicy", "Memory", "NanoCpus", "NetworkMode", "LogConfig"):
        assert host.get(key) == before_host.get(key), key
    assert set(moved.attrs["NetworkSettings"]["Networks"]) == {f"{name}-net"}
    mounts = {m["Destination"]: m for m in moved.attrs["Mounts"]}
    assert mounts["/srv/named"]["Name"] == f"{name}-data"
    assert mounts["/srv/anon"]["Type"] == "volume" and mounts["/srv/anon"]["Name"] != anonymous
    wait_until(lambda: served(port) == f"served from {name}\n", 20, f"node2 to serve on port {port}")

    # The source went only once the copy was checked and ran: with its named and anonymous volumes.
    assert lines.index(next(line for line in lines if line.startswith("checked on the target"))) \
        < lines.index(f"started container {name} on {NODE2_DOCKER_URL}") \
        < lines.index(f"removing container {name} from its old node")
    with pytest.raises(docker.errors.NotFound):
        source.client.containers.get(container.id)
    assert volumes_named(source.client, name) == set()
    assert anonymous not in {v.name for v in source.client.volumes.list()}

    node2.stop(info.backend_id)
    node2.delete(info.backend_id)  # the anonymous volume goes with it, the named one stays as Docker keeps them
    assert volumes_named(node2.client, name) == {f"{name}-data"}
    assert mounts["/srv/anon"]["Name"] not in {v.name for v in node2.client.volumes.list()}
    assert not [i for i in migrated_images(node2.client) if any(t.startswith(f"panel-migrated/{name}:")
                                                                 for t in i.tags)]


def test_refuses_what_it_cannot_carry_and_touches_nothing(engines, name: str, tmp_path: Path) -> None:
    source, node2 = engines
    client = source.client
    image = template_image(client)
    client.containers.create(image, ["true"], name=f"{name}-other", volumes={f"{name}-shared": {"bind": "/s"}})
    container = client.containers.run(
        image, SERVE, name=name, detach=True, devices=["/dev/zero:/dev/hostzero"], pid_mode="host", auto_remove=True,
        volumes={str(tmp_path): {"bind": "/host", "mode": "rw"}, f"{name}-shared": {"bind": "/shared"}})
    container.reload()  # run() answers with the container as it was created
    started = container.attrs["State"]["StartedAt"]

    with pytest.raises(MigrationUnsupported) as refused:
        source.migrate(container.id, node2, timeout=20)
    message = str(refused.value)
    assert message.startswith(f"container {name} cannot be migrated: ")
    for reason in (f"bind mount of host path {tmp_path} at /host", "host devices /dev/zero",
                   "the host's PID namespace", "AutoRemove",
                   f"volume {name}-shared, also used by {name}-other"):
        assert reason in message
    assert message.endswith("Nothing was changed")
    container.reload()
    assert (container.status, container.attrs["State"]["StartedAt"]) == ("running", started)
    assert not node2.client.containers.list(all=True, filters={"name": name})
    assert volumes_named(node2.client, name) == set()
    assert not node2.client.networks.list(names=[f"{name}-net"])


def test_a_name_taken_on_the_target_is_refused_before_the_source_stops(engines, name: str) -> None:
    source, node2 = engines
    container = source.client.containers.run(template_image(source.client), SERVE, name=name, detach=True)
    container.reload()  # run() answers with the container as it was created
    started = container.attrs["State"]["StartedAt"]
    node2.client.containers.create(template_image(node2.client), ["true"], name=name)

    with pytest.raises(GuestAlreadyExists, match=f"a container named '{name}' already exists on the target node"):
        source.migrate(container.id, node2, timeout=20)
    container.reload()
    assert (container.status, container.attrs["State"]["StartedAt"]) == ("running", started)


def test_a_failure_on_the_target_undoes_only_what_was_made_and_restarts_the_source(engines, name: str) -> None:
    """The port the container publishes is taken on the target host once the source released it: the copy is
    made, checked, and cannot start there."""
    source, node2 = engines
    port = free_port()
    container = rich_container(source.client, name, port)
    data = container.exec_run(["sh", "-c", READ_DATA]).output
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lines: list[str] = []

    def take_port() -> bool:
        try:
            holder.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("copying the file system"):  # the source is stopped: its port is free
            wait_until(take_port, 10, f"port {port} to be free once the source stopped")
            holder.listen()
        elif line.startswith("migration failed"):
            holder.close()

    try:
        with pytest.raises(MigrationFailed, match=f"migration of container {name} failed: .*address already in use"):
            source.migrate(container.id, node2, timeout=20, progress=progress)
    finally:
        holder.close()
    for made in (f"container {name} on the target", f"volume {name}-data on the target",
                 f"network {name}-net on the target"):
        assert f"removed {made}" in lines
    assert any(line.startswith(f"removed image panel-migrated/{name}:4400") for line in lines)
    assert f"starting container {name} again on its node" in lines
    container.reload()
    assert container.status == "running"
    assert container.exec_run(["sh", "-c", READ_DATA]).output == data
    assert volumes_named(source.client, name) == {f"{name}-data"}
    wait_until(lambda: served(port), 20, f"the source to serve on port {port} again")
    assert not node2.client.containers.list(all=True, filters={"name": name})
    assert volumes_named(node2.client, name) == set()
    assert not node2.client.networks.list(names=[f"{name}-net"])
    assert not [i for i in migrated_images(node2.client) if any(t.startswith(f"panel-migrated/{name}:")
                                                                 for t in i.tags)]


def test_a_target_engine_that_dies_during_the_copy_leaves_the_source_running(source: DockerDriver, name: str) -> None:
    container = source.client.containers.run(
        template_image(source.client), SERVE, name=name, detach=True, labels={labels.VMID: "4401"},
        volumes={f"{name}-data": {"bind": "/srv/named"}}, mounts=[Mount("/srv/anon", None, type="volume")])
    try:
        assert container.exec_run(["sh", "-c", WRITE_DATA]).exit_code == 0
        data = container.exec_run(["sh", "-c", READ_DATA]).output
        with private_dockerd() as engine:
            target = DockerDriver(engine.url)
            lines: list[str] = []

            def progress(line: str) -> None:
                lines.append(line)
                if line.startswith("copying the file system"):
                    engine.kill()

            with pytest.raises(MigrationFailed, match=f"migration of container {name} failed: "
                                                      f"Docker engine at {engine.url} is not reachable"):
                source.migrate(container.id, target, timeout=20, progress=progress)
            assert f"starting container {name} again on its node" in lines
            container.reload()
            assert container.status == "running"
            assert container.exec_run(["sh", "-c", READ_DATA]).output == data

            target.close()  # its connections died with the engine
            engine.start()
            try:  # nothing stayed of what the dead engine was sent
                assert not target.client.containers.list(all=True)
                assert not target.client.volumes.list()
                assert not migrated_images(target.client)
            finally:
                target.close()
    finally:
        clean(source.client, name)
