"""One subscription per web process to each Channels group its sockets follow, shared by those sockets.

Through the layer, a group message is one Redis entry per member channel: a poll's publish to 500 viewers was
500 entries written by the publisher, and 500 reads, decodings and dispatches in the web process. Instead the
process joins each group once, with a channel of its own, and hands every message it receives to its local
sockets in memory (``Hub``). A socket handles what the hub hands it in order, after its own first message, and
never at the same time as another of its handlers (``PanelConsumer.dispatch`` holds the socket's lock).

The process's membership is renewed while it has members (groups expire in the layer after a day) and given
up when the last one leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

RENEW_EVERY = 3600.0  # s between two renewals of the process's group membership (the layer's expiry: a day)
LEAVE_TIMEOUT = 2.0  # s given to leaving the group when the last local member has gone


class Member(Protocol):
    def deliver(self, message: dict) -> None:
        """Take ``message``; returns at once (the member handles it in its own time and order)."""


class Hub:
    """This process's subscription to one group, for every local socket that follows it."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.members: dict[Member, None] = {}  # in joining order
        self._task: asyncio.Task | None = None
        self._starting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    async def join(self, member: Member) -> None:
        """From now on ``member`` gets every message of the group (the process joins the group first)."""
        self.members[member] = None
        loop = asyncio.get_running_loop()
        if self._starting is None or self._starting[0] is not loop:
            self._starting = (loop, asyncio.Lock())
        async with self._starting[1]:  # two sockets joining at once: one subscription
            if self._task is None or self._task.done() or self._task.get_loop() is not loop:
                layer = get_channel_layer()
                channel = await layer.new_channel()
                await layer.group_add(self.group, channel)
                self._task = loop.create_task(self._run(layer, channel), name=f"hub {self.group}")

    def leave(self, member: Member) -> None:
        self.members.pop(member, None)
        if not self.members and self._task is not None:
            self._task.cancel()
            self._task = None
            _hubs.pop(self.group, None)

    async def _run(self, layer, channel: str) -> None:  # noqa: ANN001
        renew = asyncio.get_running_loop().create_task(self._renew(layer, channel))
        try:
            while True:
                try:
                    message = await layer.receive(channel)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if asyncio.current_task().cancelling():  # a cancel the layer turned into another error
                        raise
                    logger.warning("the hub of %s could not receive; trying again", self.group, exc_info=True)
                    await asyncio.sleep(1)
                    continue
                for member in list(self.members):
                    member.deliver(message)
        finally:
            renew.cancel()
            # Bounded: when the loop is closing, the layer's connections may never answer; a membership left
            # behind only costs writes to a channel nobody reads until the group expires.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(layer.group_discard(self.group, channel), LEAVE_TIMEOUT)

    async def _renew(self, layer, channel: str) -> None:  # noqa: ANN001
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await layer.group_add(self.group, channel)
            except Exception:
                logger.warning("could not renew this process's membership of %s", self.group, exc_info=True)


_hubs: dict[str, Hub] = {}


def hub(group: str) -> Hub:
    """This process's hub of ``group``."""
    if group not in _hubs:
        _hubs[group] = Hub(group)
    return _hubs[group]
