"""Run the ASGI server of the panel, as `make run` and docker-compose do: HTTPS on 8006, like Proxmox's pveproxy.

The process becomes daphne (exec; panel/server.py, which keeps the API's reason phrases), so that its
supervisor's signals reach the server itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from twisted.internet.endpoints import quoteStringArgument


def endpoint(address: str, port: int, tls: bool, cert: Path, key: Path) -> str:
    """The twisted server endpoint daphne listens on (``daphne -e``), values quoted (an IPv6 address has colons)."""
    listen = f"port={port}:interface={quoteStringArgument(address)}"
    if not tls:
        return f"tcp:{listen}"
    return f"ssl:{listen}:privateKey={quoteStringArgument(str(key))}:certKey={quoteStringArgument(str(cert))}"


class Command(BaseCommand):
    help = "Serve pages, websockets and the API on PANEL_LISTEN_ADDRESS:PANEL_PORT (HTTPS unless PANEL_TLS is off)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.PANEL_PORT)
        parser.add_argument("--address", default=settings.PANEL_LISTEN_ADDRESS)

    def handle(self, *args: object, **options: object) -> None:
        cert, key = Path(settings.PANEL_TLS_CERT), Path(settings.PANEL_TLS_KEY)
        if settings.PANEL_TLS:
            for path in (cert, key):
                if not path.is_file():
                    raise CommandError(f"{path} is missing: `make setup` (scripts/setup/secrets.sh) makes the "
                                       "certificate, or set PANEL_TLS_CERT and PANEL_TLS_KEY to your own")
        listen = endpoint(str(options["address"]), int(options["port"]), settings.PANEL_TLS, cert, key)
        argv = [sys.executable, "-m", "panel.server", "-e", listen, "panel.asgi:application"]
        sys.stdout.flush()
        os.execv(sys.executable, argv)
