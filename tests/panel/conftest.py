"""What the tests of how the panel runs share: the certificates set-up makes, a Redis of their own, servers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support import LOGS, ROOT, free_port, process_env, start_process, stop_process, wait_until

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def run_secrets_script(etc: Path) -> subprocess.CompletedProcess:
    """scripts/setup/secrets.sh with this machine's files in ``etc`` instead of /etc/panel."""
    return subprocess.run(["bash", "scripts/setup/secrets.sh"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PANEL_ETC_DIR": str(etc)})


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA and node certificate that set-up makes, in a directory of this run (``ca.pem``, ``node.pem``...)."""
    etc = tmp_path_factory.mktemp("etc-panel")
    result = run_secrets_script(etc)
    assert result.returncode == 0, result.stdout + result.stderr
    return etc / "pki"


def tls_env(pki: Path, port: int) -> dict[str, str]:
    """The environment of a server process that serves HTTPS on ``port`` with the certificate of ``pki``."""
    return {"PANEL_TLS": "true", "PANEL_PKI_DIR": str(pki), "PANEL_PORT": str(port)}


def answers(url: str, ca: Path | None = None) -> bool:
    """Does the server at ``url`` answer yet? (Its first request may take seconds on a busy machine.)"""
    try:
        requests.get(url + "/login/", timeout=10, verify=str(ca) if ca else True)
    except (requests.ConnectionError, requests.Timeout):
        return False
    return True


@contextmanager
def serve(database_url: str, pki: Path, log: str = "web-tls.log", **extra_env: str) -> Iterator[str]:
    """The panel as `make run` serves it (`manage.py serve`): HTTPS with the generated certificate."""
    port = free_port()
    process = start_process([PYTHON, "manage.py", "serve"],
                            process_env(database_url, **tls_env(pki, port), **extra_env), log)
    url = f"https://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, f"manage.py serve exited with {process.returncode}; see {LOGS / log}"
        return answers(url, pki / "ca.pem")

    try:
        wait_until(up, 60, f"manage.py serve to answer at {url} (see {LOGS / log})", 0.2)
        yield url
    finally:
        stop_process(process, timeout=10)


class PrivateRedis:
    """A redis-server of the test's own on a free port, which the test may stop and start again.

    The shared Redis on 6379 is never touched: other test runs use it. Like a deployment's Redis it keeps an
    append-only file, so that what it held is there again after a restart.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_process(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""], os.environ.copy(), "redis.log")
        wait_until(self.ping, 30, f"redis-server on port {self.port} to answer (see {LOGS}/redis.log)", 0.1)

    def stop(self) -> None:
        assert self.process is not None
        stop_process(self.process, timeout=20)  # SIGTERM: Redis writes its files and exits
        self.process = None

    def ping(self) -> bool:
        return self.cli("ping") == "PONG"

    def cli(self, *args: str) -> str:
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return result.stdout.strip()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    if redis.process is not None:
        redis.stop()
