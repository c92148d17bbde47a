"""A container's own settings in the create wizard: the rules of each field, and a container made with all of
them on the real engine through the page and the node's worker."""

from __future__ import annotations

import re
import socket

import docker
import pytest
from django.urls import reverse

from drivers.types import PortMapping, VolumeMount
from guests.container_options import (
    as_params,
    from_params,
    parse_command,
    parse_environment,
    parse_ports,
    parse_restart,
    parse_volumes,
)
from guests.models import Guest
from panel.errors import InvalidRequest
from tasks.choices import TaskStatus
from tests.support import CT_TEMPLATE, PREFIX, act, create, free_port, log_text, wait_until

pytestmark = pytest.mark.django_db


def test_each_field_reads_what_docker_takes_and_names_what_it_refuses() -> None:
    assert parse_command("sh -c 'echo a; sleep 9'") == ("sh", "-c", "echo a; sleep 9")
    assert parse_command("") == ()
    assert parse_environment("A=1\n\n  B_2=x=y  \nEMPTY=") == (("A", "1"), ("B_2", "x=y"), ("EMPTY", ""))
    assert parse_ports("8080:80\n127.0.0.1:5353:53/udp\n[::1]:8443:443") == (
        PortMapping(8080, 80), PortMapping(5353, 53, "udp", "127.0.0.1"), PortMapping(8443, 443, "tcp", "::1"))
    assert parse_volumes("data:/srv/data\nconf.d:/etc/app:ro") == (
        VolumeMount("data", "/srv/data"), VolumeMount("conf.d", "/etc/app", read_only=True))
    assert parse_restart("") == "no" and parse_restart("unless-stopped") == "unless-stopped"
    refused = [
        (parse_command, "echo 'open", "cannot be read"),
        (parse_command, "a\x00b", "without NUL"),
        (parse_environment, "NOEQUALS", "is not NAME=value"),
        (parse_environment, "A=1\nA=2", "A is given twice"),
        (parse_environment, "\n".join(f"V{i}=1" for i in range(65)), "at most 64"),
        (parse_ports, "80", "is not [address:]host-port"),
        (parse_ports, "0:80", "port 0 is not within"),
        (parse_ports, "999.1.1.1:80:80", "is not an IP address"),
        (parse_ports, "80:80/sctp", "is not [address:]host-port"),
        (parse_volumes, "/var/run/docker.sock:/sock", "never a path of the node"),
        (parse_volumes, "~root:/x", "never a path of the node"),
        (parse_volumes, "data:/", "not an absolute path"),
        (parse_volumes, "data:/a/../b", "not an absolute path"),
        (parse_volumes, "data:/a:rx", "is not volume-name:/path[:ro]"),
        (parse_volumes, "aa:/x\nbb:/x", "/x is mounted twice"),
        (parse_volumes, "x:/y", "is not a volume name"),
        (parse_restart, "sometimes", "a restart policy is one of"),
    ]
    for parse, text, message in refused:
        with pytest.raises(InvalidRequest, match=re.escape(message)):
            parse(text)


def test_the_options_survive_a_tasks_parameters() -> None:
    from drivers.types import ContainerOptions

    options = ContainerOptions(command=("sleep", "1"), environment=(("A", "b"),), ports=(PortMapping(1, 2),),
                               volumes=(VolumeMount("v1", "/v"),), restart="always")
    assert from_params(as_params(options)) == options
    assert from_params(None) == ContainerOptions()


@pytest.mark.engines
def test_a_container_runs_with_its_command_environment_port_volume_and_restart_policy(
    admin_client, live_node, docker_client: docker.DockerClient
) -> None:
    port, volume = free_port(), f"{PREFIX}opt-data"
    task = create(admin_client, "ct", {
        "node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}opts", "vcpus": 1, "memory_mib": 64,
        "command": "sh -c 'echo \"$GREETING\" > /data/said; exec nc -ll -p 8080 -e echo pong'",
        "environment": "GREETING=hello world\nMODE=test", "ports": f"127.0.0.1:{port}:8080",
        "volumes": f"{volume}:/data", "restart": "unless-stopped", "start": "on"})
    assert task.status == TaskStatus.OK, log_text(task)
    guest = Guest.objects.get(name=f"{PREFIX}opts")
    container = docker_client.containers.get(guest.backend_id)
    attrs = container.attrs
    assert attrs["Config"]["Cmd"] == ["sh", "-c", "echo \"$GREETING\" > /data/said; exec nc -ll -p 8080 -e echo pong"]
    assert {"GREETING=hello world", "MODE=test"} <= set(attrs["Config"]["Env"])
    assert attrs["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert [(m["Type"], m["Name"], m["Destination"]) for m in attrs["Mounts"]] == [("volume", volume, "/data")]
    assert container.status == "running"
    said = wait_until(lambda: container.exec_run(["cat", "/data/said"]).output.strip() or None, timeout=30,
                      what="the command to write into the volume")
    assert said == b"hello world"

    def answer() -> bytes | None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                return connection.recv(16).strip() or None
        except OSError:
            return None

    assert wait_until(answer, timeout=30, what=f"the published port 127.0.0.1:{port}") == b"pong"
    # Another container may not mount it: its data is the first one's.
    refused = create(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}thief",
                                          "vcpus": 1, "memory_mib": 64, "volumes": f"{volume}:/stolen"})
    assert refused.status == TaskStatus.ERROR
    assert refused.exit_message == f"volume '{volume}' already exists on this node: a new container gets volumes " \
                                   "of its own"
    assert not Guest.objects.filter(name=f"{PREFIX}thief").exists()
    assert act(admin_client, guest, "stop").status == TaskStatus.OK
    deleted = act(admin_client, guest, "delete")
    assert deleted.status == TaskStatus.OK and f"removed volume {volume}" in log_text(deleted)
    with pytest.raises(docker.errors.NotFound):  # its volume went with it, as a Proxmox guest's disks do
        docker_client.volumes.get(volume)


def test_each_setting_needs_the_privilege_proxmox_asks_for_it(client, node) -> None:
    """A creator without VM.Config.Network publishes no port of the node, without VM.Config.Disk mounts no
    volume; the same form without them is queued."""
    from access.models import Role
    from tests.factories import PASSWORD, UserFactory, grant

    Role.objects.create(name="CtMaker", privileges=["VM.Allocate", "Datastore.AllocateSpace", "Sys.Audit",
                                                    "VM.Config.Options"])
    user = UserFactory(username="ct-maker")
    grant(user, "CtMaker", "/")
    client.login(username=user.username, password=PASSWORD)
    form = {"node": node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}opt-priv", "vcpus": 1, "memory_mib": 64,
            "command": "sleep 60"}
    for extra, message in (({"ports": "8080:80"}, "that needs VM.Config.Network"),
                           ({"volumes": "data1:/data"}, "that needs VM.Config.Disk")):
        response = client.post(reverse("guest_create", args=["ct"]), {**form, **extra})
        assert response.status_code == 403 and message in response.content.decode()
    assert not Guest.objects.filter(name=f"{PREFIX}opt-priv").exists()
    assert client.post(reverse("guest_create", args=["ct"]), form).status_code == 302
