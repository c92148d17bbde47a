"""One poll of a node: heartbeat, figures, templates, guest inventory, then recovery of lost tasks.

A poll reads first (``read``: the rows it knows, then each engine's listing) and records second (``record``).
Whatever a task writes in between is newer than the listing, and the inventory leaves it alone.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cluster.events import publish_node_changed
from drivers.errors import DriverError
from drivers.registry import shared_driver
from drivers.types import EngineInfo, GuestInfo, GuestKind, TemplateInfo
from metrics.feed import record_poll
from tasks.recovery import recover_lost_tasks

from .host import host_counters, host_figures, host_interfaces
from .models import Node

logger = logging.getLogger(__name__)


@dataclass
class EngineReading:
    kind: GuestKind
    known: dict  # the engine's guest rows before its listing (guests.inventory.snapshot)
    engine: EngineInfo | None = None
    templates: list[TemplateInfo] = field(default_factory=list)
    guests: list[GuestInfo] = field(default_factory=list)
    networks: list[dict] = field(default_factory=list)
    error: str = ""  # the engine did not answer


def poll_node(node_name: str) -> None:
    """The poll of the node this process runs on (host figures are read from the local machine)."""
    if node_name != settings.PANEL_NODE_NAME:
        logger.error("poll for node %s reached the worker of %s", node_name, settings.PANEL_NODE_NAME)
        return
    node = Node.objects.filter(name=node_name).first()
    if node is None:
        logger.warning("node %s is not registered yet: run `manage.py register_node`", node_name)
        return
    collect(node)


def collect(node: Node) -> None:
    """Poll ``node`` from this process, whatever node it runs on (tests, and nodes on this machine)."""
    record(node, read(node))


def read(node: Node) -> list[EngineReading]:
    """What each engine of ``node`` reports now, with the rows as they were just before."""
    from guests.inventory import snapshot

    readings = []
    for kind in GuestKind:
        reading = EngineReading(kind, snapshot(node, kind.value))
        driver = shared_driver(node.endpoints, kind)
        try:
            reading.engine = driver.engine_info()
            reading.templates = driver.list_templates()
            reading.guests = driver.list_guests()
            reading.networks = driver.list_networks()
        except DriverError as exc:
            reading.error = exc.message
        readings.append(reading)
    return readings


def record(node: Node, readings: list[EngineReading]) -> None:
    """Write a reading: the heartbeat and figures first, then the inventory, the history and the recovery."""
    figures = asdict(host_figures(node.storage_dir))
    for name, value in figures.items():
        setattr(node, name, value)
    read_guests = []
    node.engines = {reading.kind.engine: _sync_engine(node, reading, read_guests) for reading in readings}
    node.network = {"interfaces": host_interfaces(),
                    **{reading.kind.engine: reading.networks for reading in readings if reading.networks}}
    node.last_seen = timezone.now()
    node.save(update_fields=[*figures, "engines", "network", "last_seen"])  # the heartbeat: figures only
    try:
        with transaction.atomic():
            record_poll(node, host_counters(), read_guests)
    except Exception:  # the history must never stop the heartbeat
        logger.exception("could not record the history of node %s", node.name)
    publish_node_changed(node.name)
    # After the inventory, so that the guests of a lost task show their real state.
    recover_lost_tasks()


def _sync_engine(node: Node, reading: EngineReading, read_guests: list) -> dict:
    """Reconcile one engine; append (Guest row, GuestInfo) of what it reported to ``read_guests``."""
    from guests.choices import GuestState
    from guests.inventory import sync_guests, sync_templates
    from guests.models import Guest

    kind = reading.kind
    if reading.engine is None:
        # Keep the guests' rows: a node whose engine is down has not lost its guests.
        Guest.objects.filter(node=node, kind=kind).update(state=GuestState.UNKNOWN, cpu_usage=0)
        return {"ok": False, "version": "", "uri": "", "error": reading.error}
    with transaction.atomic():
        sync_templates(node, kind.value, reading.templates)
        rows = sync_guests(node, kind.value, reading.known, reading.guests)
    read_guests.extend((rows[i.backend_id], i) for i in reading.guests if i.backend_id in rows)
    return {"ok": True, "version": reading.engine.version, "uri": reading.engine.uri, "error": ""}
