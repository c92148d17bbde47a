"""What every websocket of the panel shares.

- The user is the one Channels' AuthMiddlewareStack found in the session, checked active at connect.
- A user keeps at most PANEL_MAX_SOCKETS_PER_USER sockets in one web process.
- Sockets follow access changes (access/events.py): their user is read again, a deactivated or deleted one is
  dropped, and each socket checks what it sends against the new rights (``access_checked``).
- Work that depends only on an event and on what a user may see is done once per process for every socket
  sharing a permission set (``shared``), so an event costs the same for one viewer or five hundred.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model

from access import permissions
from access.events import ACCESS_GROUP

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
        await self.channel_layer.group_add(ACCESS_GROUP, self.channel_name)
        await self.start()

    async def disconnect(self, code: int) -> None:
        if self.counted:
            _open[self.scope["user"].pk] -= 1
            self.counted = False
            await self.channel_layer.group_discard(ACCESS_GROUP, self.channel_name)
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

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        return None

    async def access_checked(self) -> None:
        return None
