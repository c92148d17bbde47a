"""What tests share besides fixtures: this run's names, waits with a bound, and the processes a test starts.

Every run has its own id (``settings.TEST_RUN``, see panel/settings/test.py): the guests it makes are named
``PREFIX + something``, its node is ``settings.PANEL_NODE_NAME``, its disks live in a directory of its own.
Two runs on one machine never touch each other's guests.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from django.conf import settings
from django.urls import reverse

from tasks.choices import ACTIVE_STATUSES, TaskStatus
from tasks.models import Task

from .factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / f"test-{settings.TEST_RUN}"  # logs of the worker and server processes the tests start
LOGS.mkdir(parents=True, exist_ok=True)
RUN = settings.TEST_RUN
PREFIX = settings.PANEL_GUEST_NAME_PREFIX  # every guest of this run is named so
CT_TEMPLATE = "busybox"
VM_TEMPLATE = "tiny-linux"
# The second node on this machine (scripts/setup/second-node.sh): its own dockerd and libvirt session.
NODE2 = f"node2-{RUN}"
NODE2_DOCKER_URL = "unix:///var/run/panel-node2/docker.sock"
NODE2_USER = "panelnode2"
NODE2_STORAGE_DIR = Path("/var/lib/panel-node2/test-images") / RUN


def ours(objects: list) -> set[str]:
    """The ids of the containers (or volumes) of this run among ``objects``: other runs share the engines."""
    return {o.id for o in objects if o.name.startswith(PREFIX)}


def migrated_images(client) -> list:
    """The images a migration of this run made on an engine (``panel-migrated/<guest name>:<vmid>``)."""
    return [i for i in client.images.list(filters={"label": "panel.migrated-from"})
            if any(t.startswith(f"panel-migrated/{PREFIX}") for t in i.tags)]


def exec_in(client, guest, command: str) -> str:
    """The output of ``sh -c command`` in the guest's container (read afresh: a rollback or clone makes a new
    one); fails the test if it fails."""
    guest.refresh_from_db()
    result = client.containers.get(guest.backend_id).exec_run(["sh", "-c", command])
    assert result.exit_code == 0, result.output
    return result.output.decode()


def run_scenario(scenario: Coroutine, timeout: float = 240) -> object:
    """``asyncio.run`` for a socket scenario, bounded: the scenario fails with a TimeoutError after ``timeout`` s,
    and the loop's leftover tasks (a socket's hub or pump, cancelled at the close) get 10 s to end, those that do
    not being named, instead of asyncio.run waiting for them without end and hiding the scenario's own error."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(scenario, timeout))
    finally:
        left = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in left:
            task.cancel()
        if left:
            _, stuck = loop.run_until_complete(asyncio.wait(left, timeout=10))
            for task in stuck:
                print(f"run_scenario: left running at the loop's close: {task!r}", file=sys.stderr)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def log_text(task: Task) -> str:
    """A task's log as one text."""
    return "\n".join(task.log_lines.values_list("text", flat=True))


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """``condition()``'s first true value; fails the test, saying ``what`` was awaited, after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def wait_for_task(task: Task, timeout: float = 90) -> Task:
    def ended() -> bool:
        task.refresh_from_db()
        return task.status not in ACTIVE_STATUSES

    wait_until(ended, timeout, f"task {task.upid} to end (still {task.status}; see {LOGS}/worker.log)", 0.2)
    return task


def wait_for_line(path: Path, line: str, timeout: float = 60) -> None:
    wait_until(lambda: path.exists() and line in path.read_text(errors="replace"), timeout,
               f"{line!r} in {path}", 0.5)


def assert_ok(task: Task) -> None:
    assert task.status == TaskStatus.OK, f"{task.type}: {task.exit_message}"
    assert task.started_at and task.ended_at and task.ended_at >= task.started_at


def act(client, guest, action: str, **data: str) -> Task:
    """Run a guest action through its page and wait for the task."""
    if action in ("stop", "delete"):
        data.setdefault("confirm", str(guest.vmid))
    response = client.post(reverse("guest_action", args=[guest.vmid, action]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    task = Task.objects.filter(vmid=guest.vmid).order_by("-pk").first()
    assert response["Location"] == task.get_absolute_url()
    return wait_for_task(task)


def create(client, kind: str, data: dict) -> Task:
    """Create a guest through its form and wait for the task."""
    response = client.post(reverse("guest_create", args=[kind]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    # The worker may have run it already, and a failed create leaves no guest row to look it up by.
    task = Task.objects.filter(type="create").order_by("-pk").first()
    assert response["Location"] == task.get_absolute_url()
    return wait_for_task(task, timeout=120)


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """Ask a child to stop (a warm shutdown for a worker), kill it if it takes longer than ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_secrets_script(etc: Path) -> subprocess.CompletedProcess:
    """scripts/setup/secrets.sh with this machine's files in ``etc`` instead of /etc/panel."""
    return subprocess.run(["bash", "scripts/setup/secrets.sh"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PANEL_ETC_DIR": str(etc)})


def process_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a process started by a test: this run's settings, on the test database."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "panel.settings.test", "DATABASE_URL": database_url,
            "PANEL_TEST_RUN": RUN, "PANEL_DB_CONN_MAX_AGE": "60", **extra}


def start_process(args: list[str], env: dict, log: str) -> subprocess.Popen:
    with open(LOGS / log, "a") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_worker(env: dict, timeout: float = 60, destination: str | None = None) -> None:
    target = ["-d", destination or f"{env['PANEL_NODE_NAME']}@{socket.gethostname()}"]

    def pong() -> bool:
        result = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "panel", "inspect", "ping", "-t", "2", *target],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        return "pong" in result.stdout

    wait_until(pong, timeout, f"the Celery worker {target[1]} to answer (see {LOGS})", 1)


