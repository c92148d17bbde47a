"""The audit log records every successful action (guest actions, migration, pool moves, node and datacenter bulk
actions, cancel, tokens, every change on the access pages) with who, what, the task it queued and the client's
address: through a real daphne behind a trusted proxy, so that the address recorded is the client's, not the
proxy's nor a constant."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth.models import Group
from django.utils import timezone

from access.models import AclEntry, ApiToken, AuditEntry, Pool, Role
from tasks.models import Task
from tests.factories import AdminFactory, GuestFactory, NodeFactory, PoolFactory, UserFactory
from tests.support import logged_in, post_form, serve_asgi

pytestmark = pytest.mark.django_db(transaction=True)
CLIENT = "203.0.113.7"  # what the proxy (127.0.0.1, trusted) says the client is


class Client:
    """A browser behind the proxy: its session, the proxy's header on every request."""

    def __init__(self, server: str, username: str) -> None:
        self.server = server
        self.session = logged_in(server, username)
        self.session.headers["X-Forwarded-For"] = CLIENT

    def post(self, path: str, data: dict | None = None, status: int = 302) -> requests.Response:
        response = post_form(self.session, self.server + path, data or {})
        assert response.status_code == status, f"{path}: {response.status_code} {response.text[:300]}"
        return response


def rows_after(mark: int) -> list[tuple[str, str, str, str, str]]:
    return [(e.action, e.object, e.result, e.username, e.address)
            for e in AuditEntry.objects.filter(pk__gt=mark).order_by("pk")]


def last_row() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_every_successful_action_is_audited_with_the_client_address(live_database_url: str) -> None:
    now = timezone.now()
    engines = {"docker": {"ok": True}, "libvirt": {"ok": True}}
    a = NodeFactory(name="au-a", last_seen=now, cpus=2, memory_total=4 << 30, engines=engines)
    b = NodeFactory(name="au-b", last_seen=now, cpus=2, memory_total=4 << 30, engines=engines)
    pool = PoolFactory(name="au-pool")
    started, moved, migrated = (GuestFactory(node=a, state="stopped", backend_id=f"au{n}", onboot=True)
                                for n in range(3))
    GuestFactory(node=b, state="stopped", backend_id="au-b1", onboot=True)
    root = AdminFactory(username="au-root")
    victim = UserFactory(username="au-victim")
    with serve_asgi(live_database_url, PANEL_TRUSTED_PROXIES="127.0.0.1") as server:
        browser = Client(server, root.username)
        mark = last_row()
        browser.post(f"/guests/{started.vmid}/start/")
        browser.post(f"/guests/{migrated.vmid}/migrate/", {"target": b.name})
        browser.post(f"/guests/{moved.vmid}/pool/", {"pool": pool.name})
        browser.post(f"/nodes/{b.name}/startall/")
        browser.post("/datacenter/stopall/")
        bulk = Task.objects.get(type="startall")
        browser.post(f"/tasks/{bulk.upid}/cancel/")
        secret_page = browser.post("/access/tokens/add/", {"tokenid": "au-ci"}, status=200)  # its user's rights
        token = ApiToken.objects.get(tokenid="au-ci")
        secret = secret_page.text.split('id="token-secret">')[1].split("<")[0]
        api = requests.post(f"{server}/api2/json/nodes/{a.name}/lxc/{moved.vmid}/status/start", timeout=10,
                            headers={"Authorization": f"PVEAPIToken={token.full_id}={secret}",
                                     "X-Forwarded-For": CLIENT})
        assert api.status_code == 200, api.text
        browser.post(f"/access/tokens/{token.pk}/delete/")
        for prefix, data in [("user", {"username": "au-new", "is_active": "on"}), ("group", {"name": "au-group"}),
                             ("role", {"name": "AuRole", "privileges": ["VM.Audit"]}),
                             ("acl", {"path": f"/vms/{started.vmid}", "user": victim.pk,
                                      "role": Role.objects.get(name="PVEAuditor").pk}),
                             ("pool", {"name": "au-pool2"})]:
            browser.post(f"/access/{prefix}s/add/", data)
        made = {"user": type(root).objects.get(username="au-new"), "group": Group.objects.get(name="au-group"),
                "role": Role.objects.get(name="AuRole"), "acl": AclEntry.objects.get(user=victim),
                "pool": Pool.objects.get(name="au-pool2")}
        browser.post(f"/access/users/{made['user'].pk}/", {"username": "au-new", "email": "new@example.org"})
        browser.post(f"/access/groups/{made['group'].pk}/", {"name": "au-group2"})
        browser.post(f"/access/roles/{made['role'].pk}/", {"name": "AuRole", "privileges": ["VM.Audit", "VM.Console"]})
        browser.post(f"/access/acls/{made['acl'].pk}/", {"path": f"/vms/{started.vmid}", "user": victim.pk,
                                                         "role": Role.objects.get(name="PVEVMUser").pk})
        browser.post(f"/access/pools/{made['pool'].pk}/", {"name": "au-pool2", "comment": "changed"})
        for prefix, row in made.items():
            browser.post(f"/access/{prefix}s/{row.pk}/delete/")

    rows = rows_after(mark)
    assert {row[4] for row in rows} == {CLIENT}, rows  # every row from the client, none from the proxy
    assert {row[3] for row in rows} == {"au-root@pam", "au-root@pam!au-ci"}
    assert all(row[2] == "ok" for row in rows), rows
    detail = {(e.action, e.object): e.detail for e in AuditEntry.objects.filter(pk__gt=mark)}
    for (action, obj), task in [(("guest.start", str(started)), Task.objects.get(type="start", vmid=started.vmid)),
                                (("guest.migrate", f"{migrated} -> {b.name}"), Task.objects.get(type="migrate")),
                                (("node.startall", b.name), bulk),
                                (("node.stopall", a.name), Task.objects.get(type="stopall", node=a)),
                                (("guest.start", str(moved)), Task.objects.get(type="start", vmid=moved.vmid))]:
        assert detail[(action, obj)] == task.upid, action  # the task it queued
    assert [(r[0], r[1]) for r in rows] == [
        ("guest.start", str(started)), ("guest.migrate", f"{migrated} -> {b.name}"),
        ("guest.pool", f"{moved} -> {pool.name}"), ("node.startall", b.name),
        ("datacenter.stopall", a.name), ("datacenter.stopall", b.name), ("node.stopall", a.name),
        ("node.stopall", b.name), ("task.cancel", bulk.upid), ("token.create", "au-root@pam!au-ci"),
        ("guest.start", str(moved)), ("token.delete", "au-root@pam!au-ci"),
        ("user.create", "au-new@pam"), ("group.create", "@au-group"), ("role.create", "AuRole"),
        ("acl.create", f"/vms/{started.vmid} au-victim@pam PVEAuditor (no propagate)"), ("pool.create", "au-pool2"),
        ("user.update", "au-new@pam"), ("group.update", "@au-group2"), ("role.update", "AuRole"),
        ("acl.update", f"/vms/{started.vmid} au-victim@pam PVEVMUser (no propagate)"), ("pool.update", "au-pool2"),
        ("user.delete", "au-new@pam"), ("group.delete", "@au-group2"), ("role.delete", "AuRole"),
        ("acl.delete", f"/vms/{started.vmid} au-victim@pam PVEVMUser (no propagate)"), ("pool.delete", "au-pool2"),
    ]
