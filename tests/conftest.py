"""Fixtures over the real engines: Docker, libvirt, PostgreSQL, Redis and Celery worker processes.

Shared helpers (waits, names, processes) are in tests/support.py; model factories in tests/factories.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import libvirt
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from nodes.poll import collect, poll_node

from .daemons import DOCKERD_DATA, DOCKERD_RUN
from .factories import PASSWORD, AdminFactory, NodeFactory
from .support import (
    LOGS,
    NODE2,
    NODE2_DOCKER_URL,
    NODE2_STORAGE_DIR,
    NODE2_USER,
    ROOT,
    RUN,
    process_env,
    purge_queue,
    run_secrets_script,
    stop_process,
    wait_for_worker,
)

# Runs alive on this machine: /run/panel-test-runs/<run> holds the pid of its pytest process.
LIVE_RUNS = Path("/run/panel-test-runs")
# pt<run>-name: a guest of a run; pt-name: a guest of the suite before runs had ids.
RUN_OF_NAME = re.compile(r"^pt(?:([0-9a-f]{6}))?-")


def run_alive(run: str) -> bool:
    try:
        pid = int((LIVE_RUNS / run).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def swept(name: str) -> bool:
    """Is ``name`` a leftover: of this run, or of a run that is no longer alive?"""
    match = RUN_OF_NAME.match(name)
    return bool(match) and (match.group(1) in (None, RUN) or not run_alive(match.group(1)))


def remove_guests(docker_url: str, libvirt_uri: str, storage_dir: Path | None = None) -> None:
    """Remove this run's (and dead runs') containers, volumes and VMs from one node's engines, and with
    ``storage_dir`` (this run's directory of that node) the VMs' files in it."""
    client = docker.DockerClient(base_url=docker_url)
    try:
        for container in client.containers.list(all=True):
            if swept(container.name):
                container.remove(force=True, v=True)
        for volume in client.volumes.list():
            if swept(volume.name):
                volume.remove(force=True)
    finally:
        client.close()
    conn = libvirt.open(libvirt_uri)
    try:
        for domain in conn.listAllDomains():
            if swept(domain.name()):
                if domain.isActive():
                    domain.destroy()
                domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    finally:
        conn.close()
    if storage_dir is not None and storage_dir.is_dir():
        for entry in storage_dir.iterdir():  # the directory itself stays, with its owner
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def sweep_engines(docker_url: str, libvirt_uri: str, storage_root: Path) -> None:
    """Remove this run's guests, disks and volumes from one node's engines, and those of dead runs."""
    remove_guests(docker_url, libvirt_uri)
    client = docker.DockerClient(base_url=docker_url)
    try:
        for image in client.images.list(filters={"label": "panel.migrated-from"}):
            if any(swept(tag.split("/", 1)[-1]) for tag in image.tags):
                client.images.remove(image.id, force=True)
        # Snapshots' and clones' images (those that guests of other runs still use are left for a later sweep).
        for image in [*client.images.list(filters={"label": "panel.snapshot.of"}),
                      *client.images.list(filters={"label": "panel.cloned-from"})]:
            if swept(image.labels.get("panel.snapshot.of", "")) or swept(image.labels.get("panel.cloned-from", "")):
                try:
                    client.images.remove(image.id, force=True)
                except docker.errors.APIError:
                    continue
    finally:
        client.close()
    for directory in storage_root.glob("*"):
        if directory.is_dir() and (directory.name == RUN or not run_alive(directory.name)):
            shutil.rmtree(directory, ignore_errors=True)


def remove_private_dockerds_of_dead_runs() -> None:
    """What a run killed mid-test left of its private dockerds (tests/daemons.py): bridges and files."""
    links = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    for name in re.findall(r"^\d+: (pt[0-9a-f]{6}-[0-9a-f]*)[:@]", links, flags=re.MULTILINE):
        if not run_alive(name[2:8]):
            subprocess.run(["ip", "link", "delete", name, "type", "bridge"], capture_output=True)
    for directory in [*DOCKERD_DATA.glob("docker-*"), *DOCKERD_RUN.glob("d*")]:
        run = directory.name.removeprefix("docker-").removeprefix("d")[:6]
        if re.fullmatch(r"[0-9a-f]{6}", run) and not run_alive(run):
            shutil.rmtree(directory, ignore_errors=True)


def drop_databases_of_dead_runs() -> None:
    s = settings.DATABASES["default"]
    with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                         password=s["PASSWORD"], dbname="postgres", autocommit=True) as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_panel\\_%'"):
            run = name.removeprefix("test_panel_")
            if run != RUN and re.fullmatch(r"[0-9a-f]{6}", run) and not run_alive(run):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # the name matched a strict pattern


@pytest.fixture(autouse=True, scope="session")
def this_run() -> Iterator[str]:
    """Register this run as alive, sweep what it (or a dead run) left on the engines, and again at the end."""
    LIVE_RUNS.mkdir(parents=True, exist_ok=True)
    (LIVE_RUNS / RUN).write_text(str(os.getpid()))
    storage_root = Path(settings.PANEL_STORAGE_DIR).parent
    sweep_engines(settings.PANEL_DOCKER_URL, settings.PANEL_LIBVIRT_URI, storage_root)
    drop_databases_of_dead_runs()
    remove_private_dockerds_of_dead_runs()
    Path(settings.PANEL_STORAGE_DIR).mkdir(parents=True, exist_ok=True)
    yield RUN
    sweep_engines(settings.PANEL_DOCKER_URL, settings.PANEL_LIBVIRT_URI, storage_root)
    (LIVE_RUNS / RUN).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """Each test's event loops get a channel layer and group hubs of their own: ones made under another loop
    (a previous test's, or async_to_sync's) hold locks and tasks bound to it."""
    from channels.layers import channel_layers

    from panel.hub import _hubs

    channel_layers.backends.clear()
    _hubs.clear()
    yield
    channel_layers.backends.clear()
    _hubs.clear()


@pytest.fixture(scope="session")
def storage_dir(this_run: str) -> Path:
    return Path(settings.PANEL_STORAGE_DIR)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA and node certificate that set-up makes, in a directory of this run (``ca.pem``, ``node.pem``...)."""
    etc = tmp_path_factory.mktemp("etc-panel")
    result = run_secrets_script(etc)
    assert result.returncode == 0, result.stdout + result.stderr
    return etc / "pki"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=settings.PANEL_DOCKER_URL)
    yield client
    client.close()