def purge_queue(env: dict) -> None:
    """Drop the messages a killed earlier process left in the node's queue."""
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "panel", "purge", "-f", "-Q", f"node.{env['PANEL_NODE_NAME']}"],
        cwd=ROOT, env=env, check=False, capture_output=True,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_asgi(database_url: str, pki: Path | None = None, log: str = "web.log", **extra_env: str) -> Iterator[str]:
    """The panel served by a real daphne process on the test database, as `make run` serves it (`manage.py
    serve`): over HTTPS with the certificate of ``pki`` (a directory like set-up's /etc/panel/pki), else over
    plain HTTP."""
    port = free_port()
    tls = {"PANEL_TLS": "true", "PANEL_PKI_DIR": str(pki)} if pki is not None else {"PANEL_TLS": "false"}
    process = start_process([sys.executable, "manage.py", "serve", "--address", "127.0.0.1", "--port", str(port)],
                            process_env(database_url, **tls, **extra_env), log)
    url = f"{'https' if pki else 'http'}://127.0.0.1:{port}"
    verify = str(pki / "ca.pem") if pki is not None else True

    def answers() -> bool:
        assert process.poll() is None, f"the server exited with {process.returncode}; see {LOGS / log}"
        try:
            requests.get(url + "/login/", timeout=5, verify=verify)
        except requests.RequestException:  # not listening yet, or too busy to answer in time
            return False
        return True

    try:
        wait_until(answers, 60, f"the server to answer at {url} (see {LOGS / log})", 0.2)
        yield url
    finally:
        stop_process(process, timeout=10)


def logged_in(server: str, username: str, password: str = PASSWORD) -> requests.Session:
    """A browser-like session of ``username`` on ``server`` (its cookies, the CSRF token sent with writes)."""
    session = requests.Session()
    session.get(server + "/login/", timeout=10)
    response = session.post(server + "/login/", data={"username": username, "password": password,
                                                      "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                            headers={"Referer": server + "/login/"}, timeout=10)
    assert "sessionid" in session.cookies, f"{username} could not log in: {response.status_code}"
    return session


def post_form(session: requests.Session, url: str, data: dict) -> requests.Response:
    """Submit a page's form as a browser does: with the page's CSRF token and a same-origin Referer."""
    return session.post(url, data={**data, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                        headers={"Referer": url}, timeout=10, allow_redirects=False)


def session_cookie(server: str, username: str) -> str:
    """Log ``username`` in on ``server``: the Cookie header of its session, for websocket clients."""
    return f"sessionid={logged_in(server, username).cookies['sessionid']}"


@contextmanager
def removing_new_containers(client) -> Iterator[None]:
    """Remove, once the block ends, the containers of this run that it made: the collector of a later test's
    node would otherwise find them and make guests of them."""
    before = {c.id for c in client.containers.list(all=True)}
    try:
        yield
    finally:
        for container in client.containers.list(all=True):
            if container.id not in before and container.name.startswith(PREFIX):
                container.remove(force=True, v=True)


def stubborn_container(client, name: str):
    """A running container that ignores SIGTERM (``sleep`` as PID 1): its shutdown waits for the whole timeout."""
    image = client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id
    return client.containers.run(image, ["sleep", "3600"], name=name, detach=True, mem_limit="32m")


def process_tree(pid: int) -> list:
    """A process and all its descendants (a worker: its main process, its pool's processes, its collector)."""
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def crawl(session: requests.Session, server: str, start: str = "/", limit: int = 400) -> dict[str, int]:
    """Every page of the panel reachable by links from ``start`` (GET only; not the admin, static files or
    logout), with the status it answered."""
    import re
    from collections import deque
    from html import unescape

    seen: dict[str, int] = {}
    queue = deque([start])
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        response = session.get(server + path, timeout=30)
        seen[path] = response.status_code
        if "text/html" not in response.headers.get("Content-Type", ""):
            continue
        for link in re.findall(r'href="(/[^"#]*)"', response.text):
            link = unescape(link)
            if not link.startswith(("/static/", "/admin/", "/logout/")) and link not in seen:
                queue.append(link)
    return seen
