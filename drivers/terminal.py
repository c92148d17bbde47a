"""A terminal an engine opens on a guest: a container's shell, a VM's serial console.

Calls block and are safe from two threads at once: one thread reads (``read`` waits for output), others
write, resize and close. ``close`` wakes a waiting ``read``, which then returns ``b""`` as at the end of the
session. Sizes are checked by the caller (the limits below), so drivers never see a nonsensical one.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from typing import Protocol

READ_SIZE = 64 * 1024  # bytes taken at once: one websocket frame at most
MAX_COLUMNS = 1000
MAX_ROWS = 1000


class Terminal(Protocol):
    def read(self) -> bytes:
        """The next output, as soon as there is some; ``b""`` once the session ended or was closed."""

    def write(self, data: bytes) -> None:
        """Send input (keys, pasted text) as it came."""

    def resize(self, columns: int, rows: int) -> None:
        """Tell the guest the terminal's new size; a no-op where the engine has no size (a serial line)."""

    def close(self) -> None:
        """End the session (idempotent)."""


class SocketTerminal:
    """A terminal (or any byte stream: a VNC display) over a connected socket."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(None)  # a client's request timeout would end a quiet session
        self._sock = sock
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def read(self) -> bytes:
        if self.closed:
            return b""
        try:
            return self._sock.recv(READ_SIZE)
        except OSError:  # closed under us, or the far end went away: the session is over either way
            return b""

    def write(self, data: bytes) -> None:
        if not self.closed:
            self._sock.sendall(data)

    def resize(self, columns: int, rows: int) -> None:
        return None

    def close(self) -> None:
        if self.closed:
            return
        self._closed.set()
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a read waiting in another thread
        with suppress(OSError):
            self._sock.close()
