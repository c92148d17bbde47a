"""The ASGI application behind a real daphne server, as `make run` serves it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(transactional_db: None, live_database_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "panel.settings.test", "DATABASE_URL": live_database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "panel.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/login/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_login_and_datacenter_over_http(server: str, admin_user) -> None:
    session = requests.Session()
    login = session.get(server + "/login/", timeout=10)
    assert login.status_code == 200
    assert session.get(server + "/static/panel/panel.css", timeout=10).status_code == 200
    response = session.post(
        server + "/login/",
        data={
            "username": admin_user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": server + "/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and response.url == server + "/"
    assert "Datacenter" in response.text and "Create CT" in response.text
