"""/status and /status.json: public, read-only, the cluster's exact figures and health, aggregates only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from nodes.models import Node
from tests.factories import GuestFactory, NodeFactory
from tests.support import PREFIX

pytestmark = pytest.mark.django_db
GIB = 1024**3


def seed() -> tuple[Node, Node]:
    """Two online nodes with figures of their own, and guests in several states on each."""
    now = timezone.now()
    a = NodeFactory(name="st-a", address="192.0.2.1", last_seen=now, cpus=4, cpu_usage=0.5, memory_total=8 * GIB,
                    memory_used=2 * GIB, disk_total=100 * GIB, disk_used=10 * GIB)
    b = NodeFactory(name="st-b", address="192.0.2.2", last_seen=now, cpus=2, cpu_usage=0.25, memory_total=4 * GIB,
                    memory_used=1 * GIB, disk_total=50 * GIB, disk_used=5 * GIB)
    for node, kind, state, name in [(a, "ct", "running", "web"), (a, "ct", "running", "db"),
                                    (a, "ct", "stopped", "old"), (a, "vm", "running", "app"),
                                    (b, "vm", "stopped", "spare"), (b, "ct", "paused", "cache")]:
        GuestFactory(node=node, kind=kind, state=state, name=f"{PREFIX}secret-{name}")
    return a, b


def status(client) -> dict:
    data = client.get("/status.json").json()["data"]
    assert data.pop("time")
    return data


def no_names(client) -> None:
    """Nothing that names or acts: no guest or node name, no address, no form."""
    body = client.get("/status").content.decode()
    for text in (body, str(status(client))):
        assert f"{PREFIX}secret" not in text and "st-a" not in text and "st-b" not in text and "192.0.2" not in text
    assert "<form" not in body.split("<main")[1]


def counts_shown(body: str, kind: str) -> set[str]:
    return set(body.split(f'data-field="{kind}">')[1].split("</td>")[0].split(", "))


def test_status_gives_the_cluster_figures(client) -> None:
    seed()
    assert status(client) == {
        "health": "ok",
        "nodes": {"online": 2, "total": 2},
        "cpu": {"cores": 6, "usage": (0.5 * 4 + 0.25 * 2) / 6},
        "memory": {"used": 3 * GIB, "total": 12 * GIB},
        "storage": {"used": 15 * GIB, "total": 150 * GIB},
        "guests": {"ct": {"total": 4, "running": 2, "stopped": 1, "paused": 1},
                   "vm": {"total": 2, "running": 1, "stopped": 1}},
    }
    page = client.get("/status")
    assert page.status_code == 200
    body = page.content.decode()
    for shown in ('data-field="health">ok<', "2 of 2", "42 % of 6 cores", "3.00 GiB of 12.00 GiB",
                  "15.00 GiB of 150.00 GiB"):
        assert shown in body, shown
    assert counts_shown(body, "vm") == {"total: 2", "running: 1", "stopped: 1"}
    assert counts_shown(body, "ct") == {"total: 4", "running: 2", "stopped: 1", "paused: 1"}
    no_names(client)


def test_status_is_degraded_with_a_node_offline_and_down_with_all(client) -> None:
    """An offline node counts in the total only: not in the resources, and its guests' last states are not
    known (unknown, as the datacenter summary shows them)."""
    a, b = seed()
    Node.objects.filter(pk=b.pk).update(last_seen=timezone.now() - timedelta(hours=1))
    assert status(client) == {
        "health": "degraded",
        "nodes": {"online": 1, "total": 2},
        "cpu": {"cores": 4, "usage": 0.5},
        "memory": {"used": 2 * GIB, "total": 8 * GIB},
        "storage": {"used": 10 * GIB, "total": 100 * GIB},
        "guests": {"ct": {"total": 4, "running": 2, "stopped": 1, "unknown": 1},
                   "vm": {"total": 2, "running": 1, "unknown": 1}},
    }
    body = client.get("/status").content.decode()
    assert 'data-field="health">degraded<' in body and "1 of 2" in body
    assert counts_shown(body, "vm") == {"total: 2", "running: 1", "unknown: 1"}
    Node.objects.filter(pk=a.pk).update(last_seen=None)  # never reported
    assert status(client) == {
        "health": "down",
        "nodes": {"online": 0, "total": 2},
        "cpu": {"cores": 0, "usage": 0.0},
        "memory": {"used": 0, "total": 0},
        "storage": {"used": 0, "total": 0},
        "guests": {"ct": {"total": 4, "unknown": 4}, "vm": {"total": 2, "unknown": 2}},
    }
    assert 'data-field="health">down<' in client.get("/status").content.decode()
    no_names(client)


def test_status_can_require_a_login(client) -> None:
    seed()
    with override_settings(PANEL_PUBLIC_STATUS=False):
        for url in ("/status", "/status.json"):
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url
