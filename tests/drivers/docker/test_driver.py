"""The Docker driver against the real engine and the local busybox template."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import pytest

from drivers.docker import DockerDriver, labels
from drivers.errors import (
    EngineUnavailable,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    OperationTimeout,
    TemplateNotFound,
)
from drivers.types import ConfigChange, GuestKind, GuestSpec, PowerState
from tests.support import PREFIX

DOCKER_URL = "unix:///var/run/docker.sock"


@pytest.fixture
def driver() -> Iterator[DockerDriver]:
    driver = DockerDriver(DOCKER_URL)
    yield driver
    driver.close()


@pytest.fixture
def name() -> str:
    return f"{PREFIX}drv-{uuid.uuid4().hex[:8]}"


def spec(guest_name: str, **overrides: object) -> GuestSpec:
    values = {"vmid": 4242, "name": guest_name, "template": "busybox", "vcpus": 1, "memory_mib": 32}
    return GuestSpec(**{**values, **overrides})


def container_names(client: docker.DockerClient) -> set[str]:
    return {c.name for c in client.containers.list(all=True) if c.name.startswith(PREFIX)}


def test_templates_include_local_busybox(driver: DockerDriver) -> None:
    templates = {t.name: t for t in driver.list_templates()}
    assert templates["busybox"].kind is GuestKind.CT


def test_lifecycle(driver: DockerDriver, name: str) -> None:
    info = driver.create(spec(name))
    try:
        assert info.state is PowerState.STOPPED
        assert (info.name, info.vmid, info.template, info.memory_mib, info.vcpus) == (name, 4242, "busybox", 32, 1)

        driver.start(info.backend_id)
        running = driver.get_guest(info.backend_id)
        assert running.state is PowerState.RUNNING
        assert 0 < running.usage.memory_used <= 32 * 1024 * 1024

        driver.suspend(info.backend_id)
        assert driver.get_guest(info.backend_id).state is PowerState.PAUSED
        driver.resume(info.backend_id)
        assert driver.get_guest(info.backend_id).state is PowerState.RUNNING

        driver.reboot(info.backend_id, timeout=10)
        assert driver.get_guest(info.backend_id).state is PowerState.RUNNING

        driver.shutdown(info.backend_id, timeout=10)  # never forces: a timeout would raise
        assert driver.get_guest(info.backend_id).state is PowerState.STOPPED
        # The template's PID 1 honoured SIGTERM (its trap exits 0); a killed one exits 137.
        assert driver.client.containers.get(info.backend_id).attrs["State"]["ExitCode"] == 0

        driver.start(info.backend_id)
        driver.stop(info.backend_id)
        assert driver.get_guest(info.backend_id).state is PowerState.STOPPED
    finally:
        driver.delete(info.backend_id)
    with pytest.raises(GuestNotFound):
        driver.get_guest(info.backend_id)


def test_list_includes_containers_made_outside_the_panel(
    driver: DockerDriver, docker_client: docker.DockerClient, name: str
) -> None:
    image = docker_client.images.list(filters={"label": f"{labels.TEMPLATE}=busybox"})[0]
    foreign = docker_client.containers.create(image.id, name=name)
    try:
        found = {g.backend_id: g for g in driver.list_guests()}
        assert found[foreign.id].name == name
        assert found[foreign.id].vmid is None
    finally:
        foreign.remove(force=True)


def test_shutdown_timeout_does_not_force_and_power_off_does_when_asked(
    driver: DockerDriver, docker_client: docker.DockerClient, name: str
) -> None:
    image = docker_client.images.list(filters={"label": f"{labels.TEMPLATE}=busybox"})[0]
    # A PID 1 without a SIGTERM handler ignores the signal, like a hung guest.
    stubborn = docker_client.containers.run(image.id, ["sleep", "600"], name=name, detach=True)
    try:
        with pytest.raises(OperationTimeout, match="did not shut down within 1 s"):
            driver.shutdown(stubborn.id, timeout=1)
        assert driver.get_guest(stubborn.id).state is PowerState.RUNNING
        with pytest.raises(OperationTimeout, match="did not shut down within 1 s"):
            driver.power_off(stubborn.id, timeout=1, force=False)
        assert driver.power_state(stubborn.id) is PowerState.RUNNING

        lines: list[str] = []
        driver.power_off(stubborn.id, timeout=1, force=True, progress=lines.append)
        assert lines == [f"container {name} did not shut down within 1 s; stopping it"]
        assert driver.power_state(stubborn.id) is PowerState.STOPPED
    finally:
        stubborn.remove(force=True)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"name": "-bad name!"}, InvalidSpec, "not a valid container name"),
        ({"template": "no-such-template"}, TemplateNotFound, "template 'no-such-template' does not exist"),
        ({"memory_mib": 2}, InvalidSpec, "memory must be at least 6 MiB"),
        ({"vcpus": 0}, InvalidSpec, "at least 1 vCPU"),
    ],
)
def test_bad_specs_leave_nothing_behind(
    driver: DockerDriver, docker_client: docker.DockerClient, name: str, overrides: dict, error: type, message: str
) -> None:
    before = container_names(docker_client)
    with pytest.raises(error, match=message):
        driver.create(spec(name, **overrides))
    assert container_names(docker_client) == before


def test_duplicate_name_is_refused(driver: DockerDriver, docker_client: docker.DockerClient, name: str) -> None:
    first = driver.create(spec(name))
    try:
        with pytest.raises(GuestAlreadyExists, match=f"a container named '{name}' already exists"):
            driver.create(spec(name, vmid=4243))
    finally:
        driver.delete(first.backend_id)


def test_wrong_state_actions(driver: DockerDriver, name: str) -> None:
    info = driver.create(spec(name))
    try:
        with pytest.raises(InvalidGuestState, match="cannot shut down .* it is stopped"):
            driver.shutdown(info.backend_id, timeout=1)
        with pytest.raises(InvalidGuestState, match="cannot pause"):
            driver.suspend(info.backend_id)
        driver.start(info.backend_id)
        with pytest.raises(InvalidGuestState, match="cannot start .* it is running"):
            driver.start(info.backend_id)
        with pytest.raises(InvalidGuestState, match="stop it before deleting it"):
            driver.delete(info.backend_id)
        driver.stop(info.backend_id)
    finally:
        driver.delete(info.backend_id)


def test_engine_down_is_a_clear_error(tmp_path) -> None:
    down = DockerDriver(f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(EngineUnavailable, match="Docker engine at unix://.*no-docker.sock is not reachable"):
        down.list_guests()


def test_update_config_changes_a_running_container(driver: DockerDriver, docker_client: docker.DockerClient,
                                                   name: str) -> None:
    info = driver.create(spec(name, memory_mib=32))
    try:
        driver.start(info.backend_id)
        # Beyond the swap limit the engine set at creation (twice the memory): the swap follows.
        assert driver.update_config(info.backend_id, ConfigChange(memory_mib=100, vcpus=2,
                                                                  name=f"{name}-b")) == set()
        container = docker_client.containers.get(info.backend_id)
        host = container.attrs["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], container.name) == (100 * 1024**2, 2 * 10**9, f"{name}-b")
        assert host["MemorySwap"] > host["Memory"] and container.status == "running"
        with pytest.raises(InvalidSpec):
            driver.update_config(info.backend_id, ConfigChange(memory_mib=1))
        with pytest.raises(InvalidSpec):
            driver.resize_disk(info.backend_id, 0, 10 * 1024**3)
    finally:
        docker_client.containers.get(info.backend_id).remove(force=True)
