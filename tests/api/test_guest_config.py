"""A guest's settings through /api2/json as Proxmox clients change them: proxmoxer over HTTPS against a real server,
a real worker and the real engines."""

from __future__ import annotations

import docker
import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

from access.models import Role
from tests.factories import UserFactory, grant

from .guests import MiB, made_container, refused, token_client

pytestmark = pytest.mark.engines


def test_container_settings_change_live_and_digest_guards_them(
        root_api: ProxmoxAPI, admin_user, live_node, https_server, docker_client: docker.DockerClient) -> None:
    guest = made_container(admin_user, live_node, "cfg")
    ct = root_api.nodes(live_node.name).lxc(guest.vmid)
    config = ct.config.get()
    assert (config["hostname"], config["memory"], config["cores"]) == (guest.name, 64, 1)
    assert len(config["digest"]) == 40 and "onboot" not in config

    started = ct.status.start.post()
    assert Tasks.blocking_status(root_api, started, polling_interval=0.2)["exitstatus"] == "OK"
    assert started.split(":")[5] == "vzstart"

    # PUT is synchronous: when it answers, the running container has its new limits.
    assert ct.config.put(memory=96, cores=2, digest=config["digest"], description="web *front*",
                         tags="web;prod", onboot=1, startup="order=2,up=5") is None
    host = docker_client.containers.get(guest.backend_id).attrs["HostConfig"]
    assert (host["Memory"], host["NanoCpus"]) == (96 * MiB, 2 * 10**9)
    assert docker_client.containers.get(guest.backend_id).status == "running"
    changed = ct.config.get()
    assert {k: changed[k] for k in ("memory", "cores", "description", "tags", "onboot", "startup")} == {
        "memory": 96, "cores": 2, "description": "web *front*", "tags": "web;prod", "onboot": 1,
        "startup": "order=2,up=5"}
    assert changed["digest"] != config["digest"]
    assert ct.pending.get() and all("pending" not in entry for entry in ct.pending.get())

    # The old digest no longer matches: Proxmox's message, and nothing changes.
    error = refused(lambda: ct.config.put(memory=128, digest=config["digest"]))
    assert error.status_code == 409 and "checksum mismatch" in str(error.errors or error.content)
    assert docker_client.containers.get(guest.backend_id).attrs["HostConfig"]["Memory"] == 96 * MiB

    # Deleting a setting: the notes and the startup order gone, the rest kept.
    ct.config.put(delete="description,startup")
    after = ct.config.get()
    assert "description" not in after and "startup" not in after and after["tags"] == "web;prod"

    stopped = ct.status.stop.post()
    assert Tasks.blocking_status(root_api, stopped, polling_interval=0.2)["exitstatus"] == "OK"


def test_bad_settings_are_named_and_nothing_changes(root_api: ProxmoxAPI, admin_user, live_node, https_server) -> None:
    guest = made_container(admin_user, live_node, "cfgbad")
    ct = root_api.nodes(live_node.name).lxc(guest.vmid)
    before = ct.config.get()
    for values, key in [({"memory": "lots"}, "memory"), ({"memory": 8}, "memory"), ({"cores": 0}, "cores"),
                        ({"startup": "order=x"}, "startup"), ({"tags": "a b,-c"}, "tags"),
                        ({"hostname": "Not A Name!"}, "hostname"), ({"bogus": 1}, "bogus"),
                        ({"delete": "memory"}, "delete"), ({"delete": "cores"}, "delete"),
                        ({"memory": 64, "delete": "memory"}, "delete"),
                        ({"onboot": "maybe"}, "onboot"), ({"memory": 10**12}, "memory"),
                        ({"digest": "not-hex"}, "digest")]:
        error = refused(lambda values=values: ct.config.put(**values))
        assert error.status_code == 400, values
        assert key in (error.errors or {}), (values, error.errors)
    assert refused(lambda: ct.config.put()).status_code == 400  # no options specified
    assert refused(lambda: ct.config.post(memory=64)).status_code == 405  # containers: PUT only
    assert ct.config.get() == before
    missing = refused(lambda: root_api.nodes(live_node.name).qemu(guest.vmid).config.get())
    assert missing.status_code == 404  # a container is no VM


def test_changes_need_their_privilege(proxmox, admin_user, live_node, https_server,
                                      docker_client: docker.DockerClient) -> None:
    guest = made_container(admin_user, live_node, "cfgperm")
    auditor = UserFactory(username="cfg-auditor")
    grant(auditor, "PVEAuditor", f"/vms/{guest.vmid}")
    grant(auditor, "PVEAuditor", "/nodes")
    ct = token_client(proxmox, auditor).nodes(live_node.name).lxc(guest.vmid)
    assert ct.config.get()["hostname"] == guest.name  # VM.Audit reads
    error = refused(lambda: ct.config.put(memory=96))
    assert error.status_code == 403
    assert "Permission check failed" in str(error.content) + str(error.errors)
    assert docker_client.containers.get(guest.backend_id).attrs["HostConfig"]["Memory"] == 64 * MiB

    # Notes need VM.Config.Options only: memory stays refused to who holds just that.
    options = UserFactory(username="cfg-options")
    Role.objects.create(name="CfgOptions", privileges=["VM.Audit", "VM.Config.Options"])
    grant(options, "CfgOptions", f"/vms/{guest.vmid}")
    client = token_client(proxmox, options).nodes(live_node.name).lxc(guest.vmid)
    client.config.put(description="notes only")
    assert client.config.get()["description"] == "notes only"
    assert refused(lambda: client.config.put(memory=96)).status_code == 403
    other = UserFactory(username="cfg-nobody")
    assert refused(lambda: token_client(proxmox, other).nodes(live_node.name).lxc(guest.vmid).config.get()
                   ).status_code == 404


@pytest.mark.django_db
def test_odd_bodies_are_400s_never_500s(admin_client, node) -> None:
    from tests.factories import GuestFactory

    guest = GuestFactory(node=node, kind="ct", state="stopped")
    base = f"/api2/json/nodes/{node.name}/lxc"
    requests = [
        ("put", f"{base}/{guest.vmid}/config", [1, 2]), ("put", f"{base}/{guest.vmid}/config", {"digest": 5}),
        ("put", f"{base}/{guest.vmid}/config", {"memory": {"a": 1}}),
        ("put", f"{base}/{guest.vmid}/config", {"delete": ["description"], "description": "x"}),
        ("put", f"{base}/{guest.vmid}/config", {"description": "\x00"}),
        ("post", base, ["hostname"]), ("post", base, {"hostname": 5, "ostemplate": ["x"]}),
        ("put", f"{base}/{guest.vmid}/resize", {"disk": "rootfs", "size": "+1G"}),
        ("put", f"{base}/{guest.vmid}/resize", "text"), ("post", f"{base}/{guest.vmid}/migrate", [{}]),
        ("post", f"{base}/{guest.vmid}/migrate", {"target": ""}),
        ("post", f"{base}/{guest.vmid}/status/shutdown", ["timeout"]),
    ]
    for method, url, data in requests:
        response = getattr(admin_client, method)(url, data, content_type="application/json")
        assert response.status_code == 400, (method, url, data, response.status_code, response.content[:300])
        assert response.json()["data"] is None and response.json()["errors"], (url, data)
    assert admin_client.get(f"{base}/{guest.vmid}/status/nothing").status_code == 404
    assert admin_client.get(f"/api2/json/nodes/{node.name}/lxc/{guest.vmid}/pending").json()["data"]
