"""One poll of a node by its own worker: heartbeat, figures, templates and guest inventory."""

from __future__ import annotations

import logging
from dataclasses import asdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cluster.events import publish_node_changed
from drivers.errors import DriverError
from drivers.registry import driver_for
from drivers.types import GuestKind
from metrics.feed import record_poll
from tasks.recovery import fail_tasks_of_dead_processes, fail_tasks_of_offline_nodes

from .host import host_counters, host_figures
from .models import Node

logger = logging.getLogger(__name__)


def poll_node(node_name: str) -> None:
    if node_name != settings.PANEL_NODE_NAME:
        logger.error("poll for node %s reached the worker of %s", node_name, settings.PANEL_NODE_NAME)
        return
    node = Node.objects.filter(name=node_name).first()
    if node is None:
        logger.warning("node %s is not registered yet: run `manage.py register_node`", node_name)
        return
    collect(node)


def collect(node: Node) -> None:
    """Poll ``node`` from this process, whatever node it runs on (tests, and nodes on this machine).

    The Celery path (``poll_node``) keeps its name check: host figures are read from the local machine.
    """
    figures = asdict(host_figures(node.storage_dir))
    for field, value in figures.items():
        setattr(node, field, value)
    engines, read = {}, []
    for kind in GuestKind:
        engines[kind.engine] = _poll_engine(node, kind, read)
    node.engines = engines
    node.last_seen = timezone.now()
    node.save(update_fields=[*figures, "engines", "last_seen"])  # the heartbeat: figures only
    try:
        with transaction.atomic():
            record_poll(node, host_counters(), read)
    except Exception:  # the history must never stop the heartbeat
        logger.exception("could not record the history of node %s", node.name)
    publish_node_changed(node.name)
    # After the inventory, so that the guests of a lost task show their real state.
    fail_tasks_of_dead_processes(node)
    fail_tasks_of_offline_nodes()


def _poll_engine(node: Node, kind: GuestKind, read: list) -> dict:
    """Reconcile one engine; append (Guest row, GuestInfo) of what it reported to ``read``."""
    from guests.choices import GuestState
    from guests.inventory import sync_guests, sync_templates
    from guests.models import Guest

    driver = driver_for(node.endpoints, kind)
    try:
        engine = driver.engine_info()
        templates = driver.list_templates()
        guests = driver.list_guests()
    except DriverError as exc:
        # Keep the guests' rows: a node whose engine is down has not lost its guests.
        Guest.objects.filter(node=node, kind=kind).update(state=GuestState.UNKNOWN, cpu_usage=0)
        return {"ok": False, "error": exc.message}
    finally:
        driver.close()
    with transaction.atomic():
        sync_templates(node, kind.value, templates)
        rows = sync_guests(node, kind.value, guests)
    read.extend((rows[i.backend_id], i) for i in guests if i.backend_id in rows)
    return {"ok": True, "version": engine.version, "uri": engine.uri, "error": ""}
