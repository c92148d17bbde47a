"""Cluster events on the Channels layer: a node's poll (or a web process noticing a silent node) tells the
cluster group which node changed, and a task that changed a guest (its state, settings, node, existence) tells
which guest, so that pages show it within a second rather than at the next poll. Every subscriber of
ws/cluster/resources/ then sends its user what changed (see consumers.py)."""

from __future__ import annotations

import uuid

from django.db import transaction

from panel.events import publish

CLUSTER_GROUP = "cluster"
GUESTS_CHANGED = "guests.changed"


def node_changed_event(node_name: str) -> dict:
    """The message; its id lets every socket of a web process share the work of answering it."""
    return {"type": "node.changed", "node": node_name, "id": uuid.uuid4().hex}


def publish_node_changed(node_name: str) -> None:
    """Best effort: the figures are in the database; a page that misses one gets the next poll's."""
    publish(CLUSTER_GROUP, node_changed_event(node_name))


def publish_guest_changed(node_name: str, vmid: int) -> None:
    """Once the change is committed; the guests a tick's tasks changed reach a socket as one message."""
    item = {"node": node_name, "vmid": vmid}
    transaction.on_commit(lambda: publish(CLUSTER_GROUP, item, batch=GUESTS_CHANGED))


def publish_guest_gone(node_name: str, vmid: int, pool: str | None) -> None:
    """A guest was deleted: with its former pool, so that only those who could see it are told."""
    item = {"node": node_name, "vmid": vmid, "gone": True, "pool": pool}
    transaction.on_commit(lambda: publish(CLUSTER_GROUP, item, batch=GUESTS_CHANGED))
