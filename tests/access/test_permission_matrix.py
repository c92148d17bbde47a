"""The permission matrix: every URL pattern, API endpoint and websocket route, for each built-in role granted
on a pool and for an anonymous visitor, is allowed or denied as Proxmox would, and a denied request changes
nothing. A route missing from the matrix fails ``test_every_route_is_in_the_matrix``.

The set-up: pool ``team-a`` holds guest ``inside``; guest ``outside`` is in no pool; each subject's role is
granted on /pool/team-a only, so everything about nodes, other guests and the access pages is denied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import websockets
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from access.choices import BUILTIN_ROLES
from access.models import AclEntry, ApiToken, Pool, Role
from guests.models import Guest, GuestTemplate
from nodes.models import Node
from panel.routing import websocket_urlpatterns
from tasks.models import Task
from tasks.upid import new_upid
from tests.factories import PASSWORD, AdminFactory, GuestFactory, NodeFactory, PoolFactory, UserFactory, grant
from tests.support import PREFIX, session_cookie

ANONYMOUS = "anonymous"
SUBJECTS = [ANONYMOUS, *BUILTIN_ROLES]
Privileges = set[str]
Rule = Callable[[Privileges], bool]  # given the role's privileges on the pool (None: anonymous): allowed?


def public(privs: Privileges | None) -> bool:
    return True


def logged_in(privs: Privileges | None) -> bool:
    return privs is not None


def nobody(privs: Privileges | None) -> bool:
    return False


def needs(privilege: str) -> Rule:
    return lambda privs: privs is not None and privilege in privs


@dataclass
class Case:
    method: str
    url: str  # formatted with the objects of the set-up: {node}, {inside}, {outside}, {task_in}...
    allowed: Rule
    data: dict = field(default_factory=dict)


def admin_pages(prefix: str) -> dict[str, list[Case]]:
    """The four pages of a managed object; a role on a pool gives nothing on /."""
    return {
        f"access/{prefix}s/": [Case("get", f"/access/{prefix}s/", nobody)],
        f"access/{prefix}s/add/": [Case("get", f"/access/{prefix}s/add/", nobody),
                                   Case("post", f"/access/{prefix}s/add/", nobody, {"name": "mx-new"})],
        f"access/{prefix}s/<id:pk>/": [Case("post", f"/access/{prefix}s/{{{prefix}_pk}}/", nobody,
                                             {"name": "mx-renamed"})],
        f"access/{prefix}s/<id:pk>/delete/": [Case("post", f"/access/{prefix}s/{{{prefix}_pk}}/delete/", nobody)],
    }


API = "api2/json/"
MATRIX: dict[str, list[Case]] = {
    "": [Case("get", "/", logged_in)],
    "nodes/<str:name>/": [Case("get", "/nodes/{node}/", nobody)],
    "nodes/<str:name>/migrateall/": [Case("post", "/nodes/{node}/migrateall/", nobody, {"target": "{node}"})],
    "nodes/<str:name>/<str:action>/": [Case("get", "/nodes/{node}/startall/", nobody),
                                       Case("post", "/nodes/{node}/startall/", nobody),
                                       Case("post", "/nodes/{node}/stopall/", nobody)],
    "datacenter/<str:action>/": [Case("post", "/datacenter/startall/", nobody)],
    "guests/": [Case("get", "/guests/", logged_in)],
    "guests/create/<str:kind>/": [
        Case("get", "/guests/create/ct/", needs("VM.Allocate")),
        Case("post", "/guests/create/ct/", needs("VM.Allocate"),
             {"node": "{node}", "template": "busybox", "name": f"{PREFIX}matrix", "vcpus": 1, "memory_mib": 64,
              "pool": "team-a"}),
    ],
    "guests/<vmid:vmid>/": [Case("get", "/guests/{inside}/", needs("VM.Audit")),
                           Case("get", "/guests/{outside}/", nobody)],
    "guests/<vmid:vmid>/migrate/": [Case("post", "/guests/{inside}/migrate/", needs("VM.Migrate"),
                                        {"target": "nowhere"}),
                                   Case("post", "/guests/{outside}/migrate/", nobody, {"target": "nowhere"})],
    "guests/<vmid:vmid>/pool/": [Case("post", "/guests/{inside}/pool/", needs("VM.Allocate"), {"pool": ""}),
                                Case("post", "/guests/{outside}/pool/", nobody, {"pool": "team-a"})],
    "guests/<vmid:vmid>/<str:action>/": [
        Case("post", "/guests/{inside}/start/", needs("VM.PowerMgmt")),
        Case("get", "/guests/{inside}/delete/", needs("VM.Allocate")),
        Case("post", "/guests/{inside}/delete/", needs("VM.Allocate"), {"confirm": "{inside}"}),
        Case("post", "/guests/{outside}/start/", nobody),
    ],
    "tasks/": [Case("get", "/tasks/", logged_in)],
    "tasks/<str:upid>/": [Case("get", "/tasks/{task_in}/", needs("VM.Audit")),
                          Case("get", "/tasks/{task_out}/", nobody)],
    "tasks/<str:upid>/cancel/": [Case("post", "/tasks/{task_in}/cancel/", nobody),
                                 Case("post", "/tasks/{task_out}/cancel/", nobody)],
    API + "nodes": [Case("get", "/api2/json/nodes", logged_in)],
    API + "cluster/resources": [Case("get", "/api2/json/cluster/resources", logged_in)],
    API + "nodes/<str:node>/rrddata": [Case("get", "/api2/json/nodes/{node}/rrddata", nobody)],
    API + "nodes/<str:node>/status": [Case("get", "/api2/json/nodes/{node}/status", nobody)],
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/rrddata": [
        Case("get", "/api2/json/nodes/{node}/lxc/{inside}/rrddata", needs("VM.Audit")),
        Case("get", "/api2/json/nodes/{node}/lxc/{outside}/rrddata", nobody)],
    API + "nodes/<str:node>/tasks": [Case("get", "/api2/json/nodes/{node}/tasks", logged_in)],
    API + "nodes/<str:node>/tasks/<str:upid>": [Case("delete", "/api2/json/nodes/{node}/tasks/{task_in}", nobody),
                                                Case("delete", "/api2/json/nodes/{node}/tasks/{task_out}", nobody)],
    API + "nodes/<str:node>/tasks/<str:upid>/status": [
        Case("get", "/api2/json/nodes/{node}/tasks/{task_in}/status", needs("VM.Audit")),
        Case("get", "/api2/json/nodes/{node}/tasks/{task_out}/status", nobody)],
    API + "nodes/<str:node>/tasks/<str:upid>/log": [
        Case("get", "/api2/json/nodes/{node}/tasks/{task_in}/log", needs("VM.Audit")),
        Case("get", "/api2/json/nodes/{node}/tasks/{task_out}/log", nobody)],
    API + "nodes/<str:node>/<str:action>": [Case("post", "/api2/json/nodes/{node}/startall", nobody),
                                            Case("post", "/api2/json/nodes/{node}/stopall", nobody)],
    API + "nodes/<str:node>/<str:kind>/<vmid:vmid>/status/<str:action>": [
        Case("post", "/api2/json/nodes/{node}/lxc/{inside}/status/start", needs("VM.PowerMgmt")),
        Case("post", "/api2/json/nodes/{node}/lxc/{outside}/status/start", nobody)],
    "login/": [Case("get", "/login/", public),
               Case("post", "/login/", public, {"username": "nobody", "password": "wrong"})],
    "logout/": [],  # logging out changes only the session: checked by the login tests
    "status": [Case("get", "/status", public)],
    "status.json": [Case("get", "/status.json", public)],
    "access/": [Case("get", "/access/", logged_in)],
    **admin_pages("user"), **admin_pages("group"), **admin_pages("role"), **admin_pages("acl"),
    **admin_pages("pool"),
    "access/audit/": [Case("get", "/access/audit/", nobody)],
    "access/tokens/": [Case("get", "/access/tokens/", logged_in)],
    "access/tokens/add/": [Case("post", "/access/tokens/add/", logged_in, {"tokenid": "mx"})],
    "access/tokens/<id:pk>/delete/": [Case("post", "/access/tokens/{token_pk}/delete/", nobody)],
    "admin/": [Case("get", "/admin/", nobody), Case("get", "/admin/auth/user/", nobody)],
}

WS_MATRIX: dict[str, list[tuple[str, Rule]]] = {
    "ws/tasks/": [("/ws/tasks/", logged_in)],
    "ws/cluster/resources/": [("/ws/cluster/resources/", logged_in)],
    "ws/tasks/<str:upid>/log/": [("/ws/tasks/{task_in}/log/", needs("VM.Audit")),
                                 ("/ws/tasks/{task_out}/log/", nobody)],
}


def url_patterns(resolver: URLResolver, prefix: str = "") -> list[str]:
    """Every route of the project, as its full pattern; Django's admin counts as one route (admin/)."""
    found = []
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if getattr(entry, "app_name", None) == "admin":
                found.append(pattern)
            else:
                found.extend(url_patterns(entry, pattern))
        elif isinstance(entry, URLPattern):
            found.append(pattern)
    return found


