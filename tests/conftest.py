"""Fixtures over the real engines: Docker, libvirt, PostgreSQL, Redis and a Celery worker process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import libvirt
import pytest
import requests
from django.conf import settings
from django.db import connection

from nodes.poll import collect, poll_node
from tasks.choices import ACTIVE_STATUSES
from tasks.models import Task

from .factories import PASSWORD, AdminFactory, NodeFactory

ROOT = Path(__file__).resolve().parent.parent
(ROOT / "var").mkdir(exist_ok=True)  # logs of the worker and server processes the tests start
# Every guest a test creates carries this prefix, so that leftovers can be swept.
TEST_PREFIX = "pt-"
CT_TEMPLATE = "busybox"
VM_TEMPLATE = "tiny-linux"
# The second node on this machine (scripts/setup/second-node.sh): its own dockerd and libvirt session.
NODE2 = "node2"
NODE2_DOCKER_URL = "unix:///var/run/panel-node2/docker.sock"
NODE2_USER = "panelnode2"
NODE2_STORAGE_DIR = Path("/var/lib/panel-node2/test-images")


@pytest.fixture(scope="session", autouse=True)
def storage_dir() -> Path:
    path = Path(settings.PANEL_STORAGE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=settings.PANEL_DOCKER_URL)
    yield client
    client.close()


@pytest.fixture(autouse=True, scope="session")
def sweep_test_guests(docker_client: docker.DockerClient) -> Iterator[None]:
    """Remove what a crashed earlier run or a failed test left on the engines."""

    def sweep() -> None:
        for container in docker_client.containers.list(all=True):
            if container.name.startswith(TEST_PREFIX):
                container.remove(force=True)
        connection = libvirt.open(settings.PANEL_LIBVIRT_URI)
        try:
            for domain in connection.listAllDomains():
                if domain.name().startswith(TEST_PREFIX):
                    if domain.isActive():
                        domain.destroy()
                    domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        finally:
            connection.close()
        for leftover in Path(settings.PANEL_STORAGE_DIR).glob("vm-*"):
            leftover.unlink()

    sweep()
    yield
    sweep()


@pytest.fixture(scope="session")
def live_database_url(django_db_setup: None) -> str:
    """The test database, for the server and worker processes the tests start."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="session")
def worker_process(live_database_url: str) -> Iterator[subprocess.Popen]:
    """A real Celery worker consuming node.<PANEL_NODE_NAME>, on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "panel.settings.test",
        "DATABASE_URL": live_database_url,
        "PANEL_NODE_NAME": settings.PANEL_NODE_NAME,
        "PANEL_BULK_WORKERS": "4",  # more than this machine's default of 1, to run groups in parallel
    }
    # Drop messages a killed earlier run left in the queue.
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "panel", "purge", "-f", "-Q", f"node.{settings.PANEL_NODE_NAME}"],
        cwd=ROOT, env=env, check=False, capture_output=True,
    )
    log = open(ROOT / "var" / "test-worker.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [sys.executable, "manage.py", "nodeworker", "--concurrency", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    wait_for_worker(env)
    yield process
    stop_process(process)
    log.close()


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """Ask a child to stop (a warm shutdown for a worker), kill it if it takes longer than ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_worker(env: dict, timeout: float = 60, destination: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    target = ["-d", destination] if destination else []
    while time.monotonic() < deadline:
        result = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "panel", "inspect", "ping", "-t", "2", *target],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        if "pong" in result.stdout:
            return
        time.sleep(1)
    raise RuntimeError(f"the Celery worker did not answer within {timeout} s; see var/test-worker.log")


@pytest.fixture
def admin_user(db: None):
    return AdminFactory(username="root")


@pytest.fixture
def admin_client(client, admin_user):
    client.login(username=admin_user.username, password=PASSWORD)
    return client


@pytest.fixture
def node(db: None):
    """The local node, polled once in this process so that its figures and templates are known."""
    node = NodeFactory()
    poll_node(node.name)
    node.refresh_from_db()
    return node


@pytest.fixture
def live_node(transactional_db: None, worker_process: subprocess.Popen):
    """The local node with its real worker running; data is committed so the worker sees it."""
    node = NodeFactory()
    poll_node(node.name)
    node.refresh_from_db()
    return node


