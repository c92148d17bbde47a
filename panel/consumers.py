"""What every websocket of the panel shares.

- The user is the one Channels' AuthMiddlewareStack found in the session, checked active at connect.
- A user keeps at most PANEL_MAX_SOCKETS_PER_USER sockets in one web process.
- Sockets follow access changes (access/events.py): their user is read again, a deactivated or deleted one is
  dropped, and each socket checks what it sends against the new rights (``access_checked``).
- Work that depends only on an event and on what a user may see is done once per process for every socket
  sharing a permission set (``shared``), encoding the message included (``send_shared``), and a group's
  messages reach the process once for all its sockets (``follow``, panel/hub.py), so an event costs about the
  same for one viewer or five hundred.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model

from access import permissions
from access.events import ACCESS_GROUP

from .hub import hub

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429  # as HTTP's 429 Too Many Requests

T = TypeVar("T")
_open: Counter[int] = Counter()  # this process's sockets, per user


class SharedResults:
    """The last results computed for a key, kept for every socket of the process that asks the same."""

    def __init__(self, size: int = 512) -> None:
        self._results: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        value = compute()
        with self._lock:
            self._results[key] = value
            while len(self._results) > self._size:
                self._results.popitem(last=False)
        return value


shared = SharedResults()


class SharedAwaitables:
    """The same for the event loop: the first socket asking for a key computes it (in Django's thread, with
    ``database_sync_to_async``), every other one awaits that result instead of a thread hop of its own."""

    def __init__(self, size: int = 512) -> None:
        self._results: OrderedDict[Hashable, asyncio.Future] = OrderedDict()
        self._size = size

    async def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future = self._results.get(key)
        if future is None or future.get_loop() is not loop:
            future = loop.create_future()
            self._results[key] = future
            while len(self._results) > self._size:
                self._results.popitem(last=False)
            try:
                future.set_result(await database_sync_to_async(compute)())
            except Exception as exc:
                self._results.pop(key, None)
                future.set_exception(exc)
                future.exception()  # retrieved: those awaiting it get it raised
                raise
        return await future


shared_awaitables = SharedAwaitables()


class PanelConsumer(AsyncJsonWebsocketConsumer):
    """Subclasses implement ``start`` (authorise, join their groups, accept, send the first message), ``stop``
    and ``access_checked`` (what changes for them when their user's rights change)."""

    counted = False

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if _open[user.pk] >= settings.PANEL_MAX_SOCKETS_PER_USER:
            await self.close(code=CLOSE_TOO_MANY)
            return
        _open[user.pk] += 1
        self.counted = True
        await self.follow(ACCESS_GROUP)
        await self.start()

    # -- handling: one handler at a time, whether the message came through the layer or a hub -----------------

    @property
    def _handling(self) -> asyncio.Lock:
        if "_lock" not in self.__dict__:
            self._lock = asyncio.Lock()
        return self._lock

    async def dispatch(self, message: dict) -> None:
        async with self._handling:
            await super().dispatch(message)

    async def follow(self, group: str) -> None:
        """Get the messages of ``group`` through this process's one subscription to it (panel/hub.py), each after
        the handler running now (the first message included, if called from ``start``)."""
        if "_inbox" not in self.__dict__:
            self._inbox: asyncio.Queue[dict] = asyncio.Queue()
            self._followed: list[str] = []
            self._pump = asyncio.get_running_loop().create_task(self._handle_delivered())
        self._followed.append(group)
        await hub(group).join(self)

    def unfollow_all(self) -> None:
        for group in self.__dict__.get("_followed", []):
            hub(group).leave(self)
        if "_pump" in self.__dict__:
            self._pump.cancel()
        self._followed = []

    def deliver(self, message: dict) -> None:
        """From a hub: handled in order by this socket's own task."""
        self._inbox.put_nowait(message)

    async def _handle_delivered(self) -> None:
        while True:
            message = await self._inbox.get()
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                continue
            try:
                async with self._handling:  # its database work goes through database_sync_to_async, which
                    await handler(message)  # closes old connections itself: no close per socket here
            except StopConsumer:
                return
            except Exception:
                logger.exception("a websocket failed to handle %s", message.get("type"))

    async def send_shared(self, key: Hashable, content: dict) -> None:
        """Send ``content``, encoded once per process for every socket sending the same ``key``."""
        await self.send(text_data=shared.get(("json", key), lambda: json.dumps(content)))

    async def disconnect(self, code: int) -> None:
        self.unfollow_all()
        if self.counted:
            _open[self.scope["user"].pk] -= 1
            self.counted = False
            await self.stop()

    async def access_changed(self, event: dict) -> None:
        permissions.forget_version()  # the change is committed: read the new version, not a second-old one
        user = await database_sync_to_async(self._current_user)()
        if user is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.scope["user"] = user
        await self.access_checked()

    def _current_user(self):
        return get_user_model().objects.filter(pk=self.scope["user"].pk, is_active=True).first()

    def signature(self) -> Hashable:
        """What the user may see, as a key: users with the same grants share their results."""
        return permissions.signature(self.scope["user"])

    def remember_view(self) -> None:
        """Keep the signature as ``view``, for event handlers to use without a thread hop: called (in Django's
        thread) by the first database call of ``start`` and of ``access_checked``; every socket is told of an
        access change, so it stays current."""
        self.view = self.signature()

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        return None

    async def access_checked(self) -> None:
        return None