def test_every_route_is_in_the_matrix() -> None:
    assert sorted(url_patterns(get_resolver())) == sorted(MATRIX)
    assert sorted(str(p.pattern) for p in websocket_urlpatterns) == sorted(WS_MATRIX)


def setup_world() -> dict:
    node = NodeFactory(last_seen=timezone.now(), engines={"docker": {"ok": True}, "libvirt": {"ok": True}})
    GuestTemplate.objects.get_or_create(node=node, kind="ct", name="busybox")
    pool = PoolFactory(name="team-a")
    inside = GuestFactory(node=node, pool=pool, state="stopped")
    outside = GuestFactory(node=node, state="stopped")
    root = AdminFactory()
    tasks = {}
    for label, guest in (("task_in", inside), ("task_out", outside)):
        tasks[label] = Task.objects.create(upid=new_upid(node.name, "stop", str(guest.vmid), "root@pam"),
                                           node=node, user=root, type="stop", guest=guest, vmid=guest.vmid)
    token = ApiToken(user=root, tokenid="roots")
    token.set_new_secret()
    token.save()
    group = Group.objects.create(name="mx-group")
    custom = Role.objects.create(name="MxRole", privileges=["VM.Audit"])
    return {
        "node": node.name, "inside": inside.vmid, "outside": outside.vmid, "pool": pool,
        "task_in": tasks["task_in"].upid, "task_out": tasks["task_out"].upid, "token_pk": token.pk,
        "user_pk": root.pk, "group_pk": group.pk, "role_pk": custom.pk, "pool_pk": pool.pk,
        "acl_pk": grant(group, "PVEAuditor", "/").pk,
    }


