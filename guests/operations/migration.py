"""Migration of guests between nodes (node side), run by the worker of the node that holds the guest.

The source worker reaches the target node's engines through the target's Node row (its endpoints):
a Docker URL and a libvirt URI that the source machine can use.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from drivers.registry import shared_driver
from nodes.models import Node
from panel.errors import Conflict
from tasks.context import TaskContext
from tasks.registry import register

from ..inventory import refresh_guest
from ..models import Guest
from .bulk import BulkRun
from .common import target


def _target_node(context: TaskContext) -> Node:
    name = context.params.get("target", "")
    node = Node.objects.filter(name=name).first()
    if node is None:
        raise Conflict(f"target node {name!r} does not exist")
    if node.pk == context.node.pk:
        raise Conflict(f"the guest is already on node {node.name}")
    return node


@register("migrate", "Migrate", ("qmigrate", "vzmigrate"))
def migrate(context: TaskContext) -> str:
    guest, source_driver = target(context)
    destination = _target_node(context)
    if guest.snapshots.exists():  # migrate-all's steps come here without the service's check
        raise Conflict(f"cannot migrate {guest}: it has snapshots, kept on node {context.node.name}'s storage. "
                       "Delete them first")
    online = bool(context.params.get("online"))
    timeout = float(context.params.get("timeout", settings.PANEL_SHUTDOWN_TIMEOUT))
    target_driver = shared_driver(destination.endpoints, guest.kind)
    context.log(f"migrating {guest} from node {context.node.name} to node {destination.name}"
                f" ({'online' if online else 'offline'})")
    info = source_driver.migrate(
        guest.backend_id, target_driver, online=online, timeout=timeout,
        accelerator=destination.accelerator, progress=context.log,
    )
    # The guest keeps its VMID, name and settings; only where it lives changes, in one step.
    with transaction.atomic():
        guest = Guest.objects.select_for_update().get(pk=guest.pk)
        guest.node, guest.backend_id = destination, info.backend_id
        guest.save(update_fields=["node", "backend_id"])
        refresh_guest(guest, info, destination.cpus)
    context.log(f"{guest} now runs on node {destination.name} as {info.backend_id[:12]}")
    return "OK"


@register("migrateall", "Migrate all", "migrateall")
def migrate_all(context: TaskContext) -> str:
    destination = _target_node(context)
    guests = Guest.objects.select_related("node").filter(node=context.node).exclude(backend_id="")
    guests = guests.filter(vmid__in=context.params.get("vms") or [])  # chosen at submission (guests/bulk.py)
    guests = list(guests)
    context.log(f"migrating {len(guests)} guests of node {context.node.name} to node {destination.name}")
    run = BulkRun(context, "migrating", len(guests))
    params = {"target": destination.name, "online": bool(context.params.get("online"))}
    run.run_groups([guests] if guests else [], lambda g: ("migrate", params))
    return run.summary()
