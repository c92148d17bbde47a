"""daphne, as `manage.py serve` runs it, with the reason phrase of the status line kept: the ASGI protocol carries
none, so the API puts Proxmox's message in a header (api/responses.REASON_HEADER) that this takes off and
uses, as pveproxy answers ``401 Authentication failed!``."""

from __future__ import annotations

import sys

from daphne import http_protocol
from daphne.cli import CommandLineInterface

REASON = b"x-panel-reason"


def _with_reason(handle_reply):
    def handle_reply_with_reason(self, message: dict) -> None:
        if message.get("type") == "http.response.start":
            headers = list(message.get("headers", []))
            phrases = [value for name, value in headers if name.lower() == REASON]
            if phrases:
                message = {**message, "headers": [(n, v) for n, v in headers if n.lower() != REASON]}
                handle_reply(self, message)
                self.code_message = phrases[0]  # what twisted writes after the code in the status line
                return
        handle_reply(self, message)

    return handle_reply_with_reason


def main() -> None:
    http_protocol.WebRequest.handle_reply = _with_reason(http_protocol.WebRequest.handle_reply)
    sys.argv[0] = "daphne"
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
