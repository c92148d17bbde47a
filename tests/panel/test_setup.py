"""The set-up steps of `make run` and `make test` change nothing when run a second time."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import docker
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from nodes.models import Node
from tests.support import PREFIX, ROOT


def test_templates_script_is_idempotent(docker_client: docker.DockerClient) -> None:
    vm_dir = Path(settings.PANEL_TEMPLATE_DIR) / "vm" / "tiny-linux"
    image = docker_client.images.get("panel-templates/busybox:latest").id
    stamps = {p.name: p.stat().st_mtime_ns for p in vm_dir.iterdir()}
    result = subprocess.run(["bash", "scripts/setup/templates.sh"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert docker_client.images.get("panel-templates/busybox:latest").id == image
    assert {p.name: p.stat().st_mtime_ns for p in vm_dir.iterdir()} == stamps


# The pid files of the daemons services.sh starts (Debian's Redis writes its own): other test runs start
# redis-servers of their own, so the daemons are told apart by these, not by name.
PID_FILES = {"dockerd": "/run/docker.pid", "libvirtd": "/run/libvirtd.pid", "virtlogd": "/run/virtlogd.pid",
             "redis-server": "/run/redis/redis-server.pid"}


def daemon_pids() -> dict[str, str]:
    return {name: Path(path).read_text().strip() for name, path in PID_FILES.items()}


def test_services_script_leaves_running_daemons_alone() -> None:
    before = daemon_pids()
    result = subprocess.run(["bash", "scripts/setup/services.sh"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert daemon_pids() == before
    for name, pid in before.items():
        assert subprocess.run(["ps", "-o", "comm=", "-p", pid], capture_output=True, text=True).stdout.strip() == name


@pytest.mark.django_db
def test_register_node_is_idempotent(capsys: pytest.CaptureFixture) -> None:
    call_command("register_node", "--name", f"{PREFIX}setup", "--accelerator", "qemu")
    first = capsys.readouterr().out
    node = Node.objects.get(name=f"{PREFIX}setup")
    call_command("register_node", "--name", f"{PREFIX}setup", "--accelerator", "qemu")
    second = capsys.readouterr().out
    assert f"node {PREFIX}setup registered" in first and f"node {PREFIX}setup unchanged" in second
    assert Node.objects.get(name=f"{PREFIX}setup").pk == node.pk and node.accelerator == "qemu"


@pytest.mark.django_db
def test_the_admin_password_is_printed_once_kept_nowhere_and_reset_by_a_command(
    capsys: pytest.CaptureFixture,
) -> None:
    username = f"{PREFIX}admin"
    before = {path: path.stat().st_mtime_ns for path in (ROOT / "var").rglob("*") if path.is_file()}
    call_command("ensure_admin", "--username", username)
    first = capsys.readouterr().out
    password = re.search(r"password: (\S+)", first).group(1)
    admin = get_user_model().objects.get(username=username)
    assert admin.is_superuser and admin.check_password(password)

    call_command("ensure_admin", "--username", username)  # every later `make run`
    second = capsys.readouterr().out
    assert password not in second and "ensure_admin" in second and "--reset" in second
    written = [path for path in (ROOT / "var").rglob("*") if path.is_file() and path not in before]
    assert not [path for path in written if password in path.read_text(errors="replace")]  # no plain copy

    call_command("ensure_admin", "--username", username, "--reset")
    new_password = re.search(r"password: (\S+)", capsys.readouterr().out).group(1)
    admin.refresh_from_db()
    assert new_password != password and admin.check_password(new_password) and not admin.check_password(password)


@pytest.mark.django_db
def test_register_node_refuses_a_bad_name() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="is not a valid name"):
        call_command("register_node", "--name", "bad_name!")
    assert not Node.objects.filter(name="bad_name!").exists()


@pytest.mark.django_db
def test_register_node_sets_and_checks_the_vm_bridge() -> None:
    from django.core.management.base import CommandError

    call_command("register_node", "--name", f"{PREFIX}bridge", "--vm-bridge", "vmbr0")
    assert Node.objects.get(name=f"{PREFIX}bridge").endpoints.vm_bridge == "vmbr0"
    with pytest.raises(CommandError, match="not a valid bridge name"):
        call_command("register_node", "--name", f"{PREFIX}bridge", "--vm-bridge", "br0;reboot")
    assert Node.objects.get(name=f"{PREFIX}bridge").vm_bridge == "vmbr0"


@pytest.mark.django_db
def test_registering_a_node_schedules_nothing_its_collector_polls_it(settings) -> None:
    from django_celery_beat.models import PeriodicTask

    from nodes.poll import collect

    call_command("register_node", "--name", settings.PANEL_NODE_NAME)
    node = Node.objects.get(name=settings.PANEL_NODE_NAME)
    assert node.last_seen is None and not PeriodicTask.objects.exists()  # beat queues no polls any more
    collect(node)  # what the node's collector does every PANEL_POLL_INTERVAL s
    node.refresh_from_db()
    assert node.last_seen is not None and node.engines["docker"]["ok"]
