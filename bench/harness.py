"""What every benchmark needs: Django on a bench database, a real node worker, a real ASGI server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
def worker(**env: str) -> Iterator[None]:
    log = open(ROOT / "var" / "bench-worker.log", "w")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "manage.py", "nodeworker", "--concurrency", "2"], cwd=ROOT,
                               env=child_env(**env), stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: "ready" in (ROOT / "var" / "bench-worker.log").read_text(), "worker")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextmanager
def asgi_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                "panel.asgi:application"], cwd=ROOT, env=child_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        _wait(up, "daphne")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


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
