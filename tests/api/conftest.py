"""The API as Proxmox clients reach it: HTTPS on a real server (`manage.py serve`), driven with proxmoxer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from proxmoxer import ProxmoxAPI

from tests.support import serve_asgi


@pytest.fixture
def https_server(transactional_db: None, live_database_url: str, pki: Path) -> Iterator[str]:
    """The panel over HTTPS with set-up's certificate, on the test database."""
    with serve_asgi(live_database_url, pki=pki, log="web-api.log") as url:
        yield url


@pytest.fixture
def proxmox(https_server: str) -> Callable[..., ProxmoxAPI]:
    """A proxmoxer client of the server, as a Proxmox user makes one (``verify_ssl=False`` on a fresh install):
    ``proxmox(user="root@pam", password=...)`` or ``proxmox(user="root@pam", token_name=..., token_value=...)``."""
    address = urlparse(https_server)

    def client(**credentials: str) -> ProxmoxAPI:
        return ProxmoxAPI(address.hostname, port=address.port, verify_ssl=False, timeout=30, **credentials)

    return client


@pytest.fixture
def root_api(proxmox: Callable[..., ProxmoxAPI], admin_user) -> ProxmoxAPI:
    """proxmoxer as root@pam, through an API token."""
    from .guests import token_client

    return token_client(proxmox, admin_user, "root")
