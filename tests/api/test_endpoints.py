"""The endpoints Proxmox clients call, driven with proxmoxer over HTTPS against a real server (and, for tasks,
the node's real worker): nodes, resources by type, nextid, tasks and their log, pools, users, groups, roles,
ACL entries, permissions and tokens; a user without rights gets Proxmox's 403."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone
from proxmoxer import ResourceException
from proxmoxer.tools import Tasks

from access.models import AclEntry, Pool
from guests.models import Guest
from tasks.choices import TaskStatus
from tasks.models import Task, TaskLogLine
from tasks.upid import new_upid
from tests.factories import PASSWORD, AdminFactory, GuestFactory, UserFactory
from tests.support import PREFIX, wait_until


@pytest.fixture
def root(transactional_db):
    return AdminFactory(username="root")


@pytest.fixture
def api(proxmox, root):
    return proxmox(user="root@pam", password=PASSWORD)


def refused(call, *args, **kwargs) -> ResourceException:
    with pytest.raises(ResourceException) as caught:
        call(*args, **kwargs)
    return caught.value


def test_resources_by_type_and_nextid(api, node) -> None:
    pool = Pool.objects.create(name="res-pool")
    vm = GuestFactory(node=node, kind="vm", vmid=100, state="stopped", vcpus=2, memory_mib=256, pool=pool,
                      tags="web;prod", is_template=True)
    ct = GuestFactory(node=node, kind="ct", vmid=101, state="running", vcpus=0.5, memory_mib=0)
    everything = api.cluster.resources.get()
    assert {r["type"] for r in everything} == {"node", "qemu", "lxc", "storage", "pool"}
    by_id = {r["id"]: r for r in api.cluster.resources.get(type="vm")}
    assert set(by_id) == {"qemu/100", "lxc/101"}
    assert by_id["qemu/100"] | {} == {**by_id["qemu/100"], "vmid": 100, "maxcpu": 2, "template": 1,
                                      "pool": "res-pool", "tags": "web;prod", "maxmem": 256 << 20,
                                      "node": node.name, "name": vm.name, "status": "stopped"}
    assert by_id["lxc/101"]["maxcpu"] == 1 and by_id["lxc/101"]["template"] == 0  # whole CPUs, as Proxmox
    for field in ("netin", "netout", "diskread", "diskwrite", "uptime", "disk", "maxdisk", "mem", "cpu"):
        assert isinstance(by_id["lxc/101"][field], int | float), field
    [storage] = api.cluster.resources.get(type="storage")
    assert (storage["storage"], storage["node"], storage["plugintype"]) == ("local", node.name, "dir")
    assert "vztmpl" in storage["content"] and "images" in storage["content"]
    assert [p["pool"] for p in api.cluster.resources.get(type="pool")] == ["res-pool"]
    assert [n["id"] for n in api.cluster.resources.get(type="node")] == [f"node/{node.name}"]
    assert refused(api.cluster.resources.get, type="bogus").status_code == 400
    assert api.cluster.nextid.get() == "102" and api.cluster.nextid.get(vmid=500) == "500"
    taken = refused(api.cluster.nextid.get, vmid=ct.vmid)
    assert taken.status_code == 400 and taken.errors == {"vmid": f"VM {ct.vmid} already exists"}


def test_node_status_and_cluster_status(api, node) -> None:
    status = api.nodes(node.name).status.get()
    assert status["pveversion"].startswith("pve-manager/9.1")
    assert {"model", "cores", "sockets", "cpus"} <= set(status["cpuinfo"]) and status["cpuinfo"]["cpus"] == node.cpus
    assert {"total", "used", "free", "available"} <= set(status["memory"]) and len(status["loadavg"]) == 3
    assert status["uptime"] > 0 and status["kversion"].startswith("Linux")
    cluster, *members = api.cluster.status.get()
    assert cluster["type"] == "cluster" and cluster["quorate"] == 1
    assert [(m["name"], m["online"]) for m in members] == [(node.name, 1)]
    assert refused(api.nodes("no-such-node").status.get).status_code == 404


def test_task_log_pages_and_filters(api, node, root) -> None:
    task = Task.objects.create(upid=new_upid(node.name, "vzstart", "101", "root@pam"), node=node, user=root,
                               type="start", vmid=101, status=TaskStatus.OK, exit_message="OK",
                               ended_at=timezone.now())
    TaskLogLine.objects.bulk_create(TaskLogLine(task=task, number=n, at=timezone.now(), text=f"line {n}")
                                    for n in range(1, 121))
    failed = Task.objects.create(upid=new_upid(node.name, "vzstop", "102", "root@pam"), node=node, user=root,
                                 type="stop", vmid=102, status=TaskStatus.ERROR, exit_message="engine said no",
                                 ended_at=timezone.now())
    tasks = api.nodes(node.name).tasks
    first = tasks(task.upid).log.get()
    assert len(first) == 50 and first[0] == {"n": 1, "t": "line 1"}
    assert [line["n"] for line in tasks(task.upid).log.get(start=100, limit=30)] == list(range(101, 121))
    assert Tasks.decode_log(tasks(task.upid).log.get(limit=500)).splitlines()[-1] == "line 120"
    listed = {t["upid"]: t for t in tasks.get()}
    assert listed[task.upid]["status"] == "OK" and listed[failed.upid]["status"] == "engine said no"
    assert listed[task.upid]["type"] == "vzstart" and listed[task.upid]["id"] == "101"
    assert [t["upid"] for t in tasks.get(typefilter="vzstop")] == [failed.upid]
    assert [t["upid"] for t in tasks.get(errors=1)] == [failed.upid]
    assert [t["upid"] for t in tasks.get(statusfilter="ok")] == [task.upid]
    assert [t["upid"] for t in tasks.get(vmid=101)] == [task.upid]
    assert tasks.get(source="active") == []
    status = tasks(failed.upid).status.get()
    assert (status["status"], status["exitstatus"]) == ("stopped", "engine said no")
    assert refused(tasks.get, limit="lots").status_code == 400
    assert {t["upid"] for t in api.cluster.tasks.get()} == {task.upid, failed.upid}


def test_stopall_runs_on_the_worker_and_the_client_waits_for_it(api, live_node) -> None:
    upid = api.nodes(live_node.name).stopall.post(**{"force-stop": 1, "timeout": 30})
    assert Tasks.decode_upid(upid)["type"] == "stopall"
    running = api.nodes(live_node.name).tasks(upid).status.get()
    assert running["status"] in ("running", "stopped")
    assert "exitstatus" not in running or running["status"] == "stopped"
    done = Tasks.blocking_status(api, upid, timeout=90, polling_interval=0.2)
    assert done["status"] == "stopped" and done["exitstatus"] == "OK"
    assert Task.objects.get(upid=upid).params["force_stop"] is True


def test_pools_members_and_deletion(api, node) -> None:
    guest = GuestFactory(node=node, kind="ct", vmid=150)
    api.pools.post(poolid="team-a", comment="the A team")
    assert {"poolid": "team-a", "comment": "the A team"} in api.pools.get()
    api.pools("team-a").put(vms="150")
    assert Guest.objects.get(pk=guest.pk).pool.name == "team-a"
    members = api.pools("team-a").get()["members"]
    assert [(m["id"], m["vmid"]) for m in members] == [("lxc/150", 150)]
    assert api.pools.get(poolid="team-a")[0]["members"][0]["vmid"] == 150  # Proxmox VE 8.1's form
    busy = refused(api.pools("team-a").delete)
    assert busy.status_code == 409 and "not empty" in busy.content
    api.pools.post(poolid="team-b")
    moving = refused(api.pools("team-b").put, vms="150")
    assert moving.status_code == 409 and "allow-move" in moving.content
    api.pools("team-b").put(vms="150", **{"allow-move": 1})
    api.pools("team-b").put(vms="150", delete=1)
    assert Guest.objects.get(pk=guest.pk).pool is None
    api.pools("team-a").delete()
    assert not Pool.objects.filter(name="team-a").exists()
    assert refused(api.pools.post, poolid="team-b").status_code == 409
    assert refused(api.pools.post, poolid="../etc").errors == {
        "poolid": "a pool id: letters, digits, '.', '_' and '-', starting with a letter"}
    assert refused(api.pools("nope").get).status_code == 404


def test_users_groups_roles_acl_and_a_user_without_rights(proxmox, api, node) -> None:
    api.access.groups.post(groupid="ops")
    api.access.users.post(userid="carol@pve", password=PASSWORD, groups="ops", email="carol@example.org")
    assert {"userid": "carol@pve", "groups": "ops"}.items() <= next(
        u for u in api.access.users.get() if u["userid"] == "carol@pve").items()
    assert api.access.groups("ops").get()["members"] == ["carol@pve"]
    carol = proxmox(user="carol@pve", password=PASSWORD)
    denied = refused(carol.pools.post, poolid="mine")
    assert denied.status_code == 403
    assert carol.cluster.resources.get(type="vm") == [] and [u["userid"] for u in carol.access.users.get()] == [
        "carol@pve"]
    roles = {r["roleid"]: r for r in api.access.roles.get()}
    assert roles["PVEVMAdmin"]["special"] == 1 and "VM.Allocate" in roles["PVEVMAdmin"]["privs"].split(",")
    api.access.roles.post(roleid="Watcher", privs="VM.Audit,Sys.Audit")
    assert api.access.roles("Watcher").get() == {"Sys.Audit": 1, "VM.Audit": 1}
    guest = GuestFactory(node=node, kind="vm", vmid=160)
    api.access.acl.put(path="/vms/160", roles="Watcher", groups="ops")
    assert {"path": "/vms/160", "type": "group", "ugid": "ops", "roleid": "Watcher", "propagate": 1} in \
        api.access.acl.get()
    seen = wait_until(lambda: carol.cluster.resources.get(type="vm"), 10, "the grant to reach the server")
    assert [r["vmid"] for r in seen] == [guest.vmid]
    assert carol.access.permissions.get(path="/vms/160") == {"/vms/160": {"Sys.Audit": 1, "VM.Audit": 1}}
    assert refused(carol.access.permissions.get, userid="root@pam").status_code == 403
    api.access.acl.put(path="/vms/160", roles="Watcher", groups="ops", delete=1)
    assert not AclEntry.objects.filter(path="/vms/160").exists()
    # Nobody gives more than they hold: carol may not grant herself anything.
    assert refused(carol.access.acl.put, path="/", roles="Administrator", users="carol@pve").status_code == 403
    assert refused(api.access.acl.put, path="/vms/0101", roles="Watcher", users="carol@pve").status_code == 400
    assert refused(api.access.acl.put, path="/", roles="NoSuchRole", users="carol@pve").status_code == 404


def test_tokens_of_ones_own(proxmox, api, root) -> None:
    made = api.access.users("root@pam").token("auto").post(comment="ci", privsep=0)
    assert made["full-tokenid"] == "root@pam!auto" and len(made["value"]) == 36
    assert api.access.users("root@pam").token("auto").get() == {"comment": "ci", "privsep": 0, "expire": 0}
    by_token = proxmox(user="root@pam", token_name="auto", token_value=made["value"])
    assert by_token.version.get()["release"] == "9.1"
    # A token may not make tokens (Proxmox: tickets and tokens are made with a password).
    assert refused(by_token.access.users("root@pam").token("more").post).status_code == 403
    api.access.users("root@pam").token("auto").put(comment="renamed")
    assert [t["tokenid"] for t in api.access.users("root@pam").token.get()] == ["auto"]
    api.access.users("root@pam").token("auto").delete()
    assert refused(by_token.version.get).status_code == 401
    assert refused(api.access.users("root@pam").token("auto").get).status_code == 404
    UserFactory(username="dave")
    dave = proxmox(user="dave@pam", password=PASSWORD)
    assert refused(dave.access.users("root@pam").token("x").post).status_code == 404  # not his to read


def test_storage_of_a_node(proxmox, api, node) -> None:
    vm = GuestFactory(node=node, kind="vm", vmid=170, disk_bytes=1 << 30)
    ct = GuestFactory(node=node, kind="ct", vmid=171)
    [local] = api.storage.get()
    assert (local["storage"], local["type"]) == ("local", "dir")
    [status] = api.nodes(node.name).storage.get()
    assert (status["storage"], status["active"], status["enabled"], status["shared"]) == ("local", 1, 1, 0)
    assert status["total"] == node.disk_total and status["avail"] == node.disk_total - node.disk_used
    assert api.nodes(node.name).storage("local").status.get()["used"] == node.disk_used
    content = api.nodes(node.name).storage("local").content
    templates = content.get(content="vztmpl")
    assert {"volid": "local:vztmpl/busybox", "content": "vztmpl", "format": "tzst", "size": 0} in templates
    [disk] = content.get(content="images")
    assert (disk["volid"], disk["vmid"], disk["size"], disk["format"]) == (
        f"local:{vm.vmid}/vm-{vm.vmid}-disk-0.qcow2", vm.vmid, 1 << 30, "qcow2")
    assert [v["vmid"] for v in content.get(vmid=ct.vmid)] == [ct.vmid]
    assert refused(content.get, content="backup").status_code == 400
    assert refused(api.nodes(node.name).storage("nfs").status.get).status_code == 404
    UserFactory(username="erin")
    erin = proxmox(user="erin@pam", password=PASSWORD)
    assert erin.storage.get() == []


def test_uploads_of_an_iso_and_a_container_template(api, live_node, tmp_path, docker_client) -> None:
    import io
    import tarfile

    iso = tmp_path / "tiny.iso"
    iso.write_bytes(b"\0" * 4096)
    storage = api.nodes(live_node.name).storage("local")
    with iso.open("rb") as file:
        upid = storage.upload.post(content="iso", filename=file)
    assert Tasks.blocking_status(api, upid, timeout=60, polling_interval=0.2)["exitstatus"] == "OK"
    assert {"volid": "local:iso/tiny.iso", "size": 4096}.items() <= storage.content.get(content="iso")[0].items()
    with iso.open("rb") as file:
        again = refused(storage.upload.post, content="iso", filename=file)
    assert again.status_code == 409 and "already exists" in again.content
    # A root file system archive becomes a template image of the node's Docker, offered as vztmpl.
    archive = tmp_path / f"{PREFIX}rootfs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"#!/bin/sh\nexec sleep 1000\n"
        info = tarfile.TarInfo("sbin/init")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    with archive.open("rb") as file:
        upid = storage.upload.post(content="vztmpl", filename=file)
    name = f"{PREFIX}rootfs"
    try:
        assert Tasks.blocking_status(api, upid, timeout=120, polling_interval=0.2)["exitstatus"] == "OK"
        assert f"local:vztmpl/{name}" in {v["volid"] for v in storage.content.get(content="vztmpl")}
        assert docker_client.images.list(filters={"label": f"panel.template={name}"})
    finally:
        for image in docker_client.images.list(filters={"label": f"panel.template={name}"}):
            docker_client.images.remove(image.id, force=True)
    assert not list(live_node.upload_dir.iterdir())  # nothing staged is left behind
    for bad in (".hidden.iso", "x.exe", "two words.iso"):
        wrong = refused(storage.upload.post, content="iso", filename=named(bad))
        assert wrong.status_code == 400 and "not an ISO image's name" in wrong.content, bad
    assert refused(storage.upload.post, content="backup", filename=named("x.iso")).status_code == 400
    # A path in the name never reaches a file system path (the client and Django keep its last part only)..
    upid = storage.upload.post(content="iso", filename=named("../../../etc/trick.iso"))
    assert Tasks.blocking_status(api, upid, timeout=60, polling_interval=0.2)["exitstatus"] == "OK"
    assert (live_node.iso_dir / "trick.iso").read_bytes() == b"x" and not Path("/etc/trick.iso").exists()


def named(name: str):
    import io

    file = io.BytesIO(b"x")
    file.name = name
    return file
