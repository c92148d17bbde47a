"""A shell in a running container: ``docker exec`` with a TTY, its stream hijacked as a raw socket (what
``docker exec -it`` and Portainer's exec websocket do). With a TTY the engine sends the output as it comes,
without the multiplexing headers of a non-TTY exec.

The engine keeps an exec running when its client goes away (it has no API to end one), so hanging up is
ours to do: the shell leads a session of its own on its TTY, and its processes get SIGHUP as when a terminal
window closes. That takes the engine's process ids, which are this machine's when the engine is reached
through a local socket; an engine reached over the network keeps a shell that nobody ends until it exits.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from contextlib import suppress

import psutil
from docker.models.containers import Container

from ..errors import InvalidGuestState
from ..terminal import SocketTerminal
from .client import DockerEngine

SHELL = ["/bin/sh"]
ENVIRONMENT = {"TERM": "xterm-256color"}
START_TIMEOUT = 10  # seconds the engine may take to start the shell's process
START_POLL = 0.05


class ExecTerminal(SocketTerminal):
    def __init__(self, engine: DockerEngine, exec_id: str, sock: socket.socket, label: str) -> None:
        super().__init__(sock)
        self.engine = engine
        self.exec_id = exec_id
        self.label = label
        self.pid = self._wait_for_pid() if engine.url.startswith("unix://") else 0

    def _wait_for_pid(self) -> int:
        """The shell's process id on this machine, once the engine started it (it may report the exec started
        a moment before its process runs); 0 if it ended already."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with self.engine.errors(self.label):
                state = self.engine.client.api.exec_inspect(self.exec_id)
            if state.get("Pid") or (not state.get("Running") and state.get("ExitCode") is not None):
                return state.get("Pid") or 0
            if time.monotonic() >= deadline:
                return 0
            time.sleep(START_POLL)

    @classmethod
    def open(cls, engine: DockerEngine, container: Container) -> ExecTerminal:
        label = f"container {container.name}"
        if container.status != "running":
            raise InvalidGuestState(f"{label} is not running: its shell needs it running")
        with engine.errors(label):
            exec_id = engine.client.api.exec_create(container.id, SHELL, stdin=True, tty=True,
                                                    environment=ENVIRONMENT)["Id"]
            stream = engine.client.api.exec_start(exec_id, tty=True, socket=True)
        sock = getattr(stream, "_sock", stream)  # a SocketIO over a unix socket, the socket itself over TCP
        return cls(engine, exec_id, sock, label)

    def write(self, data: bytes) -> None:
        with self.engine.errors(self.label):
            super().write(data)

    def resize(self, columns: int, rows: int) -> None:
        if self.closed:
            return
        with self.engine.errors(self.label):
            self.engine.client.api.exec_resize(self.exec_id, height=rows, width=columns)

    def close(self) -> None:
        """Hang up: the shell and what it started get SIGHUP, as when a terminal window is closed."""
        if self.closed:
            return
        super().close()
        hang_up_session(self.pid)


def hang_up_session(leader: int) -> None:
    """SIGHUP to every process of the session ``leader`` leads (it and what it started on its terminal)."""
    if leader <= 1:
        return
    for process in psutil.process_iter():
        with suppress(OSError):  # gone meanwhile
            if process.pid == leader or os.getsid(process.pid) == leader:
                os.kill(process.pid, signal.SIGHUP)
