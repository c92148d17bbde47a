"""The console sockets: ``ws/guests/<vmid>/console/`` (a container's shell, a VM's serial line),
``ws/guests/<vmid>/vnc/`` (a VM's display, for noVNC) and ``ws/nodes/<name>/shell/`` (the node's shell).

Framing: binary frames carry the terminal's bytes both ways, as they are. Text frames are JSON control
messages: from the client ``{"resize": [columns, rows]}``, whenever its terminal's size changes; from the
server ``{"error": "why"}`` just before it closes the socket for a reason the user may read.

Close codes: 1000 when the session ended (the shell exited, the guest stopped); 4000 + the HTTP status of a
refusal otherwise: 4403 (the privilege is missing, or was withdrawn while the console was open), 4404, 4409
(the guest is not running), 4503 (its node or engine is unavailable), 4400 (a malformed control message).
Who may not use the console is refused before any frame, and is told nothing but the code; the reason of
another refusal comes as an error message (daphne sends no close reason).

The terminal is read on a thread of its own (its calls block), which hands each chunk to the event loop and
waits until it is sent, so a client that reads slowly slows the terminal down instead of filling memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from contextlib import suppress

from channels.db import database_sync_to_async

from drivers.terminal import Terminal
from panel.consumers import CLOSE_FORBIDDEN, PanelConsumer
from panel.errors import Forbidden, InvalidRequest, NotFound, PanelError

from . import services

log = logging.getLogger(__name__)

CLOSE_ENDED = 1000
MAX_REASON = 120  # a close frame's reason is at most 123 bytes


def close_reason(message: str) -> str:
    encoded = message.encode()[:MAX_REASON]
    return encoded.decode(errors="ignore")


class TerminalConsumer(PanelConsumer):
    """Subclasses open their session (``open_session``) and say whether the user may keep it
    (``may_keep``); the relay is the same for every console."""

    terminal: Terminal | None = None
    closing = False
    explains = True  # refusals come with an error message (a client that reads only binary frames: False)

    def open_session(self) -> services.Session:
        raise NotImplementedError

    def may_keep(self) -> bool:
        raise NotImplementedError

    def client_address(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    async def start(self) -> None:
        try:
            session = await database_sync_to_async(self.open_session)()
        except PanelError as exc:
            await self.accept()
            await self.refuse(exc)
            return
        self.subject, self.terminal = session.subject, session.terminal
        await self.accept()
        reader = threading.Thread(target=self._relay_output, args=(asyncio.get_running_loop(), session.terminal),
                                  name=f"console {self.subject}", daemon=True)
        reader.start()

    def _relay_output(self, loop: asyncio.AbstractEventLoop, terminal: Terminal) -> None:
        """On the reader thread: every chunk of output to the client, in order, then the end."""
        try:
            while data := terminal.read():
                asyncio.run_coroutine_threadsafe(self._output(data), loop).result()
        except Exception:  # the client went away while a chunk was on its way
            log.debug("console output of %s stopped", self.subject, exc_info=True)
        with suppress(RuntimeError):  # the event loop is gone: so is the socket
            asyncio.run_coroutine_threadsafe(self._ended(terminal), loop)

    async def _output(self, data: bytes) -> None:
        if not self.closing:
            await self.send(bytes_data=data)

    async def _ended(self, terminal: Terminal) -> None:
        if not self.closing and self.terminal is terminal:
            await self.close(code=CLOSE_ENDED)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        terminal = self.terminal
        if terminal is None or self.closing:
            return
        try:
            with services.engine_errors():
                if bytes_data is not None:
                    await asyncio.to_thread(terminal.write, bytes_data)
                else:
                    await self._control(terminal, text_data or "")
        except PanelError as exc:
            await self.refuse(exc)

    async def refuse(self, exc: PanelError) -> None:
        """Close for ``exc``, saying why unless the user lacks the right (or may not know the object)."""
        if self.explains and not isinstance(exc, Forbidden | NotFound):
            await self.send_json({"error": exc.message})
        await self.close(code=4000 + exc.status, reason=close_reason(exc.message))

    async def _control(self, terminal: Terminal, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or set(message) != {"resize"}:
            raise InvalidRequest('a control message is {"resize": [columns, rows]}')
        columns, rows = services.terminal_size(message["resize"])
        await asyncio.to_thread(terminal.resize, columns, rows)

    async def access_checked(self) -> None:
        if self.terminal is not None and not await database_sync_to_async(self.may_keep)():
            await self.close(code=CLOSE_FORBIDDEN, reason="your right to this console was withdrawn")

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the socket first, then hang the terminal up (which may take a moment)."""
        first = not self.closing
        self.closing = True
        if first:
            await super().close(code=code, reason=reason)
        await self._hang_up()

    async def stop(self) -> None:
        self.closing = True
        await self._hang_up()

    async def _hang_up(self) -> None:
        terminal, self.terminal = self.terminal, None
        if terminal is not None:
            await asyncio.to_thread(terminal.close)


class GuestConsoleConsumer(TerminalConsumer):
    """``ws/guests/<vmid>/console/``: VM.Console on the guest."""

    def open_session(self) -> services.Session:
        vmid = self.scope["url_route"]["kwargs"]["vmid"]
        return services.open_guest_console(self.scope["user"], vmid, self.client_address())

    def may_keep(self) -> bool:
        return services.may_keep_guest_console(self.scope["user"], self.subject)


class GuestDisplayConsumer(TerminalConsumer):
    """``ws/guests/<vmid>/vnc/``: the VM's display, RFB both ways in binary frames (noVNC); VM.Console."""

    explains = False  # noVNC takes every frame for RFB

    async def accept(self, subprotocol: str | None = None, headers=None) -> None:
        # noVNC asks for the "binary" subprotocol; a browser drops a socket whose answer lacks it.
        asked = self.scope.get("subprotocols") or []
        await super().accept("binary" if "binary" in asked else subprotocol, headers)

    def open_session(self) -> services.Session:
        vmid = self.scope["url_route"]["kwargs"]["vmid"]
        return services.open_guest_display(self.scope["user"], vmid, self.client_address())

    def may_keep(self) -> bool:
        return services.may_keep_guest_console(self.scope["user"], self.subject)


class NodeShellConsumer(TerminalConsumer):
    """``ws/nodes/<name>/shell/``: Sys.Console on the node."""

    def open_session(self) -> services.Session:
        name = self.scope["url_route"]["kwargs"]["name"]
        return services.open_node_shell(self.scope["user"], name, self.client_address())

    def may_keep(self) -> bool:
        return services.may_keep_node_shell(self.scope["user"], self.subject)
