"""The datacenter summary (health, guest counts, resources) and the history graphs of summary pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from guests.models import Guest
from tests.factories import GuestFactory, NodeFactory

pytestmark = pytest.mark.django_db


def _seed(guests: int) -> None:
    up = NodeFactory(name="sm-up", last_seen=timezone.now(), cpus=4, cpu_usage=0.5, memory_total=8 << 30,
                     memory_used=2 << 30, disk_total=100 << 30, disk_used=10 << 30)
    down = NodeFactory(name="sm-down", last_seen=timezone.now() - timedelta(hours=1), cpus=4, memory_total=8 << 30)
    Guest.objects.bulk_create([
        Guest(vmid=30000 + i, kind="vm" if i % 2 else "ct", node=down if i % 5 == 0 else up, name=f"sm-{i}",
              backend_id=f"sm-{i}", state="running" if i % 3 else "stopped")
        for i in range(guests)
    ])


def test_datacenter_summary(admin_client) -> None:
    _seed(30)
    response = admin_client.get("/")
    summary = response.context["summary"]
    assert (summary["health"], summary["online"], summary["total"]) == ("degraded", 1, 2)
    guests = {kind: [g for g in Guest.objects.filter(kind=kind) if g.node.name == "sm-up"] for kind in ("vm", "ct")}
    for kind, rows in guests.items():
        counts = summary["guests"][kind]
        assert counts["total"] == Guest.objects.filter(kind=kind).count()
        assert counts["running"] == len([g for g in rows if g.state == "running"])
        assert counts["stopped"] == len([g for g in rows if g.state == "stopped"])
        assert counts["other"] == Guest.objects.filter(kind=kind, node__name="sm-down").count()
    # Resources count the online nodes only.
    assert summary["cpu"] == {"cores": 4, "usage": 0.5}
    assert summary["memory"] == {"used": 2 << 30, "total": 8 << 30}
    body = response.content.decode()
    assert 'Nodes online: <strong data-summary="online">1</strong> of <span data-summary="total">2</span>' in body
    # Live: the summary, the node rows and the resource tree follow ws/cluster/resources/.
    assert "data-live-summary" in body and "data-resource-tree" in body
    assert 'data-resource="node/sm-up"' in body and "panel/resources.js" in body
    assert "sm-1<" not in body  # no guest table: its size would follow the cluster's
    # The guests of the offline node show unknown, in the guest list and on their page.
    down_guest = Guest.objects.filter(node__name="sm-down").first()
    listed = admin_client.get("/guests/", {"node": "sm-down"}).content.decode()
    row = listed.split(f">{down_guest.name}</a>")[1].split("</tr>")[0]
    assert ">unknown<" in row
    assert ">unknown<" in admin_client.get(f"/guests/{down_guest.vmid}/").content.decode()


def test_guest_list_pages_and_filters(admin_client, django_assert_max_num_queries) -> None:
    _seed(250)
    with django_assert_max_num_queries(12):
        first = admin_client.get("/guests/")
    assert [g.vmid for g in first.context["guests"]] == list(range(30000, 30100))
    assert "page 1 of 3 (250 guests)" in first.content.decode()
    third = admin_client.get("/guests/", {"page": 3}).context["guests"]
    assert [g.vmid for g in third] == list(range(30200, 30250))
    assert [g.name for g in admin_client.get("/guests/", {"q": "30007"}).context["guests"]] == ["sm-7"]
    assert {g.name for g in admin_client.get("/guests/", {"q": "sm-24"}).context["guests"]} == {
        "sm-24", *(f"sm-24{i}" for i in range(10))}
    vms = admin_client.get("/guests/", {"kind": "vm", "state": "running", "page": 1}).context["paginator"]
    assert vms.count == Guest.objects.filter(kind="vm", state="running").count()
    assert admin_client.get("/guests/", {"page": 9}).status_code == 404
    assert admin_client.get("/guests/", {"q": "9" * 30}).context["paginator"].count == 0


@pytest.mark.parametrize("guests", [10, 300])
def test_datacenter_page_queries_do_not_grow(admin_client, django_assert_max_num_queries, guests) -> None:
    _seed(guests)
    admin_client.get("/")
    with django_assert_max_num_queries(10):
        assert admin_client.get("/").status_code == 200


def test_summary_pages_carry_history_graphs(admin_client) -> None:
    _seed(2)
    guest = GuestFactory(node=NodeFactory(name="sm-up"), kind="ct")
    node_page = admin_client.get("/nodes/sm-up/").content.decode()
    assert 'data-rrd-url="/api2/json/nodes/sm-up/rrddata"' in node_page and "uPlot.iife.min.js" in node_page
    guest_page = admin_client.get(f"/guests/{guest.vmid}/").content.decode()
    assert f'data-rrd-url="/api2/json/nodes/sm-up/lxc/{guest.vmid}/rrddata"' in guest_page
    vendor = Path(settings.BASE_DIR) / "static" / "vendor" / "uplot"
    assert (vendor / "uPlot.iife.min.js").stat().st_size > 10000 and (vendor / "LICENSE").exists()
