"""What every benchmark needs: Django on a bench database, a real node worker, a real ASGI server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = "bench"
RUN = "bench"  # the test settings' run id: guest names, Redis keys and storage directories follow it
PREFIX = f"pt{RUN}-"  # the guest name prefix panel.settings.test gives this run; drivers see only these
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://panel:panel@127.0.0.1:5432/panel_bench")


def setup_django() -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="panel.settings.test",
        DATABASE_URL=DATABASE_URL,
        PANEL_NODE_NAME=NODE,
        PANEL_TEST_RUN=RUN,
        TEST_REDIS_URL="redis://127.0.0.1:6379/8",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def child_env(**extra: str) -> dict:
    return {**os.environ, **extra}


@contextmanager
def worker(**env: str) -> Iterator[subprocess.Popen]:
    """The node's worker as `make run` starts it (its default concurrency, its collector thread)."""
    log = open(ROOT / "var" / "bench-worker.log", "w")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "manage.py", "nodeworker"], cwd=ROOT,
                               env=child_env(**env), stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: "ready" in (ROOT / "var" / "bench-worker.log").read_text(), "worker")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextmanager
def asgi_server() -> Iterator[str]:
    with asgi_process() as (url, _process):
        yield url


@contextmanager
def asgi_process(**env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """daphne serving the panel, as `manage.py serve` runs it (plain HTTP); its URL and its process. Its log:
    var/bench-web.log."""
    log = open(ROOT / "var" / "bench-web.log", "w")  # noqa: SIM115
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                "panel.asgi:application"], cwd=ROOT, env=child_env(**env),
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        _wait(up, "daphne")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait(check, what: str, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


def ratio_line(name: str, value: float, baseline: float, unit: str = "s") -> str:
    return f"{name:<58} {value:8.3f} {unit}   ratio {value / baseline:5.2f}x"


def process_tree(pid: int) -> list:
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    import psutil

    total = 0
    for process in process_tree(pid):
        with suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def login(server: str, username: str = "bench") -> str:
    """A session cookie of ``username``; the bench's superuser ``bench`` is made when missing, others must exist
    with the password ``bench-password``."""
    import requests
    from django.contrib.auth import get_user_model

    if username == "bench":
        user, _ = get_user_model().objects.get_or_create(username="bench")
        user.set_password("bench-password")
        user.is_superuser = True
        user.save()
    session = requests.Session()
    session.get(server + "/login/", timeout=10)
    session.post(server + "/login/", data={"username": username, "password": "bench-password",
                                           "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                 headers={"Referer": server + "/login/"}, timeout=10)
    return f"sessionid={session.cookies['sessionid']}"


def run_task(node, type_: str, params: dict, timeout: float = 600):  # noqa: ANN001, ANN201
    """Submit a task of ``type_`` on ``node`` and wait for its end; the time from submission to its end."""
    from tasks.choices import ACTIVE_STATUSES
    from tasks.services import submit

    started = time.monotonic()
    task = submit(node, type_, None, params=params)
    deadline = started + timeout
    while time.monotonic() < deadline:
        task.refresh_from_db(fields=["status", "exit_message"])
        if task.status not in ACTIVE_STATUSES:
            return task, time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"task {task.upid} did not end within {timeout} s")