@pytest.fixture(scope="session")
def second_node_uri() -> Iterator[str]:
    """Set up node2 (idempotent) and return its libvirt URI; its test guests are swept before and after."""
    result = subprocess.run(["bash", "scripts/setup/second-node.sh"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"second-node.sh failed:\n{result.stdout}\n{result.stderr}"
    uri = result.stdout.strip().splitlines()[-1]
    NODE2_STORAGE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.chown(NODE2_STORAGE_DIR, NODE2_USER, NODE2_USER)  # its QEMU runs as that user

    def sweep() -> None:
        client = docker.DockerClient(base_url=NODE2_DOCKER_URL)
        try:
            for container in client.containers.list(all=True):
                if container.name.startswith(TEST_PREFIX):
                    container.remove(force=True, v=True)
            for image in client.images.list(filters={"label": "panel.migrated-from"}):
                client.images.remove(image.id, force=True)
        finally:
            client.close()
        conn = libvirt.open(uri)
        try:
            for domain in conn.listAllDomains():
                if domain.name().startswith(TEST_PREFIX):
                    if domain.isActive():
                        domain.destroy()
                    domain.undefine()
        finally:
            conn.close()
        for leftover in NODE2_STORAGE_DIR.glob("vm-*"):
            leftover.unlink()

    sweep()
    yield uri
    sweep()


@pytest.fixture(scope="session")
def second_node_worker(live_database_url: str, second_node_uri: str) -> Iterator[subprocess.Popen]:
    """A second real Celery worker, of node2 (queue node.node2), on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "panel.settings.test",
        "DATABASE_URL": live_database_url,
        "PANEL_NODE_NAME": NODE2,
        "PANEL_LIBVIRT_URI": second_node_uri,
        "PANEL_DOCKER_URL": NODE2_DOCKER_URL,
        "PANEL_STORAGE_DIR": str(NODE2_STORAGE_DIR),
        "PANEL_BULK_WORKERS": "4",
    }
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "panel", "purge", "-f", "-Q", f"node.{NODE2}"],
        cwd=ROOT, env=env, check=False, capture_output=True,
    )
    log = open(ROOT / "var" / "test-worker-node2.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [sys.executable, "manage.py", "nodeworker", "--concurrency", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    wait_for_worker(env, destination=f"{NODE2}@{socket.gethostname()}")
    yield process
    stop_process(process)
    log.close()


@pytest.fixture
def live_node2(live_node, second_node_worker: subprocess.Popen, second_node_uri: str):
    """node2 with its real worker, polled once in this process (``collect``: poll_node checks the name)."""
    node = NodeFactory(
        name=NODE2, libvirt_uri=second_node_uri, docker_url=NODE2_DOCKER_URL, accelerator="qemu",
        storage_dir=str(NODE2_STORAGE_DIR), vm_bridge="",  # a session libvirtd may not use host bridges
    )
    collect(node)
    node.refresh_from_db()
    return node


def wait_for_task(task: Task, timeout: float = 90) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task.refresh_from_db()
        if task.status not in ACTIVE_STATUSES:
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task.upid} still {task.status} after {timeout} s; see var/test-worker.log")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_asgi(database_url: str, **extra_env: str) -> Iterator[str]:
    """The panel served by a real daphne process on the test database, as `make run` serves it."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "panel.settings.test", "DATABASE_URL": database_url, **extra_env}
    with open(ROOT / "var" / "test-web.log", "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "panel.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/login/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield url
    finally:
        stop_process(process, timeout=10)


@pytest.fixture
def asgi_server(transactional_db: None, live_database_url: str) -> Iterator[str]:
    with serve_asgi(live_database_url) as url:
        yield url


def session_cookie(server: str, username: str) -> str:
    """Log ``username`` in on ``server``: the Cookie header of its session, for websocket clients."""
    session = requests.Session()
    session.get(server + "/login/", timeout=10)
    session.post(server + "/login/", data={"username": username, "password": PASSWORD,
                                           "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                 headers={"Referer": server + "/login/"}, timeout=10)
    return f"sessionid={session.cookies['sessionid']}"
