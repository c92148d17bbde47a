"""A VM's serial console and its display.

The serial console: libvirt's console stream (``virDomainOpenConsole``, what ``virsh console`` uses),
non-blocking, served by the libvirt event loop thread that ``host.py`` runs.

That thread only moves bytes: it reads what the stream has into a bounded buffer (and stops listening while
the buffer is full, so that a flood waits in libvirt rather than in memory) and writes what input could not
be sent at once. ``read`` waits for the buffer from the reader's own thread.

The display: a socket connected to the VM's VNC server, which the daemon hands over
(``virDomainOpenGraphicsFD``), so that no VNC port of the node need be reachable from the web process.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

import libvirt

from ..errors import InvalidGuestState
from ..terminal import READ_SIZE, SocketTerminal
from .config import GuestGraphics
from .guest import Guest

BUFFER_LIMIT = 4 * READ_SIZE  # output held for the reader before the stream is left unread
_WATCH = libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP


class ConsoleTerminal:
    def __init__(self, guest: Guest, stream: libvirt.virStream) -> None:
        self.guest = guest
        self._stream = stream
        self._lock = threading.Condition()
        self._output = bytearray()
        self._input = bytearray()  # what the stream would not take yet
        self._ended = False
        self._events = _WATCH | libvirt.VIR_STREAM_EVENT_READABLE
        with guest.host.errors(guest.label):
            stream.eventAddCallback(self._events, self._on_event, None)

    @classmethod
    def open(cls, guest: Guest) -> ConsoleTerminal:
        if not guest.is_active():
            raise InvalidGuestState(f"{guest.label} is not running: its serial console needs it running")
        with guest.host.errors(guest.label):
            stream = guest.host.get_connection().newStream(libvirt.VIR_STREAM_NONBLOCK)
            try:
                # FORCE: a console opened again (a reloaded page) takes the line over; the old session ends.
                guest.domain.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            except libvirt.libvirtError:
                with suppress(libvirt.libvirtError):
                    stream.abort()
                raise
        return cls(guest, stream)

    # -- on the libvirt event loop thread -----------------------------------------------------

    def _on_event(self, stream: libvirt.virStream, events: int, _opaque: object) -> None:
        with self._lock:
            if self._ended:
                return
            try:
                if events & libvirt.VIR_STREAM_EVENT_READABLE:
                    self._take_output()
                if events & libvirt.VIR_STREAM_EVENT_WRITABLE:
                    self._send_input()
            except libvirt.libvirtError:
                self._ended = True
            if events & _WATCH:
                self._ended = True
            self._watch()
            self._lock.notify_all()

    def _take_output(self) -> None:
        while len(self._output) < BUFFER_LIMIT:
            data = self._stream.recv(READ_SIZE)
            if data == -2:  # nothing more for now
                return
            if not data:  # the guest's side closed
                self._ended = True
                return
            self._output += data

    def _send_input(self) -> None:
        while self._input:
            sent = self._stream.send(bytes(self._input))
            if sent == -2:
                return
            del self._input[:sent]

    def _watch(self) -> None:
        """Listen for what there is to do: output while the buffer has room, room for pending input."""
        if self._ended:
            return
        events = _WATCH
        if len(self._output) < BUFFER_LIMIT:
            events |= libvirt.VIR_STREAM_EVENT_READABLE
        if self._input:
            events |= libvirt.VIR_STREAM_EVENT_WRITABLE
        if events != self._events:
            self._stream.eventUpdateCallback(events)
            self._events = events

    # -- on the caller's threads ---------------------------------------------------------------

    def read(self) -> bytes:
        with self._lock:
            while not self._output and not self._ended:
                self._lock.wait()
            data = bytes(self._output)
            self._output.clear()
            with suppress(libvirt.libvirtError):
                self._watch()
            return data

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._ended:
                return
            self._input += data
            with self.guest.host.errors(self.guest.label):
                self._send_input()
                self._watch()

    def resize(self, columns: int, rows: int) -> None:
        """A serial line has no size to tell: the guest's ``stty`` decides."""

    def close(self) -> None:
        with self._lock:
            if self._stream is None:
                return
            stream, self._stream = self._stream, None
            self._ended = True
            self._lock.notify_all()
        with suppress(libvirt.libvirtError):
            stream.eventRemoveCallback()
        with suppress(libvirt.libvirtError):
            stream.abort()


def open_display(guest: Guest) -> SocketTerminal:
    """The running VM's first VNC display as a byte stream (RFB, as noVNC speaks it)."""
    if not guest.is_active():
        raise InvalidGuestState(f"{guest.label} is not running: its display needs it running")
    graphics = [d for d in guest.get_config().devices if isinstance(d, GuestGraphics)]
    index = next((i for i, device in enumerate(graphics) if device.type == "vnc"), None)
    if index is None:
        raise InvalidGuestState(f"{guest.label} has no VNC display")
    with guest.host.errors(guest.label):
        fd = guest.domain.openGraphicsFD(index, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH)
    return SocketTerminal(socket.socket(fileno=fd))
