"""A guest's status and power through /api2/json, as Proxmox clients read and drive them (proxmoxer over HTTPS)."""

from __future__ import annotations

import pytest
from proxmoxer import ProxmoxAPI

from .guests import MiB, made_container, refused, run

pytestmark = pytest.mark.engines


def test_container_status_follows_its_power(root_api: ProxmoxAPI, admin_user, live_node, https_server) -> None:
    guest = made_container(admin_user, live_node, "status")
    ct = root_api.nodes(live_node.name).lxc(guest.vmid)
    current = ct.status.current.get()
    assert {k: current[k] for k in ("vmid", "name", "status", "cpus", "maxmem", "uptime", "mem", "type")} == {
        "vmid": guest.vmid, "name": guest.name, "status": "stopped", "cpus": 1, "maxmem": 64 * MiB, "uptime": 0,
        "mem": 0, "type": "lxc"}
    assert "qmpstatus" not in current and "lock" not in current
    run(root_api, ct.status.start.post(), "vzstart")
    assert ct.status.current.get()["status"] == "running"
    run(root_api, ct.status.suspend.post(), "vzsuspend")
    assert ct.status.current.get()["status"] == "running"  # a frozen container runs, as in Proxmox
    run(root_api, ct.status.resume.post(), "vzresume")
    run(root_api, ct.status.reboot.post(), "vzreboot")
    assert refused(lambda: ct.status.reset.post()).status_code == 404  # Proxmox's containers have no reset
    assert refused(lambda: ct.status.bogus.get()).status_code == 404
    run(root_api, ct.status.shutdown.post(timeout=30, forceStop=1), "vzshutdown")
    assert ct.status.current.get()["status"] == "stopped"
    assert refused(lambda: ct.status.stop.post()).status_code == 409  # it is stopped already
