"""/api2/json/cluster/resources and the rrddata history endpoints: shape, access, constant queries."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from guests.models import Guest
from metrics.store import Reading, ingest
from tests.factories import PASSWORD, NodeFactory, PoolFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

FIELDS = {"id", "type", "node", "vmid", "name", "status", "cpu", "maxcpu", "mem", "maxmem", "disk", "maxdisk",
          "uptime", "template", "netin", "netout", "diskread", "diskwrite"}


def _seed(guests: int) -> None:
    online = NodeFactory(name="rs-online", last_seen=timezone.now(), cpus=4, memory_total=8 << 30)
    offline = NodeFactory(name="rs-offline", last_seen=timezone.now() - timedelta(hours=1), cpus=2)
    pool = PoolFactory(name="rs-pool")
    Guest.objects.bulk_create([
        Guest(vmid=20000 + i, kind="vm" if i % 3 == 0 else "ct", node=online if i % 2 else offline,
              name=f"rs-{i}", backend_id=f"rs-{i}", state="running", cpu_usage=0.5, memory_used=1 << 20,
              vcpus=1, memory_mib=64, pool=pool if i % 4 == 0 else None)
        for i in range(guests)
    ])


def test_every_node_guest_and_storage_in_proxmox_shape(admin_client) -> None:
    _seed(10)
    answer = admin_client.get("/api2/json/cluster/resources").json()["data"]
    by_id = {r["id"]: r for r in answer}
    assert by_id["node/rs-online"]["status"] == "online" and by_id["node/rs-offline"]["status"] == "offline"
    assert by_id["storage/rs-online/local"]["type"] == "storage"
    vm, ct = by_id["qemu/20003"], by_id["lxc/20001"]
    assert set(vm) >= FIELDS and set(ct) >= FIELDS
    assert (vm["type"], vm["node"], vm["status"], vm["cpu"], vm["maxmem"]) == ("qemu", "rs-online", "running",
                                                                                0.5, 64 << 20)
    assert by_id["lxc/20004"]["pool"] == "rs-pool" and "pool" not in vm  # Proxmox leaves out what is not set
    assert isinstance(vm["vmid"], int) and isinstance(vm["maxcpu"], int) and vm["template"] == 0
    assert by_id["/pool/rs-pool"] == {"id": "/pool/rs-pool", "type": "pool", "pool": "rs-pool", "name": "rs-pool"}
    # The guests of an offline node: state unknown, no usage.
    assert by_id["lxc/20002"]["status"] == "unknown" and by_id["lxc/20002"]["cpu"] == 0
    only_vms = admin_client.get("/api2/json/cluster/resources", {"type": "vm"}).json()["data"]
    assert {r["type"] for r in only_vms} == {"qemu", "lxc"} and len(only_vms) == 10
    assert admin_client.get("/api2/json/cluster/resources", {"type": "x"}).status_code == 400


def test_a_pool_user_sees_only_the_pool(client) -> None:
    _seed(10)
    user = UserFactory(username="rs-pooluser")
    grant(user, "PVEVMUser", "/pool/rs-pool")
    client.login(username=user.username, password=PASSWORD)
    answer = client.get("/api2/json/cluster/resources").json()["data"]
    assert sorted(r["id"] for r in answer) == ["lxc/20004", "lxc/20008", "qemu/20000"]


@pytest.mark.parametrize("guests", [10, 300])
def test_query_count_does_not_grow_with_guests(admin_client, django_assert_max_num_queries, guests) -> None:
    _seed(guests)
    admin_client.get("/api2/json/cluster/resources")  # the session and user loaded once
    # session, user, nodes (twice), guests, their counters, pools
    with django_assert_max_num_queries(8):
        answer = admin_client.get("/api2/json/cluster/resources").json()["data"]
    assert len([r for r in answer if r["type"] in ("qemu", "lxc")]) == guests


def test_rrddata_of_node_and_guest(admin_client, client) -> None:
    _seed(2)
    now = timezone.now().timestamp()
    ingest([Reading("node", "rs-online", now, {"cpu": 0.25, "mem": 100}),
            Reading("guest", "20001", now, {"cpu": 0.75, "netin": 10})], now=now)
    points = admin_client.get("/api2/json/nodes/rs-online/rrddata", {"timeframe": "hour"}).json()["data"]
    assert len(points) == 1 and points[0]["cpu"] == 0.25 and points[0]["maxcpu"] == 4
    points = admin_client.get("/api2/json/nodes/rs-online/lxc/20001/rrddata", {"timeframe": "day"}).json()["data"]
    assert points[0]["cpu"] == 0.75 and points[0]["netin"] == 10 and points[0]["maxmem"] == 64 << 20
    assert admin_client.get("/api2/json/nodes/rs-online/qemu/20001/rrddata").status_code == 404  # not a VM
    assert admin_client.get("/api2/json/nodes/rs-online/rrddata", {"timeframe": "ever"}).status_code == 400
    user = UserFactory(username="rs-nobody")
    client.login(username=user.username, password=PASSWORD)
    assert client.get("/api2/json/nodes/rs-online/rrddata").status_code == 404
    assert client.get("/api2/json/nodes/rs-online/lxc/20001/rrddata").status_code == 404


def test_node_status_gives_the_figures_of_the_last_poll(admin_client, node) -> None:
    """/nodes/{node}/status after a real poll of this machine: Proxmox's shape, the node row's figures."""
    data = admin_client.get(f"/api2/json/nodes/{node.name}/status").json()["data"]
    node.refresh_from_db()
    assert node.cpus > 0 and node.memory_total > 0 and node.root_total > 0 and node.kernel  # a poll filled it
    assert data["status"] == "online" and data["cpu"] == node.cpu_usage
    assert data["cpuinfo"]["cpus"] == node.cpus == os.cpu_count() and data["cpuinfo"]["model"]
    assert data["cpuinfo"]["sockets"] >= 1 and 1 <= data["cpuinfo"]["cores"] <= node.cpus
    assert data["pveversion"].startswith("pve-manager/9.")
    assert data["loadavg"] == [f"{v:.2f}" for v in (node.load_average, node.load_average_5, node.load_average_15)]
    assert data["memory"] == {"total": node.memory_total, "used": node.memory_used,
                              "free": node.memory_total - node.memory_used, "available": node.memory_available}
    assert 0 < node.memory_available <= node.memory_total
    assert data["swap"] == {"total": node.swap_total, "used": node.swap_used, "free": node.swap_total - node.swap_used}
    free = node.root_total - node.root_used
    assert data["rootfs"] == {"total": node.root_total, "used": node.root_used, "free": free, "avail": free}
    assert (data["uptime"], data["kversion"]) == (node.uptime, node.kernel) and data["uptime"] > 0
    assert data["engines"]["docker"]["ok"] and data["engines"]["libvirt"]["ok"]
    assert data["last_seen"] == int(node.last_seen.timestamp())
