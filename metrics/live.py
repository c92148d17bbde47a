"""Live figures: each poll tells the cluster group which node changed; every subscriber sends its user
the resources of that node they may see (the same filtering as /cluster/resources)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from access import permissions

logger = logging.getLogger(__name__)

CLUSTER_GROUP = "cluster"
CLOSE_FORBIDDEN = 4403


def publish_node_changed(node_name: str) -> None:
    """Best effort: the figures are in the database; a page that misses one gets the next poll's."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(CLUSTER_GROUP, {"type": "node.changed", "node": node_name})
    except Exception:
        logger.warning("could not publish the figures of %s", node_name, exc_info=True)


class ResourcesConsumer(AsyncJsonWebsocketConsumer):
    """``ws/cluster/resources/``: every resource the user may see, then those of each node as it polls."""

    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(CLUSTER_GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"type": "resources", "node": None, "data": await self._resources(None)})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(CLUSTER_GROUP, self.channel_name)

    async def node_changed(self, event: dict) -> None:
        await self.send_json({"type": "resources", "node": event["node"],
                              "data": await self._resources(event["node"])})

    @database_sync_to_async
    def _resources(self, node: str | None) -> list[dict]:
        from api.views import cluster_resources

        permissions.invalidate(self.scope["user"])  # a long-lived socket follows ACL changes
        return cluster_resources(self.scope["user"], node=node)
