"""The set-up steps of `make run` and `make test` change nothing when run a second time."""

from __future__ import annotations

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


def test_services_script_leaves_running_daemons_alone() -> None:
    before = subprocess.run(["pgrep", "-x", "dockerd|libvirtd|virtlogd|redis-server"], capture_output=True,
                            text=True).stdout.split()
    result = subprocess.run(["bash", "scripts/setup/services.sh"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    after = subprocess.run(["pgrep", "-x", "dockerd|libvirtd|virtlogd|redis-server"], capture_output=True,
                           text=True).stdout.split()
    assert sorted(after) == sorted(before)
    names = subprocess.run(["ps", "-o", "comm=", "-p", ",".join(after)], capture_output=True, text=True).stdout
    assert set(names.split()) == {"dockerd", "libvirtd", "virtlogd", "redis-server"}


@pytest.mark.django_db
def test_register_node_and_ensure_admin_are_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    password_file = tmp_path / "admin-password"
    call_command("register_node", "--name", f"{PREFIX}setup", "--accelerator", "qemu")
    call_command("ensure_admin", "--username", f"{PREFIX}admin", "--password-file", str(password_file))
    first = capsys.readouterr().out
    node = Node.objects.get(name=f"{PREFIX}setup")
    call_command("register_node", "--name", f"{PREFIX}setup", "--accelerator", "qemu")
    call_command("ensure_admin", "--username", f"{PREFIX}admin", "--password-file", str(password_file))
    second = capsys.readouterr().out
    assert f"node {PREFIX}setup registered" in first and f"node {PREFIX}setup unchanged" in second
    assert Node.objects.get(name=f"{PREFIX}setup").pk == node.pk and node.accelerator == "qemu"
    password = password_file.read_text().strip()
    assert f"login: {PREFIX}admin  password: {password}" in first and f"password: {password}" in second
    assert password_file.stat().st_mode & 0o077 == 0
    admin = get_user_model().objects.get(username=f"{PREFIX}admin")
    assert admin.is_superuser and admin.check_password(password)


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
