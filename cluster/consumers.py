"""``ws/cluster/resources/``: every resource the user may see, then those of each node as it changes.

A node that stops reporting publishes nothing, so each web process with subscribers also watches the
nodes' last reports and announces a node whose status changed (within PANEL_STATUS_WATCH_INTERVAL of
crossing PANEL_NODE_OFFLINE_AFTER).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from access import permissions
from guests.models import GuestQuerySet
from nodes.models import Node
from panel.consumers import PanelConsumer, shared_awaitables

from .events import CLUSTER_GROUP, node_changed_event
from .resources import cluster_resources, first_visible

logger = logging.getLogger(__name__)

GUEST_AUDIT = GuestQuerySet.audit_privilege  # what lets a user see a guest


class NodeStatusWatch:
    """Announces nodes whose derived status (online/offline) changed since the last look; one per process
    and event loop, running while this process has subscribers."""

    def __init__(self) -> None:
        self.subscribers = 0
        self._task: asyncio.Task | None = None

    def subscribe(self) -> None:
        self.subscribers += 1
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    def unsubscribe(self) -> None:
        self.subscribers = max(self.subscribers - 1, 0)

    async def _run(self) -> None:
        known = await database_sync_to_async(_node_statuses)()
        while self.subscribers:
            await asyncio.sleep(settings.PANEL_STATUS_WATCH_INTERVAL)
            try:
                now = await database_sync_to_async(_node_statuses)()
            except Exception:
                logger.warning("could not read the nodes' status", exc_info=True)
                continue
            for name, status in now.items():
                if known.get(name) not in (None, status):
                    await get_channel_layer().group_send(CLUSTER_GROUP, node_changed_event(name))
            known = now


def _node_statuses() -> dict[str, str]:
    return {node.name: node.status for node in Node.objects.only("name", "last_seen")}


node_status_watch = NodeStatusWatch()


# ``?first=visible``: the first message holds what a page shows first: the nodes, their storage and the guests
# of every node with at most FOLD_AT of them (a larger node starts folded in the tree); it names the folded nodes
# with their guest counts ("folded"), and the client asks for one with {"type": "node", "node": NAME} when its
# viewer opens it. So the first paint of a cluster of 10,000 guests costs about what one of 100 does.
FOLD_AT = 50


class ResourcesConsumer(PanelConsumer):
    """``ws/cluster/resources/``: every resource the user may see (or, with ``?first=visible``, what a page shows
    first), then those of each node as it changes."""

    subscribed = False

    async def start(self) -> None:
        self.told: set[str] = set()  # the nodes whose resources this client holds
        self.folded: set[str] = set()  # nodes whose guests the client has not asked for (first=visible)
        await self.follow(CLUSTER_GROUP)
        await self.accept()
        node_status_watch.subscribe()
        self.subscribed = True
        self.first_visible = b"first=visible" in self.scope.get("query_string", b"")
        await self._send_all()

    async def _send_all(self) -> None:
        """Everything the user may see; with ``?first=visible``, what a page shows first (the folded nodes named)."""
        if not self.first_visible:
            await self._send(None, await self._resources(None))
            return
        data, folded = await self._first_visible()
        self.folded = set(folded)
        self.told = {r["node"] for r in data}
        await self.send_json({"type": "resources", "node": None, "data": data, "folded": folded})

    async def receive_json(self, content: dict, **kwargs: object) -> None:
        """``{"type": "node", "node": NAME}``: the resources of a folded node, now followed like the others."""
        node = content.get("node") if isinstance(content, dict) and content.get("type") == "node" else None
        if isinstance(node, str) and node in self.folded:
            self.folded.discard(node)
            await self._send(node, await self._resources(node))

    @database_sync_to_async
    def _first_visible(self) -> tuple[list[dict], dict[str, int]]:
        self.remember_view()
        return first_visible(self.scope["user"], FOLD_AT)

    async def stop(self) -> None:
        if self.subscribed:
            node_status_watch.unsubscribe()
            self.subscribed = False

    async def access_checked(self) -> None:
        await self._send_all()

    async def node_changed(self, event: dict) -> None:
        node, event_id = event["node"], event.get("id")
        if node in self.folded:  # its guests are not shown: the node's own figures only
            await self._send(node, await self._resources_of_node_only(node))
            return
        if event_id is None:
            await self._send(node, await self._resources(node))
            return
        # Computed once per event and permission set in this process, whatever the number of viewers.
        key = ("resources", event_id, node, self.view)
        user = self.scope["user"]
        data = await shared_awaitables.get(key, lambda: cluster_resources(user, node=node))
        await self._send(node, data, key)

    async def _send(self, node: str | None, data: list[dict], key: Hashable | None = None) -> None:
        """Everything (``node`` None), or one node's resources; not a word of a node the client has nothing
        of, and is given nothing of now (its name is not theirs to learn)."""
        held = {r["node"] for r in data}
        if node is not None:
            if not data and node not in self.told:
                return
            held = (self.told - {node}) | held
        self.told = held
        message = {"type": "resources", "node": node, "data": data}
        if key is None:
            await self.send_json(message)
        else:  # the same for every socket of this permission set: encoded once
            await self.send_shared(key, message)

    async def guests_changed(self, event: dict) -> None:
        """The guests a task changed that the user may see, and those deleted that they could see ("gone"); a
        guest that left their sight otherwise (a pool move, a grant withdrawn) comes with an access change."""
        data, gone = await shared_awaitables.get(("guests", event["id"], self.view), self._guests(event))
        if self.folded:
            data = [r for r in data if r["node"] not in self.folded]
        if data or gone:
            self.told |= {r["node"] for r in data}
            await self.send_json({"type": "guests", "data": data, "gone": gone})

    def _guests(self, event: dict) -> Callable[[], tuple[list[dict], list[int]]]:
        user = self.scope["user"]

        def compute() -> tuple[list[dict], list[int]]:
            changed = sorted({item["vmid"] for item in event["items"] if not item.get("gone")})
            data = cluster_resources(user, kind="vm", vmids=changed) if changed else []
            gone = sorted({item["vmid"] for item in event["items"] if item.get("gone") and GUEST_AUDIT in
                           permissions.guest_privileges(user, item["vmid"], item["pool"])})
            return data, gone

        return compute

    @database_sync_to_async
    def _resources_of_node_only(self, node: str) -> list[dict]:
        return [*cluster_resources(self.scope["user"], kind="node", node=node),
                *cluster_resources(self.scope["user"], kind="storage", node=node)]

    @database_sync_to_async
    def _resources(self, node: str | None) -> list[dict]:
        self.remember_view()
        return cluster_resources(self.scope["user"], node=node)