def subject_user(subject: str, world: dict):
    if subject == ANONYMOUS:
        return None, None
    user = UserFactory(username=f"mx-{subject.lower()}")
    grant(user, subject, world["pool"].path)
    return user, set(BUILTIN_ROLES[subject])


def snapshot() -> tuple:
    """What a denied request must not change (the audit log records it and is left out)."""
    from django.contrib.auth import get_user_model

    return (
        list(Guest.objects.order_by("vmid").values_list("vmid", "state", "pool_id", "node_id", "name")),
        list(Task.objects.order_by("pk").values_list("pk", "status", "cancel_requested")),
        list(AclEntry.objects.order_by("pk").values_list("pk", "path", "role_id", "propagate")),
        list(Pool.objects.order_by("pk").values_list("pk", "name", "max_guests")),
        list(Role.objects.order_by("pk").values_list("pk", "name", "privileges")),
        list(Group.objects.order_by("pk").values_list("pk", "name")),
        list(get_user_model().objects.order_by("pk").values_list("pk", "username", "is_active", "password")),
        list(ApiToken.objects.order_by("pk").values_list("pk", "tokenid", "secret_hash")),
        list(Node.objects.order_by("pk").values_list("pk", "name")),
    )


def is_denied(response, anonymous: bool) -> bool:
    if response.status_code in (403, 404) or (anonymous and response.status_code == 401):
        return True  # an API request without credentials is a 401, as in Proxmox
    location = response.get("Location", "") if response.status_code == 302 else ""
    return "/login/" in location and (anonymous or "/admin/login/" in location)


@pytest.mark.django_db
@pytest.mark.parametrize("subject", SUBJECTS)
def test_http_matrix(client, subject: str) -> None:
    world = setup_world()
    user, privs = subject_user(subject, world)
    if user is not None:
        client.login(username=user.username, password=PASSWORD)
    failures = []
    for route, cases in MATRIX.items():
        for case in cases:
            url = case.url.format(**world)
            data = {k: str(v).format(**world) for k, v in case.data.items()}
            expected = case.allowed(privs)
            with transaction.atomic():
                before = snapshot()
                response = getattr(client, case.method)(url, data) if data else getattr(client, case.method)(url)
                denied = is_denied(response, user is None)
                after = snapshot()
                transaction.set_rollback(True)  # every case starts from the same world
            if response.status_code >= 500:
                failures.append(f"{case.method} {url}: {response.status_code}")
            elif expected == denied:
                failures.append(f"{case.method} {url} ({route}): expected {'allowed' if expected else 'denied'}, "
                                f"got {response.status_code} {response.get('Location', '')}")
            elif denied and before != after:
                failures.append(f"{case.method} {url}: denied but changed the database")
    assert not failures, f"{subject}:\n" + "\n".join(failures)


async def opens(url: str, origin: str, cookie: str | None) -> bool:
    """Does the server accept the socket? Through the ASGI application daphne runs: the session cookie, the
    Origin validator, the authentication middleware. A refusal is a 403 at the handshake."""
    headers = {"Origin": origin, **({"Cookie": cookie} if cookie else {})}
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=20):
            return True
    except websockets.exceptions.InvalidStatus as exc:
        assert exc.response.status_code == 403, exc.response.status_code  # refused, not broken
        return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_websocket_matrix(subject: str, asgi_server: str) -> None:
    world = setup_world()
    user, privs = subject_user(subject, world)
    cookie = session_cookie(asgi_server, user.username) if user is not None else None
    base = asgi_server.replace("http://", "ws://")

    async def scenario() -> list[str]:
        failures = []
        for route, cases in WS_MATRIX.items():
            for path, rule in cases:
                if await opens(base + path.format(**world), asgi_server, cookie) != rule(privs):
                    failures.append(f"{path} ({route}): expected {'open' if rule(privs) else 'closed'}")
        return failures

    before = snapshot()
    failures = asyncio.run(scenario())
    assert not failures, f"{subject}:\n" + "\n".join(failures)
    assert snapshot() == before
