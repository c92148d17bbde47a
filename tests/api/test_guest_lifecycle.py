"""Creating, listing and destroying guests through /api2/json as Proxmox clients do (proxmoxer over HTTPS), on a
real worker and the real engines."""

from __future__ import annotations

import docker
import pytest
from proxmoxer import ProxmoxAPI

from access.models import AclEntry
from guests.models import Guest
from tasks.models import Task
from tests.factories import PoolFactory, UserFactory, grant
from tests.support import NODE2_DOCKER_URL, PREFIX

from .guests import MiB, refused, run, token_client

pytestmark = pytest.mark.engines


def test_container_from_ostemplate_to_purge(root_api: ProxmoxAPI, admin_user, live_node, https_server,
                                            docker_client: docker.DockerClient) -> None:
    node = root_api.nodes(live_node.name)
    pool = PoolFactory(name="cfgpool")
    upid = node.lxc.post(vmid=4321, hostname=f"{PREFIX}api-ct", ostemplate="local:vztmpl/busybox.tar.gz",
                         memory=64, cores=1, rootfs="local:2", net0="name=eth0,bridge=vmbr0,ip=dhcp", onboot=1,
                         startup="order=3,up=2", pool=pool.name, description="made by proxmoxer", tags="api",
                         start=1, unprivileged=1)
    run(root_api, upid, "vzcreate")
    guest = Guest.objects.get(vmid=4321)
    assert (guest.name, guest.pool, guest.onboot, guest.startup_order, guest.startup_up) == (
        f"{PREFIX}api-ct", pool, True, 3, 2)
    container = docker_client.containers.get(guest.backend_id)
    assert container.status == "running" and container.attrs["HostConfig"]["Memory"] == 64 * MiB

    listed = {entry["vmid"]: entry for entry in node.lxc.get()}
    assert listed[4321]["status"] == "running" and listed[4321]["name"] == f"{PREFIX}api-ct"
    assert listed[4321]["maxmem"] == 64 * MiB and listed[4321]["type"] == "lxc"
    assert 4321 not in {entry["vmid"] for entry in node.qemu.get()}
    assert node.lxc(4321).config.get()["description"] == "made by proxmoxer"

    assert refused(lambda: node.lxc(4321).delete(purge=1)).status_code == 409  # it runs
    run(root_api, node.lxc(4321).status.stop.post(), "vzstop")
    grant(UserFactory(username="cfg-viewer"), "PVEAuditor", "/vms/4321")
    run(root_api, node.lxc(4321).delete(purge=1), "vzdestroy")
    assert not Guest.objects.filter(vmid=4321).exists()
    assert not AclEntry.objects.filter(path="/vms/4321").exists()
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(guest.backend_id)
    assert 4321 not in {entry["vmid"] for entry in node.lxc.get()}
    assert refused(lambda: node.lxc(4321).status.current.get()).status_code == 404


def test_bad_creates_are_named_and_make_nothing(root_api: ProxmoxAPI, proxmox, live_node, https_server) -> None:
    node = root_api.nodes(live_node.name)
    good = {"hostname": f"{PREFIX}api-bad", "ostemplate": "local:vztmpl/busybox", "memory": 64}
    for changes, key in [({"ostemplate": "nfs:vztmpl/busybox"}, "ostemplate"),
                         ({"ostemplate": "local:vztmpl/nothing"}, "ostemplate"),
                         ({"hostname": "x" * 300}, "hostname"), ({"memory": "much"}, "memory"),
                         ({"memory": 10**9}, "memory"), ({"cores": 100000}, "cores"), ({"vmid": 5}, "vmid"),
                         ({"rootfs": "local:lots"}, "rootfs"), ({"startup": "up=,"}, "startup"),
                         ({"pool": "nope"}, "pool"), ({"start": "perhaps"}, "start"), ({"password": "x"}, "password"),
                         ({"net0": "a=b=c"}, "net0"), ({"ostemplate": None}, "ostemplate")]:
        values = {k: v for k, v in {**good, **changes}.items() if v is not None}
        error = refused(lambda values=values: node.lxc.post(**values))
        assert error.status_code == 400, changes
        assert key in (error.errors or {}), (changes, error.errors)
    error = refused(lambda: node.qemu.post(name=f"{PREFIX}api-vm", memory=64))
    assert error.status_code == 400 and "scsi0" in error.errors
    assert refused(lambda: root_api.nodes("no-such-node").lxc.post(**good)).status_code == 404
    outsider = token_client(proxmox, UserFactory(username="cfg-outsider"))
    assert refused(lambda: outsider.nodes(live_node.name).lxc.post(**good)).status_code == 403
    assert outsider.nodes(live_node.name).lxc.get() == []
    assert not Guest.objects.filter(name__startswith=f"{PREFIX}api-").exists()
    assert not Task.objects.filter(type="create").exists()


def test_running_container_migrates_to_node2_with_restart(root_api: ProxmoxAPI, admin_user, live_node, live_node2,
                                                          https_server) -> None:
    node = root_api.nodes(live_node.name)
    run(root_api, node.lxc.post(vmid=4322, hostname=f"{PREFIX}api-move", ostemplate="local:vztmpl/busybox",
                                memory=64, start=1), "vzcreate")
    ct = node.lxc(4322)
    error = refused(lambda: ct.migrate.post(target=live_node2.name))
    assert error.status_code == 400 and "restart" in error.errors  # Proxmox: a running CT moves with restart
    assert refused(lambda: ct.migrate.post(target=live_node2.name, online=1)).status_code == 400
    assert refused(lambda: ct.migrate.post()).status_code == 400
    run(root_api, ct.migrate.post(target=live_node2.name, restart=1, timeout=10), "vzmigrate", timeout=240)
    guest = Guest.objects.get(vmid=4322)
    assert guest.node == live_node2
    moved = root_api.nodes(live_node2.name).lxc(4322)
    assert moved.status.current.get()["status"] == "running"
    client = docker.DockerClient(base_url=NODE2_DOCKER_URL)
    try:
        assert client.containers.get(guest.backend_id).status == "running"
    finally:
        client.close()
    assert refused(lambda: ct.status.current.get()).status_code == 404  # no longer on the first node
    run(root_api, moved.status.stop.post(), "vzstop")
    run(root_api, moved.delete(purge=1), "vzdestroy")
