"""What the tests of how the panel runs share: the certificates set-up makes, a Redis of their own, servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.daemons import PrivateRedis
from tests.daemons import private_redis as start_private_redis
from tests.support import ROOT, serve_asgi

PYTHON = str(ROOT / ".venv" / "bin" / "python")


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


def serve(database_url: str, pki: Path, log: str = "web-tls.log", **extra_env: str):
    """The panel as `make run` serves it: HTTPS with the generated certificate."""
    return serve_asgi(database_url, pki=pki, log=log, **extra_env)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of the test's own, keeping its data through a restart, as a deployment's."""
    with start_private_redis(tmp_path) as redis:
        yield redis
