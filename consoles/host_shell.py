"""A login shell on this machine in a pseudo-terminal, as Proxmox's termproxy runs one for a node's Shell.

The command is Proxmox's: ``login -f root`` for root@pam, ``login`` (which asks for a system account and its
password) for anyone else. util-linux's ``setsid --ctty`` makes the PTY the session's controlling terminal,
which ``login`` and job control need; the child gets no file of ours but the PTY.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import threading
from contextlib import suppress

from drivers.terminal import READ_SIZE

SETSID = "/usr/bin/setsid"
LOGIN = "/bin/login"
ENVIRONMENT = {"TERM": "xterm-256color", "LANG": "C.UTF-8",
               "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
HANG_UP_GRACE = 3  # seconds a hung-up session has to end before it is killed


def login_command(as_root: bool) -> list[str]:
    return [SETSID, "--ctty", LOGIN, "-f", "root"] if as_root else [SETSID, "--ctty", LOGIN]


class HostShell:
    def __init__(self, command: list[str]) -> None:
        master, slave = os.openpty()
        try:
            self._process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=ENVIRONMENT,
                                             cwd="/", close_fds=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)  # reads and writes wait in select(), never holding the lock
        self._master = master
        self._wake_read, self._wake_write = os.pipe()  # a byte here wakes a read waiting in another thread
        self._lock = threading.Lock()
        self._closed = False

    def read(self) -> bytes:
        while not self._closed:
            try:
                ready, _, _ = select.select([self._master, self._wake_read], [], [])
            except (OSError, ValueError):  # closed meanwhile
                break
            with self._lock:  # close() closes the descriptors under it: never read one it closed
                if self._closed or self._wake_read in ready:
                    break
                try:
                    data = os.read(self._master, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    break  # EIO: every process of the session closed the terminal
            if data:
                return data
            break
        return b""

    def write(self, data: bytes) -> None:
        """All of ``data``, waiting (without the lock, so output keeps flowing) while the terminal is full."""
        view = memoryview(data)
        while view:
            with self._lock:
                if self._closed:
                    return
                try:
                    view = view[os.write(self._master, view):]
                    continue
                except BlockingIOError:
                    pass
            try:
                select.select([self._wake_read], [self._master], [])
            except (OSError, ValueError):  # closed meanwhile
                return

    def resize(self, columns: int, rows: int) -> None:
        with self._lock:
            if not self._closed:  # the kernel sends SIGWINCH to the terminal's foreground processes
                fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def close(self) -> None:
        """Hang up the session (SIGHUP to its process group, as a closed terminal does), then reap it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.write(self._wake_write, b"x")
        with suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGHUP)  # setsid made the shell's process group its pid
        try:
            self._process.wait(HANG_UP_GRACE)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        with self._lock:
            for fd in (self._master, self._wake_read, self._wake_write):
                with suppress(OSError):
                    os.close(fd)
