"""HTTPS on 8006 like Proxmox's pveproxy: set-up makes a CA and a node certificate, the ASGI server serves them."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from pathlib import Path

import pytest
import requests
import websockets

from tests.factories import PASSWORD, AdminFactory
from tests.support import run_secrets_script

from .conftest import serve

pytestmark = pytest.mark.django_db(transaction=True)  # the server process reads what the test committed


def openssl(*args: str) -> str:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_set_up_makes_a_ca_and_a_node_certificate_once_with_private_keys(tmp_path: Path) -> None:
    first = run_secrets_script(tmp_path)
    assert first.returncode == 0, first.stderr
    pki = tmp_path / "pki"
    files = {path.name: path.stat() for path in [tmp_path / "secret-key", *pki.iterdir()]}
    unchanged = {name: (stat.st_ino, stat.st_mtime_ns, stat.st_size, stat.st_mode) for name, stat in files.items()}
    assert set(files) == {"secret-key", "ca.pem", "ca-key.pem", "node.pem", "node-key.pem"}
    for name in ("secret-key", "ca-key.pem", "node-key.pem"):
        assert files[name].st_mode & 0o777 == 0o600, name
    for name in ("ca.pem", "node.pem"):
        assert files[name].st_mode & 0o777 == 0o644, name
    assert "OK" in openssl("verify", "-CAfile", str(pki / "ca.pem"), str(pki / "node.pem"))
    names = openssl("x509", "-in", str(pki / "node.pem"), "-noout", "-ext", "subjectAltName,extendedKeyUsage")
    assert "DNS:localhost" in names and "IP Address:127.0.0.1" in names and "TLS Web Server Authentication" in names
    assert "CA:TRUE" in openssl("x509", "-in", str(pki / "ca.pem"), "-noout", "-ext", "basicConstraints")

    second = run_secrets_script(tmp_path)
    assert second.returncode == 0 and second.stdout == "", second.stdout + second.stderr
    assert {path.name: (stat.st_ino, stat.st_mtime_ns, stat.st_size, stat.st_mode) for path in
            [tmp_path / "secret-key", *pki.iterdir()] for stat in [path.stat()]} == unchanged  # reading moves atime

    (pki / "node.pem").unlink()  # a missing (or expiring) node certificate is made again, with the same CA
    third = run_secrets_script(tmp_path)
    assert "made the node certificate" in third.stdout and "certificate authority" not in third.stdout
    assert "OK" in openssl("verify", "-CAfile", str(pki / "ca.pem"), str(pki / "node.pem"))


def test_pages_login_and_websockets_over_https_verified_against_the_generated_ca(
    live_database_url: str, pki: Path
) -> None:
    admin = AdminFactory()
    ca = str(pki / "ca.pem")
    with serve(live_database_url, pki) as server:
        session = requests.Session()  # verify= on each call: REQUESTS_CA_BUNDLE would override session.verify
        login = session.get(server + "/login/", timeout=10, verify=ca)
        assert login.status_code == 200 and "csrftoken" in session.cookies
        assert "Secure" in login.headers["Set-Cookie"]  # cookies never travel in clear
        response = session.post(server + "/login/", timeout=10, verify=ca, headers={"Referer": server + "/login/"},
                                data={"username": admin.username, "password": PASSWORD,
                                      "csrfmiddlewaretoken": session.cookies["csrftoken"]})
        # Django's CSRF check compares the https Referer with the request's own scheme: the server says https.
        assert response.status_code == 200 and response.url == server + "/", response.text[:500]
        assert session.get(server + "/static/panel/panel.css", timeout=10, verify=ca).status_code == 200

        with pytest.raises(requests.exceptions.SSLError):  # not trusted by the system's CAs: only by ours
            requests.get(server + "/login/", timeout=10)
        with pytest.raises(requests.ConnectionError):  # no plain HTTP on the HTTPS port
            requests.get(server.replace("https://", "http://") + "/login/", timeout=10)

        async def first_message() -> dict:
            context = ssl.create_default_context(cafile=ca)
            headers = {"Cookie": f"sessionid={session.cookies['sessionid']}", "Origin": server}
            url = server.replace("https://", "wss://") + "/ws/tasks/"
            async with websockets.connect(url, ssl=context, additional_headers=headers, open_timeout=30) as socket:
                return json.loads(await asyncio.wait_for(socket.recv(), timeout=30))

        assert isinstance(asyncio.run(first_message()), dict)  # the task list socket answers, over wss