@pytest.fixture(scope="session")
def live_database_url(django_db_setup: None) -> str:
    """The test database, for the server and worker processes the tests start."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(env: dict, log: str, concurrency: int = 2) -> subprocess.Popen:
    """A real Celery worker of the node ``env['PANEL_NODE_NAME']``, answering before this returns."""
    purge_queue(env)
    out = open(LOGS / log, "w")  # noqa: SIM115 - the child keeps it; closed with the process
    process = subprocess.Popen([sys.executable, "manage.py", "nodeworker", "--concurrency", str(concurrency)],
                               cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    wait_for_worker(env)
    return process


@pytest.fixture(scope="session")
def worker_process(live_database_url: str) -> Iterator[subprocess.Popen]:
    """A real Celery worker consuming node.<PANEL_NODE_NAME>, on the test database."""
    # More bulk workers than this machine's default of 1, to run groups in parallel. Its collector polls once at
    # start: the tests poll in this process at the moments they choose (tests of the collector start their own).
    env = process_env(live_database_url, PANEL_NODE_NAME=settings.PANEL_NODE_NAME, PANEL_BULK_WORKERS="4",
                      PANEL_POLL_INTERVAL="3600")
    process = start_worker(env, "worker.log")
    yield process
    stop_process(process)


@pytest.fixture
def admin_user(db: None):
    return AdminFactory(username="root")


@pytest.fixture
def admin_client(client, admin_user):
    client.login(username=admin_user.username, password=PASSWORD)
    return client


@pytest.fixture
def node(db: None, storage_dir: Path):
    """The local node, polled once in this process so that its figures and templates are known."""
    node = NodeFactory()
    poll_node(node.name)
    node.refresh_from_db()
    return node


@pytest.fixture
def live_node(transactional_db: None, storage_dir: Path, worker_process: subprocess.Popen):
    """The local node with its real worker running; data is committed so the worker sees it. What the test left
    on the engines goes with it: the worker's next poll would make guests of it for the tests after."""
    node = NodeFactory()
    poll_node(node.name)
    node.refresh_from_db()
    yield node
    remove_guests(settings.PANEL_DOCKER_URL, settings.PANEL_LIBVIRT_URI, storage_dir)


@pytest.fixture(scope="session")
def second_node_uri() -> Iterator[str]:
    """Set up node2 (idempotent) and return its libvirt URI; this run's guests there are swept before and after."""
    result = subprocess.run(["bash", "scripts/setup/second-node.sh"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"second-node.sh failed:\n{result.stdout}\n{result.stderr}"
    uri = result.stdout.strip().splitlines()[-1]
    sweep_engines(NODE2_DOCKER_URL, uri, NODE2_STORAGE_DIR.parent)
    NODE2_STORAGE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.chown(NODE2_STORAGE_DIR.parent, NODE2_USER, NODE2_USER)
    shutil.chown(NODE2_STORAGE_DIR, NODE2_USER, NODE2_USER)  # its QEMU runs as that user
    yield uri
    sweep_engines(NODE2_DOCKER_URL, uri, NODE2_STORAGE_DIR.parent)


@pytest.fixture(scope="session")
def second_node_worker(live_database_url: str, second_node_uri: str) -> Iterator[subprocess.Popen]:
    """A second real Celery worker, of node2 (queue node.<NODE2>), on the test database."""
    env = process_env(live_database_url, PANEL_NODE_NAME=NODE2, PANEL_LIBVIRT_URI=second_node_uri,
                      PANEL_DOCKER_URL=NODE2_DOCKER_URL, PANEL_STORAGE_DIR=str(NODE2_STORAGE_DIR),
                      PANEL_BULK_WORKERS="4", PANEL_POLL_INTERVAL="3600")
    process = start_worker(env, "worker-node2.log")
    yield process
    stop_process(process)


@pytest.fixture
def live_node2(live_node, second_node_worker: subprocess.Popen, second_node_uri: str):
    """node2 with its real worker, polled once in this process (``collect``: poll_node checks the name)."""
    node = NodeFactory(
        name=NODE2, libvirt_uri=second_node_uri, docker_url=NODE2_DOCKER_URL, accelerator="qemu",
        storage_dir=str(NODE2_STORAGE_DIR), vm_bridge="",  # a session libvirtd may not use host bridges
    )
    collect(node)
    node.refresh_from_db()
    yield node
    remove_guests(NODE2_DOCKER_URL, second_node_uri, NODE2_STORAGE_DIR)


@pytest.fixture
def asgi_server(transactional_db: None, live_database_url: str) -> Iterator[str]:
    from .support import serve_asgi

    with serve_asgi(live_database_url) as url:
        yield url
